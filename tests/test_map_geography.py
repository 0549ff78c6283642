"""``map.png`` geography: US state outlines, a colour per territory id that no plan changes, a
palette for many territories, Voronoi territory areas, lines for far assignments, names that do
not overlap and a legend at any count."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from libpysal import examples
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.text import Annotation

from conftest import TinyScenario
from territory_opt import Scenario, load_scenario
from territory_opt.present.maps import (
    DISTINCT_MIN,
    HUES,
    LONG_ASSIGNMENT_KM,
    MAX_SITES,
    STATE_EDGE,
    _anchor_pairs,
    _anchors,
    _figure,
    _layout,
    _long_assignments,
    _mercator,
    _palette,
    _sites,
    _territory_areas,
    map_png,
    territory_colours,
)
from territory_opt.scenario.model import NO_TERRITORY

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scenarios" / "demo" / "scenario.yaml"
ZIP_UNITS = ROOT / "scenarios" / "zip-units" / "scenario.yaml"
DPI = 200  # the state line (0.6 pt) is then over a pixel wide: its centre pixel is its colour


@pytest.fixture(scope="module")
def demo() -> Scenario:
    return load_scenario(DEMO)


@pytest.fixture(scope="module")
def zip_units() -> Scenario:
    return load_scenario(ZIP_UNITS)


def nearest_home(s: Scenario) -> np.ndarray:
    """Each item to the territory with the nearest home: a plan unlike the current one."""
    return np.asarray(np.argmin(s.distance_block(slice(None)), axis=1))


def many_reps(tmp_path: Path, n: int, crowded: bool = False, seed: int = 1) -> Scenario:
    """The tiny scenario with ``n`` reps at random places over 8° of the US Southeast (or,
    ``crowded``, all but the first within 0.3°), each with two accounts near its home."""
    rng = np.random.default_rng(seed)
    tiny = TinyScenario(tmp_path)
    spread = 8.0 * np.where((np.arange(n) == 0) | (not crowded), 1.0, 0.3 / 8.0)
    lat = 33.0 + spread / 2 * rng.random(n)
    lon = -88.0 + spread * rng.random(n)
    tiny.reps = [{"rep_id": f"R{k:02d}", "home_lat": round(lat[k], 4),
                  "home_lon": round(lon[k], 4), "fte": 1, "skills": "smb;enterprise"}
                 for k in range(n)]
    tiny.accounts = [{"id": f"A{k:02d}{j}", "lat": round(lat[k] + 0.05 * j, 4),
                      "lon": round(lon[k] - 0.05 * j, 4), "potential": 100, "workload": 10,
                      "segment": "smb", "current_rep": f"R{k:02d}", "lock": ""}
                     for k in range(n) for j in range(2)]
    return load_scenario(tiny.write())


# --- colours -----------------------------------------------------------------------------------


def test_a_territory_keeps_its_colour_in_every_plan(demo: Scenario) -> None:
    current = territory_colours(demo, demo.current)
    shuffled = np.random.default_rng(0).permutation(demo.current)
    assert territory_colours(demo, shuffled) == current
    assert territory_colours(demo, nearest_home(demo)) == current
    assert territory_colours(demo, np.full(demo.n_items, -1)) == current
    assert len(set(current)) == demo.n_territories


def test_neighbouring_homes_differ_in_hue(demo: Scenario) -> None:
    palette, distance = _palette()
    index = [palette.index(c) for c in territory_colours(demo, demo.current)]
    pairs = _anchor_pairs(_anchors(demo))
    assert len(pairs) >= demo.n_territories  # a connected neighbour graph
    for a, b in pairs.tolist():
        assert index[a] % len(HUES) != index[b] % len(HUES), (a, b)
        assert distance[index[a], index[b]] >= DISTINCT_MIN


@pytest.mark.parametrize("n", [40, 60])
def test_many_territories_get_distinct_colours(tmp_path: Path, n: int) -> None:
    s = many_reps(tmp_path, n)
    colours = territory_colours(s, s.current)
    assert len(set(colours)) == n
    palette, distance = _palette()
    index = [palette.index(c) for c in colours]
    for a, b in _anchor_pairs(_anchors(s)).tolist():
        assert distance[index[a], index[b]] >= DISTINCT_MIN


# --- state outlines ----------------------------------------------------------------------------


def render(s: Scenario, assignment: np.ndarray) -> tuple[Figure, np.ndarray]:
    """The map's figure, drawn at :data:`DPI`, and its pixels (RGB, 0-1, top row first)."""
    fig = _figure(s, _layout(s, assignment))
    fig.set_dpi(DPI)
    fig.canvas.draw()
    return fig, np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0  # type: ignore[attr-defined]


