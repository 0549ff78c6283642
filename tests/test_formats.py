"""The loader reads the same scenario from CSV, Parquet, GeoJSON and projected x/y."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from shapely.geometry import Point, box

from territory_opt import load_scenario
from territory_opt.errors import ScenarioError
from territory_opt.geo import EARTH_RADIUS_KM, haversine_km

ACCOUNTS = pd.DataFrame({
    "Account ID": ["007", "008", "009"],
    "Lat": [35.0, 35.5, 36.0],
    "Lng": [-80.0, -80.5, -81.0],
    "Hours": [10.0, 12.0, 14.0],
    "Owner": ["R1", "", "R2"],
    "Lang": ["en", "es", ""],
})
REPS = pd.DataFrame({"Rep": ["R1", "R2"], "HomeLat": [35.2, None], "HomeLng": [-80.2, None],
                     "Skills": ["en|es", "en, fr"], "MaxH": [30.0, None]})


def write(folder: Path, items: dict[str, object], table: str) -> Path:
    REPS.to_csv(folder / "reps.csv", index=False)
    spec = {
        "model": "alignment",
        "items": {"path": table, "id": "Account ID", "attributes": {"workload": "Hours"},
                  "current": "Owner", "tags": {"language": "Lang"}, **items},
        "territories": {"path": "reps.csv", "id": "Rep", "home_latitude": "HomeLat",
                        "home_longitude": "HomeLng", "skills": "Skills",
                        "capacity": {"workload": "MaxH"}},
        "rules": {"eligibility": ["language"]},
    }
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def check(folder: Path, items: dict[str, object], table: str) -> None:
    s = load_scenario(write(folder, items, table))
    assert list(s.item_ids) == ["007", "008", "009"]  # ids keep leading zeros
    np.testing.assert_allclose(s.lat, ACCOUNTS["Lat"], atol=1e-6)
    np.testing.assert_allclose(s.lon, ACCOUNTS["Lng"], atol=1e-6)
    np.testing.assert_allclose(s.attributes["workload"], [10, 12, 14])
    assert list(s.current) == [0, -1, 1]
    assert s.skills == (frozenset({"en", "es"}), frozenset({"en", "fr"}))
    assert list(s.has_home) == [True, False]
    assert s.capacity["workload"][0] == 30 and np.isinf(s.capacity["workload"][1])
    # "es" only R1 speaks; the empty tag needs nothing.
    assert s.allowed().tolist() == [[True, True], [True, False], [True, True]]


def test_csv_with_crm_column_names(tmp_path: Path) -> None:
    ACCOUNTS.to_csv(tmp_path / "accounts.csv", index=False)
    check(tmp_path, {"latitude": "Lat", "longitude": "Lng"}, "accounts.csv")


def test_parquet(tmp_path: Path) -> None:
    ACCOUNTS.to_parquet(tmp_path / "accounts.parquet")
    check(tmp_path, {"latitude": "Lat", "longitude": "Lng"}, "accounts.parquet")


def test_geojson_points(tmp_path: Path) -> None:
    points = [Point(x, y) for x, y in zip(ACCOUNTS.Lng, ACCOUNTS.Lat, strict=True)]
    frame = gpd.GeoDataFrame(ACCOUNTS.drop(columns=["Lat", "Lng"]), geometry=points,
                             crs="EPSG:4326")
    frame.to_file(tmp_path / "accounts.geojson", driver="GeoJSON")
    check(tmp_path, {}, "accounts.geojson")


def test_geojson_polygons_use_a_point_inside(tmp_path: Path) -> None:
    centres = zip(ACCOUNTS.Lng, ACCOUNTS.Lat, strict=True)
    shapes = [box(x - 0.01, y - 0.01, x + 0.01, y + 0.01) for x, y in centres]
    frame = gpd.GeoDataFrame(ACCOUNTS, geometry=shapes, crs="EPSG:4326")
    frame.to_file(tmp_path / "units.geojson", driver="GeoJSON")
    check(tmp_path, {}, "units.geojson")


def test_polygons_are_kept_in_wgs84(tmp_path: Path) -> None:
    centres = zip(ACCOUNTS.Lng, ACCOUNTS.Lat, strict=True)
    shapes = [box(x - 0.01, y - 0.01, x + 0.01, y + 0.01) for x, y in centres]
    frame = gpd.GeoDataFrame(ACCOUNTS, geometry=shapes, crs="EPSG:4326").to_crs("EPSG:32617")
    frame.to_file(tmp_path / "units.gpkg", driver="GPKG")
    s = load_scenario(write(tmp_path, {}, "units.gpkg"))
    assert s.geometry is not None and len(s.geometry) == 3
    assert s.geometry[0].contains(Point(-80.0, 35.0))  # back in degrees


def test_layer_without_crs_is_refused(tmp_path: Path) -> None:
    points = [Point(x, y) for x, y in zip(ACCOUNTS.Lng, ACCOUNTS.Lat, strict=True)]
    frame = gpd.GeoDataFrame(ACCOUNTS.drop(columns=["Lat", "Lng"]), geometry=points)
    with pytest.warns(UserWarning, match="crs"):
        frame.to_file(tmp_path / "accounts.shp")  # no CRS: no .prj
    with pytest.raises(ScenarioError) as error:
        load_scenario(write(tmp_path, {}, "accounts.shp"))
    problem = error.value.problems[0]
    assert "accounts.shp" in problem.where and problem.field == "crs"
    assert ".prj" in problem.expected


def test_invalid_polygon_is_named_by_row(tmp_path: Path) -> None:
    from shapely.geometry import Polygon

    centres = list(zip(ACCOUNTS.Lng, ACCOUNTS.Lat, strict=True))
    shapes = [box(x - 0.01, y - 0.01, x + 0.01, y + 0.01) for x, y in centres]
    x, y = centres[1]
    shapes[1] = Polygon([(x, y), (x + 1, y + 1), (x + 1, y), (x, y + 1)])  # a bow tie
    gpd.GeoDataFrame(ACCOUNTS, geometry=shapes, crs="EPSG:4326").to_file(
        tmp_path / "units.geojson", driver="GeoJSON")
    with pytest.raises(ScenarioError) as error:
        load_scenario(write(tmp_path, {}, "units.geojson"))
    problem = error.value.problems[0]
    assert "row 2" in problem.where and problem.field == "geometry"
    assert "Self-intersection" in problem.found


def test_projected_xy_with_crs(tmp_path: Path) -> None:
    points = gpd.GeoSeries(gpd.points_from_xy(ACCOUNTS.Lng, ACCOUNTS.Lat), crs="EPSG:4326")
    utm = points.to_crs("EPSG:32617")
    ACCOUNTS.assign(X=utm.x, Y=utm.y).to_csv(tmp_path / "accounts.csv", index=False)
    check(tmp_path, {"x": "X", "y": "Y", "crs": "EPSG:32617"}, "accounts.csv")


def test_haversine_known_distance() -> None:
    # One degree of longitude on the equator is 2πR/360.
    assert haversine_km(0, 0, 0, 1) == pytest.approx(2 * np.pi * EARTH_RADIUS_KM / 360)
    assert np.isnan(haversine_km(0, 0, np.nan, np.nan))


def test_reserved_attribute_name_is_refused(tmp_path: Path) -> None:
    ACCOUNTS.to_csv(tmp_path / "accounts.csv", index=False)
    path = write(tmp_path, {"latitude": "Lat", "longitude": "Lng"}, "accounts.csv")
    path.write_text(path.read_text().replace("workload: Hours", "items: Hours"))
    with pytest.raises(ScenarioError, match=r"items\.attributes.*'items'.*reserved"):
        load_scenario(path)


def test_excel_csv_with_bom_and_semicolons(tmp_path: Path) -> None:
    text = ACCOUNTS.to_csv(index=False, sep=";")
    (tmp_path / "accounts.csv").write_bytes("\ufeff".encode() + text.encode())
    check(tmp_path, {"latitude": "Lat", "longitude": "Lng"}, "accounts.csv")
