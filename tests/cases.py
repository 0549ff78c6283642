"""Tiny scenarios whose optimum is known by brute force, shared by the end-to-end tests and the
backend conformance suite. Each variant exercises some rules; together they cover every rule."""

from __future__ import annotations

import functools
import itertools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from territory_opt import evaluate, load_scenario
from territory_opt.scenario.model import Scenario

# Seven accounts on a line between three reps; workloads chosen so that "each account to its
# nearest rep" breaks the ±10% workload band.
ACCOUNTS = pd.DataFrame({
    "acct": [f"A{i}" for i in range(1, 8)],
    "lat": [0.0, 0.1, 0.3, 0.5, 0.9, 1.2, 1.9],
    "lon": [0.0, 0.4, 0.8, 1.1, 1.3, 1.7, 2.1],
    "hours": [30.0, 25.0, 20.0, 18.0, 12.0, 8.0, 7.0],
    "potential": [100.0, 80.0, 90.0, 40.0, 60.0, 20.0, 30.0],
    "visits": [4, 2, 3, 2, 1, 1, 2],
    "segment": ["ent", "", "", "ent", "", "", ""],
    "owner": ["R1", "R1", "R2", "R2", "R2", "R3", "R3"],
})
REPS = pd.DataFrame({
    "rep": ["R1", "R2", "R3"],
    "home_lat": [0.0, 0.8, 1.8],
    "home_lon": [0.0, 1.1, 2.0],
    "fte": [1.0, 1.0, 0.5],
    "skills": ["ent;smb", "smb", "ent"],
    "max_hours": [60.0, 60.0, 60.0],
})
BASE: dict[str, Any] = {
    "version": 1,
    "model": "alignment",
    "items": {"path": "accounts.csv", "id": "acct", "latitude": "lat", "longitude": "lon",
              "attributes": {"workload": "hours", "potential": "potential", "visits": "visits"},
              "current": "owner", "tags": ["segment"]},
    "territories": {"path": "reps.csv", "id": "rep", "home_latitude": "home_lat",
                    "home_longitude": "home_lon", "fte": "fte", "skills": "skills"},
    "rules": {"balance": [{"attribute": "workload", "tolerance": 0.15}]},
    "objective": {"travel": {"weight": 1.0, "attribute": "visits"}},
    "solver": {"time_limit": 20, "gap": 0.0},
}

VARIANTS: dict[str, dict[str, Any]] = {
    "balance only": {},
    "soft potential band + disruption penalty": {
        "rules": {"balance": [{"attribute": "workload", "tolerance": 0.15},
                              {"attribute": "potential", "tolerance": 0.05, "hard": False,
                               "penalty": 3.0}]},
        "objective": {"travel": {"weight": 1.0, "attribute": "visits"},
                      "disruption": {"weight": 40.0, "per": "items"}},
    },
    "lock + eligibility + capacity + max distance": {
        "rules": {"balance": [{"attribute": "workload", "tolerance": 0.25}],
                  "locks": {"A5": "R1"}, "eligibility": ["segment"], "max_distance_km": 260},
        "territories_capacity": {"workload": "max_hours"},
    },
    "disruption cap on workload": {
        "rules": {"balance": [{"attribute": "workload", "tolerance": 0.2}],
                  "disruption": {"attribute": "workload", "max_share": 0.35}},
    },
    "territory without home + soft bands only": {
        "rules": {"balance": [{"attribute": "workload", "tolerance": 0.05, "hard": False,
                               "penalty": 40.0},
                              {"attribute": "potential", "tolerance": 0.2, "hard": False,
                               "penalty": 2.0}]},
        "objective": {"travel": {"weight": 1.0}, "disruption": {"weight": 25.0,
                                                                 "per": "workload"}},
        "reps": {"home_lat": [0.0, 0.8, None], "home_lon": [0.0, 1.1, None]},
    },
}


def write_scenario(folder: Path, variant: dict[str, Any]) -> Path:
    """Write the tiny scenario with ``variant`` merged over :data:`BASE`."""
    special = ("territories_capacity", "reps")
    spec = {**BASE, **{k: v for k, v in variant.items() if k not in special}}
    if "territories_capacity" in variant:
        spec["territories"] = {**BASE["territories"], "capacity": variant["territories_capacity"]}
    ACCOUNTS.to_csv(folder / "accounts.csv", index=False)
    REPS.assign(**variant.get("reps", {})).to_csv(folder / "reps.csv", index=False)
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@functools.cache
def variant_optimum(name: str) -> float:
    """Brute-force optimum of :data:`VARIANTS` ``name``, once per test session (thousands of
    evaluations each: the end-to-end and conformance suites both need them)."""
    with tempfile.TemporaryDirectory() as folder:
        return brute_force(load_scenario(write_scenario(Path(folder), VARIANTS[name])))[0]


def brute_force(scenario: Scenario) -> tuple[float, np.ndarray]:
    """Best objective over every feasible assignment, scored by the evaluator."""
    best, best_assignment = np.inf, np.zeros(0)
    for combo in itertools.product(range(scenario.n_territories), repeat=scenario.n_items):
        assignment = np.asarray(combo)
        e = evaluate(scenario, assignment)
        if e.feasible and e.objective.total < best - 1e-9:
            best, best_assignment = e.objective.total, assignment
    return best, best_assignment


