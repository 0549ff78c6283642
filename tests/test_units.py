"""Geographic units: adjacency from shapes (a known grid, North Carolina's counties) and from a
table, bridges over islands, the equal-area projection."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from libpysal import examples
from pyproj import Geod
from shapely.geometry import Point, box

from territory_opt.errors import ScenarioError
from territory_opt.geo import haversine_km
from territory_opt.scenario.units import (
    WORLD_EQUAL_AREA,
    adjacency_from_geometry,
    adjacency_from_table,
    bridge_components,
    equal_area,
    equal_area_crs,
    to_graph,
)


def shapes(*geoms: object) -> np.ndarray:
    return np.asarray(list(geoms), dtype=object)


def grid(rows: int = 3, cols: int = 3) -> np.ndarray:
    """Unit squares, row by row from the bottom left: unit r * cols + c is at (c, r)."""
    return shapes(*(box(c, r, c + 1, r + 1) for r in range(rows) for c in range(cols)))


def as_set(edges: np.ndarray) -> set[tuple[int, int]]:
    return {(int(i), int(j)) for i, j in edges}


@pytest.fixture(scope="module")
def carolina() -> gpd.GeoDataFrame:
    """North Carolina's 100 counties (libpysal's bundled SIDS data; lon/lat, NAD27)."""
    return gpd.read_file(examples.get_path("sids2.shp")).set_crs("EPSG:4267")


# --- adjacency from shapes --------------------------------------------------------------------


def test_grid_rook_and_queen() -> None:
    rook = adjacency_from_geometry(grid(), "rook")
    queen = adjacency_from_geometry(grid(), "queen")
    assert len(rook) == 12  # 6 horizontal + 6 vertical shared sides
    assert len(queen) == 20  # plus 2 diagonals in each of the 4 inner 2×2 blocks
    assert as_set(rook) < as_set(queen)
    assert (0, 4) in as_set(queen) and (0, 4) not in as_set(rook)  # corner to centre
    for edges in (rook, queen):
        assert edges.dtype == np.int64 and edges.shape[1] == 2
        assert (edges[:, 0] < edges[:, 1]).all()
        assert np.array_equal(edges, np.unique(edges, axis=0))  # sorted, no repeats


def test_checkerboard_corner_touch_is_queen_only() -> None:
    board = shapes(box(0, 0, 1, 1), box(1, 1, 2, 2))
    assert adjacency_from_geometry(board, "queen").tolist() == [[0, 1]]
    assert adjacency_from_geometry(board, "rook").tolist() == []


def test_t_junction_neighbours_are_found() -> None:
    """A 1×2 rectangle beside two unit squares: its long side has no vertex where the squares
    meet, so shared vertices alone would miss both rook neighbours."""
    units = shapes(box(0, 0, 1, 2), box(1, 0, 2, 1), box(1, 1, 2, 2), box(5, 5, 6, 6))
    assert adjacency_from_geometry(units, "rook").tolist() == [[0, 1], [0, 2], [1, 2]]


def test_points_have_no_contiguity() -> None:
    with pytest.raises(ValueError, match=r"units 2 \(1-based\) are not polygons \(Point\)"):
        adjacency_from_geometry(shapes(box(0, 0, 1, 1), Point(3, 3)))
    with pytest.raises(ValueError, match="queen"):
        adjacency_from_geometry(grid(), "bishop")  # type: ignore[arg-type]


def test_north_carolina_counties(carolina: gpd.GeoDataFrame) -> None:
    names = carolina["NAME"].tolist()
    queen = adjacency_from_geometry(carolina.geometry.to_numpy())
    rook = adjacency_from_geometry(carolina.geometry.to_numpy(), "rook")
    pairs = {frozenset((names[i], names[j])) for i, j in queen}
    for a, b in [("Wake", "Durham"), ("Durham", "Orange"), ("Mecklenburg", "Cabarrus"),
                 ("Mecklenburg", "Union"), ("Buncombe", "Henderson"), ("Dare", "Hyde")]:
        assert frozenset((a, b)) in pairs, (a, b)
    assert frozenset(("Wake", "Mecklenburg")) not in pairs
    assert as_set(rook) <= as_set(queen)
    graph = to_graph(len(names), queen)
    assert graph.number_of_nodes() == 100 and nx.is_connected(graph)
    # Every county has between 1 and 10 neighbours; none is an island in the state.
    degrees = np.bincount(queen.ravel(), minlength=100)
    assert degrees.min() >= 1 and degrees.max() <= 10


# --- adjacency from a table -------------------------------------------------------------------

IDS = np.asarray(["027", "031", "045", "101"], dtype=object)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_table_reads_ids_either_direction(tmp_path: Path) -> None:
    path = write(tmp_path / "adj.csv", "a,b\n027,031\n031,027\n 101 ,045\n031,045\n")
    edges = adjacency_from_table(path, IDS)
    assert edges.tolist() == [[0, 1], [1, 2], [2, 3]]  # ids keep their leading zeros
    semicolons = write(tmp_path / "semi.csv", "from;to\n027;101\n")
    assert adjacency_from_table(semicolons, IDS, a="from", b="to").tolist() == [[0, 3]]


def test_table_errors_name_file_row_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "adj.csv", "a,b\n027,031\n027,999\n,045\n045,045\n")
    with pytest.raises(ScenarioError) as caught:
        adjacency_from_table(path, IDS)
    problems = {p.field: p for p in caught.value.problems}
    assert len(caught.value.problems) == 3
    unknown = problems["b"]
    assert unknown.where == f"{path}, row 2 (line 3)"
    assert "'999'" in unknown.found and "not in the items table" in unknown.found
    assert problems["a"].where == f"{path}, row 3 (line 4)"
    assert problems["a"].found == "an empty id"
    loop = problems["a, b"]
    assert loop.where == f"{path}, row 4 (line 5)"
    assert loop.found == "'045' next to itself" and loop.expected == "two different units"


def test_table_missing_columns_and_file(tmp_path: Path) -> None:
    path = write(tmp_path / "adj.csv", "from,to\n027,031\n")
    with pytest.raises(ScenarioError) as caught:
        adjacency_from_table(path, IDS)
    assert [p.field for p in caught.value.problems] == ["a", "b"]
    assert "no such column (columns: from, to)" in str(caught.value)
    with pytest.raises(ScenarioError, match="no such file"):
        adjacency_from_table(tmp_path / "missing.csv", IDS)


# --- islands ----------------------------------------------------------------------------------


def test_bridge_joins_an_island_to_its_nearest_unit() -> None:
    """Two touching units on the mainland, one island nearer unit 1 than unit 0."""
    lat = np.array([35.0, 35.0, 35.2])
    lon = np.array([-77.0, -76.0, -75.5])
    edges, bridges = bridge_components(np.array([[0, 1]]), lat, lon)
    assert bridges.tolist() == [[1, 2]]
    assert edges.tolist() == [[0, 1], [1, 2]]
    assert nx.is_connected(to_graph(3, edges))


def test_bridges_form_the_shortest_network_over_scattered_units() -> None:
    """With no edges at all, the bridges are a minimum spanning tree by great-circle km."""
    rng = np.random.default_rng(7)
    lat, lon = rng.uniform(33, 37, 60), rng.uniform(-84, -75, 60)
    edges, bridges = bridge_components(np.zeros((0, 2), dtype=np.int64), lat, lon)
    assert np.array_equal(edges, bridges) and len(bridges) == 59
    km = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    tree = nx.minimum_spanning_tree(nx.from_numpy_array(km))
    assert km[bridges[:, 0], bridges[:, 1]].sum() == pytest.approx(tree.size(weight="weight"))


def test_connected_graph_gets_no_bridges(carolina: gpd.GeoDataFrame) -> None:
    queen = adjacency_from_geometry(carolina.geometry.to_numpy())
    points = carolina.geometry.representative_point()
    edges, bridges = bridge_components(queen, points.y.to_numpy(), points.x.to_numpy())
    assert np.array_equal(edges, queen) and bridges.shape == (0, 2)


def test_unit_without_coordinates_cannot_be_bridged() -> None:
    with pytest.raises(ValueError, match=r"units 3 \(1-based\) have no coordinates"):
        bridge_components(np.array([[0, 1]]), np.array([1.0, 2.0, np.nan]),
                          np.array([1.0, 2.0, np.nan]))


# --- equal-area projection --------------------------------------------------------------------


def test_equal_area_matches_geodesic_areas(carolina: gpd.GeoDataFrame) -> None:
    wgs84 = carolina.to_crs("EPSG:4326").geometry.to_numpy()
    projected = equal_area(wgs84)
    assert projected.crs.is_projected
    geod = Geod(ellps="WGS84")
    exact = np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in wgs84])
    assert projected.area.to_numpy() == pytest.approx(exact, rel=1e-4)
    assert projected.area.sum() / 1e6 == pytest.approx(127_032, rel=1e-3)  # km², NC incl. sounds


def test_world_extent_gets_a_world_equal_area_crs() -> None:
    world = shapes(Point(-120, 40), Point(10, 50), Point(140, -30))
    assert equal_area_crs(world).equals(WORLD_EQUAL_AREA)
    state = shapes(Point(-84, 34), Point(-75, 36.5))
    assert "Lambert Azimuthal Equal Area" in equal_area_crs(state).to_wkt()
