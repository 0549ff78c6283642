"""Geography KPIs against hand-computed values.

Shapes are drawn in kilometres in a Lambert azimuthal equal-area projection centred in North
Carolina and handed over in WGS84, as the loader does: 1 km squares stay 1 km² squares in the
KPIs' own equal-area projection, so the textbook values hold.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from libpysal import examples
from shapely.geometry import Point, box

from territory_opt.geo import haversine_km
from territory_opt.kpi.geography import (
    cut_edge_mask,
    evaluate_geography,
    territory_components,
    weighted_centroids,
)
from territory_opt.scenario.units import adjacency_from_geometry

LOCAL_KM = "+proj=laea +lat_0=35.5 +lon_0=-79 +datum=WGS84 +units=km +no_defs"


def wgs84(*shapes: object) -> np.ndarray:
    """Shapes drawn in km around (35.5 N, 79 W), as WGS84 features."""
    series = gpd.GeoSeries(list(shapes), crs=LOCAL_KM).to_crs("EPSG:4326")
    return np.asarray(series.to_numpy(), dtype=object)


def points_of(geometry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    points = gpd.GeoSeries(list(geometry)).representative_point()
    return points.y.to_numpy(), points.x.to_numpy()


def kpis(geometry: np.ndarray, labels: list[int], k: int, edges: np.ndarray | None = None,
         **kwargs: object) -> tuple[object, dict[str, float]]:
    lat, lon = points_of(geometry)
    return evaluate_geography(geometry, lat, lon, edges, np.asarray(labels), k, **kwargs)


def grid(rows: int = 3, cols: int = 3) -> np.ndarray:
    return wgs84(*(box(c, r, c + 1, r + 1) for r in range(rows) for c in range(cols)))


# --- shapes -----------------------------------------------------------------------------------


def test_square_and_rectangle_polsby_popper() -> None:
    table, metrics = kpis(wgs84(box(0, 0, 1, 1), box(5, 0, 6, 2)), [0, 1], 2)
    assert table["polsby_popper"].tolist() == pytest.approx([np.pi / 4, 2 * np.pi / 9], rel=1e-5)
    assert table["area_km2"].tolist() == pytest.approx([1.0, 2.0], rel=1e-5)
    assert table["perimeter_km"].tolist() == pytest.approx([4.0, 6.0], rel=1e-5)
    assert table["hull_ratio"].tolist() == pytest.approx([1.0, 1.0])
    assert metrics["polsby_popper_mean"] == pytest.approx((np.pi / 4 + 2 * np.pi / 9) / 2, 1e-5)
    assert metrics["polsby_popper_min"] == pytest.approx(2 * np.pi / 9, rel=1e-5)


def test_disc_is_nearly_one() -> None:
    table, _ = kpis(wgs84(Point(0, 0).buffer(3, quad_segs=64)), [0], 1)
    assert table.loc[0, "polsby_popper"] == pytest.approx(1.0, abs=1e-3)


def test_l_shape_dissolved_from_three_squares() -> None:
    """Three unit squares in an L: area 3, perimeter 8, convex hull 3.5 (a 2×2 square less a
    half-unit corner triangle)."""
    units = wgs84(box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 1, 1, 2))
    table, _ = kpis(units, [0, 0, 0], 1, edges=adjacency_from_geometry(units, "rook"))
    row = table.loc[0]
    assert row["area_km2"] == pytest.approx(3.0, rel=1e-5)
    assert row["perimeter_km"] == pytest.approx(8.0, rel=1e-5)
    assert row["hull_ratio"] == pytest.approx(3 / 3.5, rel=1e-5)
    assert row["polsby_popper"] == pytest.approx(4 * np.pi * 3 / 64, rel=1e-5)
    assert row["parts"] == 1 and row["components"] == 1


def test_two_disjoint_squares_are_two_components_and_one_multipart_shape() -> None:
    units = wgs84(box(0, 0, 1, 1), box(3, 0, 4, 1), box(1, 0, 2, 1))
    edges = adjacency_from_geometry(units)
    assert edges.tolist() == [[0, 2]]
    table, metrics = kpis(units, [0, 0, 1], 2, edges=edges)
    assert table["components"].tolist() == [2, 1]
    assert table["parts"].tolist() == [2, 1]
    assert metrics["disconnected_territories"] == 1
    # Total area over total perimeter: 4π·2/8² = π/8 (each square alone would score π/4).
    assert table.loc[0, "polsby_popper"] == pytest.approx(np.pi / 8, rel=1e-5)
    assert table.loc[0, "hull_ratio"] == pytest.approx(2 / 4, rel=1e-5)
    assert metrics["cut_edges"] == 1


def test_points_and_missing_inputs_give_nan() -> None:
    lat, lon = np.array([35.0, 35.1]), np.array([-79.0, -79.1])
    table, metrics = evaluate_geography(wgs84(Point(0, 0), Point(1, 1)), lat, lon, None,
                                        np.array([0, 0]), 2)
    for column in ("area_km2", "polsby_popper", "hull_ratio", "components"):
        assert table[column].isna().all(), column
    assert np.isnan(metrics["cut_edges"]) and np.isnan(metrics["polsby_popper_mean"])
    assert table.loc[0, "dispersion_km"] > 0 and np.isnan(table.loc[1, "dispersion_km"])
    table, _ = evaluate_geography(None, lat, lon, None, np.array([0, -1]), 1)
    assert table.loc[0, "dispersion_km"] == 0.0  # one item, its own centroid


# --- adjacency --------------------------------------------------------------------------------


def test_cut_edges_on_a_grid_split_in_two() -> None:
    """3×3 grid, left column in territory 0, the rest in 1: 3 shared sides cross the split;
    queen adds the 4 diagonals between the first and second columns."""
    units = grid()
    labels = np.array([0, 1, 1] * 3)
    rook = adjacency_from_geometry(units, "rook")
    queen = adjacency_from_geometry(units, "queen")
    assert cut_edge_mask(rook, labels).sum() == 3
    assert cut_edge_mask(queen, labels).sum() == 7
    table, metrics = kpis(units, labels.tolist(), 2, edges=rook)
    assert metrics["cut_edges"] == 3 and metrics["disconnected_territories"] == 0
    assert table["area_km2"].tolist() == pytest.approx([3.0, 6.0], rel=1e-5)
    assert table["polsby_popper"].tolist() == pytest.approx([np.pi * 3 / 16, np.pi * 6 / 25],
                                                            rel=1e-5)


def test_components_ignore_unassigned_items_and_count_empty_territories() -> None:
    edges = np.array([[0, 1], [1, 2], [2, 3]])
    labels = np.array([0, -1, 0, 0])  # 0 and {2, 3} are joined only through the unassigned 1
    assert territory_components(edges, labels, 3).tolist() == [2, 0, 0]
    assert cut_edge_mask(edges, labels).tolist() == [False, False, False]


# --- distances --------------------------------------------------------------------------------

DEGREE_KM = 6371.0088 * np.pi / 180  # one degree of a great circle


def test_dispersion_to_given_centres_and_to_centroids() -> None:
    lat = np.zeros(5)
    lon = np.array([0.0, 1.0, 2.0, -1.0, 1.0])
    labels = np.array([0, 0, 0, 1, 1])
    weight = np.array([1.0, 1.0, 2.0, 1.0, 3.0])
    centres = np.array([[0.0, 0.0], [np.nan, np.nan]])  # territory 1: its centroid
    table, metrics = evaluate_geography(None, lat, lon, None, labels, 2, weight, centres)
    # Territory 0 at (0, 0): distances 0, 1°, 2° weighted 1, 1, 2 → 5° / 4.
    assert table.loc[0, "dispersion_km"] == pytest.approx(5 / 4 * DEGREE_KM)
    # Territory 1: points at ±1° weighted 1 and 3; the centroid lies between them, nearer +1°.
    c_lat, c_lon = table.loc[1, "centre_lat"], table.loc[1, "centre_lon"]
    assert c_lat == pytest.approx(0.0, abs=1e-9) and 0 < c_lon < 1
    km = haversine_km(0, np.array([-1.0, 1.0]), c_lat, c_lon)
    assert table.loc[1, "dispersion_km"] == pytest.approx((km[0] + 3 * km[1]) / 4)
    assert metrics["dispersion_total_km"] == pytest.approx(5 * DEGREE_KM + km[0] + 3 * km[1])


def test_centroid_across_the_antimeridian() -> None:
    c_lat, c_lon = weighted_centroids(np.zeros(2), np.array([179.0, -179.0]), np.zeros(2, int), 1)
    assert abs(c_lon[0]) == pytest.approx(180.0) and c_lat[0] == pytest.approx(0.0, abs=1e-9)


def test_bad_labels_are_refused() -> None:
    with pytest.raises(ValueError, match=r"-1\.\.1"):
        evaluate_geography(None, np.zeros(2), np.zeros(2), None, np.array([0, 2]), 2)


# --- real data --------------------------------------------------------------------------------


def test_north_carolina_split_east_and_west() -> None:
    """The 100 counties in two territories at 79° W: every shape KPI is defined and sane."""
    frame = gpd.read_file(examples.get_path("sids2.shp")).set_crs("EPSG:4267")
    geometry = np.asarray(frame.to_crs("EPSG:4326").geometry.to_numpy(), dtype=object)
    lat, lon = points_of(geometry)
    labels = (lon > -79).astype(np.int64)
    edges = adjacency_from_geometry(geometry)
    table, metrics = evaluate_geography(geometry, lat, lon, edges, labels, 2)
    assert table["area_km2"].sum() == pytest.approx(127_032, rel=1e-3)
    assert ((table["polsby_popper"] > 0.05) & (table["polsby_popper"] < 0.6)).all()
    assert ((table["hull_ratio"] > 0.5) & (table["hull_ratio"] <= 1)).all()
    assert metrics["cut_edges"] == cut_edge_mask(edges, labels).sum() > 5
    assert (table["dispersion_km"] > 50).all() and (table["dispersion_km"] < 250).all()
