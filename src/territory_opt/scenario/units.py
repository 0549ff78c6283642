"""Geographic units: which units are neighbours, joining islands, and areas in metres.

Adjacency is an undirected edge array of shape ``(e, 2)``, ``int64``, each row ``i < j``, rows
sorted and unique — the form :class:`territory_opt.districting.problem.DistrictingProblem`
takes. Units are positions ``0..n-1`` in item order.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from territory_opt.errors import Problem, ScenarioError, scenario_error
from territory_opt.geo import unit_vectors
from territory_opt.scenario.tables import read_text_table

if TYPE_CHECKING:
    import geopandas as gpd
    import networkx as nx
    import pyproj

MAX_LISTED_ROWS = 5
"""Rows named in one error message (as the scenario loader does)."""

WORLD_EQUAL_AREA = "EPSG:6933"
"""Equal-area CRS for extents too wide for one azimuthal projection (EASE-Grid 2.0 global)."""

LOCAL_EXTENT_DEGREES = 50.0
"""Largest angular distance (degrees) from the data's centre to any feature for which a
Lambert azimuthal equal-area projection centred there is used: its scale error across the
boundary is ``1/cos(c/2) - 1``, about 10% at 50° and under 0.1% across a US state (~5°)."""


def no_edges() -> np.ndarray:
    """An empty edge array of the documented shape and type."""
    return np.zeros((0, 2), dtype=np.int64)


def normalise_edges(pairs: np.ndarray) -> np.ndarray:
    """Pairs of unit indices as undirected edges: ``i < j``, sorted, unique, self-loops dropped."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    pairs = np.sort(pairs, axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    if not len(pairs):
        return no_edges()
    return np.asarray(np.unique(pairs, axis=0), dtype=np.int64)


# --- adjacency from shapes --------------------------------------------------------------------


def adjacency_from_geometry(
    geometry: np.ndarray, method: Literal["queen", "rook"] = "queen"
) -> np.ndarray:
    """Contiguity edges of polygon features.

    Queen neighbours share at least a point of their boundaries; rook neighbours share a
    stretch of boundary (polygons touching only at a corner are queen- but not rook-neighbours).

    Parameters
    ----------
    geometry
        One shapely Polygon or MultiPolygon per unit (any CRS; WGS84 from the loader).
    method
        ``"queen"`` or ``"rook"``.

    Returns
    -------
    np.ndarray
        Edges ``(e, 2)``, int64, ``i < j``, sorted, unique; units are row positions.

    Raises
    ------
    ValueError
        If a feature is not a polygon (points have no contiguity: give an adjacency table).
    """
    from libpysal.graph import Graph

    if method not in ("queen", "rook"):
        raise ValueError(f"method is {method!r}; expected 'queen' or 'rook'")
    series = _polygon_series(geometry)
    if len(series) < 2:
        return no_edges()
    rook = method == "rook"
    # Two libpysal builders, united: shared vertices (finds neighbours that overlap by a hair)
    # and shapely predicates (finds a neighbour whose edge meets another's mid-edge vertex, a
    # "T-junction", where no vertex is shared). Each alone misses real neighbours.
    pairs = [
        _graph_pairs(Graph.build_contiguity(series, rook=rook, strict=strict))
        for strict in (False, True)
    ]
    return normalise_edges(np.concatenate(pairs))


def _polygon_series(geometry: np.ndarray) -> gpd.GeoSeries:
    """The features as a GeoSeries with positional index; refuses anything but polygons."""
    import geopandas as gpd

    series = gpd.GeoSeries(list(np.asarray(geometry, dtype=object)))
    polygonal = series.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    bad = np.flatnonzero(~polygonal)
    if len(bad):
        shown = ", ".join(str(i + 1) for i in bad[:MAX_LISTED_ROWS])
        raise ValueError(f"units {shown} (1-based) are not polygons "
                         f"({series.geom_type.iloc[bad[0]]}): contiguity needs polygons; "
                         "give an adjacency table for point units")
    return series


