"""The territories table's columns: homes, FTE, skills and capacities (and T1..Tk when the
scenario gives only a count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from territory_opt.errors import Problem
from territory_opt.scenario.columns import (
    number_column,
    optional_coordinate_column,
    text_column,
)
from territory_opt.scenario.schema import TerritoriesTable
from territory_opt.scenario.tables import row_label

SKILL_SEPARATORS = (";", ",", "|")


@dataclass
class TerritoryColumns:
    """Per territory: home in degrees (NaN without one), FTE, skills and capacities."""

    home_lat: np.ndarray
    home_lon: np.ndarray
    fte: np.ndarray
    skills: tuple[frozenset[str], ...]
    capacity: dict[str, np.ndarray]


def counted_territories(t: TerritoriesTable) -> pd.DataFrame:
    """Districting by count: territories T1..Tk, nothing to read."""
    count = t.count or 0
    return pd.DataFrame({t.id: [f"T{j + 1}" for j in range(count)]})


def territory_columns(t: TerritoriesTable) -> dict[str, str]:
    """YAML key -> column for every column the territories table must have."""
    cols = {"territories.id": t.id}
    for key in ("name", "home_latitude", "home_longitude", "fte", "skills", "region"):
        value = getattr(t, key)
        if value is not None:
            cols[f"territories.{key}"] = value
    cols |= {f"territories.capacity.{k}": v for k, v in t.capacity.items()}
    cols |= {f"territories.levels.{k}": v for k, v in t.level_columns().items()}
    return cols


def read_territory_columns(
    t: TerritoriesTable,
    frame: pd.DataFrame,
    path: Path,
    territory_ids: list[str],
    problems: list[Problem],
) -> TerritoryColumns:
    """Every column of the territories table the spec names, problems appended in order.

    A half-given home is only reported when nothing else is wrong so far (``problems`` empty).
    """
    home_lat = optional_coordinate_column(frame, t.home_latitude, path, 90, problems)
    home_lon = optional_coordinate_column(frame, t.home_longitude, path, 180, problems)
    if t.home_latitude is not None and not problems:
        one_sided_home(home_lat, home_lon, path, problems)
    fte = (
        number_column(frame, t.fte, path, problems, positive=True)
        if t.fte is not None
        else np.ones(len(territory_ids))
    )
    skills = tuple(
        split_skills(v)
        for v in (text_column(frame, t.skills) if t.skills else [""] * len(territory_ids))
    )
    capacity = {
        name: number_column(frame, col, path, problems, name=name, blank=math.inf)
        for name, col in t.capacity.items()
    }
    return TerritoryColumns(home_lat=home_lat, home_lon=home_lon, fte=fte, skills=skills,
                            capacity=capacity)


def one_sided_home(lat: np.ndarray, lon: np.ndarray, path: Path, problems: list[Problem]
                   ) -> None:
    """A home needs both latitude and longitude, or neither."""
    half = np.flatnonzero(np.isnan(lat) != np.isnan(lon))
    if len(half):
        problems.append(Problem(row_label(path, half), "home", "only one of latitude/longitude",
                                "both, or neither for a territory without a home"))


def split_skills(value: str) -> frozenset[str]:
    """'a; b, c|d' -> {'a', 'b', 'c', 'd'}."""
    for sep in SKILL_SEPARATORS:
        value = value.replace(sep, ";")
    return frozenset(s.strip() for s in value.split(";") if s.strip())
