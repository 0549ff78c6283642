"""GeoPandas in and out: ``Scenario.from_frames`` → ``solve`` → ``Plan.to_geodataframe``, and
``territory-opt export --format geopackage|geoparquet``.

Alignment on the tiny scenario (8 accounts, 3 reps) as DataFrames and as a point GeoDataFrame in
EPSG:3857; districting on the 32 westernmost North Carolina counties (``scenarios/nc-counties``)
into 3 territories. Each frames scenario is checked against the same tables loaded from files:
same arrays, same plan.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml

import territory_opt
from conftest import ACCOUNTS, REPS, SPEC, TinyScenario, run_cli
from territory_opt import Plan, Scenario, load_scenario, scenario_from_frames, solve
from territory_opt.errors import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
COUNTIES = ROOT / "scenarios" / "nc-counties" / "counties.geojson"

DISTRICTING: dict[str, Any] = {
    "model": "districting",
    "items": {"id": "FIPS", "attributes": ["BIR74"]},
    "territories": {"count": 3},
    "rules": {"balance": [{"attribute": "BIR74", "tolerance": 0.1}], "contiguity": True},
    "objective": {"dispersion": {"attribute": "BIR74"}},
    "solver": {"backend": "highs", "time_limit": 10, "seed": 0},
}


def _alignment_rules() -> dict[str, Any]:
    """The tiny scenario's YAML without its table paths."""
    rules = copy.deepcopy(SPEC)
    del rules["items"]["path"], rules["territories"]["path"]
    return rules


def _accounts() -> pd.DataFrame:
    return pd.DataFrame(copy.deepcopy(ACCOUNTS))


def _reps() -> pd.DataFrame:
    return pd.DataFrame(copy.deepcopy(REPS))


@pytest.fixture(scope="module")
def counties() -> gpd.GeoDataFrame:
    """The 32 westernmost counties (a connected piece), in WGS84."""
    frame = gpd.read_file(COUNTIES)
    west = frame[frame.geometry.representative_point().x < -80.6]
    return west.reset_index(drop=True)


