"""Maps of a plan: ``map.png`` (a picture for reports) and ``map.html`` (an interactive map).

Territories are coloured by a greedy colouring of their adjacency graph over Paul Tol's
colour-blind-safe "muted" hues and two shades of each (27 colours): neighbouring territories get
colours that look distinct also under protanopia and deuteranopia whenever one is left, and up to
27 territories all get different colours. Items with polygons are drawn
as territories dissolved from them; items with only coordinates as points. Both files are written
to a temporary name in the plan directory and renamed, so a crash never leaves half a map.
"""

from __future__ import annotations

import html
import io
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.template import Template
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from pyproj import Transformer
from scipy.spatial import cKDTree

from territory_opt.atomic import write_file
from territory_opt.family import Markers, family_of
from territory_opt.geo import unit_vectors
from territory_opt.kpi.metrics import column
from territory_opt.kpi.views import column_title
from territory_opt.present.notebook import cell
from territory_opt.scenario.model import NO_TERRITORY, Scenario

PNG_FILE = "map.png"
HTML_FILE = "map.html"

HUES = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99",
        "#999933", "#AA4499")
"""Paul Tol's "muted" scheme: told apart under the common colour-vision deficiencies."""

SHADES = (0.0, -0.35, 0.45)
"""Tiers of the palette for a mid-light hue: itself, mixed 35% with black, 45% with white."""

DISTINCT_MIN = 15.0
"""ΔE below which two colours count as alike for neighbours (Tol's hues are all ≥ 16 apart,
also under protanopia and deuteranopia)."""

# Machado, Oliveira & Fernandes (2009), full severity, on linear RGB.
PROTAN = np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]])
DEUTAN = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                   [-0.011820, 0.042940, 0.968881]])
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                        [0.0193, 0.1192, 0.9505]])

UNASSIGNED = "#BBBBBB"
"""Items with no territory (Tol's grey, outside the hues)."""

LABEL_MAX = 30
"""Rep homes are labelled with the territory's name up to this many territories."""

LEGEND_MAX = 20
"""A legend of territory names up to this many territories."""

HULL_OVERLAP_MAX = 1.2
"""Territory hulls are drawn when their areas sum to at most this multiple of their union."""

PNG_MAX_BYTES = 2_000_000
NEIGHBOURS = 6
"""Nearest items looked at per item when finding which territories are neighbours."""

MAX_LAT = 85.0
"""Web Mercator (EPSG:3857) is undefined at the poles."""

_TO_MERCATOR = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)


@dataclass(frozen=True, eq=False)
class _Layout:
    """What both maps draw: each item's territory and shape kind, each territory's colour."""

    labels: np.ndarray  # territory index per item, NO_TERRITORY when unassigned
    colours: list[str]  # hex colour per territory
    polygon: np.ndarray  # per item: drawn as its polygon
    point: np.ndarray  # per item: drawn as a point (located, no polygon)
    shapes: gpd.GeoSeries | None  # WGS84 polygons dissolved per label (index: label)

    def colour(self, label: int) -> str:
        """Colour of a territory index, grey for unassigned."""
        return self.colours[label] if label != NO_TERRITORY else UNASSIGNED


def write_maps(plan_dir: Path, scenario: Scenario, assignment: np.ndarray,
               territory_kpis: pd.DataFrame | None = None) -> list[Path]:
    """Write ``map.png`` and ``map.html`` of a plan into ``plan_dir`` (which must exist).

    Parameters
    ----------
    plan_dir
        The plan directory; existing maps in it are replaced.
    scenario
        The plan's scenario.
    assignment
        Territory index per item, :data:`NO_TERRITORY` for unassigned (drawn grey).
    territory_kpis
        Per-territory table (as :func:`territory_opt.kpi.evaluate.evaluate` makes); its columns
        are shown in the interactive map's tooltips.

    Returns
    -------
    list[Path]
        The files written: ``[map.png, map.html]``.
    """
    plan_dir = Path(plan_dir)
    layout = _layout(scenario, assignment)
    png = plan_dir / PNG_FILE
    write_file(png, render_png(scenario, layout))
    page = plan_dir / HTML_FILE
    write_file(page, render_html(scenario, layout, territory_kpis).encode("utf-8"))
    return [png, page]