def _graph_pairs(graph: Any) -> np.ndarray:
    """(focal, neighbour) rows of a libpysal Graph; its islands come as self-loops, which
    :func:`normalise_edges` drops."""
    adjacency = graph.adjacency
    focal = adjacency.index.get_level_values("focal").to_numpy(dtype=np.int64)
    neighbour = adjacency.index.get_level_values("neighbor").to_numpy(dtype=np.int64)
    return np.column_stack([focal, neighbour])


# --- adjacency from a table -------------------------------------------------------------------


def adjacency_from_table(path: Path, ids: np.ndarray, a: str = "a", b: str = "b") -> np.ndarray:
    """Edges from a CSV adjacency list of unit ids, one neighbour pair per row.

    Either direction (or both) may be listed; repeats are merged. Ids are compared as trimmed
    text, as the scenario loader reads them.

    Parameters
    ----------
    path
        The CSV file (comma or semicolon separated, with a header).
    ids
        The unit ids in unit order (``Scenario.item_ids``).
    a, b
        The two id columns.

    Returns
    -------
    np.ndarray
        Edges ``(e, 2)``, int64, ``i < j``, sorted, unique.

    Raises
    ------
    ScenarioError
        Naming the file, rows and column of every problem: a missing file or column, an empty
        or unknown id, a unit listed as its own neighbour.
    """

    path = Path(path)
    if not path.is_file():
        raise scenario_error(path, "(file)", "no such file", "a CSV adjacency list")
    try:
        frame = read_text_table(path)
    except Exception as exc:  # any reader failure is a malformed input file
        raise scenario_error(path, "(file)", f"unreadable: {exc}".splitlines()[0],
                             "a CSV adjacency list with a header") from None
    missing = [c for c in (a, b) if c not in frame.columns]
    if missing:
        raise ScenarioError([
            Problem(str(path), c, f"no such column (columns: {', '.join(map(str, frame.columns))})",
                    "a column of unit ids")
            for c in missing
        ])
    index = {str(v).strip(): k for k, v in enumerate(np.asarray(ids, dtype=object))}
    problems: list[Problem] = []
    ends = [_unit_column(frame, c, path, index, problems) for c in (a, b)]
    loops = np.flatnonzero((ends[0] == ends[1]) & (ends[0] >= 0))
    if len(loops):
        problems.append(Problem(_rows_label(path, loops), f"{a}, {b}",
                                f"'{frame[a].iloc[loops[0]].strip()}' next to itself",
                                "two different units"))
    if problems:
        raise ScenarioError(problems)
    return normalise_edges(np.column_stack(ends))


def _unit_column(frame: pd.DataFrame, column: str, path: Path, index: dict[str, int],
                 problems: list[Problem]) -> np.ndarray:
    """Unit index per row of an id column (-1 where blank or unknown, with a problem noted)."""
    values = [str(v).strip() for v in frame[column]]
    out = np.asarray([index.get(v, -1) for v in values], dtype=np.int64)
    blank = [i for i, v in enumerate(values) if v == ""]
    if blank:
        problems.append(Problem(_rows_label(path, blank), column, "an empty id", "a unit id"))
    unknown = [i for i, v in enumerate(values) if v != "" and v not in index]
    if unknown:
        problems.append(Problem(_rows_label(path, unknown), column,
                                f"unit '{values[unknown[0]]}', which is not in the items table",
                                "an item id"))
    return out


def _rows_label(path: Path, rows: np.ndarray | list[int]) -> str:
    """'adjacency.csv, rows 3, 7 (lines 4, 8)': 1-based data rows and the CSV's line numbers,
    in the scenario loader's wording."""
    rows = [int(r) for r in rows]
    shown = ", ".join(str(r + 1) for r in rows[:MAX_LISTED_ROWS])
    more = f" and {len(rows) - MAX_LISTED_ROWS} more" if len(rows) > MAX_LISTED_ROWS else ""
    s = "s" if len(rows) > 1 else ""
    lines = ", ".join(str(r + 2) for r in rows[:MAX_LISTED_ROWS])  # the header is line 1
    return f"{path}, row{s} {shown}{more} (line{s} {lines})"


