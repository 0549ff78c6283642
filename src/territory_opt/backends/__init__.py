"""Solver backends behind one contract (see :mod:`territory_opt.backends.base`)."""

from territory_opt.backends.base import (
    Backend,
    Progress,
    SolveOptions,
    SolveResult,
    Status,
    get_backend,
)

__all__ = ["Backend", "Progress", "SolveOptions", "SolveResult", "Status", "get_backend"]
