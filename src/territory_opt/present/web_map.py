"""The interactive map (``map.html``) as one self-contained page that works offline.

Leaflet's script and stylesheet are inlined from the copy shipped in ``assets/leaflet`` (Leaflet
1.9.4, BSD-2-Clause, its LICENSE alongside), so the page fetches no script or style: opened
without a network it still draws every territory, over bundled state outlines for US
scenarios (:mod:`territory_opt.present.outlines`). Base map tiles still come from the web; when
they fail the page says so on the map. Nothing uses image markers (circle markers and
``divIcon`` only), and a Content-Security-Policy forbids any other fetch than https tiles.

This module takes the map's data already built (``maps._html_data`` and ``maps._bounds``), so it
imports nothing from :mod:`territory_opt.present.maps`, which calls it.
"""

from __future__ import annotations

import html
import json
import re
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from territory_opt.present.outlines import scenario_outline
from territory_opt.scenario.model import Scenario

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src https: data:; base-uri 'none'; form-action 'none'")
"""Inline scripts and styles (the page's own), images only from https (tiles) and data: URIs;
no external script or style, no other fetch."""

TILE_NOTE = ("Base map tiles could not be loaded (offline?); "
             "territories are drawn over the bundled outlines.")
"""The note shown on the map when a base map tile fails to load."""
TILE_NOTE_BARE = ("Base map tiles could not be loaded (offline?); "
                  "territories are drawn without a base map.")
"""The note shown when tiles fail and there are no outlines to draw over."""

SVG_MAX = 5_000
"""Items drawn as SVG up to this many (one DOM node each, classed per territory); beyond it
on a canvas, as thousands of SVG nodes make panning slow."""

