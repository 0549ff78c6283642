"""A scenario's own outline layer (``map: {outline: {path: ...}}``) for countries other than the
US: loaded through the guarded table readers, drawn on ``map.png`` and ``map.html``, and a bad
file named at load time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from conftest import TinyScenario, run_cli
from territory_opt import Scenario, load_scenario
from territory_opt.errors import ScenarioError
from territory_opt.present.maps import (
    STATE_EDGE,
    _figure,
    _layout,
    _mercator,
    map_png,
    write_maps,
)

DPI = 200


def _in_germany(tiny: TinyScenario) -> TinyScenario:
    """The tiny scenario moved from North Carolina to Germany (no US outlines apply)."""
    for row in tiny.accounts + tiny.reps:
        lat, lon = ("lat", "lon") if "lat" in row else ("home_lat", "home_lon")
        row[lat], row[lon] = row[lat] + 15.0, row[lon] + 90.0
    return tiny


def _box(west: float, south: float, east: float, north: float) -> dict[str, object]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Feature", "properties": {"name": "Land"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def _with_outline(tiny: TinyScenario, features: list[dict[str, object]] | None,
                  name: str = "borders.geojson", text: str | None = None) -> Path:
    """Write the scenario with ``map.outline.path: name`` beside it (the features as a
    GeoJSON FeatureCollection, or ``text`` as the file; neither: no file)."""
    tiny.spec["map"] = {"outline": {"path": name}}
    path = tiny.write()
    if features is not None:
        (tiny.folder / name).write_text(json.dumps(
            {"type": "FeatureCollection", "features": features}), encoding="utf-8")
    elif text is not None:
        (tiny.folder / name).write_text(text, encoding="utf-8")
    return path


def _bounds(s: Scenario) -> tuple[float, float, float, float]:
    lat = np.r_[s.lat, s.home_lat]
    lon = np.r_[s.lon, s.home_lon]
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def test_a_declared_outline_is_loaded_and_drawn(tiny: TinyScenario) -> None:
    _in_germany(tiny)
    s0 = load_scenario(tiny.write())
    west, south, east, north = _bounds(s0)
    middle = (west + east) / 2
    # Two "regions" that split the points down the middle: their shared border is drawn.
    features = [_box(west - 1, south - 1, middle, north + 1),
                _box(middle, south - 1, east + 1, north + 1)]
    s = load_scenario(_with_outline(tiny, features))
    assert s.outline is not None and len(s.outline) == 2

    layout = _layout(s, s.current)
    fig = _figure(s, layout)
    fig.set_dpi(DPI)
    fig.canvas.draw()
    assert any(c.get_gid() == "state-outlines" for c in fig.axes[0].collections)
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0  # type: ignore[attr-defined]
    lats = np.linspace(south + 0.2 * (north - south), north - 0.2 * (north - south), 20)
    x, y = _mercator(np.full(len(lats), middle), lats)
    display = fig.axes[0].transData.transform(np.column_stack([x, y]))
    height = image.shape[0]
    hits = []
    for px, py in display:
        col, row = round(float(px)), round(float(height - py))
        window = image[row - 1:row + 2, col - 1:col + 2].reshape(-1, 3)
        hits.append((np.abs(window - to_rgb(STATE_EDGE)).max(axis=1) < 0.06).any())
    assert np.mean(hits) >= 0.6  # the border between the two declared regions is on the map
    assert map_png(s, s.current)[:8] == b"\x89PNG\r\n\x1a\n"

    page = write_maps(tiny.root, s, s.current)[1].read_text(encoding="utf-8")
    data = json.loads(page.split("var O = ", 1)[1].split(";\n", 1)[0])
    assert data is not None and len(data["features"]) == 2
    assert "US state outlines" not in page


def test_without_a_declared_outline_germany_gets_none(tiny: TinyScenario) -> None:
    s = load_scenario(_in_germany(tiny).write())
    assert s.outline is None
    fig = _figure(s, _layout(s, s.current))
    assert not any(c.get_gid() == "state-outlines" for c in fig.axes[0].collections)


@pytest.mark.parametrize(("features", "text", "found"), [
    (None, None, "map.outline.path"),  # no file
    (None, "id,lat,lon\n1,50,10\n", "borders.geojson"),  # not GeoJSON at all
    ([{"type": "Feature", "properties": {},
       "geometry": {"type": "Point", "coordinates": [10.0, 50.0]}}], None, "none a polygon"),
])
def test_a_bad_outline_file_is_named(tiny: TinyScenario, features: list[dict[str, object]] | None,
                                     text: str | None, found: str) -> None:
    path = _with_outline(_in_germany(tiny), features, text=text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert found in str(caught.value)
    result = run_cli("validate", str(path), cwd=tiny.root, subprocess=False)
    assert result.code == 2 and "Traceback" not in result.output
    assert found in result.output
