"""The unit graph of a districting scenario: adjacency from the polygons or a table, islands
bridged; and what no districting can do given the counts (more territories than units, more
separate pieces than territories).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from territory_opt.errors import Problem, scenario_error
from territory_opt.scenario import units
from territory_opt.scenario.columns import table_path
from territory_opt.scenario.schema import Adjacency, ScenarioSpec

MAX_SHOWN = 5
"""Units named in a message before ' …'."""


def unit_adjacency(spec: ScenarioSpec, base: Path, source: str, items_path: Path,
                   geometry: np.ndarray | None, ids: np.ndarray, lat: np.ndarray, lon: np.ndarray
                   ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Neighbouring items (districting): from the polygons or a table, islands bridged."""
    if spec.model != "districting":
        return None, None
    adjacency = spec.adjacency or Adjacency()
    if adjacency.method == "table":
        assert adjacency.path is not None  # the schema insists
        path = table_path(base, adjacency.path, "adjacency.path", source)
        edges = units.adjacency_from_table(path, ids, adjacency.a, adjacency.b)
    else:
        polygons = geometry is not None and all(
            g.geom_type in ("Polygon", "MultiPolygon") for g in geometry)
        if not polygons:
            raise scenario_error(f"{source}, at adjacency.method", "method",
                                 f"'{adjacency.method}' on {items_path.name}, whose features "
                                 "are not all polygons",
                                 "polygon units (GeoJSON, GeoPackage or Shapefile), or "
                                 "adjacency: {method: table, path: neighbours.csv}")
        assert geometry is not None
        edges = units.adjacency_from_geometry(geometry, adjacency.method)
    if not adjacency.bridges:
        return edges, np.zeros((0, 2), dtype=np.int64)
    try:
        return units.bridge_components(edges, lat, lon)
    except ValueError as exc:  # a piece without coordinates cannot be bridged
        raise scenario_error(f"{source}, at adjacency.bridges", "bridges", str(exc),
                             "coordinates for those units, neighbours for them in the "
                             "adjacency, or bridges: false") from None


def districting_shape(spec: ScenarioSpec, source: str, ids: list[str], k: int,
                      adjacency: np.ndarray | None) -> list[Problem]:
    """What no districting can do, from counts alone: more territories than units, or (with
    contiguity) more separate pieces of the unit graph than territories."""
    n = len(ids)
    at = "territories.count" if spec.territories.count is not None else "territories.path"
    if k > n:
        return [Problem(f"{source}, at {at}", at.split(".")[-1], f"{k:,} territories from "
                        f"{n:,} units", f"at most {n:,} territories (each needs a unit)")]
    if adjacency is None or not spec.rules.contiguity:
        return []
    piece = units.pieces(n, adjacency)
    count = int(piece.max()) + 1 if n else 0
    if count <= k:
        return []
    sizes = np.bincount(piece)
    small = np.flatnonzero(np.isin(piece, np.argsort(sizes, kind="stable")[:-1]))
    shown = ", ".join(ids[i] for i in small[:MAX_SHOWN]) + (" …" if len(small) > MAX_SHOWN
                                                             else "")
    return [Problem(f"{source}, at adjacency.bridges", "bridges",
                    f"false, and the units form {count:,} separate pieces (outside the largest: "
                    f"{shown}) for {k:,} territories",
                    f"bridges: true (islands joined to their nearest unit), at least {count:,} "
                    "territories, or rules.contiguity: false (each territory must be one "
                    "connected piece, and no piece can reach another)")]
