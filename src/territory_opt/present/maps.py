"""Maps of a plan: ``map.png`` (a picture for reports) and ``map.html`` (an interactive map).

Colours belong to the scenario's territories, not to a plan: a territory id has the same colour
in every plan of a scenario. They come from a greedy colouring, in territory-id order, of a
neighbour graph of the territories' anchors (Delaunay and nearest neighbours of the rep homes;
a territory without a home is anchored at its items' centre in the current alignment, and one
with neither is coloured without neighbours) over Paul Tol's colour-blind-safe "muted" hues in
seven shades each (63 colours). Each territory takes, whenever one is left: a colour that looks
distinct from its neighbours' also under protanopia and deuteranopia, one nobody has yet, one
whose hue no neighbour has. So up to 63 territories all get different colours.

``map.png`` (Web Mercator) draws the US state outlines when the items lie in the contiguous US;
items with polygons as territories dissolved from them; items with only coordinates as points
over light territory areas (their Voronoi cells dissolved per territory, which stay readable
when territories interleave); a thin line from each item assigned farther than
:data:`LONG_ASSIGNMENT_KM` from its rep's home to that home; rep homes with territory names
(a name that would overlap one already placed is left out); and a legend (in columns beneath the
map past :data:`LEGEND_MAX` territories). Both files are written to a temporary name in the plan
directory and renamed, so a crash never leaves half a map.
"""

from __future__ import annotations

import html
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from pyproj import Transformer
from scipy.spatial import Delaunay, QhullError, cKDTree

from territory_opt.atomic import write_file
from territory_opt.family import Markers, family_of
from territory_opt.geo import haversine_km, unit_vectors
from territory_opt.kpi.metrics import column
from territory_opt.kpi.views import column_title
from territory_opt.present.notebook import cell
from territory_opt.present.outlines import scenario_outline, us_states
from territory_opt.scenario.model import NO_TERRITORY, Scenario

PNG_FILE = "map.png"
HTML_FILE = "map.html"

HUES = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99",
        "#999933", "#AA4499")
"""Paul Tol's "muted" scheme: told apart under the common colour-vision deficiencies."""

SHADES = (0.0, -0.35, 0.45, -0.6, 0.25, -0.2, 0.65)
"""Tiers of the palette for a mid-light hue: itself, then mixed with black (< 0) or white (> 0)
by that share; the first tiers differ most."""

LIGHT_SHADES = (0.0, -0.35, -0.6, -0.2, -0.5, -0.75, 0.3)
"""Tiers for a light hue: mostly darker, as a much lighter one would vanish on white."""

DARK_SHADES = (0.0, 0.4, 0.65, 0.2, 0.55, 0.8, -0.3)
"""Tiers for a dark hue: mostly lighter, as a much darker one would look black."""

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
"""Up to this many territories, rep homes are drawn large and named in a larger font."""

LEGEND_MAX = 20
"""A one-column legend of territory names beside the map up to this many territories."""

COMPACT_LEGEND_MAX = 120
"""A legend in columns beneath the map up to this many territories; past it the names are only
on the map (at the homes), the legend keeps the symbols."""

LONG_ASSIGNMENT_KM = 300.0
"""An item farther than this (great-circle km) from its territory's home gets a thin line to
that home in the territory's colour, so a far-flung assignment shows. Great-circle km whatever
the scenario's distance unit (``pairs.unit``): the line is drawn on the map, where km is what
the eye sees, and a minutes table has no fixed km equivalent."""

STATE_EDGE = "#7A7A7A"
"""US state outlines: a mid grey, above polygon fills (else hidden) and below points."""

AREA_ALPHA = 0.18
"""Opacity of the territory areas behind points: light, so the points stay the message."""

MAX_SITES = 8_000
"""Voronoi sites at most for the territory areas: more points are first aggregated on a grid
(one site per cell, its most common territory), which keeps 100,000 items within seconds."""

PNG_MAX_BYTES = 2_000_000
NEIGHBOURS = 6
"""Nearest items looked at per item when finding which territories are neighbours."""

HOME_NEIGHBOURS = 3
"""Nearest other homes that count as neighbours, besides the Delaunay ones (it misses
homes at the same place)."""

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
    return _Layout(labels, _scenario_colours(scenario), polygon, point, shapes)


