"""``solve()``: scenario → its family → plan, settled against the scenario's own numbers.

The settings are merged once (explicit argument > scenario ``solver:`` > defaults,
:class:`~territory_opt.settings.SolveSettings`) and handed whole to the scenario's problem
family (:mod:`territory_opt.family`): the alignment engine, districting or lead allocation.
Whatever the family returns passes :func:`~territory_opt.outcome.settle`, so no plan that breaks
a hard rule is called optimal.
"""

from __future__ import annotations

from collections.abc import Callable

from territory_opt.backends.contract import Backend, Progress
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
    progress: Callable[[Progress], None] | None = None,
    verbose: bool = False,
) -> Plan:
    """Find the best plan the backend can prove within the limits.

    Arguments left as ``None`` take the scenario's ``solver:`` defaults. ``candidates``: the
    nearest territories offered per item on the alignment engine's large path
    (:func:`territory_opt.alignment.engine.offered_pairs`).

    Raises
    ------
    InfeasibleError
        No plan meets every hard rule; its ``conflicts`` name the rules and amounts.
    NoPlanFoundError
        The time limit passed (or Ctrl-C came) before any plan was found.
    TerritoryOptError
        A limit no solver can honour, or a backend the family does not run on.
    """
    settings = SolveSettings.merged(
        scenario, backend=backend, time_limit=time_limit, gap=gap, threads=threads, seed=seed,
        warm_start=warm_start, candidates=candidates, progress=progress, verbose=verbose)
    return settle(family_of(scenario).solve(scenario, settings))
