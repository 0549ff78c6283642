"""Values, tables and evaluations as JSON can hold them (the CLI's ``--json``, the service)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from territory_opt.kpi.evaluate import Evaluation


def clean(value: Any) -> Any:
    """A value JSON can hold: numpy numbers as Python ones, NaN and infinities as null."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as a list of JSON-ready row objects."""
    return [{str(k): clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def evaluation_json(e: Evaluation) -> dict[str, Any]:
    """An evaluation: plan KPIs, objective terms, violations and the territory table."""
    return {
        "metrics": {k: clean(v) for k, v in e.metrics.items()},
        "objective_terms": e.objective.as_dict(),
        "violations": [str(v) for v in e.violations],
        "territories": records(e.territories),
    }