def _scenario_colours(scenario: Scenario) -> list[str]:
    """Colour per territory from the scenario alone (ids, homes, current alignment), never
    from a plan: a rep keeps their colour in every plan of the scenario."""
    pairs = [_anchor_pairs(_anchors(scenario))]
    if not scenario.has_home.all() and scenario.has_current:
        # Without homes (districting), territories neighbour where their current items meet.
        pairs.append(_near_pairs(scenario, scenario.current))
    order = np.argsort(scenario.territory_ids.astype(str), kind="stable")
    return _greedy_colours(scenario.n_territories, np.concatenate(pairs), order.tolist())


def _anchors(scenario: Scenario) -> np.ndarray:
    """Per territory, a Web Mercator point standing for it: the home, else the mean of its
    items in the current alignment, else NaN."""
    m = scenario.n_territories
    out = np.full((m, 2), np.nan)
    homes = scenario.has_home
    if homes.any():
        out[homes] = np.column_stack(_mercator(scenario.home_lon[homes], scenario.home_lat[homes]))
    rows = np.flatnonzero(scenario.located & (scenario.current != NO_TERRITORY))
    if homes.all() or not len(rows):
        return out
    x, y = _mercator(scenario.lon[rows], scenario.lat[rows])
    t = scenario.current[rows]
    count = np.bincount(t, minlength=m)
    fill = ~homes & (count > 0)
    out[fill, 0] = np.bincount(t, weights=x, minlength=m)[fill] / count[fill]
    out[fill, 1] = np.bincount(t, weights=y, minlength=m)[fill] / count[fill]
    return out


def _anchor_pairs(anchors: np.ndarray) -> np.ndarray:
    """Territory pairs whose anchors neighbour: Delaunay edges and each one's nearest others."""
    index = np.flatnonzero(np.isfinite(anchors).all(axis=1))
    n = len(index)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    xy = anchors[index]
    k = min(HOME_NEIGHBOURS, n - 1)
    _, near = cKDTree(xy).query(xy, k=k + 1)
    pairs = [np.column_stack([np.repeat(np.arange(n), k + 1), near.ravel()])]
    if n >= 3:
        try:
            simplices = Delaunay(xy).simplices
            pairs += [simplices[:, [0, 1]], simplices[:, [1, 2]], simplices[:, [0, 2]]]
        except QhullError:  # all on one line: the nearest ones are the neighbours
            pass
    local = np.concatenate(pairs)
    local = local[local[:, 0] != local[:, 1]]
    return np.asarray(index[local], dtype=np.int64).reshape(-1, 2)


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


def _greedy_colours(n_territories: int, pairs: np.ndarray,
                    order: Sequence[int] | None = None) -> list[str]:
    """Greedy graph colouring in ``order`` (default: most-connected territory first). Each takes,
    in order of preference: a colour that looks distinct from its coloured neighbours' (also to
    colour-blind eyes), an unused one, a hue no coloured neighbour has, the least-used, the
    lowest tier (Tol's hues before their shades)."""
    neighbours: list[set[int]] = [set() for _ in range(n_territories)]
    for a, b in np.unique(np.sort(pairs, axis=1), axis=0).tolist():
        neighbours[a].add(b)
        neighbours[b].add(a)
    palette, distance = _palette()
    tier = np.arange(len(palette)) // len(HUES)
    hue = np.arange(len(palette)) % len(HUES)
    uses = np.zeros(len(palette), dtype=np.int64)
    chosen = np.full(n_territories, -1)
    if order is None:
        order = sorted(range(n_territories), key=lambda k: (-len(neighbours[k]), k))
    for k in order:
        taken = [chosen[j] for j in neighbours[k] if chosen[j] >= 0]
        near = distance[:, taken].min(axis=1) if taken else np.full(len(palette), np.inf)
        same_hue = np.isin(hue, hue[taken])
        # lexsort: the last key is the primary one.
        c = int(np.lexsort((-near, tier, uses, same_hue, uses > 0, near < DISTINCT_MIN))[0])
        chosen[k] = c
        uses[c] += 1
    return [palette[c] for c in chosen]


@cache
def _palette() -> tuple[list[str], np.ndarray]:
    """The colours (tier by tier: the hues, then a shade of each, then another ...) and how far
    apart each pair looks: the least CIELAB ΔE of normal, protan and deutan vision."""
    colours = [_shade(h, _shades(h)[t]) for t in range(len(SHADES)) for h in HUES]
    linear = _linear_rgb(np.array([to_rgb(c) for c in colours]))
    views = [_lab(linear @ m.T) for m in (np.eye(3), PROTAN, DEUTAN)]
    distance = np.min([np.linalg.norm(v[:, None] - v[None], axis=2) for v in views], axis=0)
    return colours, distance


