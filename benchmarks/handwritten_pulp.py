"""The baseline a user would write by hand: the balanced assignment model in plain PuLP + CBC.

Benchmarks compare territory-opt against this script, so it is deliberately what a competent
user would type without the library: a dict of binary ``LpVariable`` per allowed (item,
territory) pair, ``lpSum`` constraints, default CBC settings apart from the time limit and the
threads. No warm start, no presolve of our own, no symmetry handling, no vectorised build.

Model::

    min  Σ_ik cost[i,k] x[i,k]
    s.t. Σ_k x[i,k] = 1                                         every item i
         lower[a][k] ≤ Σ_i loads[a][i] x[i,k] ≤ upper[a][k]     every attribute a, territory k
         x[i,k] ∈ {0,1}, only where cost[i,k] is finite

A non-finite bound is left out, so per-territory bounds can also express agent-specific
capacities (for a GAP instance: attribute ``k`` has load ``resource[:, k]``, upper bound
``capacity[k]`` at territory ``k`` and ``inf`` elsewhere).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pulp  # type: ignore[import-untyped]  # PuLP ships no type information

HandStatus = Literal["optimal", "feasible", "no plan", "infeasible"]
"""``"optimal"`` (proven), ``"feasible"`` (a plan, limit hit), ``"no plan"`` (limit hit
without one) or ``"infeasible"`` (proven)."""


# eq=False: the generated __eq__ would compare numpy arrays, whose truth value is ambiguous.
@dataclass(frozen=True, eq=False)
class HandResult:
    """What :func:`solve_by_hand` found.

    Attributes
    ----------
    assignment : numpy.ndarray or None
        ``(n,)`` territory index per item; None without a plan.
    objective : float
        Total cost of ``assignment`` (recomputed from ``cost``); ``inf`` without a plan.
    status : str
        ``"optimal"``, ``"feasible"``, ``"no plan"`` or ``"infeasible"``.
    seconds : float
        Wall-clock seconds of the whole call: model build plus CBC (PuLP writes an MPS file,
        runs CBC as a subprocess and reads its solution back).
    build_seconds : float
        The part of ``seconds`` spent building the PuLP model in Python.
    """

    assignment: npt.NDArray[np.int64] | None
    objective: float
    status: HandStatus
    seconds: float
    build_seconds: float


def solve_by_hand(cost: npt.NDArray[np.float64],
                  loads: Mapping[str, npt.NDArray[np.float64]],
                  lower: Mapping[str, npt.NDArray[np.float64]],
                  upper: Mapping[str, npt.NDArray[np.float64]],
                  time_limit: float,
                  threads: int = 1) -> HandResult:
    """Solve the balanced assignment model with a hand-written PuLP model and CBC.

    Parameters
    ----------
    cost : numpy.ndarray
        ``(n, m)`` cost of giving item ``i`` to territory ``k``; ``inf`` (or NaN) forbids the
        pair.
    loads : mapping of str to numpy.ndarray
        Per attribute, the ``(n,)`` load of each item.
    lower, upper : mapping of str to numpy.ndarray
        Per attribute, the ``(m,)`` bounds on each territory's total load. A missing attribute
        or a non-finite entry means no bound on that side.
    time_limit : float
        CBC's time limit in seconds. It covers CBC only, as in a user's script: the build
        comes on top of it.
    threads : int, default 1
        CBC threads.

    Returns
    -------
    HandResult
    """
    start = time.perf_counter()
    n, m = cost.shape
    prob = pulp.LpProblem("balanced_assignment", pulp.LpMinimize)

    # PuLP >= 3.3 wants variables made by the problem (it deprecates LpVariable(...) with a
    # warning per variable); older PuLP only has LpVariable. Same variables either way.
    new_variable = getattr(prob, "add_variable", None) or pulp.LpVariable
    x: dict[tuple[int, int], pulp.LpVariable] = {}
    for i in range(n):
        for k in range(m):
            if np.isfinite(cost[i, k]):
                x[i, k] = new_variable(f"x_{i}_{k}", cat=pulp.LpBinary)

    prob += pulp.lpSum(float(cost[i, k]) * var for (i, k), var in x.items())

    for i in range(n):
        # An item with no allowed territory gets "0 == 1", which PuLP/CBC report infeasible.
        prob += pulp.lpSum(x[i, k] for k in range(m) if (i, k) in x) == 1, f"assign_{i}"

    for name, load in loads.items():
        lo = lower.get(name)
        hi = upper.get(name)
        for k in range(m):
            total = pulp.lpSum(float(load[i]) * x[i, k] for i in range(n) if (i, k) in x)
            if lo is not None and math.isfinite(lo[k]):
                prob += total >= float(lo[k]), f"{name}_min_{k}"
            if hi is not None and math.isfinite(hi[k]):
                prob += total <= float(hi[k]), f"{name}_max_{k}"
    build_seconds = time.perf_counter() - start

    with warnings.catch_warnings():
        # PuLP 3.3 warns that PULP_CBC_CMD will go in 4.0 in favour of COIN_CMD, which needs a
        # separately installed CBC; the bundled CBC is what a `pip install pulp` user has.
        warnings.filterwarnings("ignore", message="PULP_CBC_CMD is deprecated",
                                category=DeprecationWarning)
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, threads=threads)
    prob.solve(solver)
    seconds = time.perf_counter() - start

    status = _status(prob.status, prob.sol_status)
    if status not in ("optimal", "feasible"):
        return HandResult(None, math.inf, status, seconds, build_seconds)

    # Rounded reading of the binaries; every item has exactly one variable at 1 in a solution.
    assignment = np.full(n, -1, dtype=np.int64)
    for (i, k), var in x.items():
        value = var.varValue
        if value is not None and value > 0.5:
            assignment[i] = k
    if (assignment < 0).any():
        raise RuntimeError(f"CBC reported {status} but left items unassigned: "
                           f"{np.flatnonzero(assignment < 0).tolist()}")
    objective = float(cost[np.arange(n), assignment].sum())
    return HandResult(assignment, objective, status, seconds, build_seconds)


def _status(status: int, sol_status: int) -> HandStatus:
    """Our status from PuLP's pair.

    PuLP sets ``status`` to "Optimal" also for a CBC run stopped by its time limit with a
    solution; ``sol_status`` tells a proven optimum (``LpSolutionOptimal``) from a solution
    found (``LpSolutionIntegerFeasible``). For an integer-infeasible model PuLP reports
    ``status`` infeasible but ``sol_status`` "no solution found", hence both are read.
    """
    if status == pulp.LpStatusInfeasible or sol_status == pulp.LpSolutionInfeasible:
        return "infeasible"
    if sol_status == pulp.LpSolutionOptimal:
        return "optimal"
    if sol_status == pulp.LpSolutionIntegerFeasible:
        return "feasible"
    return "no plan"