@pytest.fixture(scope="module")
def counties_folder(tmp_path_factory: pytest.TempPathFactory, counties: gpd.GeoDataFrame
                    ) -> Path:
    """The same counties as a scenario folder: ``units.geojson`` and ``units.parquet``
    (GeoParquet), and a ``scenario.yaml`` reading the GeoJSON."""
    folder = tmp_path_factory.mktemp("counties")
    counties.to_file(folder / "units.geojson", driver="GeoJSON")
    counties.to_parquet(folder / "units.parquet")
    spec = copy.deepcopy(DISTRICTING)
    spec["items"]["path"] = "units.geojson"
    (folder / "scenario.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def counties_plan(counties: gpd.GeoDataFrame) -> Plan:
    """The counties, handed in in EPSG:3857, solved."""
    scenario = Scenario.from_frames(counties.to_crs("EPSG:3857"), None, DISTRICTING)
    return solve(scenario)


# --- frames in -------------------------------------------------------------------------------


def test_from_frames_is_reachable_from_the_package() -> None:
    assert territory_opt.Scenario.from_frames.__func__ is Scenario.from_frames.__func__
    scenario = scenario_from_frames(_accounts(), _reps(), _alignment_rules())
    assert scenario.n_items == len(ACCOUNTS) and scenario.path is None


def test_alignment_round_trip_matches_the_files(tiny: TinyScenario) -> None:
    scenario = Scenario.from_frames(_accounts(), _reps(), _alignment_rules())
    from_files = load_scenario(tiny.write())
    for name in ("item_ids", "lat", "lon", "current", "lock", "territory_ids", "home_lat",
                 "fte"):
        assert np.array_equal(getattr(scenario, name), getattr(from_files, name)), name
    plan = solve(scenario, time_limit=5)
    assert np.array_equal(plan.assignment, solve(from_files, time_limit=5).assignment)

    out = plan.to_geodataframe()
    assert isinstance(out, gpd.GeoDataFrame) and out.crs == "EPSG:4326"
    assert list(out.columns) == ["item", "territory", "territory_name", "moved", "locked",
                                 "geometry"]
    assert out["item"].tolist() == [a["id"] for a in ACCOUNTS]
    assert out["territory"].tolist() == plan.assignment_frame()["territory"].tolist()
    points = gpd.points_from_xy([a["lon"] for a in ACCOUNTS], [a["lat"] for a in ACCOUNTS])
    assert out.geometry.geom_equals_exact(gpd.GeoSeries(points, crs="EPSG:4326"),
                                          tolerance=0).all()

    homes = plan.territories_geodataframe()
    assert homes["territory"].tolist() == [r["rep_id"] for r in REPS]
    assert homes.geometry.geom_equals_exact(gpd.GeoSeries(gpd.points_from_xy(
        [r["home_lon"] for r in REPS], [r["home_lat"] for r in REPS]), crs="EPSG:4326"),
        tolerance=0).all()


def test_points_in_web_mercator_come_in_as_degrees() -> None:
    accounts = _accounts()
    frame = gpd.GeoDataFrame(accounts.drop(columns=["lat", "lon"]),
                             geometry=gpd.points_from_xy(accounts["lon"], accounts["lat"]),
                             crs="EPSG:4326").to_crs("EPSG:3857")
    rules = _alignment_rules()
    del rules["items"]["latitude"], rules["items"]["longitude"]  # the points give them
    scenario = Scenario.from_frames(frame, _reps(), rules)
    assert scenario.lat == pytest.approx(accounts["lat"].to_numpy(), abs=1e-9)
    assert scenario.lon == pytest.approx(accounts["lon"].to_numpy(), abs=1e-9)
    plan = solve(scenario, time_limit=5)
    plain = solve(Scenario.from_frames(_accounts(), _reps(), _alignment_rules()), time_limit=5)
    assert np.array_equal(plan.assignment, plain.assignment)
    out = plan.to_geodataframe()
    assert out.geometry.geom_equals_exact(frame.to_crs("EPSG:4326").geometry,
                                          tolerance=1e-9).all()


def test_districting_round_trip_matches_the_files(counties: gpd.GeoDataFrame,
                                                  counties_folder: Path,
                                                  counties_plan: Plan) -> None:
    scenario = counties_plan.scenario
    from_files = load_scenario(counties_folder)
    assert scenario.adjacency is not None and len(scenario.adjacency) > 0
    assert np.array_equal(scenario.adjacency, from_files.adjacency)
    assert np.array_equal(counties_plan.assignment, solve(from_files).assignment)

    out = counties_plan.to_geodataframe()
    assert out["item"].tolist() == counties["FIPS"].astype(str).tolist()
    assert out.crs == "EPSG:4326"
    assert out.geometry.geom_equals_exact(counties.geometry, tolerance=1e-9).all()

    districts = counties_plan.territories_geodataframe()
    assert districts["territory"].tolist() == ["T1", "T2", "T3"]
    for k, row in districts.iterrows():
        members = counties.geometry.to_numpy()[counties_plan.assignment == k]
        assert shapely.area(row.geometry) == pytest.approx(shapely.area(members).sum(),
                                                           rel=1e-9)
        assert row["items"] == len(members)


def test_the_digest_follows_the_frames_content(counties: gpd.GeoDataFrame) -> None:
    first = Scenario.from_frames(_accounts(), _reps(), _alignment_rules()).digest
    assert Scenario.from_frames(_accounts(), _reps(), _alignment_rules()).digest == first
    edited = _accounts()
    edited.loc[0, "potential"] = 101
    assert Scenario.from_frames(edited, _reps(), _alignment_rules()).digest != first
    rules = _alignment_rules()
    rules["rules"]["balance"][0]["tolerance"] = 0.25
    assert Scenario.from_frames(_accounts(), _reps(), rules).digest != first

    units = Scenario.from_frames(counties, None, DISTRICTING).digest
    assert Scenario.from_frames(counties.copy(), None, DISTRICTING).digest == units
    moved = counties.copy()
    moved.loc[0, "geometry"] = shapely.affinity.translate(moved.geometry[0], 1e-6, 0)
    assert Scenario.from_frames(moved, None, DISTRICTING).digest != units


def test_a_geoparquet_items_table_loads_with_geometry_and_adjacency(
        counties_folder: Path, counties_plan: Plan) -> None:
    spec = copy.deepcopy(DISTRICTING)
    spec["items"]["path"] = "units.parquet"
    yaml_path = counties_folder / "parquet.yaml"
    yaml_path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    scenario = load_scenario(yaml_path)
    assert scenario.geometry is not None
    assert set(shapely.get_type_id(scenario.geometry)) <= {3, 6}  # polygons
    assert np.array_equal(scenario.adjacency, counties_plan.scenario.adjacency)


# --- bad frames ------------------------------------------------------------------------------


def _problems(**frames: Any) -> str:
    arguments = {"items": _accounts(), "territories": _reps(), "rules": _alignment_rules()}
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_frames(**(arguments | frames))
    return str(caught.value)


def test_bad_frames_name_the_frame_row_and_column() -> None:
    text = _problems(items=_accounts().drop(columns=["id"]))
    assert "items frame: id: found no column 'id'" in text

    accounts = _accounts()
    accounts.loc[2, "potential"] = np.nan
    assert "items frame, row 3: potential: found an empty value or NaN" in _problems(
        items=accounts)

    reps = _reps()
    reps.loc[1, "fte"] = -1
    assert "territories frame, row 2: fte:" in _problems(territories=reps)

    rules = _alignment_rules()
    rules["rules"]["balance"][0]["tolerance"] = "wide"
    assert "rules dict, at rules.balance.0.tolerance" in _problems(rules=rules)

    assert "territories frame: (frame): found nothing" in _problems(territories=None)

    no_crs = gpd.GeoDataFrame(_accounts(), geometry=gpd.points_from_xy(
        _accounts()["lon"], _accounts()["lat"]))
    assert "items frame: crs:" in _problems(items=no_crs)


def test_a_bad_polygon_is_named_by_row(counties: gpd.GeoDataFrame) -> None:
    broken = counties.copy()
    broken.loc[4, "geometry"] = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])  # a bow tie
    with pytest.raises(ScenarioError, match=r"items frame, row 5: geometry: found an invalid"):
        Scenario.from_frames(broken, None, DISTRICTING)