def map_png(scenario: Scenario, assignment: np.ndarray) -> bytes:
    """The static map of a plan as PNG bytes (what ``map.png`` holds), written nowhere."""
    return render_png(scenario, _layout(scenario, assignment))


def territory_colours(scenario: Scenario, assignment: np.ndarray) -> list[str]:
    """Hex colour per territory as the maps draw it (neighbours differ in hue)."""
    return _layout(scenario, assignment).colours


# --- layout and colours -----------------------------------------------------------------------


def _layout(scenario: Scenario, assignment: np.ndarray) -> _Layout:
    labels = np.asarray(assignment, dtype=np.int64)
    if labels.shape != (scenario.n_items,):
        raise ValueError(f"assignment has shape {labels.shape}; expected ({scenario.n_items},)")
    geometry = scenario.geometry
    polygon = np.zeros(scenario.n_items, dtype=bool)
    if geometry is not None:
        polygon = np.isin(shapely.get_type_id(geometry), (3, 6))  # Polygon, MultiPolygon
    point = scenario.located & ~polygon
    shapes = None
    if geometry is not None and polygon.any():
        frame = gpd.GeoDataFrame({"t": labels[polygon]}, geometry=list(geometry[polygon]),
                                 crs="EPSG:4326")
        shapes = frame.dissolve(by="t").geometry
    pairs = [_near_pairs(scenario, labels)]
    if shapes is not None:
        pairs.append(_touching_pairs(shapes))
    colours = _greedy_colours(scenario.n_territories, np.concatenate(pairs))
    return _Layout(labels, colours, polygon, point, shapes)


def _near_pairs(scenario: Scenario, labels: np.ndarray) -> np.ndarray:
    """Territory pairs (a, b), a ≠ b, one row per item whose near neighbour is in the other."""
    rows = np.flatnonzero(scenario.located & (labels != NO_TERRITORY))
    if len(rows) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    xyz = unit_vectors(scenario.lat[rows], scenario.lon[rows])
    _, near = cKDTree(xyz).query(xyz, k=min(NEIGHBOURS + 1, len(rows)))
    a = np.repeat(labels[rows], near.shape[1])
    b = labels[rows][near.ravel()]
    keep = a != b
    return np.column_stack([a[keep], b[keep]])


def _touching_pairs(shapes: gpd.GeoSeries) -> np.ndarray:
    """Territory pairs whose dissolved polygons touch or overlap."""
    left, right = shapes.sindex.query(shapes.values, predicate="intersects")
    index = shapes.index.to_numpy()
    a, b = index[left], index[right]
    keep = (a != b) & (a != NO_TERRITORY) & (b != NO_TERRITORY)
    return np.column_stack([a[keep], b[keep]]).astype(np.int64)


def _greedy_colours(n_territories: int, pairs: np.ndarray) -> list[str]:
    """Greedy graph colouring, most-connected territory first. Each takes, in order of
    preference: a colour that looks distinct from its coloured neighbours' (also to colour-blind
    eyes), the least-used such colour, the lowest tier (Tol's hues before their shades)."""
    neighbours: list[set[int]] = [set() for _ in range(n_territories)]
    for a, b in np.unique(np.sort(pairs, axis=1), axis=0).tolist():
        neighbours[a].add(b)
        neighbours[b].add(a)
    palette, distance = _palette()
    tier = np.arange(len(palette)) // len(HUES)
    uses = np.zeros(len(palette), dtype=np.int64)
    chosen = np.full(n_territories, -1)
    for k in sorted(range(n_territories), key=lambda k: (-len(neighbours[k]), k)):
        taken = [chosen[j] for j in neighbours[k] if chosen[j] >= 0]
        near = distance[:, taken].min(axis=1) if taken else np.full(len(palette), np.inf)
        # lexsort: the last key is the primary one.
        c = int(np.lexsort((-near, tier, uses, near < DISTINCT_MIN))[0])
        chosen[k] = c
        uses[c] += 1
    return [palette[c] for c in chosen]


