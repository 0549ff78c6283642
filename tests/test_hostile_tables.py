"""Tables are data, never pointers: a file whose content names another file or a URL is refused
unread, by ``validate`` and ``solve`` alike (exit 2), and the file it names is never read."""

from __future__ import annotations

import http.server
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from conftest import TinyScenario, run_cli
from territory_opt import load_scenario
from territory_opt.errors import ScenarioError
from territory_opt.scenario.tables import ReadingLimits, read_table, reading_limits

SECRET = "TOPSECRET-7f3a9c"


def vrt(source: str) -> str:
    """OGR VRT XML that makes GDAL open ``source`` (a path or a /vsicurl/ URL) as points; before
    the fix, the secret ids came back in the duplicate-id message."""
    return (f'<OGRVRTDataSource><OGRVRTLayer name="secret"><SrcDataSource>{source}'
            "</SrcDataSource><GeometryType>wkbPoint</GeometryType><LayerSRS>EPSG:4326"
            '</LayerSRS><GeometryField encoding="PointFromColumns" x="lon" y="lat"/>'
            "</OGRVRTLayer></OGRVRTDataSource>\n")


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A CSV outside the scenario folder holding :data:`SECRET` where an id would be."""
    path = tmp_path / "elsewhere" / "secret.csv"
    path.parent.mkdir()
    path.write_text(f"id,lat,lon,potential,workload\n{SECRET},35.2,-80.8,1,1\n"
                    f"{SECRET},35.3,-80.7,1,1\n", encoding="utf-8")
    return path


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server recording every path asked of it (an SSRF would show here)."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = f"id,lat,lon\n{SECRET},35,-80\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def with_items_file(tiny: TinyScenario, name: str, content: str | bytes) -> Path:
    """The tiny scenario with its items table replaced by ``name`` holding ``content``."""
    tiny.spec["items"]["path"] = name
    tiny.write()
    target = tiny.folder / name
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content, encoding="utf-8")
    return tiny.yaml_path


def assert_refused_unread(tiny: TinyScenario, name: str) -> None:
    """``validate`` and ``solve`` exit 2 naming the file; the secret shows nowhere."""
    for command in (["validate", tiny.yaml_path], ["solve", tiny.yaml_path, "--out",
                                                    tiny.out_dir]):
        result = run_cli(*command, cwd=tiny.root, subprocess=False)
        assert result.code == 2, result.output
        assert name in result.output and "Traceback" not in result.output
        assert SECRET not in result.output
    assert not tiny.out_dir.exists()


@pytest.mark.parametrize("name", ["accounts.geojson", "accounts.json", "accounts.gpkg",
                                  "accounts.shp", "accounts.parquet", "accounts.csv"])
def test_vrt_inside_a_table_is_refused(tiny: TinyScenario, secret_file: Path, name: str) -> None:
    with_items_file(tiny, name, vrt(str(secret_file)))
    if name.endswith(".shp"):  # a Shapefile's companions, so only the header can refuse it
        for part in (".shx", ".dbf"):
            (tiny.folder / name).with_suffix(part).write_bytes(b"\0" * 100)
    assert_refused_unread(tiny, name)


def test_a_vsicurl_source_is_never_fetched(tiny: TinyScenario,
                                           listener: tuple[str, list[str]]) -> None:
    url, seen = listener
    with_items_file(tiny, "accounts.geojson", vrt(f"/vsicurl/{url}/secret.csv"))
    assert_refused_unread(tiny, "accounts.geojson")
    assert seen == []


def test_a_geojson_that_is_not_a_feature_collection_is_refused(tiny: TinyScenario) -> None:
    with_items_file(tiny, "accounts.geojson", json.dumps({"type": "Point",
                                                          "coordinates": [1, 2]}))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tiny.yaml_path)
    problem = caught.value.problems[0]
    assert problem.field == "type" and "FeatureCollection" in problem.expected


def test_a_geojson_crs_may_only_name_an_epsg_code(tiny: TinyScenario, secret_file: Path) -> None:
    features = {"type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": f"+init={secret_file}:x"}},
                "features": [{"type": "Feature", "properties": {"id": "A1"},
                              "geometry": {"type": "Point", "coordinates": [-80, 35]}}]}
    with_items_file(tiny, "accounts.geojson", json.dumps(features))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tiny.yaml_path)
    assert caught.value.problems[0].field == "crs"


def test_geojson_in_another_named_crs_is_read(tmp_path: Path) -> None:
    points = gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.Point(-80, 35)],
                              crs="EPSG:4326").to_crs("EPSG:3857")
    features = json.loads(points.to_json())
    features["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
    path = tmp_path / "t.geojson"
    path.write_text(json.dumps(features))
    frame = read_table(path, "items.path")
    assert frame["geometry_lat"].iloc[0] == pytest.approx(35)
    assert frame["geometry_lon"].iloc[0] == pytest.approx(-80)


def test_an_sqlite_file_that_is_not_a_geopackage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.gpkg"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(ScenarioError) as caught:
        read_table(path, "items.path")
    assert "not a GeoPackage" in caught.value.problems[0].found


def test_a_geopackage_view_layer_is_not_read(tmp_path: Path) -> None:
    """Only base tables are layers: a view could run SQL of the file's choosing."""
    path = tmp_path / "t.gpkg"
    gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.Point(1, 2)],
                     crs="EPSG:4326").to_file(path, driver="GPKG", layer="points")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE gpkg_contents SET table_name = 'v' WHERE table_name = 'points'")
        db.execute("UPDATE gpkg_geometry_columns SET table_name = 'v'")
        db.execute("CREATE VIEW v AS SELECT * FROM points")
    with pytest.raises(ScenarioError) as caught:
        read_table(path, "items.path")
    assert "0 feature layers" in caught.value.problems[0].found