# --- GIS files out ---------------------------------------------------------------------------


def _solved_tiny(tiny: TinyScenario) -> Path:
    tiny.account("A3")["current_rep"] = "R1"  # unbalanced, so the plan moves items
    tiny.write()
    result = run_cli("solve", tiny.yaml_path, "--out", tiny.out_dir, "--time-limit", "2",
                     cwd=tiny.root, subprocess=False)
    assert result.code == 0, result.output
    return tiny.out_dir


def _export(plan_dir: Path, *args: str | Path) -> str:
    result = run_cli("export", plan_dir, *args, cwd=plan_dir.parent, subprocess=False)
    assert result.code == 0, result.output
    return result.output


def test_export_geopackage_and_geoparquet_read_back(tiny: TinyScenario) -> None:
    plan_dir = _solved_tiny(tiny)
    assignment = pd.read_csv(plan_dir / "assignment.csv", dtype=str, keep_default_na=False)
    points = gpd.GeoSeries(gpd.points_from_xy([a["lon"] for a in tiny.accounts],
                                              [a["lat"] for a in tiny.accounts]),
                           crs="EPSG:4326")

    _export(plan_dir, "--format", "geopackage")
    gpkg = plan_dir / "export-geopackage.gpkg"
    assert gpd.list_layers(gpkg)["name"].tolist() == ["assignment", "territories"]
    _export(plan_dir, "--format", "geoparquet")
    parquet = plan_dir / "export-geoparquet.parquet"
    for items, territories in (
            (gpd.read_file(gpkg, layer="assignment"), gpd.read_file(gpkg, layer="territories")),
            (gpd.read_parquet(parquet),
             gpd.read_parquet(plan_dir / "export-geoparquet-territories.parquet"))):
        assert items.crs == "EPSG:4326" and territories.crs == "EPSG:4326"
        assert items["item"].tolist() == assignment["item"].tolist()
        assert items["territory"].tolist() == assignment["territory"].tolist()
        assert items.geometry.geom_equals_exact(points, tolerance=0).all()
        assert territories["territory"].tolist() == [r["rep_id"] for r in tiny.reps]

    moves = _export(plan_dir, "--format", "geopackage", "--moves-only")
    moved = gpd.read_file(plan_dir / "export-geopackage-moves.gpkg", layer="assignment")
    assert moved["item"].tolist() == assignment["item"][assignment["moved"] == "True"].tolist()
    assert f"{len(moved)} row" in moves


def test_export_districting_geopackage_keeps_the_polygons(counties: gpd.GeoDataFrame,
                                                          counties_folder: Path,
                                                          tmp_path: Path) -> None:
    plan = solve(load_scenario(counties_folder))
    plan_dir = plan.write(tmp_path / "plan")
    _export(plan_dir, "--format", "geopackage", "--out", tmp_path / "out" / "nc.gpkg")
    items = gpd.read_file(tmp_path / "out" / "nc.gpkg", layer="assignment")
    assert items["item"].tolist() == counties["FIPS"].astype(str).tolist()
    assert items.geometry.geom_equals_exact(counties.geometry, tolerance=1e-9).all()
    assert items["territory"].tolist() == plan.assignment_frame()["territory"].tolist()
    districts = gpd.read_file(tmp_path / "out" / "nc.gpkg", layer="territories")
    assert shapely.area(districts.geometry.to_numpy()).sum() == pytest.approx(
        shapely.area(counties.geometry.to_numpy()).sum(), rel=1e-9)
    assert not list((tmp_path / "out").glob(".*"))  # no temporary sibling left


@pytest.mark.parametrize("fmt", ["geopackage", "geoparquet"])
def test_geo_exports_never_replace_an_input(tiny: TinyScenario, fmt: str) -> None:
    plan_dir = _solved_tiny(tiny)
    before = (tiny.folder / "accounts.csv").read_bytes()
    for target in (tiny.folder / "accounts.csv", plan_dir / "assignment.csv"):
        result = run_cli("export", plan_dir, "--format", fmt, "--out", target,
                         cwd=tiny.root, subprocess=False)
        assert result.code != 0 and "refusing to write" in result.output
    assert (tiny.folder / "accounts.csv").read_bytes() == before