_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="$csp">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
$leaflet_css
</style>
<style>
html, body, #map { height: 100%; margin: 0; }
.to-kpi td { padding: 0 4px; } .to-kpi td + td { text-align: right; }
.to-home { width: 12px; height: 12px; border: 2px solid #000; transform: rotate(45deg); }
.to-legend, .to-note { background: #fff; padding: 6px 8px; font: 12px sans-serif;
  line-height: 18px; border-radius: 4px; }
.to-legend { max-height: 60vh; overflow: auto; }
.to-legend i { display: inline-block; width: 12px; height: 12px; margin-right: 6px;
  vertical-align: middle; border: 1px solid #444; }
.to-note { max-width: 320px; border: 1px solid #999; }
.to-error { position: absolute; top: 10px; left: 50px; z-index: 2000; background: #fee;
  border: 1px solid #c00; padding: 8px; font: 14px sans-serif; }
</style>
</head>
<body>
<div id="map"></div>
<noscript><p class="to-error">This map needs JavaScript.</p></noscript>
<script>
// Shown instead of a blank page when anything below fails.
function toError(message) {
  var div = document.createElement('div');
  div.className = 'to-error';
  div.id = 'map-error';
  div.textContent = 'The map could not be drawn: ' + message;
  document.body.appendChild(div);
}
window.addEventListener('error', function (e) { toError(e.message); });
</script>
<script>
$leaflet_js
</script>
<script>
var D = $data;
var O = $outlines;
var Q = $areas;
var M = $meta;
$script
</script>
</body>
</html>
""")

_SCRIPT = """
(function () {
  if (typeof L === 'undefined') { toError('Leaflet did not load'); return; }
  // SVG (not canvas) by default, so territory shapes are DOM nodes with per-territory classes.
  var map = L.map('map', {preferCanvas: false});
  L.control.scale().addTo(map);
  map.createPane('to-outlines').style.zIndex = 350;
  map.createPane('to-areas').style.zIndex = 380;
  var renderer = M.dense ? L.canvas({padding: 0.5}) : L.svg({padding: 0.5});
  function terr(t) { return t >= 0 ? D.T[t] : D.U; }
  function tip(id, t) { var x = terr(t); return '<b>' + id + '</b><br>' + x.n + x.k; }

  var note = null, outlines = null;
  function tilesFailed() {
    if (note) { return; }
    if (outlines) { outlines.setStyle({fillOpacity: 1}); }
    note = L.control({position: 'bottomleft'});
    note.onAdd = function () {
      var div = L.DomUtil.create('div', 'to-note');
      div.id = 'tile-note';
      div.textContent = M.note;
      return div;
    };
    note.addTo(map);
  }
  var bases = {};
  M.tiles.forEach(function (t, i) {
    var layer = L.tileLayer(t.url, {attribution: t.attribution, maxZoom: t.maxZoom});
    layer.on('tileerror', tilesFailed);
    bases[t.name] = layer;
    if (i === 0) { layer.addTo(map); }
  });
  var overlays = {};

  if (O) {
    // Land is filled only once tiles fail: over a loaded base map it would hide it.
    outlines = L.geoJSON(O, {pane: 'to-outlines', interactive: false,
      style: {color: '#888888', weight: 1, fill: true, fillColor: '#f4f4f4', fillOpacity: 0}
    }).addTo(map);
    overlays[M.outlineName] = outlines;
  }
  if (Q) {
    // The territory areas map.png draws: Voronoi cells of the points merged per territory,
    // one path each, so interleaved territories still show where each reaches.
    var areas = L.geoJSON(Q, {pane: 'to-areas',
      style: function (f) {
        var x = D.T[f.properties.t];
        return {color: x.c, weight: 1, fillColor: x.c, fillOpacity: 0.15};
      },
      onEachFeature: function (f, layer) {
        var x = D.T[f.properties.t];
        L.Util.setOptions(layer, {className: 'territory-path territory-area t-' + f.properties.t});
        layer.bindTooltip(function () { return '<b>' + x.n + '</b>' + x.k; }, {sticky: true});
      }
    });
    overlays['territory areas'] = areas.addTo(map);
  }
  if (D.L.length) {
    var far = L.layerGroup();
    D.L.forEach(function (l) {
      L.polyline([[l[0], l[1]], [l[2], l[3]]], {renderer: renderer, color: D.T[l[4]].c,
        weight: 1, opacity: 0.8, interactive: false, className: 'long-assignment'}).addTo(far);
    });
    overlays[M.longName] = far.addTo(map);
  }

  var items = L.layerGroup();
  if (D.G) {
    L.geoJSON(D.G, {renderer: renderer,
      style: function (f) {
        return {fillColor: terr(f.properties.t).c, fillOpacity: 0.75, color: '#ffffff',
                weight: 0.3};
      },
      onEachFeature: function (f, layer) {
        L.Util.setOptions(layer, {className: 'territory-path t-' + f.properties.t});
        layer.bindTooltip(function () { return tip(f.properties.id, f.properties.t); },
                          {sticky: true});
      }
    }).addTo(items);
  }
  if (D.B) {
    L.geoJSON(D.B, {renderer: renderer, interactive: false,
                    style: {color: '#333333', weight: 1.2, fill: false}}).addTo(items);
  }
  var P = D.P;
  P.id.forEach(function (id, i) {
    L.circleMarker([P.lat[i], P.lon[i]], {renderer: renderer, radius: D.radius, stroke: false,
                                          fillColor: terr(P.t[i]).c, fillOpacity: 0.9,
                                          className: 'territory-point t-' + P.t[i]})
      .bindTooltip(function () { return tip(id, P.t[i]); }).addTo(items);
  });
  overlays.territories = items.addTo(map);

  if (D.A) {
    var accounts = L.layerGroup();
    D.A.id.forEach(function (id, i) {
      var x = terr(D.A.t[i]);
      L.circleMarker([D.A.lat[i], D.A.lon[i]],
                     {renderer: renderer, radius: 5, color: '#000', weight: D.A.l[i] ? 3 : 1,
                      fillColor: x.c, fillOpacity: 1})
        .bindTooltip('<b>' + id + '</b> (account' + (D.A.l[i] ? ', locked' : '') + ')<br>'
                     + x.n + x.k).addTo(accounts);
    });
    overlays[M.accountsName] = accounts.addTo(map);
  }

  var homes = L.layerGroup();
  D.H.forEach(function (h) {
    var x = D.T[h[2]];
    var icon = L.divIcon({className: '', iconSize: [16, 16],
      html: '<div class="to-home" style="background:' + x.c + '"></div>'});
    L.marker([h[0], h[1]], {icon: icon}).bindTooltip('rep home<br>' + x.n + x.k).addTo(homes);
  });
  overlays['rep homes'] = homes.addTo(map);

  if (D.legend) {
    var legend = L.control({position: 'bottomright'});
    legend.onAdd = function () {
      var div = L.DomUtil.create('div', 'to-legend');
      div.style.columnCount = D.columns || 1;
      div.innerHTML = D.T.concat(D.unassigned ? [D.U] : []).map(function (x) {
        return '<i style="background:' + x.c + '"></i>' + x.n;
      }).join('<br>');
      return div;
    };
    legend.addTo(map);
  }
  L.control.layers(bases, overlays, {collapsed: false}).addTo(map);
  if (M.bounds) {
    // maxZoom: a plan of one place would otherwise open at street level.
    map.fitBounds(M.bounds, {maxZoom: 13});
  } else {
    map.setView([20, 0], 2);
  }
})();
"""

_TILES = [
    # A grey base map keeps the territory colours readable; neither layer needs an API key.
    {"name": "grey base map", "maxZoom": 16, "attribution": "Tiles &copy; Esri &mdash; Esri, "
     "DeLorme, NAVTEQ", "url": "https://server.arcgisonline.com/ArcGIS/rest/services/Canvas/"
     "World_Light_Gray_Base/MapServer/tile/{z}/{y}/{x}"},
    {"name": "OpenStreetMap", "maxZoom": 19, "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
     "attribution": '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
     "contributors"},
]


def render_html(scenario: Scenario, data: dict[str, Any], bounds: list[list[float]] | None,
                marker_label: str = "points") -> str:
    """The interactive map as one self-contained HTML page.

    Parameters
    ----------
    scenario
        The plan's scenario (its name, and its items' coordinates to pick outlines).
    data
        The plan's layers as ``maps._html_data`` builds them: territories ``T`` (name, colour,
        KPI html), points ``P``, polygons ``G``, borders ``B``, homes ``H``, markers ``A``.
    bounds
        ``[[south, west], [north, east]]`` to fit the view to; None for a world view.
    marker_label
        Name of the marker layer (named accounts) in the layer control.

    Returns
    -------
    str
        The page; it loads only base map tiles from the web, and draws everything without them.
    """
    outlines = scenario_outline(scenario)
    meta = {
        "dense": len(data["P"]["id"]) + len((data["G"] or {}).get("features", [])) > SVG_MAX,
        "bounds": bounds,
        "tiles": _TILES,
        "note": TILE_NOTE if outlines is not None else TILE_NOTE_BARE,
        "outlineName": "US state outlines" if scenario.outline is None else "outlines",
        "longName": f"assigned > {data.get('long_km', 300):g} km "
                    + ("" if scenario.distance_unit == "km" else "(great-circle) ") + "from home",
        "accountsName": html.escape(marker_label),
    }
    return _PAGE.substitute(
        csp=CSP,
        title=html.escape(f"{scenario.name}: territory map"),
        leaflet_css=leaflet_css(),
        leaflet_js=leaflet_js(),
        data=_script_json(data),
        outlines=_script_json(json.loads(outlines.to_json()) if outlines is not None else None),
        areas=_script_json(data.get("Q")),
        meta=_script_json(meta),
        script=_SCRIPT,
    )


def _asset(name: str) -> str:
    return (resources.files("territory_opt.present") / "assets" / "leaflet" / name).read_text(
        encoding="utf-8")


@cache
def leaflet_js() -> str:
    """Leaflet's minified script, without its source-map comment (nothing to fetch)."""
    return re.sub(r"^//# sourceMappingURL=.*$", "", _asset("leaflet.js"), flags=re.MULTILINE)


@cache
def leaflet_css() -> str:
    """Leaflet's stylesheet without its image URLs: the layer-control toggle and the default
    marker icon are never shown here (the control is expanded, no image markers), and a
    relative URL would be a fetch from next to the page."""
    return re.sub(r"url\(images/[^)]*\)", "none", _asset("leaflet.css"))


def _script_json(value: Any) -> str:
    # "</" would end the <script> early if an id or name held "</script>".
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")