def _shades(colour: str) -> tuple[float, ...]:
    """Shades of a hue that stay visible: light hues mostly darken, dark hues mostly lighten."""
    luminance = float(_linear_rgb(np.array(to_rgb(colour))) @ [0.2126, 0.7152, 0.0722])
    if luminance > 0.4:
        return LIGHT_SHADES
    if luminance < 0.1:
        return DARK_SHADES
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
    fig = _figure(scenario, layout)
    # A dense map can exceed the size budget at full resolution: step the resolution down.
    data = b""
    for dpi in (150, 110, 80, 60):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
        data = buffer.getvalue()
        if len(data) <= PNG_MAX_BYTES:
            break
    return data


def _figure(scenario: Scenario, layout: _Layout) -> Figure:
    """The static map as a figure on an Agg canvas; its one axes is in Web Mercator metres with
    limits fixed to the drawn items (so ``ax.transData`` places any lon/lat on the picture)."""
    fig = Figure(figsize=(10, 8))
    canvas = FigureCanvasAgg(fig)  # Agg: no display needed, no global pyplot state touched
    ax = fig.add_subplot()
    ax.set_aspect("equal")
    ax.set_axis_off()
    markers = _markers(scenario, layout)
    extra = markers.summary if markers is not None else ""
    ax.set_title(f"{scenario.name}: {scenario.n_territories:,} territories, "
                 f"{scenario.n_items:,} items{extra}", fontsize=11)
    extent = _extent(scenario, layout, markers)
    if extent is not None:
        # Fixed limits: state outlines and territory areas reach beyond the items.
        ax.set_xlim(extent[0], extent[2])
        ax.set_ylim(extent[1], extent[3])
        ax.set_autoscale_on(False)
        _draw_states(ax, scenario, extent)
    _draw_polygons(ax, layout)
    _draw_points(ax, scenario, layout)
    far = _draw_long_assignments(ax, scenario, layout)
    _draw_homes(ax, scenario, layout)
    _draw_markers(ax, markers, layout)
    _draw_legend(ax, scenario, layout, markers, far)
    _draw_labels(ax, canvas, scenario, layout)
    if extent is None:
        ax.text(0.5, 0.5, "no item has coordinates", ha="center", transform=ax.transAxes)
    return fig


def _mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = _TO_MERCATOR.transform(lon, np.clip(lat, -MAX_LAT, MAX_LAT))
    return np.asarray(x), np.asarray(y)


def _extent(scenario: Scenario, layout: _Layout, markers: Markers | None
            ) -> tuple[float, float, float, float] | None:
    """Web Mercator box (x0, y0, x1, y1) around the items, homes and markers, with a margin;
    None when nothing has coordinates."""
    lon = [scenario.lon[layout.point], scenario.home_lon[scenario.has_home]]
    lat = [scenario.lat[layout.point], scenario.home_lat[scenario.has_home]]
    if markers is not None:
        lon.append(np.asarray(markers.lon, dtype=float))
        lat.append(np.asarray(markers.lat, dtype=float))
    x, y = _mercator(np.concatenate(lon), np.concatenate(lat))
    if layout.shapes is not None:
        x0, y0, x1, y1 = layout.shapes.to_crs("EPSG:3857").total_bounds
        x, y = np.append(x, [x0, x1]), np.append(y, [y0, y1])
    keep = np.isfinite(x) & np.isfinite(y)
    if not keep.any():
        return None
    x, y = x[keep], y[keep]
    pad = max(0.03 * max(np.ptp(x), np.ptp(y)), 5_000.0)
    return (float(x.min() - pad), float(y.min() - pad), float(x.max() + pad),
            float(y.max() + pad))


# --- US state outlines ---


@cache
def _outline_mercator(scenario: Scenario) -> np.ndarray | None:
    """The scenario's outline polygons (:func:`~territory_opt.present.outlines.
    scenario_outline`, full detail) in Web Mercator; None when it has none."""
    outline = scenario_outline(scenario, simplified=False)
    if outline is None:
        return None
    if scenario.outline is None:
        return _us_mercator()  # the same for every US map: projected once
    return np.asarray(outline.to_crs("EPSG:3857").geometry.to_numpy())


@cache
def _us_mercator() -> np.ndarray:
    """The US states at full detail in Web Mercator."""
    return np.asarray(us_states(simplified=False).to_crs("EPSG:3857").geometry.to_numpy())


