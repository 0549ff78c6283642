"""Read the ``accounts:`` table of a districting scenario into :class:`Accounts`.

Each account is placed in a unit — by the unit column, else by the unit whose polygon holds
its location — and may name a current territory and a lock. Problems are reported the loader's
way: file, row, column, what was found and what was expected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from territory_opt.errors import Problem, ScenarioError
from territory_opt.geo import haversine_km
from territory_opt.scenario.columns import (
    coordinate_column,
    id_column,
    missing_columns,
    no_rows,
    number_column,
    table_path,
    territory_column,
    text_column,
)
from territory_opt.scenario.model import Accounts
from territory_opt.scenario.schema import AccountsTable
from territory_opt.scenario.tables import read_table, row_label

YAML_KEY = "accounts.path"


def read_accounts(spec: AccountsTable, base: Path, source: str, unit_ids: list[str],
                  geometry: np.ndarray | None, territory_index: dict[str, int]) -> Accounts:
    """The accounts table named by ``spec`` (relative to ``base``), placed in the units.

    Raises
    ------
    ScenarioError
        Naming every problem found in the table.
    """
    path = table_path(base, spec.path, YAML_KEY, source)
    frame = read_table(path, YAML_KEY, source, spec)
    problems = no_rows(frame, path, YAML_KEY, "account")
    if problems:
        raise ScenarioError(problems)
    lat_col = spec.latitude or ("geometry_lat" if "geometry_lat" in frame.columns else None)
    lon_col = spec.longitude or ("geometry_lon" if "geometry_lon" in frame.columns else None)
    columns = {"accounts.id": spec.id}
    columns |= {f"accounts.{key}": value for key, value in (
        ("unit", spec.unit), ("latitude", spec.latitude), ("longitude", spec.longitude),
        ("current", spec.current), ("lock", spec.lock)) if value is not None}
    columns |= {f"accounts.attributes.{k}": v for k, v in spec.attribute_columns().items()}
    problems += missing_columns(frame, path, columns, "accounts")
    if spec.unit is None and lat_col is None:
        problems.append(Problem(f"{source}, at accounts", "unit", "neither a unit column nor "
                                "coordinates", "accounts.unit (a column of unit ids), or "
                                "accounts.latitude/longitude, or a geo table of points"))
    if problems:
        raise ScenarioError(problems)

    ids = np.asarray(id_column(frame, spec.id, path, problems), dtype=object)
    lat = np.full(len(frame), np.nan)
    lon = np.full(len(frame), np.nan)
    if lat_col is not None and lon_col is not None:
        lat = coordinate_column(frame, lat_col, path, 90, problems)
        lon = coordinate_column(frame, lon_col, path, 180, problems)
    attributes = {name: number_column(frame, column, path, problems, name=name)
                  for name, column in spec.attribute_columns().items()}
    current = territory_column(frame, spec.current, path, territory_index, problems)
    lock = territory_column(frame, spec.lock, path, territory_index, problems)
    if problems:
        raise ScenarioError(problems)
    if spec.unit is not None:
        unit = _unit_references(frame, spec.unit, path, unit_ids, problems)
    else:
        unit = _locate(lat, lon, geometry, unit_ids, path, source, problems)
    if problems:
        raise ScenarioError(problems)
    return Accounts(ids=ids, unit=unit, lat=lat, lon=lon, attributes=attributes,
                    current=current, lock=lock)


def _unit_references(frame: pd.DataFrame, column: str, path: Path, unit_ids: list[str],
                     problems: list[Problem]) -> np.ndarray:
    """The unit column -> unit indices; an empty or unknown id is a problem."""
    position = {uid: i for i, uid in enumerate(unit_ids)}
    values = text_column(frame, column)
    unit = np.asarray([position.get(v, -1) for v in values], dtype=np.int64)
    bad = np.flatnonzero(unit < 0)
    if len(bad):
        found = values[bad[0]]
        problems.append(Problem(row_label(path, bad), column,
                                f"unit '{found}', which is not in the items table" if found
                                else "an empty unit id", "the id of a unit (items table)"))
    return unit


def _locate(lat: np.ndarray, lon: np.ndarray, geometry: np.ndarray | None, unit_ids: list[str],
            path: Path, source: str, problems: list[Problem]) -> np.ndarray:
    """Per account, the unit whose polygon holds its point (the first unit on a shared
    border); a point outside every unit is a problem naming its nearest unit."""
    import shapely
    from shapely.strtree import STRtree

    if geometry is None or not all(g.geom_type in ("Polygon", "MultiPolygon")
                                   for g in geometry):
        problems.append(Problem(f"{source}, at accounts.unit", "unit", "nothing, and the units "
                                "are not polygons, so a location cannot place an account",
                                "accounts.unit: a column with each account's unit id"))
        return np.zeros(len(lat), dtype=np.int64)
    points = shapely.points(lon, lat)
    tree = STRtree(list(geometry))
    account, unit = tree.query(points, predicate="intersects")
    out = np.full(len(lat), -1, dtype=np.int64)
    # Query pairs come sorted by account; reversed assignment keeps each account's first unit.
    out[account[::-1]] = unit[::-1]
    outside = np.flatnonzero(out < 0)
    if len(outside):
        first = int(outside[0])
        nearest = int(tree.nearest(points[first]))
        centre = geometry[nearest].representative_point()
        km = float(haversine_km(lat[first], lon[first], centre.y, centre.x))
        problems.append(Problem(
            row_label(path, outside), "latitude/longitude",
            f"({lat[first]:.5f}, {lon[first]:.5f}), outside every unit (nearest: "
            f"'{unit_ids[nearest]}', about {km:,.0f} km to its centre)",
            "a point inside a unit's polygon, or a unit column naming it"))
    return out
