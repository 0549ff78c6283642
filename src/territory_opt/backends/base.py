"""The contract every solver backend fulfils, and the registry that finds them.

A backend translates a :class:`~territory_opt.models.linear.LinearModel`, solves it and maps the
solver's status onto :class:`Status`. It never sees a scenario: models and backends meet only
through the solver-neutral model.
"""

from __future__ import annotations

import enum
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from territory_opt.models.linear import LinearModel

OPTIMALITY_GAP = 1e-4
"""A plan is reported optimal when its relative gap is at most this (HiGHS's default)."""


class Status(enum.StrEnum):
    """How a solve ended. OPTIMAL means proven within :data:`OPTIMALITY_GAP`."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"  # a plan, stopped by a limit before proving optimality
    INFEASIBLE = "infeasible"
    NO_PLAN = "no_plan"  # stopped by a limit without any plan
    ERROR = "error"

    @property
    def has_plan(self) -> bool:
        """Whether a solution vector comes with this status."""
        return self in (Status.OPTIMAL, Status.FEASIBLE)


@dataclass(frozen=True)
class Progress:
    """A progress report during a solve (objective of the incumbent, best bound, seconds)."""

    objective: float
    bound: float
    seconds: float


@dataclass(frozen=True)
class SolveOptions:
    """Options every backend honours (those it cannot, it ignores and says so in its log)."""

    time_limit: float = 60.0
    gap: float = 1e-4
    threads: int | None = None
    seed: int = 0
    verbose: bool = False
    progress: Callable[[Progress], None] | None = field(default=None, compare=False)


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


@runtime_checkable
class Backend(Protocol):
    """A solver adapter. ``name`` identifies it in plans and on the command line."""

    name: str

    def available(self) -> bool:
        """Whether the solver can be used here (checked without importing it)."""
        ...

    def solve(self, model: LinearModel, options: SolveOptions) -> SolveResult:
        """Solve ``model`` (minimisation) and report status, solution, objective and bound."""
        ...


def module_available(module: str) -> bool:
    """Whether ``module`` is importable, without importing it."""
    return importlib.util.find_spec(module) is not None


def _registry() -> dict[str, Backend]:
    from territory_opt.backends.highs import HighsBackend

    return {"highs": HighsBackend()}


def get_backend(name_or_backend: str | Backend) -> Backend:
    """Resolve a backend name (or pass a user's own backend object through).

    Raises
    ------
    KeyError
        With the known names, if ``name`` is not registered or not installed.
    """
    if not isinstance(name_or_backend, str):
        return name_or_backend
    backends = _registry()
    name = "highs" if name_or_backend == "auto" else name_or_backend
    if name not in backends:
        raise KeyError(f"unknown backend '{name_or_backend}'; known: {', '.join(backends)}, auto")
    backend = backends[name]
    if not backend.available():
        raise KeyError(f"backend '{name}' is not installed")
    return backend