@cache
def _us_land() -> Any:
    """The contiguous US as one Web Mercator (multi)polygon."""
    return shapely.union_all(_us_mercator())


def _draw_states(ax: Axes, scenario: Scenario, extent: tuple[float, float, float, float]
                 ) -> None:
    """Thin grey outlines (the US states, or the scenario's ``map.outline``), clipped to the
    map: above polygon fills (which would hide them), below points, homes and lines."""
    outline = _outline_mercator(scenario)
    if outline is None:
        return
    clipped = shapely.clip_by_rect(shapely.boundary(outline), *extent)
    parts = shapely.get_parts(clipped[~shapely.is_empty(clipped)])
    segments = [np.asarray(p.coords)[:, :2] for p in parts if p.geom_type == "LineString"]
    ax.add_collection(LineCollection(segments, colors=STATE_EDGE, linewidths=0.6, zorder=2,
                                     gid="state-outlines"), autolim=False)


# --- items ---


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
    _draw_areas(ax, scenario, np.column_stack([x, y]), labels, layout)
    size = float(np.clip(30_000 / len(rows), 1.5, 16.0))  # points², smaller when dense
    ax.scatter(x, y, s=size, c=palette[labels], linewidths=0, zorder=3)


def _draw_areas(ax: Axes, scenario: Scenario, xy: np.ndarray, labels: np.ndarray,
                layout: _Layout) -> None:
    """Light territory areas with a darker edge behind the points: Voronoi cells of the points
    dissolved per territory, so interleaved territories still show where each one reaches."""
    areas = _territory_areas(xy, labels, _clip_region(scenario, xy))
    if not areas:
        return
    keys = sorted(areas)
    geoms = gpd.GeoSeries([areas[k] for k in keys])
    geoms.plot(ax=ax, color=[layout.colours[k] for k in keys], alpha=AREA_ALPHA, linewidth=0,
               zorder=0)
    gpd.GeoSeries(geoms.boundary).plot(
        ax=ax, color=[_shade(layout.colours[k], -0.3) for k in keys], linewidth=0.5, zorder=1)


def _clip_region(scenario: Scenario, xy: np.ndarray) -> Any:
    """Where territory areas may reach: the points' hull grown a little, cut to the land of
    the map's outline when it has one (no territory out at sea)."""
    span = float(max(np.ptp(xy[:, 0]), np.ptp(xy[:, 1])))
    region = shapely.buffer(shapely.convex_hull(shapely.multipoints(xy)),
                            max(0.04 * span, 10_000.0))
    outline = _outline_mercator(scenario)
    if outline is not None:
        whole = _us_land() if scenario.outline is None else shapely.union_all(outline)
        land = shapely.intersection(whole, region)
        if land.area > 0:
            return land
    return region


def _territory_areas(xy: np.ndarray, labels: np.ndarray, region: Any) -> dict[int, Any]:
    """Per territory index, the union of its points' Voronoi cells within ``region``."""
    sites, site_labels = _sites(xy, labels)
    if len(sites) < 2:
        return {}
    x0, y0, x1, y1 = shapely.bounds(region)
    diagram = shapely.voronoi_polygons(shapely.multipoints(sites),
                                       extend_to=shapely.box(x0, y0, x1, y1), ordered=True)
    cells = shapely.get_parts(diagram)  # cell i is site i's (ordered, sites unique)
    out: dict[int, Any] = {}
    for k in np.unique(site_labels[site_labels != NO_TERRITORY]).tolist():
        area = shapely.intersection(shapely.coverage_union_all(cells[site_labels == k]), region)
        if not area.is_empty:
            out[k] = area
    return out


