"""``solve()``: scenario → its family → plan, settled against the scenario's own numbers.

The settings are merged once (explicit argument > scenario ``solver:`` > defaults,
:class:`~territory_opt.settings.SolveSettings`) and handed whole to the scenario's problem
family (:mod:`territory_opt.family`): the alignment engine, districting or lead allocation.
Whatever the family returns passes :func:`~territory_opt.outcome.settle`, so no plan that breaks
a hard rule is called optimal.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from territory_opt.backends.contract import Backend, Progress, timed_from
from territory_opt.deadline import Deadline, stop_on_ctrl_c
from territory_opt.family import family_of
from territory_opt.outcome import settle
from territory_opt.plan import Plan
from territory_opt.scenario.model import Scenario
from territory_opt.settings import SolveSettings, WarmStart

__all__ = ["SolveSettings", "WarmStart", "solve"]


def solve(
    scenario: Scenario,
    *,
    backend: str | Backend | None = None,
    time_limit: float | None = None,
    gap: float | None = None,
    threads: int | None = None,
    seed: int | None = None,
    warm_start: WarmStart = "construct",
    candidates: int | None = None,
    work_limit: float | None = None,
    progress: Callable[[Progress], None] | None = None,
    verbose: bool = False,
    stop: threading.Event | None = None,
) -> Plan:
    """Find the best plan the backend can prove within the limits.

    Arguments left as ``None`` take the scenario's ``solver:`` defaults. ``candidates``: the
    nearest territories offered per item on the alignment engine's large path
    (:func:`territory_opt.alignment.engine.offered_pairs`). ``work_limit``: stop on
    deterministic effort instead of time (reproducible on any load). ``stop``: set it from
    another thread to end the solve early with its best plan (Ctrl-C does the same).

    The one :class:`~territory_opt.deadline.Deadline` of the solve is made here, before
    anything else, and every phase of the family takes its share of it.

    Raises
    ------
    InfeasibleError
        No plan meets every hard rule; its ``conflicts`` name the rules and amounts.
    NoPlanFoundError
        The time limit passed (or Ctrl-C came) before any plan was found.
    TerritoryOptError
        A limit no solver can honour, or a backend the family does not run on;
        :class:`~territory_opt.support.UnsupportedRuleError` for a rule of the scenario the
        chosen path cannot honour (naming the paths that can).
    """
    settings = SolveSettings.merged(
        scenario, backend=backend, time_limit=time_limit, gap=gap, threads=threads, seed=seed,
        warm_start=warm_start, candidates=candidates, work_limit=work_limit, progress=progress,
        verbose=verbose)
    deadline = Deadline(settings.time_limit, stop=stop or threading.Event(),
                        work=settings.work_limit, reserve=finish_reserve(settings.time_limit))
    settings = dataclasses.replace(settings, progress=timed_from(deadline, settings.progress))
    family = family_of(scenario)
    family.support.require(scenario, settings.backend_name)  # a rule the path would ignore
    with stop_on_ctrl_c(deadline.stop):
        plan = family.solve(scenario, settings, deadline)
    return settle(plan)


def finish_reserve(time_limit: float) -> float:
    """Seconds of the limit kept back from the search for what follows it — choosing and
    re-checking the plan, writing and printing it — so that the whole command, not only the
    search, ends within the limit: 5% of it, between 0.5 s and 1 s (never more than a tenth).
    Measured on the demo (1,000 × 20): the plan's check, write and tables take 0.2-0.4 s."""
    return min(max(0.05 * time_limit, 0.5), 1.0, 0.1 * time_limit)
