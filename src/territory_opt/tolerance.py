"""How exactly a hard rule must hold: the one slack the rule checker and the models share.

The KPI evaluator judges every plan (:mod:`territory_opt.outcome`); the models must ask for the
same thing, or they disagree at the edges: a band on values of 1e-7 is met within the checker's
slack by any plan while the exact model calls it infeasible, and a bound from the exact model
can lie above a plan the checker accepts. So the hard rows of every model are widened by these
slacks, and the checker allows exactly them.
"""

from __future__ import annotations

import numpy as np

RULE_TOLERANCE = 1e-6
"""Relative slack of a hard rule (solvers work to ~1e-6 feasibility)."""


def band_slack(target: np.ndarray | float) -> np.ndarray:
    """How far a load may sit outside its balance band ``(1 ± τ) × target``: relative to the
    target, and at least :data:`RULE_TOLERANCE` of a unit."""
    return np.asarray(RULE_TOLERANCE * np.maximum(np.asarray(target, dtype=float), 1.0))


def capacity_limit(capacity: np.ndarray | float) -> np.ndarray:
    """The largest load a capacity allows (``inf`` stays ``inf``)."""
    return np.asarray(capacity, dtype=float) * (1 + RULE_TOLERANCE) + RULE_TOLERANCE


def share_limit(max_share: float) -> float:
    """The largest moved share a disruption cap allows."""
    return max_share + RULE_TOLERANCE
