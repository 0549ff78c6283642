"""The ``heuristic`` backend: built for large scenarios (100,000 items × 500 territories).

General MIP solvers stall on tightly balanced assignment long before that size, yet its LP
relaxation is nearly integral. So this backend does not search the whole model: it takes the LP
relaxation solved by column generation over each item's nearest territories (its bound valid for
every pair, :mod:`territory_opt.alignment.colgen`), rounds it with a restricted HiGHS MIP over the
pairs of lowest reduced cost, and improves that plan with wider restricted MIPs until the gap to
the bound reaches the target or the time is up (:mod:`territory_opt.alignment.construct`).

It is seeded (HiGHS's random seed) and anytime: Ctrl-C or the clock returns the best plan so far.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from territory_opt.alignment.anytime import search
from territory_opt.alignment.colgen import Relaxation
from territory_opt.alignment.construct import construct
from territory_opt.alignment.formulation import AlignmentModel
from territory_opt.backends.contract import (
    Capabilities,
    SolveOptions,
    SolveResult,
    Status,
    module_available,
    stop_status,
)
from territory_opt.backends.linear import LinearModel
from territory_opt.deadline import Deadline, Stopwatch


@runtime_checkable
class AlignmentBackend(Protocol):
    """A backend that works on the alignment structure and the LP relaxation, not just the
    linear model (the ``heuristic``). Its bound must be valid for every allowed pair."""

    name: str

    def solve_alignment(self, model: AlignmentModel, relaxation: Relaxation,
                        options: SolveOptions, deadline: Deadline) -> SolveResult:
        """Plans of ``model`` from ``relaxation`` under ``options``, by ``deadline``."""
        ...


class HeuristicBackend:
    """LP rounding and restricted-MIP improvement over an alignment model (module docstring)."""

    name = "heuristic"
    capabilities = Capabilities(
        work_unit="HiGHS branch-and-bound nodes of its restricted and neighbourhood MIPs (at "
                  "least one per MIP)",
        notes="for large scenarios: LP (column generation) or Lagrangian bound over all pairs, "
              "LP rounding + repair, HiGHS neighbourhood MIPs; auto above 1M pairs")

    def available(self) -> bool:
        """Whether highspy is installed."""
        return module_available("highspy")

    def solve(self, model: LinearModel, options: SolveOptions) -> SolveResult:
        """Not for a bare linear model: it needs the alignment structure (``solve_alignment``)."""
        del model, options
        return SolveResult(Status.ERROR, None, float("inf"), float("-inf"), 0.0,
                           log="the heuristic backend solves alignment models through "
                               "territory_opt.solve(), not bare linear models")

    def solve_alignment(self, model: AlignmentModel, relaxation: Relaxation,
                        options: SolveOptions, deadline: Deadline) -> SolveResult:
        """Round and improve ``relaxation`` into plans of ``model`` by ``deadline``."""
        watch = Stopwatch()
        # Without a plan nothing else can run: the search for one may take all the time (it
        # returns at its first plan).
        first = construct(model, relaxation, options, deadline)
        best = search(model, relaxation, first, options, deadline)
        seconds = watch.seconds()
        if best.x is None and first.infeasible:
            return SolveResult(Status.INFEASIBLE, None, float("inf"), float("inf"), seconds,
                               log=first.note, stop_reason="proven infeasible")
        if best.x is None:
            return SolveResult(Status.NO_PLAN, None, float("inf"), relaxation.bound, seconds,
                               log=first.note, stop_reason=deadline.limit_reason(),
                               bound_source="column-generation LP bound")
        bound = max(relaxation.bound, best.bound)
        _, reason = stop_status(best.objective, bound, gap_target=options.gap,
                                interrupted=deadline.interrupted,
                                solver_reason=deadline.limit_reason())
        source = ("HiGHS MIP bound over every pair" if best.bound > relaxation.bound
                  else "column-generation LP bound")
        return SolveResult(Status.FEASIBLE, best.x, best.objective, bound, seconds,
                           log=best.note, stop_reason=reason, bound_source=source,
                           work=deadline.spent)
