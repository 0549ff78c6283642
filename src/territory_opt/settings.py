"""``SolveSettings``: how to solve, merged once — explicit argument > scenario ``solver:`` >
defaults — and handed whole to the problem family (:mod:`territory_opt.family`)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from territory_opt.backends.contract import Backend, Progress
from territory_opt.errors import TerritoryOptError

if TYPE_CHECKING:
    from territory_opt.scenario.model import Scenario

WarmStart = Literal["construct", "current", "none"] | np.ndarray
"""``construct`` (default), ``current`` (the current alignment as a hint), ``none``, or an
assignment (territory index per item, e.g. ``Plan.assignment``)."""


@dataclass(frozen=True)
class SolveSettings:
    """Everything a solve may be told; families read what applies to them."""

    backend: str | Backend = "auto"
    time_limit: float = 60.0
    gap: float = 0.005
    threads: int | None = None
    seed: int = 0
    warm_start: WarmStart = field(default="construct", compare=False)
    candidates: int | None = None
    work_limit: float | None = None
    verbose: bool = False
    progress: Callable[[Progress], None] | None = field(default=None, compare=False)

    @property
    def backend_name(self) -> str:
        """The backend's name, whether given by name or as an object."""
        return self.backend if isinstance(self.backend, str) else self.backend.name

    @property
    def warm_start_name(self) -> str:
        """``construct``, ``current``, ``none`` or ``assignment`` (for the plan's record)."""
        return self.warm_start if isinstance(self.warm_start, str) else "assignment"

    @classmethod
    def merged(
        cls,
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
    ) -> SolveSettings:
        """Explicit arguments over the scenario's ``solver:`` block; ``None`` means "not
        given". Limits no solver can honour are refused here, once.

        Raises
        ------
        TerritoryOptError
            A NaN, infinite or non-positive limit, or more threads than this machine's cores.
        """
        check_limits(time_limit, gap, threads, work_limit)
        defaults = scenario.spec.solver
        return cls(
            backend=backend if backend is not None else defaults.backend,
            time_limit=time_limit if time_limit is not None else defaults.time_limit,
            gap=gap if gap is not None else defaults.gap,
            threads=threads if threads is not None else machine_threads(defaults.threads),
            seed=seed if seed is not None else defaults.seed,
            warm_start=warm_start,
            candidates=candidates if candidates is not None else defaults.candidates,
            work_limit=work_limit if work_limit is not None else defaults.work_limit,
            verbose=verbose,
            progress=progress,
        )


def check_limits(time_limit: float | None, gap: float | None, threads: int | None,
                 work_limit: float | None = None) -> None:
    """Refuse limits no solver can honour: NaN passes every ``> 0`` test and would remove a
    time limit; infinity is no limit either."""
    for name, value, least in (("time_limit", time_limit, "> 0"), ("gap", gap, ">= 0"),
                               ("work_limit", work_limit, "> 0")):
        if value is not None and not (math.isfinite(value)
                                      and (value > 0 if least == "> 0" else value >= 0)):
            raise TerritoryOptError(f"{name} must be a finite number {least}, not {value!r}")
    cores = os.cpu_count() or 1
    if threads is not None and not 1 <= threads <= cores:
        raise TerritoryOptError(f"threads must be between 1 and {cores} (this machine's "
                                f"cores), not {threads!r}")


def machine_threads(threads: int | None) -> int | None:
    """A scenario's ``solver.threads`` on this machine: at most its cores (a scenario written
    on a large server still runs on a laptop; more threads than cores only slow a solver, and
    100,000 aborted HiGHS)."""
    return None if threads is None else min(threads, os.cpu_count() or 1)
