"""What ``backend: auto`` runs on an alignment: the method measured best for its size and limit.

The choice is a lookup in :data:`CROSSOVERS`, a table of measurements (``benchmarks/scaling.py``
and ``benchmarks/RESULTS.md``, section "scaling"): the scenario's size and rules and the time
limit decide, never how fast this run happens to be going — so a work-limited solve gives the
same plan on any machine, and ``plan.json`` can say what was chosen and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from territory_opt.alignment.support import AUTO_FALLBACK, unsupported
from territory_opt.scenario.model import Scenario
from territory_opt.settings import SolveSettings


@dataclass(frozen=True)
class Crossover:
    """One row of the table: up to ``max_pairs`` item × territory pairs, with a time limit
    below ``below_seconds`` (or any limit), ``method`` did best in the measurements cited."""

    max_pairs: float
    below_seconds: float
    method: str
    measured: str


CROSSOVERS: tuple[Crossover, ...] = (
    Crossover(60_000, 30.0, "heuristic",
              "bench-1k (1,000 × 20) at 5 s: gap 0.95% against HiGHS's 2.24%; the demo at "
              "10 s: 0.66% against 2.5%; small (200 × 10) at 10 s: 0.61% against 0.72%"),
    Crossover(60_000, math.inf, "highs",
              "the demo at 30 s: HiGHS on the whole model 0.38% against the heuristic's "
              "0.58%; bench-1k at 30 s: 0.47% against 0.53%"),
    Crossover(math.inf, math.inf, "heuristic",
              "bench-5k (5,000 × 50) at 10 s: 0.34% against HiGHS's 3.08%; bench-20k at 15 s: "
              "0.15% (HiGHS finds no plan); scale-100k: HiGHS finds no plan in 120 s"),
)
"""Measured 2026-12-03 on 2 cores (``python benchmarks/scaling.py``); first matching row wins.
A rule only some paths honour (:data:`territory_opt.alignment.support.SUPPORT`, e.g. the
account groups) makes ``auto`` run HiGHS on the whole model when the row's method does not."""


@dataclass(frozen=True)
class Choice:
    """The method ``auto`` runs, and why (written to ``plan.json``)."""

    method: str
    why: str

    def as_dict(self) -> dict[str, str]:
        """For ``plan.json``."""
        return {"asked": "auto", "method": self.method, "why": self.why}


def choose(scenario: Scenario, settings: SolveSettings) -> Choice:
    """The row of :data:`CROSSOVERS` for ``scenario``'s size and ``settings``' time limit (a
    work-limited solve counts as a long one: it is not racing a clock)."""
    pairs = scenario.n_items * scenario.n_territories
    limit = math.inf if settings.work_limit is not None else settings.time_limit
    for row in CROSSOVERS:
        if pairs <= row.max_pairs and (limit < row.below_seconds
                                       or math.isinf(row.below_seconds)):
            missing = unsupported(scenario, row.method)
            if missing:  # the measured best would break a rule: the whole model instead
                return Choice(AUTO_FALLBACK, f"{', '.join(missing)}: honoured by "
                              f"{AUTO_FALLBACK} on the whole model, not by {row.method} "
                              f"(measured best for {pairs:,} item × territory pairs)")
            return Choice(row.method, _why(pairs, limit, row))
    raise AssertionError("the last row of CROSSOVERS matches every scenario")


def _why(pairs: int, limit: float, row: Crossover) -> str:
    size = (f"{pairs:,} item × territory pairs" + (f" (≤ {row.max_pairs:,.0f})"
                                                   if math.isfinite(row.max_pairs) else ""))
    within = ("a work limit" if not math.isfinite(limit) else f"a {limit:g} s limit"
              + (f" (< {row.below_seconds:g} s)" if math.isfinite(row.below_seconds) else ""))
    return f"{size}, {within}: measured best — {row.measured}"