def border_points(state: str, other: str, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of ``n`` points along the border of two states (from libpysal's us48)."""
    states = gpd.read_file(examples.get_path("us48.shp")).set_index("STATE_NAME").geometry
    border = shapely.intersection(states[state].boundary, states[other].buffer(0.01))
    points = shapely.line_interpolate_point(shapely.line_merge(border),
                                            np.linspace(0.05, 0.95, n), normalized=True)
    return shapely.get_x(points), shapely.get_y(points)


def outline_share(fig: Figure, image: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> float:
    """Share of the points whose pixel (or one next to it) is the state outline's grey."""
    ax = fig.axes[0]
    x, y = _mercator(lon, lat)
    display = ax.transData.transform(np.column_stack([x, y]))
    height, width = image.shape[:2]
    hits = []
    for px, py in display:
        col, row = round(float(px)), round(float(height - py))
        assert 1 <= col < width - 1 and 1 <= row < height - 1  # on the picture
        window = image[row - 1:row + 2, col - 1:col + 2].reshape(-1, 3)
        hits.append((np.abs(window - to_rgb(STATE_EDGE)).max(axis=1) < 0.06).any())
    return float(np.mean(hits))


def test_demo_map_draws_state_outlines(demo: Scenario) -> None:
    fig, image = render(demo, demo.current)
    # Tennessee's straight southern border with Alabama (35° N) crosses the demo's items.
    assert outline_share(fig, image, *border_points("Tennessee", "Alabama")) >= 0.6
    assert outline_share(fig, image, *border_points("Georgia", "Florida")) >= 0.6
    assert any(c.get_gid() == "state-outlines" for c in fig.axes[0].collections)
    assert map_png(demo, demo.current)[:8] == b"\x89PNG\r\n\x1a\n"


def test_polygon_map_draws_state_outlines_over_the_polygons(zip_units: Scenario) -> None:
    fig, image = render(zip_units, nearest_home(zip_units))
    assert outline_share(fig, image, *border_points("North Carolina", "Virginia")) >= 0.6
    assert outline_share(fig, image, *border_points("North Carolina", "South Carolina")) >= 0.6


def test_no_state_outlines_outside_the_us(tmp_path: Path) -> None:
    tiny = TinyScenario(tmp_path)
    for row in tiny.accounts + tiny.reps:  # North Carolina moved to Germany
        lat, lon = ("lat", "lon") if "lat" in row else ("home_lat", "home_lon")
        row[lat], row[lon] = row[lat] + 15.0, row[lon] + 90.0
    s = load_scenario(tiny.write())
    fig = _figure(s, _layout(s, s.current))
    assert not any(c.get_gid() == "state-outlines" for c in fig.axes[0].collections)


# --- territory areas, long assignments, names, legend ---------------------------------------


def test_territory_areas_tile_the_region(demo: Scenario) -> None:
    rows = np.flatnonzero(demo.located)
    xy = np.column_stack(_mercator(demo.lon[rows], demo.lat[rows]))
    region = shapely.buffer(shapely.convex_hull(shapely.multipoints(xy)), 10_000)
    areas = _territory_areas(xy, demo.current[rows], region)
    assert sorted(areas) == sorted(set(demo.current[rows].tolist()))
    union = shapely.union_all(list(areas.values()))
    assert sum(a.area for a in areas.values()) == pytest.approx(union.area, rel=1e-6)
    assert union.area == pytest.approx(region.area, rel=1e-6)  # no overlaps, no gaps


def test_many_points_are_aggregated_before_voronoi() -> None:
    rng = np.random.default_rng(3)
    xy = rng.random((100_000, 2)) * 1e6
    labels = (xy[:, 0] // 2e5).astype(np.int64)  # five vertical bands
    sites, site_labels = _sites(xy, labels)
    assert 1_000 < len(sites) <= MAX_SITES and len(site_labels) == len(sites)
    assert len(np.unique(sites, axis=0)) == len(sites)
    areas = _territory_areas(xy, labels, shapely.box(0, 0, 1e6, 1e6))
    assert sorted(areas) == [0, 1, 2, 3, 4]
    for k, area in areas.items():  # each band's area is about its band
        band = shapely.box(k * 2e5, 0, (k + 1) * 2e5, 1e6)
        assert shapely.intersection(area, band).area > 0.95 * band.area


def test_a_far_assignment_is_drawn_as_a_line(tmp_path: Path) -> None:
    tiny = TinyScenario(tmp_path)
    tiny.account("A1").update(lat=40.0, lon=-90.0)  # Illinois, still with R1 in Charlotte
    s = load_scenario(tiny.write())
    layout = _layout(s, s.current)
    rows, territories = _long_assignments(s, layout)
    assert rows.tolist() == [list(s.item_ids).index("A1")] and territories.tolist() == [0]
    assert s.distance(rows, territories)[0] > LONG_ASSIGNMENT_KM
    fig = _figure(s, layout)
    lines = [c for c in fig.axes[0].collections if c.get_gid() == "long-assignments"]
    assert len(lines) == 1 and isinstance(lines[0], LineCollection)
    assert len(lines[0].get_segments()) == 1
    colour = np.asarray(lines[0].get_colors())[0, :3]
    assert tuple(colour) == pytest.approx(to_rgb(layout.colours[0]))
    unassigned = s.current.copy()
    unassigned[rows] = NO_TERRITORY  # an unassigned item has no home to draw a line to
    assert not len(_long_assignments(s, _layout(s, unassigned))[0])


def test_names_never_overlap(tmp_path: Path) -> None:
    s = many_reps(tmp_path, 40, crowded=True)  # 39 homes in a small box: names must give way
    fig = _figure(s, _layout(s, s.current))
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    names = [t for t in fig.axes[0].texts if isinstance(t, Annotation)]
    assert 5 <= len(names) < 40
    boxes = np.array([t.get_window_extent(renderer).extents for t in names])
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        other = np.delete(boxes, i, axis=0)
        assert not ((other[:, 0] < x1) & (x0 < other[:, 2]) & (other[:, 1] < y1)
                    & (y0 < other[:, 3])).any()


def test_thirty_territories_have_a_legend(zip_units: Scenario) -> None:
    fig = _figure(zip_units, _layout(zip_units, nearest_home(zip_units)))
    legend = fig.axes[0].get_legend()
    assert legend is not None
    shown = {t.get_text() for t in legend.get_texts()}
    assert set(map(str, zip_units.territory_names)) <= shown
