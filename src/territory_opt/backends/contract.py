"""The contract every solver backend fulfils: what it is given, what it returns, and the
capability flags it declares.

A backend translates a :class:`~territory_opt.backends.linear.LinearModel`, solves it and maps the
solver's status onto :class:`Status`. It never sees a scenario: models and backends meet only
through the solver-neutral model.

Contract of :meth:`Backend.solve`:

* minimise ``c·x + offset`` subject to the model's rows, bounds and integrality;
* honour ``SolveOptions`` (time limit, or instead a work limit when ``Capabilities.work_unit``
  names one, relative gap, threads, seed, verbosity); start from
  ``warm_start`` when given (a full-length vector, feasible or not); call ``progress`` with the
  incumbent objective and bound as they improve; stop soon after ``stop`` is set and return the
  best solution found so far;
* return a :class:`SolveResult` whose ``bound`` is a valid lower bound on the optimum of the
  *whole* model (``-inf`` if the solver gives none it can vouch for), and whose ``objective`` is
  ``+inf`` when ``x`` is None. Never raise for a solver's own failure: return ``Status.ERROR``
  with the log.

A backend whose :class:`Capabilities` say ``incremental_lp`` also fulfils :class:`IncrementalLp`.
``tests/test_backend_contract.py`` checks every installed backend against this contract.
"""

from __future__ import annotations

import enum
import importlib.util
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol, runtime_checkable

import numpy as np

from territory_opt.backends.linear import LinearModel
from territory_opt.deadline import Deadline

OPTIMALITY_GAP = 1e-4
"""A plan is reported optimal when its relative gap is at most this (HiGHS's default)."""


class Status(enum.StrEnum):
    """How a solve ended. OPTIMAL means proven within :data:`OPTIMALITY_GAP`."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"  # a plan, stopped by a limit before proving optimality
    INFEASIBLE = "infeasible"
    NO_PLAN = "no_plan"  # stopped by a limit without any plan
    ERROR = "error"
    VIOLATES = "violates"  # a plan that breaks a hard rule on the scenario's own numbers

    @property
    def has_plan(self) -> bool:
        """Whether a solution vector comes with this status."""
        return self in (Status.OPTIMAL, Status.FEASIBLE)


@dataclass(frozen=True)
class Capabilities:
    """What a backend declares it can do (``territory-opt backends`` lists these).

    ``live_progress``: ``progress`` hears of each new incumbent during the solve (else once, at
    the end). ``stop``: a stop set *during* the solve ends it early (every backend honours a stop
    set before it starts). ``incremental_lp``: it also opens LP sessions kept between solves
    (:class:`IncrementalLp`).

    ``work_unit`` names the deterministic effort ``SolveOptions.work_limit`` counts, e.g.
    ``"branch-and-bound nodes (MIP), simplex iterations (LP)"`` for HiGHS, ``"CP-SAT
    deterministic seconds (1 worker)"`` for CP-SAT; with a work limit the backend leaves the
    clock out (no time limit), so the same model, seed, threads and limit give the same result
    on any load, and ``SolveResult.work`` reports the effort done in this unit. ``""``: no
    deterministic mode, and a solve given a ``work_limit`` returns ``Status.ERROR`` naming it
    (``docs/backends.md``, "Work limit").
    """

    mip: bool = True
    time_limit: bool = True
    gap: bool = True
    warm_start: bool = True
    threads: bool = True
    bound: bool = True  # reports a dual bound of its own
    deterministic: bool = True  # same seed and threads -> same result, when not cut by the clock
    live_progress: bool = True
    stop: bool = True
    incremental_lp: bool = False
    work_unit: str = ""  # the deterministic effort ``SolveOptions.work_limit`` counts; "": none
    notes: str = ""

    @property
    def work_limit(self) -> bool:
        """Whether the backend can stop on deterministic effort instead of time."""
        return bool(self.work_unit)


@dataclass(frozen=True)
class Progress:
    """A progress report during a solve: the objective of the incumbent (``inf``: none yet),
    the best bound (``-inf``: none), seconds, the ``phase`` that sent it (a short name for the
    user: ``"start plan"``, ``"LP bound"``, ``"HiGHS"``, ``"districting search"``...; ``""``:
    not said) and the run's time ``limit`` in seconds (None: none known, or a work limit).

    Each emitter names its phase; :func:`timed_from` sets the seconds from the start of the
    solve and the limit. ``seconds`` of consecutive events may still step back (a sub-phase
    timing itself): whoever shows them keeps the clock moving forward
    (:class:`~territory_opt.present.progress.ProgressTracker`).
    """

    objective: float
    bound: float
    seconds: float
    phase: str = ""
    limit: float | None = None

    @property
    def gap(self) -> float:
        """The relative gap of the incumbent to the bound (``inf`` without both)."""
        return relative_gap(self.objective, self.bound)


def timed_from(deadline: Deadline, progress: Callable[[Progress], None] | None
               ) -> Callable[[Progress], None] | None:
    """``progress`` with every event timed from the start of ``deadline``, and given its time
    limit (none under a work limit): each phase and backend times its own work, so without
    this the seconds step back between phases."""
    if progress is None:
        return None
    tell = progress
    limit = (deadline.seconds if deadline.work is None and math.isfinite(deadline.seconds)
             else None)

    def report(event: Progress) -> None:
        tell(replace(event, seconds=deadline.elapsed(),
                     limit=event.limit if event.limit is not None else limit))

    return report


def in_phase(phase: str, progress: Callable[[Progress], None] | None
             ) -> Callable[[Progress], None] | None:
    """``progress`` with every event named ``phase`` (a backend's events, say, reported as
    part of the phase that runs it)."""
    if progress is None:
        return None
    tell = progress

    def report(event: Progress) -> None:
        tell(replace(event, phase=phase))

    return report


@dataclass(frozen=True)
class SolveOptions:
    """Options every backend honours (those it cannot, it ignores and says so in its log)."""

    time_limit: float = 60.0
    gap: float = 1e-4
    threads: int | None = None
    seed: int = 0
    verbose: bool = False
    progress: Callable[[Progress], None] | None = field(default=None, compare=False)
    warm_start: np.ndarray | None = field(default=None, compare=False, repr=False)
    stop: threading.Event | None = field(default=None, compare=False, repr=False)
    solution_limit: int | None = None  # stop after this many improving plans (if supported)
    abs_gap: float = 0.0  # also stop within this absolute gap (HiGHS; 0: relative gap only)
    # Stop on this much deterministic effort (``Capabilities.work_unit``) instead of time: the
    # time limit is then not applied, so the answer does not depend on the machine's load.
    work_limit: float | None = None

    def within(self, deadline: Deadline) -> SolveOptions:
        """These options for a solve that must end with ``deadline``: its time left, its stop
        signal, and its work left when the solve counts work instead of time."""
        return replace(self, time_limit=deadline.remaining(), stop=deadline.stop,
                       work_limit=None if deadline.work is None else deadline.work_left())


@dataclass(frozen=True, eq=False)
class SolveResult:
    """What a backend returns. ``objective`` is +inf and ``x`` is None when there is no plan."""

    status: Status
    x: np.ndarray | None
    objective: float
    bound: float
    seconds: float
    log: str = ""
    stop_reason: str = ""
    bound_source: str = ""
    reduced_costs: np.ndarray | None = field(default=None, repr=False)  # LPs only, if known
    # Deterministic effort done, in ``Capabilities.work_unit`` (0 for a backend without one),
    # so a caller can charge it to its deadline's work account.
    work: float = 0.0

    @property
    def gap(self) -> float:
        """``(objective - bound) / |objective|``, 0 for a zero objective met by its bound."""
        return relative_gap(self.objective, self.bound)


def relative_gap(objective: float, bound: float) -> float:
    """Relative gap as the plan reports it: ``(objective - bound) / |objective|``."""
    if not np.isfinite(objective) or not np.isfinite(bound):
        return float("inf")
    diff = max(objective - bound, 0.0)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return diff / abs(objective) if objective != 0 else float("inf")


def stop_status(objective: float, bound: float, *, gap_target: float, interrupted: bool = False,
                solver_optimal: bool = False, solver_reason: str = "") -> tuple[Status, str]:
    """The one status rule: the status of a plan of value ``objective`` and why its search
    stopped — for backends, engines and families alike.

    Optimal means proven by a valid ``bound`` (within :data:`OPTIMALITY_GAP`), whoever found
    the plan and whatever a solver said; otherwise the plan is feasible and the reason is, in
    order: ``interrupted``, ``gap target reached`` (the gap is within ``gap_target``, or the
    solver proved its own model optimal), else the solver's own reason or ``time limit``.
    """
    gap = relative_gap(objective, bound)
    if gap <= OPTIMALITY_GAP:
        return Status.OPTIMAL, "proven optimal"
    if interrupted:
        return Status.FEASIBLE, "interrupted"
    if gap <= gap_target or solver_optimal:
        return Status.FEASIBLE, "gap target reached"
    return Status.FEASIBLE, solver_reason or "time limit"


def final_status(status: Status, objective: float, bound: float) -> tuple[Status, str]:
    """A solver's status after :func:`stop_status`: its "optimal" (said once the user's gap
    target is met) stays optimal only when the bound proves it; the reason given is the
    demotion's, empty otherwise."""
    if status != Status.OPTIMAL:
        return status, ""
    settled, reason = stop_status(objective, bound, gap_target=0.0, solver_optimal=True)
    return settled, "" if settled == Status.OPTIMAL else reason