@cache
def _palette() -> tuple[list[str], np.ndarray]:
    """The colours (tier by tier: the hues, then a shade of each, then another) and how far
    apart each pair looks: the least CIELAB ΔE of normal, protan and deutan vision."""
    colours = [_shade(h, _shades(h)[t]) for t in range(len(SHADES)) for h in HUES]
    linear = _linear_rgb(np.array([to_rgb(c) for c in colours]))
    views = [_lab(linear @ m.T) for m in (np.eye(3), PROTAN, DEUTAN)]
    distance = np.min([np.linalg.norm(v[:, None] - v[None], axis=2) for v in views], axis=0)
    return colours, distance


def _shades(colour: str) -> tuple[float, ...]:
    """Shades of a hue that stay visible: light hues only darken, dark hues only lighten."""
    luminance = float(_linear_rgb(np.array(to_rgb(colour))) @ [0.2126, 0.7152, 0.0722])
    if luminance > 0.4:
        return (0.0, -0.35, -0.6)
    if luminance < 0.1:
        return (0.0, 0.4, 0.65)
    return SHADES


def _shade(colour: str, amount: float) -> str:
    """Mix with white (amount > 0) or black (amount < 0)."""
    rgb = np.array(to_rgb(colour))
    target = 1.0 if amount > 0 else 0.0
    r, g, b = (rgb + abs(amount) * (target - rgb)).tolist()
    return str(to_hex((r, g, b)))


