"""The items table's columns: coordinates (degrees, or x/y in a projected CRS), attributes,
tags, current territory and locks (the lock column and ``rules.locks`` of the YAML).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from territory_opt.errors import Problem
from territory_opt.geo import to_lonlat
from territory_opt.scenario.columns import (
    blank_cells,
    coordinate_column,
    number_column,
    optional_coordinate_column,
    signed_number_column,
    territory_column,
    text_column,
)
from territory_opt.scenario.groups import GroupRules, read_groups, read_lock_states
from territory_opt.scenario.model import NO_TERRITORY
from territory_opt.scenario.schema import ItemsTable, ScenarioSpec
from territory_opt.scenario.tables import row_label


@dataclass
class ItemColumns:
    """Per item: location in degrees (NaN where a pair table gives the distances), numeric
    attributes, text tags, and current and locked territory (or ``NO_TERRITORY``)."""

    lat: np.ndarray
    lon: np.ndarray
    attributes: dict[str, np.ndarray]
    tags: dict[str, np.ndarray]
    current: np.ndarray
    lock: np.ndarray
    groups: GroupRules | None = None  # rules.groups
    leave: np.ndarray | None = None  # lock state 'leave': must not stay with its current


def item_columns(t: ItemsTable) -> dict[str, str]:
    """YAML key -> column for every column the items table must have."""
    cols = {"items.id": t.id}
    for key in ("latitude", "longitude", "x", "y", "current", "lock", "lock_state"):
        value = getattr(t, key)
        if value is not None:
            cols[f"items.{key}"] = value
    cols |= {f"items.attributes.{k}": v for k, v in t.attribute_columns().items()}
    cols |= {f"items.tags.{k}": v for k, v in t.tag_columns().items()}
    return cols


def read_item_columns(
    spec: ScenarioSpec,
    frame: pd.DataFrame,
    path: Path,
    item_ids: list[str],
    index: dict[str, int],
    yaml_path: Path | None,
    problems: list[Problem],
    source: str = "scenario.yaml",
) -> ItemColumns:
    """Every column of the items table the spec names, problems appended in table order."""
    # Leads may come without a location; a pair table may give every distance instead.
    lat, lon = item_coordinates(frame, spec.items, path, problems, source,
                                optional=spec.pairs is not None or spec.model == "leads")
    attributes = {
        name: number_column(frame, col, path, problems, name=name)
        for name, col in spec.items.attribute_columns().items()
    }
    tags = {name: text_column(frame, col) for name, col in spec.items.tag_columns().items()}
    current = territory_column(frame, spec.items.current, path, index, problems)
    lock = territory_column(frame, spec.items.lock, path, index, problems)
    apply_yaml_locks(spec, yaml_path, item_ids, index, lock, problems)
    leave = read_lock_states(spec, frame, path, current, lock, problems)
    groups = read_groups(spec, frame, path, tags, problems, source)
    return ItemColumns(lat=lat, lon=lon, attributes=attributes, tags=tags, current=current,
                       lock=lock, groups=groups, leave=leave)


def item_coordinates(
    frame: pd.DataFrame,
    t: ItemsTable,
    path: Path,
    problems: list[Problem],
    source: str = "scenario.yaml",
    *,
    optional: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Item latitude and longitude in degrees.

    With ``optional`` (a pair table is given) coordinates may be left out, all of them or a
    row's both cells: NaN then, and
    :func:`~territory_opt.scenario.pair_table.unmeasured_pairs` checks later that the pair
    table gives every distance such an item needs.
    """
    if t.x is not None and t.y is not None and t.crs is not None:
        blank = ((blank_cells(frame, t.x) & blank_cells(frame, t.y)) if optional
                 else np.zeros(len(frame), bool))
        x = signed_number_column(frame, t.x, path, problems, skip=blank)
        y = signed_number_column(frame, t.y, path, problems, skip=blank)
        lat, lon = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
        try:
            lon[~blank], lat[~blank] = to_lonlat(x[~blank], y[~blank], t.crs)
        except ValueError as exc:
            problems.append(Problem(f"{source}, at items.crs", "crs", repr(t.crs),
                                    f"a CRS pyproj knows, e.g. 'EPSG:32617' ({exc})"))
            return np.zeros(len(frame)), np.zeros(len(frame))
        bad = np.flatnonzero(~(np.isfinite(lat) & np.isfinite(lon)) & ~blank)
        if len(bad):
            problems.append(Problem(row_label(path, bad), f"{t.x}/{t.y}", "a point outside the "
                                    f"area of {t.crs}", "coordinates valid in the stated CRS"))
        return lat, lon
    lat_col = t.latitude or "geometry_lat"
    lon_col = t.longitude or "geometry_lon"
    if lat_col not in frame.columns:
        if optional:  # every distance comes from the pair table (checked later)
            return np.full(len(frame), np.nan), np.full(len(frame), np.nan)
        problems.append(Problem(str(path), "latitude/longitude", "no coordinates",
                                "items.latitude/longitude, items.x/y/crs, or a geo table "
                                "(or a pairs table with a distance for every pair)"))
        return np.zeros(len(frame)), np.zeros(len(frame))
    if not optional:
        return (coordinate_column(frame, lat_col, path, 90, problems),
                coordinate_column(frame, lon_col, path, 180, problems))
    lat = optional_coordinate_column(frame, lat_col, path, 90, problems)
    lon = optional_coordinate_column(frame, lon_col, path, 180, problems)
    half = np.flatnonzero(blank_cells(frame, lat_col) != blank_cells(frame, lon_col))
    if len(half):
        problems.append(Problem(row_label(path, half), f"{lat_col}/{lon_col}",
                                "only one of latitude/longitude",
                                "both, or neither for an item whose distances the pairs table "
                                "gives"))
    return lat, lon


def apply_yaml_locks(
    spec: ScenarioSpec,
    yaml_path: Path | None,
    item_ids: list[str],
    index: dict[str, int],
    lock: np.ndarray,
    problems: list[Problem],
) -> None:
    """Add the YAML's ``rules.locks`` (item -> territory) to ``lock``, in place."""
    where = f"{yaml_path or 'scenario.yaml'}, at rules.locks"
    position = {iid: i for i, iid in enumerate(item_ids)}
    for item, territory in spec.rules.locks.items():
        if item not in position:
            problems.append(Problem(f"{where}.{item}", "item", f"'{item}'",
                                    "an item id from the items table"))
        elif territory not in index:
            problems.append(Problem(f"{where}.{item}", "territory", f"'{territory}'",
                                    "a territory id from the territories table"))
        else:
            i, k = position[item], index[territory]
            if lock[i] not in (NO_TERRITORY, k):
                problems.append(Problem(f"{where}.{item}", "territory", f"'{territory}', but the "
                                        f"lock column says '{item_ids and list(index)[lock[i]]}'",
                                        "one lock per item"))
            lock[i] = k