def test_geopackage_layers_read_without_gdal(tmp_path: Path) -> None:
    path = tmp_path / "t.gpkg"
    frame = gpd.GeoDataFrame({"id": ["a", "b"], "n": [1, 2]},
                             geometry=[shapely.Point(-80, 35), shapely.Point(-79, 36)],
                             crs="EPSG:4326").to_crs("EPSG:32617")
    frame.to_file(path, driver="GPKG")
    table = read_table(path, "items.path")
    assert list(table["id"]) == ["a", "b"] and list(table["n"]) == [1, 2]
    assert table["geometry_lat"].tolist() == pytest.approx([35, 36])
    assert "fid" not in table.columns


def test_geoparquet_is_read_as_geography(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.Point(-80, 35)],
                     crs="EPSG:4326").to_parquet(path)
    table = read_table(path, "items.path")
    assert table["geometry_lon"].iloc[0] == pytest.approx(-80)


def test_reading_limits_cap_rows_and_decoded_bytes(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    # One repeated value: a few kB on disk, far more once decoded.
    pq.write_table(pa.table({"x": ["y" * 1000] * 20_000}), path, use_dictionary=False,
                   compression="zstd")
    assert path.stat().st_size < 100_000
    with reading_limits(ReadingLimits(max_decoded_bytes=1_000_000)), \
            pytest.raises(ScenarioError, match="once decompressed"):
        read_table(path, "items.path")
    with reading_limits(ReadingLimits(max_rows=100)), pytest.raises(ScenarioError,
                                                                      match="20,000 rows"):
        read_table(path, "items.path")
    csv = tmp_path / "t.csv"
    pd.DataFrame({"x": range(200)}).to_csv(csv, index=False)
    with reading_limits(ReadingLimits(max_rows=100)), pytest.raises(ScenarioError,
                                                                      match="200 rows"):
        read_table(csv, "items.path")
    assert len(read_table(csv, "items.path")) == 200  # no limits outside the context