# --- islands ----------------------------------------------------------------------------------


def bridge_components(edges: np.ndarray, lat: np.ndarray, lon: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Join every connected component to the rest by its shortest link.

    Islands (a coastal county, a unit whose shape touches nothing) would make contiguity
    impossible. Each round, every component's nearest unit pair to another component (by
    great-circle distance) is a candidate bridge; candidates are added shortest first when they
    join two still separate groups (Borůvka's rounds), until the graph is connected.

    Parameters
    ----------
    edges
        ``(e, 2)`` edges over units ``0..n-1``, ``n = len(lat)``.
    lat, lon
        Each unit's point in degrees.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        All edges (the input and the bridges, normalised) and the bridges alone, both
        ``(·, 2)`` int64 with ``i < j``, so a caller can report the bridges.

    Raises
    ------
    ValueError
        If a component has no unit with coordinates (it cannot be placed).
    """
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    n = len(lat)
    edges = normalise_edges(edges)
    located = np.flatnonzero(np.isfinite(lat) & np.isfinite(lon))
    tree = cKDTree(unit_vectors(lat[located], lon[located]))
    bridges: list[np.ndarray] = []
    while True:
        count, comp = connected_components(_sparse(n, edges), directed=False)
        if count <= 1:
            break
        unplaced = np.setdiff1d(np.arange(count), comp[located])
        if len(unplaced):
            units = np.flatnonzero(np.isin(comp, unplaced))
            raise ValueError(f"units {', '.join(map(str, units[:MAX_LISTED_ROWS] + 1))} "
                             "(1-based) have no coordinates and no neighbour: they cannot be "
                             "joined to the others")
        links = _join_shortest(_nearest_outside(tree, located, comp[located]), comp, count)
        bridges.append(links)
        edges = normalise_edges(np.concatenate([edges, links]))
    added = normalise_edges(np.concatenate(bridges)) if bridges else no_edges()
    return edges, added


def pieces(n: int, edges: np.ndarray) -> np.ndarray:
    """The connected piece of each unit (0, 1, …; the largest piece need not be 0)."""
    from scipy.sparse.csgraph import connected_components

    return np.asarray(connected_components(_sparse(n, normalise_edges(edges)),
                                           directed=False)[1], dtype=np.int64)


def _sparse(n: int, edges: np.ndarray) -> Any:
    """The adjacency as a scipy sparse matrix (for connected components)."""
    from scipy.sparse import coo_matrix

    ones = np.ones(len(edges), dtype=np.int8)
    return coo_matrix((ones, (edges[:, 0], edges[:, 1])), shape=(n, n))


def _nearest_outside(tree: Any, located: np.ndarray, comp: np.ndarray) -> np.ndarray:
    """Per component, its nearest pair to another component: rows (i, j, chord), unit indices.

    Only each component's own nearest pair: other short links need not be in the shortest
    network joining the components (Borůvka).

    Each point's neighbours are searched with a doubling ``k`` only while the point could
    still beat its component's best pair: the k-th neighbour's distance bounds any link from
    it, so the answer is exact without querying every point against every other.
    """
    points = tree.data
    total = len(points)
    best = np.full(int(comp.max()) + 1, np.inf)
    found: list[np.ndarray] = []
    todo = np.arange(total)
    k = min(8, total)
    while len(todo):
        dist, near = tree.query(points[todo], k=k)
        dist, near = dist.reshape(len(todo), -1), near.reshape(len(todo), -1)
        outside = comp[near] != comp[todo][:, None]
        hit = outside.any(axis=1)
        first = outside.argmax(axis=1)
        rows = np.flatnonzero(hit)
        d = dist[rows, first[rows]]
        np.minimum.at(best, comp[todo[rows]], d)
        found.append(np.column_stack([todo[rows], near[rows, first[rows]], d]))
        if k == total:
            break
        # Points with no outside neighbour yet: the rest lie beyond their k-th neighbour.
        todo = todo[~hit & (dist[:, -1] < best[comp[todo]])]
        k = min(2 * k, total)
    pairs = np.concatenate(found)
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0], pairs[:, 2]))]
    _, first_of_component = np.unique(comp[pairs[:, 0].astype(np.int64)], return_index=True)
    pairs = pairs[first_of_component]
    pairs[:, :2] = located[pairs[:, :2].astype(np.int64)]  # tree rows -> unit indices
    return pairs


def _join_shortest(pairs: np.ndarray, comp: np.ndarray, count: int) -> np.ndarray:
    """The candidate links that join separate groups, shortest first (Kruskal's rule), so no
    two bridges close a loop."""
    order = np.lexsort((pairs[:, 1], pairs[:, 0], pairs[:, 2]))
    parent = np.arange(count)

    def root(c: int) -> int:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = int(parent[c])
        return c

    links: list[tuple[int, int]] = []
    for i, j, _ in pairs[order]:
        ri, rj = root(int(comp[int(i)])), root(int(comp[int(j)]))
        if ri != rj:
            parent[ri] = rj
            links.append((int(i), int(j)))
    return normalise_edges(np.asarray(links, dtype=np.int64))


# --- graphs and projections -------------------------------------------------------------------


def to_graph(n: int, edges: np.ndarray) -> nx.Graph:
    """A networkx graph with nodes ``0..n-1`` (isolated units included) and the edges."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(map(tuple, np.asarray(edges, dtype=np.int64).tolist()))
    return graph


def equal_area_crs(geometry: np.ndarray) -> pyproj.CRS:
    """An equal-area CRS suited to the features' extent (WGS84 features).

    A Lambert azimuthal equal-area projection centred on the features when they lie within
    :data:`LOCAL_EXTENT_DEGREES` of their centre: areas are exact and shapes (perimeters)
    nearly so near the centre, unlike UTM (not equal-area, and distorted outside its zone).
    Wider extents get :data:`WORLD_EQUAL_AREA`.
    """
    import pyproj
    import shapely

    bounds = shapely.bounds(np.asarray(geometry, dtype=object))  # (n, 4): x0, y0, x1, y1
    lon = np.concatenate([bounds[:, 0], bounds[:, 2], bounds[:, 0], bounds[:, 2]])
    lat = np.concatenate([bounds[:, 1], bounds[:, 1], bounds[:, 3], bounds[:, 3]])
    # The centre as the mean direction on the sphere: no trouble at the antimeridian.
    xyz = unit_vectors(lat, lon)
    mean = xyz.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-9:  # spread all round the globe
        return pyproj.CRS.from_user_input(WORLD_EQUAL_AREA)
    centre = mean / norm
    reach = np.degrees(np.arccos(np.clip(xyz @ centre, -1.0, 1.0))).max()
    if reach > LOCAL_EXTENT_DEGREES:
        return pyproj.CRS.from_user_input(WORLD_EQUAL_AREA)
    x, y, z = centre
    lat0, lon0 = float(np.degrees(np.arcsin(z))), float(np.degrees(np.arctan2(y, x)))
    return pyproj.CRS.from_proj4(
        f"+proj=laea +lat_0={lat0:.6f} +lon_0={lon0:.6f} +x_0=0 +y_0=0 +datum=WGS84 +units=m "
        "+no_defs"
    )


def equal_area(geometry: np.ndarray) -> gpd.GeoSeries:
    """The features (WGS84) in :func:`equal_area_crs`, for areas and perimeters in metres.

    Only areas and shapes use it: distances elsewhere stay great-circle
    (:func:`territory_opt.geo.haversine_km`).
    """
    import geopandas as gpd

    series = gpd.GeoSeries(list(np.asarray(geometry, dtype=object)), crs="EPSG:4326")
    return series.to_crs(equal_area_crs(geometry))