def _linear_rgb(srgb: np.ndarray) -> np.ndarray:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _lab(linear: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of linear RGB rows."""
    xyz = np.clip(linear, 0, 1) @ SRGB_TO_XYZ.T / SRGB_TO_XYZ.sum(axis=1)
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.column_stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]),
                            200 * (f[:, 1] - f[:, 2])])


# --- map.png ----------------------------------------------------------------------------------


def render_png(scenario: Scenario, layout: _Layout) -> bytes:
    """The static map as PNG bytes (Web Mercator, so distances look right at any latitude)."""
    fig = Figure(figsize=(10, 8))
    FigureCanvasAgg(fig)  # Agg: no display needed, no global pyplot state touched
    ax = fig.add_subplot()
    ax.set_aspect("equal")
    ax.set_axis_off()
    markers = _markers(scenario, layout)
    extra = markers.summary if markers is not None else ""
    ax.set_title(f"{scenario.name}: {scenario.n_territories:,} territories, "
                 f"{scenario.n_items:,} items{extra}", fontsize=11)
    _draw_polygons(ax, layout)
    _draw_points(ax, scenario, layout)
    _draw_homes(ax, scenario, layout)
    _draw_markers(ax, markers, layout)
    if scenario.n_territories <= LABEL_MAX:
        _label_homeless(ax, scenario, layout)
    if scenario.n_territories <= LEGEND_MAX:
        _draw_legend(ax, scenario, layout, markers)
    if not (layout.polygon.any() or layout.point.any() or scenario.has_home.any()):
        ax.text(0.5, 0.5, "no item has coordinates", ha="center", transform=ax.transAxes)
    # A dense map can exceed the size budget at full resolution: step the resolution down.
    data = b""
    for dpi in (150, 110, 80, 60):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
        data = buffer.getvalue()
        if len(data) <= PNG_MAX_BYTES:
            break
    return data


def _mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = _TO_MERCATOR.transform(lon, np.clip(lat, -MAX_LAT, MAX_LAT))
    return np.asarray(x), np.asarray(y)


def _draw_polygons(ax: Axes, layout: _Layout) -> None:
    if layout.shapes is None:
        return
    shapes = layout.shapes.to_crs("EPSG:3857")
    shapes.plot(ax=ax, color=[layout.colour(t) for t in shapes.index], edgecolor="#444444",
                linewidth=0.5, zorder=1)


def _draw_points(ax: Axes, scenario: Scenario, layout: _Layout) -> None:
    rows = np.flatnonzero(layout.point)
    if not len(rows):
        return
    x, y = _mercator(scenario.lon[rows], scenario.lat[rows])
    labels = layout.labels[rows]
    palette = np.array([*layout.colours, UNASSIGNED])  # index -1 is the grey
    _draw_hulls(ax, x, y, labels, layout)
    size = float(np.clip(30_000 / len(rows), 1.5, 16.0))  # points², smaller when dense
    ax.scatter(x, y, s=size, c=palette[labels], linewidths=0, zorder=3)


def _draw_hulls(ax: Axes, x: np.ndarray, y: np.ndarray, labels: np.ndarray,
                layout: _Layout) -> None:
    """Light convex hulls show each territory's extent where its points are sparse; skipped
    when they overlap much (interleaved territories), as the tints would only muddy the map."""
    present = np.unique(labels[labels != NO_TERRITORY])
    if len(present) > 2 * LEGEND_MAX:
        return
    xy = np.column_stack([x, y])
    hulls = [shapely.convex_hull(shapely.multipoints(xy[labels == k])) for k in present]
    union = shapely.union_all(hulls).area
    if union <= 0 or sum(h.area for h in hulls) > HULL_OVERLAP_MAX * union:
        return
    for k, hull in zip(present.tolist(), hulls, strict=True):
        if hull.geom_type == "Polygon":
            ax.fill(*hull.exterior.xy, color=layout.colours[k], alpha=0.15, linewidth=0,
                    zorder=0)


def _draw_homes(ax: Axes, scenario: Scenario, layout: _Layout) -> None:
    homes = np.flatnonzero(scenario.has_home)
    if not len(homes):
        return
    x, y = _mercator(scenario.home_lon[homes], scenario.home_lat[homes])
    # On polygons a home sits in its own colour: white stands out there, the colour would not.
    fill = (["white"] * len(homes) if layout.shapes is not None
            else [layout.colours[k] for k in homes])
    size = 150 if len(homes) <= LABEL_MAX else 70 if len(homes) <= 150 else 30
    ax.scatter(x, y, s=size, marker="*", c=fill, edgecolors="black", linewidths=0.8, zorder=5)
    if scenario.n_territories > LABEL_MAX:
        return
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    for k, hx, hy in zip(homes.tolist(), x.tolist(), y.tolist(), strict=True):
        ax.annotate(str(scenario.territory_names[k]), (hx, hy), xytext=(5, 4),
                    textcoords="offset points", fontsize=6, zorder=6, path_effects=halo)


def _markers(scenario: Scenario, layout: _Layout) -> Markers | None:
    """The points the scenario's family draws over its items (named accounts), in their
    territory under the plan; None without any."""
    return family_of(scenario).views.markers(scenario, layout.labels)


def _singular(label: str) -> str:
    return label.removesuffix("s")


def _draw_markers(ax: Axes, markers: Markers | None, layout: _Layout) -> None:
    """Marker points (named accounts): dots in their territory's colour, ringed black; locked
    ones square."""
    if markers is None or not len(markers.ids):
        return
    x, y = _mercator(markers.lon, markers.lat)
    palette = np.array([*layout.colours, UNASSIGNED])
    locked = markers.locked
    size = 28.0 if len(markers.ids) <= 500 else 10.0
    for marker, keep in (("o", ~locked), ("s", locked)):
        ax.scatter(x[keep], y[keep], s=size, c=palette[markers.territory[keep]], marker=marker,
                   edgecolors="black", linewidths=0.8, zorder=4)


def _label_homeless(ax: Axes, scenario: Scenario, layout: _Layout) -> None:
    """Name the territories without a home (districting) at a point inside them: a point
    inside the dissolved polygons, else the territory's item nearest its centroid."""
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    for k in np.flatnonzero(~scenario.has_home).tolist():
        if layout.shapes is not None and k in layout.shapes.index:
            inside = layout.shapes.loc[k].representative_point()
            lon, lat = np.array([inside.x]), np.array([inside.y])
        else:
            rows = np.flatnonzero(layout.point & (layout.labels == k))
            if not len(rows):
                continue
            lat, lon = scenario.lat[rows], scenario.lon[rows]
            near = np.argmin(np.hypot(lat - lat.mean(), lon - lon.mean()))
            lat, lon = lat[near:near + 1], lon[near:near + 1]
        x, y = _mercator(lon, lat)
        ax.annotate(str(scenario.territory_names[k]), (float(x[0]), float(y[0])), ha="center",
                    va="center", fontsize=7, zorder=6, path_effects=halo)


def _draw_legend(ax: Axes, scenario: Scenario, layout: _Layout,
                 markers: Markers | None) -> None:
    handles: list[Any] = [Patch(facecolor=c, edgecolor="#444444", linewidth=0.5, label=str(n))
                          for c, n in zip(layout.colours, scenario.territory_names, strict=True)]
    if (layout.labels == NO_TERRITORY).any():
        handles.append(Patch(facecolor=UNASSIGNED, label="unassigned"))
    if scenario.has_home.any():
        handles.append(Line2D([], [], marker="*", linestyle="", markersize=10, color="white",
                              markeredgecolor="black", label="rep home"))
    if markers is not None and len(markers.ids):
        one = _singular(markers.label)
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=5, color="white",
                              markeredgecolor="black", label=one))
        if markers.locked.any():
            handles.append(Line2D([], [], marker="s", linestyle="", markersize=5,
                                  color="white", markeredgecolor="black",
                                  label=f"locked {one.split()[-1]}"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7,
              frameon=False)


# --- map.html ---------------------------------------------------------------------------------


class _PlanLayers(folium.MacroElement):
    """Items, territory borders and homes drawn by one script from compact arrays.

    One folium object per item would write ~600 bytes of script each (60 MB at 100,000 items);
    arrays and a loop take ~30 bytes per point, and tooltips are built only when shown.
    """

    _template = Template("""
{% macro header(this, kwargs) %}
<style>
.to-kpi td { padding: 0 4px; } .to-kpi td + td { text-align: right; }
.to-home { width: 12px; height: 12px; border: 2px solid #000; transform: rotate(45deg); }
.to-legend { background: #fff; padding: 6px 8px; font: 12px sans-serif; line-height: 18px;
  max-height: 60vh; overflow: auto; border-radius: 4px; }
.to-legend i { display: inline-block; width: 12px; height: 12px; margin-right: 6px;
  vertical-align: middle; border: 1px solid #444; }
</style>
{% endmacro %}
{% macro script(this, kwargs) %}
(function () {
  var D = {{ this.data }};
  var items = {{ this.items.get_name() }}, homes = {{ this.homes.get_name() }};
  var renderer = L.canvas({padding: 0.5});
  function terr(t) { return t >= 0 ? D.T[t] : D.U; }
  function tip(id, t) { var x = terr(t); return '<b>' + id + '</b><br>' + x.n + x.k; }
  if (D.G) {
    L.geoJSON(D.G, {renderer: renderer,
      style: function (f) {
        return {fillColor: terr(f.properties.t).c, fillOpacity: 0.75, color: '#ffffff',
                weight: 0.3};
      },
      onEachFeature: function (f, layer) {
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
                                          fillColor: terr(P.t[i]).c, fillOpacity: 0.9})
      .bindTooltip(function () { return tip(id, P.t[i]); }).addTo(items);
  });
  if (D.A) {
    var accounts = {{ this.accounts.get_name() }};
    D.A.id.forEach(function (id, i) {
      var x = terr(D.A.t[i]);
      L.circleMarker([D.A.lat[i], D.A.lon[i]],
                     {radius: 5, color: '#000', weight: D.A.l[i] ? 3 : 1, fillColor: x.c,
                      fillOpacity: 1})
        .bindTooltip('<b>' + id + '</b> (account' + (D.A.l[i] ? ', locked' : '') + ')<br>'
                     + x.n + x.k).addTo(accounts);
    });
  }
  D.H.forEach(function (h) {
    var x = D.T[h[2]];
    var icon = L.divIcon({className: '', iconSize: [16, 16],
      html: '<div class="to-home" style="background:' + x.c + '"></div>'});
    L.marker([h[0], h[1]], {icon: icon}).bindTooltip('rep home<br>' + x.n + x.k).addTo(homes);
  });
  if (D.legend) {
    var legend = L.control({position: 'bottomright'});
    legend.onAdd = function () {
      var div = L.DomUtil.create('div', 'to-legend');
      div.innerHTML = D.T.concat(D.unassigned ? [D.U] : []).map(function (x) {
        return '<i style="background:' + x.c + '"></i>' + x.n;
      }).join('<br>');
      return div;
    };
    legend.addTo({{ this.map.get_name() }});
  }
})();
{% endmacro %}
""")

    def __init__(self, fmap: folium.Map, items: folium.FeatureGroup, homes: folium.FeatureGroup,
                 accounts: folium.FeatureGroup, data: dict[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "PlanLayers"
        self.map, self.items, self.homes, self.accounts = fmap, items, homes, accounts
        # "</" would end the <script> early if an id or name held "</script>".
        self.data = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def render_html(scenario: Scenario, layout: _Layout,
                territory_kpis: pd.DataFrame | None = None) -> str:
    """The interactive Leaflet map as one HTML page (tiles load from the web when viewed)."""
    fmap = folium.Map(tiles=None, control_scale=True, prefer_canvas=True)
    # A grey base map keeps the territory colours readable; neither layer needs an API key.
    folium.TileLayer("Esri.WorldGrayCanvas", name="grey base map").add_to(fmap)
    folium.TileLayer("openstreetmap", name="OpenStreetMap").add_to(fmap)
    items = folium.FeatureGroup(name="territories")
    homes = folium.FeatureGroup(name="rep homes")
    markers = _markers(scenario, layout)
    accounts = folium.FeatureGroup(name=markers.label if markers is not None else "points")
    items.add_to(fmap)
    homes.add_to(fmap)
    data = _html_data(scenario, layout, territory_kpis, markers)
    if data["A"] is not None:
        accounts.add_to(fmap)
    _PlanLayers(fmap, items, homes, accounts, data).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    bounds = _bounds(scenario, layout)
    if bounds is not None:
        fmap.fit_bounds(bounds)
    return str(fmap.get_root().render())


def _html_data(scenario: Scenario, layout: _Layout, territory_kpis: pd.DataFrame | None,
               markers: Markers | None) -> dict[str, Any]:
    kpis = _kpi_html(scenario, territory_kpis)
    ids = [html.escape(str(i)) for i in scenario.item_ids]
    rows = np.flatnonzero(layout.point)
    homes = np.flatnonzero(scenario.has_home)
    return {
        "T": [{"n": html.escape(str(name)), "c": colour, "k": kpi}
              for name, colour, kpi in zip(scenario.territory_names, layout.colours, kpis,
                                           strict=True)],
        "U": {"n": "unassigned", "c": UNASSIGNED, "k": ""},
        "unassigned": bool((layout.labels == NO_TERRITORY).any()),
        "legend": scenario.n_territories <= LEGEND_MAX,
        "radius": 4 if len(rows) <= 2_000 else 3 if len(rows) <= 20_000 else 2,
        "P": {"id": [ids[i] for i in rows], "t": layout.labels[rows].tolist(),
              "lat": np.round(scenario.lat[rows], 5).tolist(),
              "lon": np.round(scenario.lon[rows], 5).tolist()},
        "G": _polygon_features(scenario, layout, ids),
        "B": _border_features(scenario, layout),
        "H": [[round(float(scenario.home_lat[k]), 5), round(float(scenario.home_lon[k]), 5), k]
              for k in homes.tolist()],
        "A": _marker_data(markers),
    }


def _marker_data(markers: Markers | None) -> dict[str, list[Any]] | None:
    """Marker points (named accounts): id, territory, lat, lon, locked (None without any)."""
    if markers is None or not len(markers.ids):
        return None
    return {"id": [html.escape(str(i)) for i in markers.ids], "t": markers.territory.tolist(),
            "lat": np.round(markers.lat, 5).tolist(), "lon": np.round(markers.lon, 5).tolist(),
            "l": markers.locked.astype(int).tolist()}


def _simplify(geoms: np.ndarray, tolerance: float, coverage: bool) -> np.ndarray:
    """Simplify WGS84 shapes in Web Mercator and snap them to ~1 m (5 decimals): the page
    stays small, and a coverage simplified as one keeps its neighbours' shared edges."""
    projected = gpd.GeoSeries(geoms, crs="EPSG:4326").to_crs("EPSG:3857").to_numpy()
    try:
        simple = (shapely.coverage_simplify(projected, tolerance) if coverage
                  else shapely.simplify(projected, tolerance, preserve_topology=True))
    except shapely.errors.GEOSException:  # not a valid coverage (overlaps): one by one
        simple = shapely.simplify(projected, tolerance, preserve_topology=True)
    back = gpd.GeoSeries(simple, crs="EPSG:3857").to_crs("EPSG:4326").to_numpy()
    return np.asarray(shapely.set_precision(back, 1e-5))


def _tolerance(layout: _Layout) -> float:
    """About a pixel of a 2,000-pixel-wide view of all polygons, in Mercator metres."""
    assert layout.shapes is not None
    x0, y0, x1, y1 = layout.shapes.to_crs("EPSG:3857").total_bounds
    return float(max(x1 - x0, y1 - y0)) / 2_000


def _polygon_features(scenario: Scenario, layout: _Layout, ids: list[str]
                      ) -> dict[str, Any] | None:
    if layout.shapes is None or scenario.geometry is None:
        return None
    rows = np.flatnonzero(layout.polygon)
    geoms = _simplify(scenario.geometry[rows], _tolerance(layout), coverage=True)
    return _collection(
        (g, {"id": ids[i], "t": int(layout.labels[i])}) for i, g in zip(rows, geoms, strict=True)
    )


def _border_features(scenario: Scenario, layout: _Layout) -> dict[str, Any] | None:
    if layout.shapes is None:
        return None
    lines = shapely.boundary(_simplify(layout.shapes.to_numpy(), _tolerance(layout), False))
    return _collection((g, {}) for g in lines)


def _collection(features: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": json.loads(shapely.to_geojson(g))}
        for g, props in features if g is not None and not g.is_empty
    ]}


def _bounds(scenario: Scenario, layout: _Layout) -> list[list[float]] | None:
    lat = [scenario.lat[layout.point], scenario.home_lat[scenario.has_home]]
    lon = [scenario.lon[layout.point], scenario.home_lon[scenario.has_home]]
    if layout.shapes is not None:
        x0, y0, x1, y1 = layout.shapes.total_bounds
        lat.append(np.array([y0, y1]))
        lon.append(np.array([x0, x1]))
    all_lat, all_lon = np.concatenate(lat), np.concatenate(lon)
    if not len(all_lat):
        return None
    return [[float(all_lat.min()), float(all_lon.min())],
            [float(all_lat.max()), float(all_lon.max())]]


def _kpi_html(scenario: Scenario, kpis: pd.DataFrame | None) -> list[str]:
    """Per territory, its row of ``kpis`` as a small HTML table ("" without one)."""
    m = scenario.n_territories
    if kpis is None or kpis.empty:
        return [""] * m
    records = kpis.to_dict(orient="records")
    if "territory" in kpis.columns:
        by_id = {str(r["territory"]): r for r in records}
        rows = [by_id.get(str(t)) for t in scenario.territory_ids]
    else:
        rows = list(records) if len(records) == m else [None] * m
    shown = [c for c in kpis.columns if c not in ("territory", "name")]
    # Labels and decimals of the metric registry, decimals over the whole column (as the
    # report's and the notebook's territory tables).
    titles = {c: html.escape(column_title(str(c))) for c in shown}
    digits = {c: column(str(c)).digits_for(kpis[c].to_numpy(dtype=float))
              if pd.api.types.is_numeric_dtype(kpis[c])
              and not pd.api.types.is_bool_dtype(kpis[c]) else 0 for c in shown}
    out = []
    for row in rows:
        if row is None:
            out.append("")
            continue
        cells = "".join(f"<tr><td>{titles[c]}</td><td>"
                        f"{html.escape(cell(row[c], digits[c], missing='n/a'))}</td></tr>"
                        for c in shown)
        out.append(f'<table class="to-kpi">{cells}</table>')
    return out


# --- files ------------------------------------------------------------------------------------