@runtime_checkable
class Backend(Protocol):
    """A solver adapter. ``name`` identifies it in plans and on the command line."""

    name: str
    capabilities: Capabilities

    def available(self) -> bool:
        """Whether the solver can be used here (checked without importing it)."""
        ...

    def solve(self, model: LinearModel, options: SolveOptions) -> SolveResult:
        """Solve ``model`` (minimisation); see the module docstring for the contract."""
        ...


@runtime_checkable
class IncrementalLp(Protocol):
    """A backend that hands out LP sessions kept between solves.

    Column generation adds columns and changes bounds between solves and restarts the simplex
    from the last basis; only the solver's own object can do that, so the session *is* that
    object (``highspy.Highs`` for HiGHS) and its user speaks the solver's API. The registry's
    ``lp_engine()`` finds such a backend.
    """

    name: str
    capabilities: Capabilities

    def lp_session(self, model: LinearModel,
                   settings: Mapping[str, bool | int | float | str] | None = None) -> Any:
        """A fresh solver LP object, quiet on stdout, with ``settings`` (solver options) set
        before ``model`` is loaded into it (integrality as the model gives it)."""
        ...


def module_available(module: str) -> bool:
    """Whether ``module`` is importable, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing
        return False


def package_version(distribution: str) -> str:
    """Installed version of a distribution, read from metadata (no import)."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def watch_stop(stop: threading.Event | None, action: Callable[[], None]) -> Callable[[], None]:
    """Call ``action`` once ``stop`` is set; returns a function that ends the watch.

    For solvers that can only be interrupted from another thread (CP-SAT, SCIP).
    """
    if stop is None:
        return lambda: None
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if stop.wait(0.1):
                action()
                return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()

    def end() -> None:
        done.set()
        thread.join()

    return end