def _sites(xy: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct Voronoi sites and their territories: the points themselves, or past
    :data:`MAX_SITES` one per grid cell, the grid coarsened until few enough."""
    side = 256
    sites, site_labels = xy, labels
    while True:
        sites, first = np.unique(sites, axis=0, return_index=True)
        site_labels = site_labels[first]
        if len(sites) <= MAX_SITES or side < 16:
            return sites, site_labels
        sites, site_labels = _grid_sites(xy, labels, side)
        side = side * 3 // 4


def _grid_sites(xy: np.ndarray, labels: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """One site per occupied cell of a ``side``-cell grid over the points: the mean of the
    cell's points of its most common territory (ties to the lowest index)."""
    lo = xy.min(axis=0)
    size = max(float(np.ptp(xy, axis=0).max()), 1.0) / side
    cell_xy = np.floor((xy - lo) / size).astype(np.int64)
    frame = pd.DataFrame({"cell": cell_xy[:, 0] * (side + 1) + cell_xy[:, 1], "t": labels,
                          "x": xy[:, 0], "y": xy[:, 1]})
    groups = frame.groupby(["cell", "t"], sort=False).agg(
        n=("x", "size"), x=("x", "mean"), y=("y", "mean")).reset_index()
    best = groups.sort_values(["cell", "n", "t"], ascending=[True, False, True])
    best = best.drop_duplicates("cell")
    return best[["x", "y"]].to_numpy(dtype=float), best["t"].to_numpy(dtype=np.int64)


def _long_assignments(scenario: Scenario, layout: _Layout) -> tuple[np.ndarray, np.ndarray]:
    """Items assigned farther than :data:`LONG_ASSIGNMENT_KM` from their territory's home, and
    those territories (located items and territories with a home only)."""
    rows = np.flatnonzero(scenario.located & (layout.labels != NO_TERRITORY))
    rows = rows[scenario.has_home[layout.labels[rows]]]
    if not len(rows):
        return rows, rows
    territories = layout.labels[rows]
    km = haversine_km(scenario.lat[rows], scenario.lon[rows], scenario.home_lat[territories],
                      scenario.home_lon[territories])
    far = rows[np.nan_to_num(km, nan=0.0) > LONG_ASSIGNMENT_KM]
    return far, layout.labels[far]


def _draw_long_assignments(ax: Axes, scenario: Scenario, layout: _Layout) -> bool:
    """A thin line from each far-flung item to its territory's home, in the territory's
    colour: an item far from its rep would otherwise look like it belongs to its neighbours.
    Whether any was drawn (the legend then explains them)."""
    rows, territories = _long_assignments(scenario, layout)
    if not len(rows):
        return False
    x, y = _mercator(scenario.lon[rows], scenario.lat[rows])
    hx, hy = _mercator(scenario.home_lon[territories], scenario.home_lat[territories])
    segments = np.stack([np.column_stack([x, y]), np.column_stack([hx, hy])], axis=1)
    colours = [layout.colours[k] for k in territories.tolist()]
    ax.add_collection(LineCollection(list(segments), colors=colours, linewidths=0.6, alpha=0.8,
                                     zorder=2.5, gid="long-assignments"), autolim=False)
    return True


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


# --- names and legend ---


_HOME_OFFSETS = (((5, 4), "left", "bottom"), ((5, -4), "left", "top"),
                 ((-5, 4), "right", "bottom"), ((-5, -4), "right", "top"))
"""Where a home's name may go (points from the star), tried in order."""


def _label_homeless(scenario: Scenario, layout: _Layout) -> list[tuple[int, float, float]]:
    """Where to name the territories without a home (districting): a point inside the
    dissolved polygons, else the territory's item nearest its centroid (Web Mercator)."""
    out = []
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
        out.append((k, float(x[0]), float(y[0])))
    return out


def _draw_labels(ax: Axes, canvas: FigureCanvasAgg, scenario: Scenario,
                 layout: _Layout) -> None:
    """Name each territory at its home (beside the star) or, without one, inside it. A name
    whose box would overlap one already placed tries the other sides of its star, then is left
    out: dense maps stay readable, the legend or a neighbour's name is not covered."""
    homes = np.flatnonzero(scenario.has_home)
    hx, hy = _mercator(scenario.home_lon[homes], scenario.home_lat[homes])
    places = [(k, float(x), float(y), True) for k, x, y in zip(homes.tolist(), hx, hy,
                                                               strict=True)]
    places += [(k, x, y, False) for k, x, y in _label_homeless(scenario, layout)]
    if not places:
        return
    ax.apply_aspect()  # the equal aspect moves the axes at draw time: measure after it
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    small = scenario.n_territories > LABEL_MAX
    legend = ax.get_legend()
    taken: list[np.ndarray] = ([np.asarray(legend.get_window_extent(renderer).extents)]
                               if legend is not None else [])
    for k, x, y, home in sorted(places):
        tries = _HOME_OFFSETS if home else (((0, 0), "center", "center"),)
        for offset, ha, va in tries:
            text = ax.annotate(str(scenario.territory_names[k]), (x, y), xytext=offset,
                               textcoords="offset points", ha=ha, va=va,
                               fontsize=(5 if small else 6) if home else (6 if small else 7),
                               zorder=6, path_effects=halo)
            box = np.asarray(text.get_window_extent(renderer).extents)
            if not _overlaps(np.array(taken).reshape(-1, 4), box):
                taken.append(box)
                break
            text.remove()


def _overlaps(boxes: np.ndarray, box: np.ndarray) -> bool:
    """Whether ``box`` (x0, y0, x1, y1) overlaps any row of ``boxes``."""
    return bool(((boxes[:, 0] < box[2]) & (box[0] < boxes[:, 2])
                 & (boxes[:, 1] < box[3]) & (box[1] < boxes[:, 3])).any())


def _draw_legend(ax: Axes, scenario: Scenario, layout: _Layout,
                 markers: Markers | None, far: bool) -> None:
    """Territory names and symbols: one column beside the map up to :data:`LEGEND_MAX`
    territories, columns beneath it up to :data:`COMPACT_LEGEND_MAX`, past that only the
    symbols (the names are on the map)."""
    m = scenario.n_territories
    handles: list[Any] = []
    if m <= COMPACT_LEGEND_MAX:
        handles = [Patch(facecolor=c, edgecolor="#444444", linewidth=0.5, label=str(n))
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
    if far:  # the far-assignment lines are on the map
        handles.append(Line2D([], [], color="#444444", linewidth=0.8,
                              label=f"assigned > {LONG_ASSIGNMENT_KM:,.0f} km "
                              + ("" if scenario.distance_unit == "km" else "(great-circle) ")
                              + "from home"))
    if not handles:
        return
    if m <= LEGEND_MAX:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7,
                  frameon=False)
        return
    ncol = min(6, math.ceil(len(handles) / 8))  # six long names span the map's width
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=ncol,
              fontsize=6, frameon=False, handlelength=1.2, handletextpad=0.4,
              columnspacing=1.0)


