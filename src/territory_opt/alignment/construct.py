"""Plans from the LP relaxation: restricted MIPs over the pairs with the lowest reduced cost.

Balanced assignment LPs are nearly integral (a few dozen split items at 1,000 × 20, at most about
two per territory), so given the relaxation (:mod:`territory_opt.alignment.colgen`):

1. keep every pair the LP uses, plus the pairs whose reduced cost is smallest, and forbid the
   rest: a MIP over that set is small, and any plan it finds is feasible for the whole model;
2. solve it with HiGHS to its first plan; if it has none, widen the set and try again (a bounded
   number of rounds) — :func:`construct`;
3. improve: re-solve wider restricted MIPs from the best plan so far, each set holding the plan's
   own pairs so it can only get better, until the gap to the relaxation's bound reaches the
   target or the time is up — :func:`improve`. This is the ``heuristic`` backend's main loop,
   and a short polish before an exact backend takes over.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from territory_opt.alignment.colgen import Relaxation, violation_cost
from territory_opt.alignment.flow import flow_point
from territory_opt.alignment.formulation import AlignmentModel, build_alignment
from territory_opt.alignment.local_search import band_violation, elastic_repair
from territory_opt.alignment.neighbourhoods import improve_by_neighbourhoods
from territory_opt.alignment.repair import round_and_repair
from territory_opt.backends.contract import (
    Progress,
    SolveOptions,
    SolveResult,
    Status,
    relative_gap,
)
from territory_opt.backends.registry import get_backend
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.scenario.model import NO_TERRITORY

EXTRA_PAIRS_PER_ITEM = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Rounds: allow this many extra (lowest reduced cost) pairs per item beyond the LP's own.

Small sets are either proven infeasible in a fraction of a second or give a plan at once; each
round stops at its first plan (measured at 5,000 × 50: 0.1 and 0.25 infeasible in 0.3 s each,
0.5 first plan in 4 s, 1.0 in 9 s)."""
MIP_PAIRS_LIMIT = 400_000
"""Above this many pairs, no MIP over the whole restricted model (HiGHS's set-up alone
outlasts the time limit at 100,000 × 500); only neighbourhood MIPs."""
REPAIR_PAIRS_PER_ITEM = 1.0
"""Extra pairs per item of the elastic repair MIP."""
REPAIR_SECONDS = 30.0
"""At most this long for the elastic repair MIP."""
IMPROVE_PAIRS_PER_ITEM = (2.0, 3.0, 5.0, 8.0)
"""Extra pairs per item of the successive improving MIPs (the last one repeats)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Construction:
    """A feasible solution of the model (or None), how it was found and how long it took."""

    x: np.ndarray | None
    objective: float
    seconds: float
    note: str
    bound: float = float("-inf")  # a MIP bound, when a restricted MIP held every pair
    infeasible: bool = False  # proven: a restricted MIP over every pair had no plan


def construct(model: AlignmentModel, relaxation: Relaxation, options: SolveOptions,
              deadline: Deadline) -> Construction:
    """First plan from the relaxation by ``deadline`` (steps 1-2 of the module docstring)."""
    watch = Stopwatch()
    if relaxation.x is None:
        return Construction(None, float("inf"), 0.0, f"no LP solution ({relaxation.status})")
    if relaxation.lp and _is_integral(relaxation.x, model.linear.integer):
        return Construction(relaxation.x, relaxation.objective, 0.0, "LP relaxation is integral")
    point, how = relaxation.x, "LP rounding"
    large = len(model.pair_item) > MIP_PAIRS_LIMIT
    if not relaxation.lp and relaxation.duals is not None:
        # A Lagrangian point keeps no band; a flow at its prices keeps one exactly (narrowed
        # on large models, where the repair needs the room; elsewhere it only costs).
        flow = flow_point(model, relaxation.duals, narrow=FLOW_NARROW if large else 0.0)
        if flow is not None:
            point, how = flow, "min-cost flow at the Lagrangian prices"
    # Half the budget to greedy single moves; large models (no MIP fallback) give the rest to
    # the elastic moves and swaps.
    rounded, violation = round_and_repair(model, point, deadline.share(0.5))
    how += " + greedy repair"
    if violation > 0 and large:
        # Moves and swaps with the bands priced far above any cost mend what single greedy
        # moves could not (or get closer: at 100,000 × 500 neither finishes in 60 s).
        rounded, violation = elastic_repair(model, rounded, deadline.share(ELASTIC_SHARE))
        how += " + elastic moves and swaps"
    if violation > 0 and large:
        rounded, violation = _mend_in_pieces(model, rounded, options, deadline.rest())
        how += " + elastic neighbourhood MIPs"
    if violation > 0 and large:
        return Construction(None, float("inf"), watch.seconds(),
                            f"repair stopped {violation:.3g} short of the bands")
    assignment: np.ndarray | None = rounded
    if violation > 0:
        # Stuck a little short: a MIP that may still violate the hard rows, at a high price,
        # starts from there and removes the rest (fast: it has a plan from the start).
        assignment = _repair_by_mip(model, relaxation, rounded, options,
                                    deadline.share(1.0, at_most=REPAIR_SECONDS))
        how += " + elastic MIP"
    if assignment is not None:
        repaired = model.start_vector(assignment)
        objective = model.linear.objective(repaired)
        if options.progress is not None:
            options.progress(Progress(objective, relaxation.bound, deadline.elapsed(),
                                      phase="start plan"))
        return Construction(repaired, objective, watch.seconds(), how)
    n_items = model.scenario.n_items
    result: SolveResult | None = None
    for round_no, extra in enumerate(EXTRA_PAIRS_PER_ITEM, start=1):
        if deadline.over(0.1):
            break
        allowed = _pair_set(model, relaxation, int(extra * n_items))
        result = restricted_mip(model, allowed, options, deadline, first_plan=True)
        if result.status.has_plan and result.x is not None:
            if options.progress is not None:  # the relaxation's bound: valid for the model
                options.progress(Progress(result.objective, relaxation.bound,
                                          deadline.elapsed(), phase="start plan"))
            return Construction(result.x, result.objective, watch.seconds(),
                                f"LP rounding: restricted MIP over {int(allowed.sum()):,} of "
                                f"{len(model.pair_item):,} pairs (round {round_no})")
        if result.status == Status.INFEASIBLE and allowed.all() and model.pairs.complete:
            return Construction(None, float("inf"), watch.seconds(),
                                "no plan: the MIP over every pair is infeasible",
                                infeasible=True)
    status = result.status if result is not None else Status.NO_PLAN
    return Construction(None, float("inf"), watch.seconds(),
                        f"restricted MIPs found no plan ({status})")


def improve(model: AlignmentModel, relaxation: Relaxation, start: Construction,
            options: SolveOptions, deadline: Deadline) -> Construction:
    """Improve ``start`` by wider and wider restricted MIPs (step 3 of the module docstring)
    until the gap to ``relaxation.bound`` is within ``options.gap`` or ``deadline`` ends."""
    watch = Stopwatch()
    best = start
    if best.x is None or len(model.pair_item) > MIP_PAIRS_LIMIT:
        return best
    n_items = model.scenario.n_items
    for round_no, extra in enumerate(_widening(), start=1):
        bound = max(relaxation.bound, best.bound)
        if deadline.over(0.1) or relative_gap(best.objective, bound) <= options.gap:
            break
        allowed = _pair_set(model, relaxation, int(extra * n_items))
        allowed |= best.x[: len(allowed)] > 0.5  # the incumbent stays possible
        result = restricted_mip(model, allowed, dataclasses.replace(options, warm_start=best.x),
                             deadline)
        # A MIP over every pair of a complete model is the model itself: its bound holds.
        mip_bound = result.bound if allowed.all() and model.pairs.complete else best.bound
        if result.status.has_plan and result.x is not None and (
                result.objective < best.objective - 1e-9 * abs(best.objective)):
            best = Construction(result.x, result.objective, start.seconds + watch.seconds(),
                                f"{start.note}, improved by restricted MIP over "
                                f"{int(allowed.sum()):,} pairs (round {round_no})",
                                max(best.bound, mip_bound))
            if options.progress is not None:
                options.progress(Progress(best.objective, max(relaxation.bound, mip_bound),
                                          deadline.elapsed(), phase="restricted MIP"))
        else:
            best = dataclasses.replace(best, bound=max(best.bound, mip_bound))
        widest = allowed.all() or extra >= IMPROVE_PAIRS_PER_ITEM[-1]
        if widest and result.status == Status.OPTIMAL:
            break  # the widest set is solved to the gap target: nothing left to gain here
    return best


FLOW_NARROW = 0.25
"""On large models the flow keeps its band narrowed by this share of its width on each side
(measured at 20,000 × 100, 15 s, where the greedy repair needs no room: 0.56% narrowed against
0.15% not); at 100,000 × 500 a cheapest flow in the full band packs territories at its floor,
where no item can leave them (the repair then stalled 109 territories short; with 0.25, 32
after the same passes)."""
ELASTIC_SHARE = 0.5
"""Large models: share of the time left after the greedy repair for the elastic moves and
swaps (HiGHS pieces get the rest). Elastic moves from the flow's rounding alone, without the
greedy repair first, found no plan at 100,000 × 500 in 120 s; after it, one in 104 s."""
MEND_TERRITORIES = 6
"""Territories per elastic piece: a broken territory and its nearest."""


def _mend_in_pieces(model: AlignmentModel, assignment: np.ndarray, options: SolveOptions,
                    deadline: Deadline) -> tuple[np.ndarray, float]:
    """Mend the last broken bands by HiGHS on pieces around each broken territory, over the
    model with its hard bands made elastic (priced far above any cost): the chains of moves a
    short territory needs (e.g. more workload but no more potential) that single moves and
    swaps cannot make. The plan and the violation left."""
    elastic = build_alignment(model.scenario, model.pairs,
                              soften=violation_cost(model.scenario, model.pairs))
    violation, broken = band_violation(model, assignment)
    while violation > 0 and len(broken) and not deadline.over(0.1):
        found = improve_by_neighbourhoods(
            elastic, elastic.start_vector(assignment), float("-inf"),
            dataclasses.replace(options, progress=None, gap=0.0), deadline, seeds=broken,
            size=MEND_TERRITORIES, passes=1)
        mended = elastic.assignment(found.x)
        if not found.improved or (mended == NO_TERRITORY).any():
            break
        assignment = mended
        violation, broken = band_violation(model, assignment)
    return assignment, violation


def _repair_by_mip(model: AlignmentModel, relaxation: Relaxation, assignment: np.ndarray,
                   options: SolveOptions, deadline: Deadline) -> np.ndarray | None:
    """Remove the hard rows' remaining violation with an elastic restricted MIP started from
    ``assignment``; the plan it finds if the violation reaches zero, else None."""
    scenario = model.scenario
    elastic = build_alignment(scenario, model.pairs, soften=violation_cost(scenario, model.pairs))
    n_pairs = len(model.pair_item)
    allowed = _pair_set(model, relaxation, int(REPAIR_PAIRS_PER_ITEM * scenario.n_items))
    allowed[np.searchsorted(model.pair_item * scenario.n_territories + model.pair_territory,
                            np.arange(scenario.n_items) * scenario.n_territories
                            + assignment)] = True
    ub = elastic.linear.ub.copy()
    ub[:n_pairs] = np.where(allowed, ub[:n_pairs], 0.0)
    hard = [b for b in elastic.elastic if b.hard]
    sub = dataclasses.replace(options.within(deadline), progress=None,
                              warm_start=elastic.start_vector(assignment), gap=0.0)
    stop_at_zero = dataclasses.replace(elastic.linear, ub=ub)
    result = get_backend("highs").solve(stop_at_zero, sub)
    deadline.spend(max(result.work, 1.0))
    if not result.status.has_plan or result.x is None:
        return None
    if any(result.x[b.start:b.stop].sum() > 1e-6 * float(b.scale.max()) for b in hard):
        return None
    out = elastic.assignment(result.x)
    return out if (out != NO_TERRITORY).all() else None


def _widening() -> Iterator[float]:
    yield from IMPROVE_PAIRS_PER_ITEM
    while True:
        yield IMPROVE_PAIRS_PER_ITEM[-1]


def restricted_mip(model: AlignmentModel, allowed: np.ndarray, options: SolveOptions,
                deadline: Deadline, *, first_plan: bool = False) -> SolveResult:
    """HiGHS over the pairs ``allowed`` (the others forbidden), by ``deadline``; to its first
    plan if ``first_plan``. Every plan it finds is a plan of the whole model."""
    linear = model.linear
    n_pairs = len(allowed)
    ub = linear.ub.copy()
    ub[:n_pairs] = np.where(allowed, ub[:n_pairs], 0.0)
    sub = dataclasses.replace(options.within(deadline), progress=None,
                              solution_limit=1 if first_plan else None)
    result = get_backend("highs").solve(dataclasses.replace(linear, ub=ub), sub)
    deadline.spend(max(result.work, 1.0))  # at least one unit: every MIP is work done
    return result


def _pair_set(model: AlignmentModel, relaxation: Relaxation, n_extra: int) -> np.ndarray:
    """The LP's own pairs plus the ``n_extra`` unused pairs of lowest reduced cost."""
    assert relaxation.x is not None
    n_pairs = len(model.pair_item)
    used = relaxation.x[:n_pairs] > 1e-6
    if relaxation.reduced_costs is None:
        return np.ones(n_pairs, dtype=bool)
    cost = np.where(used, np.inf, relaxation.reduced_costs[:n_pairs])
    n_extra = min(n_extra, int((~used).sum()))
    allowed = used.copy()
    if n_extra > 0:
        cheapest = np.argpartition(cost, n_extra - 1)[:n_extra] if n_extra < n_pairs else (
            np.arange(n_pairs))
        allowed[cheapest] = True
    return allowed


def _is_integral(x: np.ndarray, integer: np.ndarray) -> bool:
    values = x[integer]
    return bool(np.all(np.abs(values - np.round(values)) <= 1e-6))
