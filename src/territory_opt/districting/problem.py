"""The districting problem as plain arrays, and a solver's answer: shared by the exact model,
the heuristic, the benchmark and the scenario adapter.

Units ``0..n-1`` go into districts ``0..k-1``. Every district is connected in the adjacency
graph (when ``contiguity``) and keeps each band. The objective is one of

- ``cut_edges``: the number of adjacency edges whose ends lie in different districts;
- ``dispersion``: ``Σ_i cost[i, c(i)]`` where ``c(i)`` is the centre of unit i's district
  (``cost[i, c] = weight_i × distance(i, c)``: attribute-weighted distance to the centre);
- ``travel``: the same sum with fixed centres (each district's rep home unit).

Centres are either fixed (``fixed_centres[j]`` is district j's centre unit and ``cost`` has one
column per district) or chosen by the solver among ``candidates`` (``cost`` has one column per
candidate; p-median style). ``cut_edges`` needs no ``cost``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from territory_opt.backends.contract import Status

Objective = Literal["cut_edges", "dispersion", "travel"]


@dataclass(frozen=True, eq=False)
class DistrictBand:
    """``lo[j] <= Σ_{i in district j} weight[i] <= hi[j]`` for every district j."""

    name: str
    weight: np.ndarray  # (n,)
    lo: np.ndarray  # (k,)
    hi: np.ndarray  # (k,)


@dataclass(frozen=True, eq=False)
class DistrictingProblem:
    """See the module docstring. ``edges`` is ``(e, 2)``, undirected, ``i < j``, no repeats."""

    n_units: int
    k: int
    edges: np.ndarray
    bands: tuple[DistrictBand, ...]
    objective: Objective
    cost: np.ndarray | None = None
    fixed_centres: np.ndarray | None = None  # (k,) unit per district, or None: chosen
    candidates: np.ndarray | None = None  # centre candidates (cost's columns); None: all units
    lock: np.ndarray | None = None  # (n,) district per unit or -1
    contiguity: bool = True


@dataclass(frozen=True, eq=False)
class DistrictingResult:
    """A solver's answer: ``labels`` (district per unit) or None, with its proof."""

    labels: np.ndarray | None
    objective: float
    bound: float
    status: Status
    seconds: float
    method: str
    centres: np.ndarray | None = None  # (k,) centre unit per district, where there are centres
    log: str = field(default="", repr=False)


def district_anchors(problem: DistrictingProblem) -> list[list[int]]:
    """Units each district must hold: its fixed centre first, then its locked units."""
    out: list[list[int]] = [[] for _ in range(problem.k)]
    if problem.fixed_centres is not None:
        for j, c in enumerate(np.asarray(problem.fixed_centres).tolist()):
            out[j].append(int(c))
    if problem.lock is not None:
        for u in np.flatnonzero(np.asarray(problem.lock) >= 0).tolist():
            j = int(problem.lock[u])
            if u not in out[j]:
                out[j].append(u)
    return out
