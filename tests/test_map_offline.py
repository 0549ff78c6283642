"""``map.html`` works offline: Leaflet inlined (no external script or style), bundled state
outlines under US scenarios, and in chromium without a network every territory is drawn and
the page says the base map tiles are missing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from territory_opt import Scenario, evaluate, load_scenario
from territory_opt.present import web_map
from territory_opt.present.maps import _layout, _long_assignments, write_maps
from territory_opt.present.outlines import outline_for, us_states
from test_maps import grid_assignment, grid_scenario
from test_report import chromium, run_chromium

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scenarios" / "demo" / "scenario.yaml"

OFFLINE = ("--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
           "--host-resolver-rules=MAP * ~NOTFOUND")
"""Chromium without a network: every request goes to a proxy where nothing listens, and no
host name resolves."""

# Records Content-Security-Policy violations (a blocked fetch) into the page, for --dump-dom.
PROBE = """<script>
document.addEventListener('securitypolicyviolation', function (e) {
  var pre = document.getElementById('csp-probe');
  if (!pre) { pre = document.createElement('pre'); pre.id = 'csp-probe';
              document.documentElement.appendChild(pre); }
  pre.textContent += e.violatedDirective + ' ' + e.blockedURI + '\\n';
});
</script>"""


@pytest.fixture(scope="module")
def demo() -> Scenario:
    return load_scenario(DEMO)


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory: pytest.TempPathFactory, demo: Scenario) -> Path:
    """``map.html`` of the demo's current plan (20 territories of points, US ZIPs)."""
    folder = tmp_path_factory.mktemp("demo-map")
    write_maps(folder, demo, demo.current, evaluate(demo, demo.current).territories)
    return folder / "map.html"


def script_var(page: str, name: str) -> object:
    """The JSON value of ``var <name> = ...;`` in the page's script."""
    return json.loads(page.split(f"\nvar {name} = ", 1)[1].split(";\n", 1)[0])


def offline_dom(page: Path, profile: Path) -> str:
    """The page's DOM after its scripts ran, in chromium without a network (and a probe
    recording blocked fetches)."""
    probed = page.with_name("probed.html")
    text = page.read_text(encoding="utf-8")
    probed.write_text(text.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    return run_chromium(chromium(), profile, *OFFLINE, "--window-size=1200,900",
                        "--virtual-time-budget=5000", "--dump-dom", probed.as_uri())


def classes(dom: str, kind: str) -> list[str]:
    """Each DOM element's class list holding ``kind``, e.g. ``territory-area``."""
    return [c for c in re.findall(r'class="([^"]*)"', dom) if kind in c.split()]


def territory_counts(dom: str, kind: str) -> dict[int, int]:
    """How many elements of ``kind`` each territory index has (``t-<index>`` class)."""
    counts: dict[int, int] = {}
    for c in classes(dom, kind):
        (t,) = [int(x[2:]) for x in c.split() if re.fullmatch(r"t--?\d+", x)]
        counts[t] = counts.get(t, 0) + 1
    return counts


def test_page_is_self_contained(demo_page: Path) -> None:
    page = demo_page.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\ssrc=", page, flags=re.IGNORECASE)
    assert not re.search(r"<link[^>]*href=[\"']?(https?:)?//", page, flags=re.IGNORECASE)
    assert "folium" not in page.lower() and "cdn" not in page.lower()
    assert web_map.leaflet_js() in page and web_map.leaflet_css() in page
    assert "Leaflet 1.9.4" in page and "url(images/" not in page
    assert f'http-equiv="Content-Security-Policy" content="{web_map.CSP}"' in page
    outlines = script_var(page, "O")
    assert isinstance(outlines, dict) and outlines["type"] == "FeatureCollection"
    names = {f["properties"]["name"] for f in outlines["features"]}
    assert len(names) == 48 and {"North Carolina", "Florida", "Maine"} <= names


def test_leaflet_is_packaged_with_its_license() -> None:
    folder = Path(web_map.__file__).parent / "assets" / "leaflet"
    assert "BSD 2-Clause" in (folder / "LICENSE").read_text(encoding="utf-8")
    assert 'version="1.9.4"' in web_map.leaflet_js()


def test_outlines_only_for_us_points() -> None:
    states = us_states()
    assert len(states) == 48 and str(states.crs) == "EPSG:4326"
    raleigh, paris = (35.78, -78.64), (48.86, 2.35)
    us = np.array([raleigh] * 9 + [paris])
    assert outline_for(us[:, 0], us[:, 1]) is states
    europe = np.array([raleigh] * 2 + [paris] * 8)
    assert outline_for(europe[:, 0], europe[:, 1]) is None
    # Inside the states' bounding box but not the US (Gulf of Mexico, Ontario): no outlines.
    box_only = np.array([(25.5, -90.0), (46.0, -83.0)] * 5)
    assert outline_for(box_only[:, 0], box_only[:, 1]) is None
    assert outline_for(np.array([np.nan]), np.array([np.nan])) is None


def test_demo_map_offline_in_chromium(tmp_path: Path, demo: Scenario, demo_page: Path) -> None:
    dom = offline_dom(demo_page, tmp_path / "profile")
    assert 'id="map-error"' not in dom, dom[-3000:]
    assert 'id="csp-probe"' not in dom, dom[-3000:]  # nothing fetched outside the policy
    # One SVG path per territory: its area (the demo's items are points: Voronoi cells merged).
    areas = territory_counts(dom, "territory-area")
    assert areas == dict.fromkeys(range(demo.n_territories), 1)
    points = territory_counts(dom, "territory-point")
    assert sum(points.values()) == int(demo.located.sum())
    # Accounts over LONG_ASSIGNMENT_KM from their rep's home: one line each, as on map.png.
    far, _ = _long_assignments(demo, _layout(demo, demo.current))
    assert len(far) > 0 and len(classes(dom, "long-assignment")) == len(far)
    assert dom.count("to-legend") >= 1  # a legend at any count
    note = re.search(r'<div class="to-note[^"]*" id="tile-note"( style="[^"]*")?>([^<]*)</div>',
                     dom)
    assert note is not None, dom[-3000:]
    assert "display: none" not in (note.group(1) or "")
    assert note.group(2) == web_map.TILE_NOTE
    assert len(classes(dom, "leaflet-control-layers")) == 1


def test_polygon_map_offline_in_chromium(tmp_path: Path) -> None:
    s = grid_scenario(tmp_path / "in")
    out = tmp_path / "plan"
    out.mkdir()
    write_maps(out, s, grid_assignment(s))
    dom = offline_dom(out / "map.html", tmp_path / "profile")
    assert 'id="map-error"' not in dom and 'id="csp-probe"' not in dom, dom[-3000:]
    # A path per unit square, classed by its territory (U33 unassigned).
    assert territory_counts(dom, "territory-path") == {0: 8, 1: 4, 2: 3, -1: 1}
    assert 'id="tile-note"' in dom
