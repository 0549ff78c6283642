"""The districting objective recomputed from an assignment: centres, dispersion, cut edges.

Pure functions of (scenario, assignment), like :mod:`territory_opt.kpi.evaluate`, so a
districting plan's objective is the evaluator's, not the solver's claim.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from territory_opt.geo import haversine_km
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.scenario.schema import ScenarioSpec

DistrictingObjective = Literal["cut_edges", "dispersion", "travel"]

CENTRE_BLOCK = 512
"""Candidate centres per block when a territory's best centre is searched (memory bound)."""


def districting_objective(spec: ScenarioSpec) -> DistrictingObjective:
    """Which term a districting scenario minimises: ``cut_edges`` or ``dispersion`` when
    given, else ``travel`` from the territories' homes."""
    if spec.objective.cut_edges is not None:
        return "cut_edges"
    if spec.objective.dispersion is not None:
        return "dispersion"
    return "travel"


def dispersion_weight(scenario: Scenario) -> np.ndarray:
    """Per unit: the weight of its distance to the centre (the dispersion attribute, with the
    accounts that go with the unit, or 1)."""
    term = scenario.spec.objective.dispersion
    if term is None or term.attribute is None:
        return np.ones(scenario.n_items)
    return np.asarray(scenario.item_weight(term.attribute), dtype=float)


def best_centres(lat: np.ndarray, lon: np.ndarray, weight: np.ndarray, labels: np.ndarray,
                 k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per territory, the unit of it that minimises ``Σ weight_i × km(i, centre)`` over its
    units (the p-median centre), and that sum; ``-1`` and 0 for an empty territory."""
    centres = np.full(k, NO_TERRITORY, dtype=np.int64)
    totals = np.zeros(k)
    for j in range(k):
        members = np.flatnonzero(labels == j)
        if not len(members):
            continue
        best, best_cost = -1, np.inf
        for start in range(0, len(members), CENTRE_BLOCK):
            candidates = members[start:start + CENTRE_BLOCK]
            km = haversine_km(lat[members][:, None], lon[members][:, None],
                              lat[candidates][None, :], lon[candidates][None, :])
            cost = weight[members] @ km
            pick = int(np.argmin(cost))
            if cost[pick] < best_cost:
                best, best_cost = int(candidates[pick]), float(cost[pick])
        centres[j], totals[j] = best, best_cost
    return centres, totals


def cut_edges(edges: np.ndarray | None, labels: np.ndarray) -> int:
    """Adjacency edges whose two units lie in different territories (or are unassigned)."""
    if edges is None or not len(edges):
        return 0
    a, b = labels[edges[:, 0]], labels[edges[:, 1]]
    return int(np.sum((a != b) | (a == NO_TERRITORY)))
