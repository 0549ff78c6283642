"""Maps of a plan: ``map.png`` and ``map.html`` from the API, ``territory-opt map`` and
``solve --map``, on the demo's points and on a small grid of polygons."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.colors import to_rgb
from shapely.geometry import box

from conftest import TinyScenario, run_cli, solve_args
from territory_opt import Plan, Scenario, evaluate, load_scenario
from territory_opt.backends.contract import Status
from territory_opt.present.maps import (
    DISTINCT_MIN,
    UNASSIGNED,
    _greedy_colours,
    _palette,
    territory_colours,
    write_maps,
)
from territory_opt.scenario.model import NO_TERRITORY

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scenarios" / "demo" / "scenario.yaml"


@pytest.fixture(scope="module")
def demo() -> Scenario:
    return load_scenario(DEMO)


def grid_scenario(folder: Path) -> Scenario:
    """16 squares of 0.1° in a 4×4 grid near Raleigh, as GeoJSON; 3 reps with homes."""
    folder.mkdir(parents=True, exist_ok=True)
    cells = [(r, c) for r in range(4) for c in range(4)]
    units = gpd.GeoDataFrame(
        {"unit": [f"U{r}{c}" for r, c in cells], "hours": [10.0 + r + c for r, c in cells]},
        geometry=[box(-79 + 0.1 * c, 35 + 0.1 * r, -78.9 + 0.1 * c, 35.1 + 0.1 * r)
                  for r, c in cells],
        crs="EPSG:4326",
    )
    units.to_file(folder / "units.geojson", driver="GeoJSON")
    pd.DataFrame({"rep": ["West", "Middle", "East"], "lat": [35.2, 35.2, 35.2],
                  "lon": [-78.95, -78.75, -78.65]}).to_csv(folder / "reps.csv", index=False)
    spec = {"version": 1, "name": "grid", "model": "alignment",
            "items": {"path": "units.geojson", "id": "unit", "attributes": ["hours"]},
            "territories": {"path": "reps.csv", "id": "rep", "home_latitude": "lat",
                            "home_longitude": "lon"},
            "rules": {"balance": [{"attribute": "hours", "tolerance": 0.5}]}}
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return load_scenario(path)


def grid_assignment(s: Scenario) -> np.ndarray:
    """Columns 0-1 West, column 2 Middle, column 3 East; one square unassigned."""
    column = np.array([int(i[2]) for i in s.item_ids])
    out = np.array([0, 0, 1, 2])[column]
    out[list(s.item_ids).index("U33")] = NO_TERRITORY
    return out


def colour_pixels(png: Path, colour: str) -> int:
    """Pixels of ``png`` exactly ``colour`` (to 8-bit rounding)."""
    image = matplotlib.image.imread(png)[..., :3]
    return int((np.abs(image - np.array(to_rgb(colour))) < 1.5 / 255).all(axis=2).sum())


def check_png(png: Path, colours: list[str]) -> None:
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 20_000 < png.stat().st_size < 2_000_000
    drawn = [c for c in colours if colour_pixels(png, c) >= 10]
    assert len(set(drawn)) >= len(colours), (colours, drawn)


def test_demo_maps(tmp_path: Path, demo: Scenario) -> None:
    table = evaluate(demo, demo.current).territories
    written = write_maps(tmp_path, demo, demo.current, table)
    assert written == [tmp_path / "map.png", tmp_path / "map.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.html", "map.png"]  # no temp files
    colours = territory_colours(demo, demo.current)
    assert len(set(colours)) == demo.n_territories  # 20 territories, 27 colours: all distinct
    check_png(tmp_path / "map.png", colours)
    page = (tmp_path / "map.html").read_text(encoding="utf-8")
    assert "leaflet" in page and "bindTooltip" in page
    for name in demo.territory_names:
        assert name in page
    assert demo.item_ids[0] in page and "workload_h dev %" in page  # registry label


def test_neighbours_look_different_beyond_the_palette() -> None:
    # A 12 × 12 grid of territories (144, more than the 27 colours): every pair of neighbours
    # still gets colours that look distinct, also to colour-blind eyes.
    side = 12
    cells = np.arange(side * side).reshape(side, side)
    pairs = np.concatenate([np.column_stack([cells[:, :-1].ravel(), cells[:, 1:].ravel()]),
                            np.column_stack([cells[:-1].ravel(), cells[1:].ravel()])])
    colours = _greedy_colours(side * side, pairs)
    palette, distance = _palette()
    index = [palette.index(c) for c in colours]
    assert min(distance[index[a], index[b]] for a, b in pairs) >= DISTINCT_MIN


def test_polygon_maps(tmp_path: Path) -> None:
    s = grid_scenario(tmp_path / "in")
    assignment = grid_assignment(s)
    out = tmp_path / "plan"
    out.mkdir()
    write_maps(out, s, assignment, evaluate(s, assignment).territories)
    colours = territory_colours(s, assignment)
    check_png(out / "map.png", colours)
    assert colour_pixels(out / "map.png", UNASSIGNED) >= 100  # U33 in grey
    page = (out / "map.html").read_text(encoding="utf-8")
    data = json.loads(page.split("var D = ", 1)[1].split(";\n", 1)[0])
    features = data["G"]["features"]
    assert sorted(f["properties"]["id"] for f in features) == sorted(s.item_ids)
    assert {f["properties"]["t"] for f in features} == {-1, 0, 1, 2}
    assert len(data["B"]["features"]) == 4  # a border per territory and the unassigned square
    for name in ("West", "Middle", "East", "unassigned"):
        assert name in page


def test_kpi_cells_are_formatted(tmp_path: Path, demo: Scenario) -> None:
    table = pd.DataFrame({"territory": demo.territory_ids, "sales": 1234567.89,
                          "share": 0.123456, "gap": math.nan, "note": "<b>x</b>"})
    write_maps(tmp_path, demo, demo.current, table)
    page = (tmp_path / "map.html").read_text(encoding="utf-8")
    assert "1,234,568" in page and "0.1235" in page and "n/a" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page  # user text is escaped, never markup


def demo_plan_dir(root: Path, demo: Scenario) -> Path:
    plan = Plan(scenario=demo, assignment=demo.current, status=Status.FEASIBLE,
                bound=-math.inf, backend="test")
    return plan.write(root / "plan")


def test_map_command(tmp_path: Path, demo: Scenario) -> None:
    plan_dir = demo_plan_dir(tmp_path, demo)
    result = run_cli("map", plan_dir, cwd=tmp_path, subprocess=False)
    assert result.code == 0, result.output
    assert "map.png" in result.stdout and "map.html" in result.stdout
    assert (plan_dir / "map.png").is_file() and (plan_dir / "map.html").is_file()


@pytest.mark.parametrize("damage", ["missing", "not a plan", "garbled", "no scenario"])
def test_map_command_refuses_a_bad_plan_dir(tmp_path: Path, demo: Scenario, damage: str) -> None:
    plan_dir = tmp_path / "nowhere"
    if damage != "missing":
        plan_dir = demo_plan_dir(tmp_path, demo)
        meta = plan_dir / "plan.json"
        if damage == "not a plan":
            meta.unlink()
        elif damage == "garbled":
            meta.write_text("{not json", encoding="utf-8")
        else:
            summary = json.loads(meta.read_text(encoding="utf-8"))
            summary["scenario"]["path"] = str(tmp_path / "gone" / "scenario.yaml")
            meta.write_text(json.dumps(summary), encoding="utf-8")
    result = run_cli("map", plan_dir, cwd=tmp_path, subprocess=False)
    assert result.code == 2, result.output
    assert "Traceback" not in result.output and "error" in result.stderr
    expected = {"missing": "plan.json", "not a plan": "plan.json", "garbled": "plan.json",
                "no scenario": "scenario.yaml"}[damage]
    assert expected in result.stderr and str(plan_dir.name) in result.stderr
    assert not (plan_dir / "map.png").exists()


def test_solve_with_map(tiny: TinyScenario) -> None:
    tiny.write()
    result = run_cli(*solve_args(tiny), "--map", cwd=tiny.root, subprocess=False)
    assert result.code == 0, result.output
    assert (tiny.out_dir / "map.png").is_file() and (tiny.out_dir / "map.html").is_file()
    assert "map.html" in result.stdout