# --- map.html ---------------------------------------------------------------------------------


def render_html(scenario: Scenario, layout: _Layout,
                territory_kpis: pd.DataFrame | None = None) -> str:
    """The interactive Leaflet map as one self-contained HTML page: Leaflet is inlined, so it
    draws offline (only base map tiles load from the web; see :mod:`.web_map`)."""
    # Imported here: web_map is the page; this module only builds its data.
    from territory_opt.present import web_map

    markers = _markers(scenario, layout)
    data = _html_data(scenario, layout, territory_kpis, markers)
    data["Q"] = _areas_geojson(scenario, layout)
    data["L"] = _long_lines(scenario, layout)
    data["long_km"] = LONG_ASSIGNMENT_KM
    return web_map.render_html(scenario, data, _bounds(scenario, layout),
                               markers.label if markers is not None else "points")


AREA_SIMPLIFY_DEG = 0.005
"""The page's territory areas are simplified this much (~500 m): smaller, same picture."""


def _areas_geojson(scenario: Scenario, layout: _Layout) -> dict[str, Any] | None:
    """The territory areas ``map.png`` draws (Voronoi cells of the points, per territory), as
    a WGS84 GeoJSON FeatureCollection with each feature's territory in ``t``; None without
    point items."""
    rows = np.flatnonzero(layout.point)
    if not len(rows):
        return None
    x, y = _mercator(scenario.lon[rows], scenario.lat[rows])
    xy = np.column_stack([x, y])
    areas = _territory_areas(xy, layout.labels[rows], _clip_region(scenario, xy))
    if not areas:
        return None
    keys = sorted(areas)
    shapes = gpd.GeoSeries([areas[k] for k in keys], crs="EPSG:3857").to_crs("EPSG:4326")
    shapes = shapes.simplify(AREA_SIMPLIFY_DEG).set_precision(1e-5)
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"t": int(k)}, "geometry": shapely.geometry.mapping(g)}
        for k, g in zip(keys, shapes, strict=True) if not g.is_empty]}


def _long_lines(scenario: Scenario, layout: _Layout) -> list[list[float]]:
    """``[lat, lon, home lat, home lon, territory]`` per item farther than
    :data:`LONG_ASSIGNMENT_KM` from its territory's home (the lines ``map.png`` draws)."""
    far, territory = _long_assignments(scenario, layout)
    return [[round(float(scenario.lat[i]), 5), round(float(scenario.lon[i]), 5),
             round(float(scenario.home_lat[t]), 5), round(float(scenario.home_lon[t]), 5), int(t)]
            for i, t in zip(far.tolist(), territory.tolist(), strict=True)]


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
        "legend": True,  # at any count: the page's legend scrolls, in columns past LEGEND_MAX
        "columns": 1 if scenario.n_territories <= LEGEND_MAX else 3,
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


