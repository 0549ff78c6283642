"""``solve()``: scenario -> model -> backend -> :class:`~territory_opt.plan.Plan`."""

from __future__ import annotations

import time
from collections.abc import Callable

from territory_opt.backends.base import Backend, Progress, SolveOptions, Status, get_backend
from territory_opt.diagnose import quick_conflicts, solver_conflicts
from territory_opt.errors import InfeasibleError, NoPlanFoundError, TerritoryOptError
from territory_opt.models.alignment import build_alignment
from territory_opt.plan import Plan
from territory_opt.scenario.model import Scenario


def solve(
    scenario: Scenario,
    *,
    backend: str | Backend | None = None,
    time_limit: float | None = None,
    gap: float | None = None,
    threads: int | None = None,
    seed: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    verbose: bool = False,
) -> Plan:
    """Find the best plan the backend can prove within the limits.

    Arguments left as ``None`` take the scenario's ``solver:`` defaults.

    Raises
    ------
    InfeasibleError
        No plan meets every hard rule; its ``conflicts`` name the rules and amounts.
    NoPlanFoundError
        The time limit passed before any plan was found.
    """
    defaults = scenario.spec.solver
    chosen = get_backend(backend if backend is not None else defaults.backend)
    options = SolveOptions(
        time_limit=time_limit if time_limit is not None else defaults.time_limit,
        gap=gap if gap is not None else defaults.gap,
        threads=threads if threads is not None else defaults.threads,
        seed=seed if seed is not None else defaults.seed,
        verbose=verbose,
        progress=progress,
    )
    conflicts = quick_conflicts(scenario)
    if conflicts:
        raise InfeasibleError(conflicts)

    start = time.perf_counter()
    model = build_alignment(scenario)
    built = time.perf_counter()
    result = chosen.solve(model.linear, options)
    solved = time.perf_counter()

    if result.status == Status.INFEASIBLE:
        raise InfeasibleError(solver_conflicts(scenario, chosen, options))
    if result.status == Status.NO_PLAN:
        raise NoPlanFoundError(
            f"{chosen.name} found no plan within {options.time_limit:g} s "
            f"({model.linear.n_cols:,} variables, {model.linear.n_rows:,} rows). Try a longer "
            "--time-limit, looser balance tolerances, or soft balance rules (hard: false)."
        )
    if not result.status.has_plan or result.x is None:
        raise TerritoryOptError(f"{chosen.name} failed: status {result.status}.\n{result.log}")
    return Plan(
        scenario=scenario,
        assignment=model.assignment(result.x),
        status=result.status,
        bound=result.bound,
        bound_source=f"{chosen.name} MIP dual bound (full model)",
        backend=chosen.name,
        options={
            "time_limit": options.time_limit,
            "gap": options.gap,
            "threads": options.threads,
            "seed": options.seed,
        },
        seconds={"build": built - start, "solve": solved - built, "total": solved - start},
        solver_objective=result.objective,
        scenario_digest=scenario.digest,
        stop_reason=result.stop_reason,
    )
