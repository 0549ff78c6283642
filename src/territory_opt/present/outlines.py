"""Reference outlines drawn under the territories, bundled so maps need no network.

The 48 contiguous US states ship with libpysal (``us48.shp``, public domain Census outlines),
already a dependency: maps get them when a scenario's points are (mostly) in the US, so a
European or synthetic scenario gets no misleading background. Other countries declare their
own polygon file in the scenario (``map: {outline: {path: ...}}``), which always wins
(:func:`scenario_outline`).
"""

from __future__ import annotations

from functools import cache

import geopandas as gpd
import numpy as np
import shapely

from territory_opt.scenario.model import Scenario

US48_FILE = "us48.shp"

SIMPLIFY_DEG = 0.02
"""Tolerance of the simplified outlines (degrees, ~2 km): a state border a pixel wide at a
whole-country view, and ~200 kB of GeoJSON for all 48 states."""

PRECISION_DEG = 1e-3
"""Coordinates rounded to ~100 m: well below the simplification, and a smaller page."""

INSIDE_SHARE = 0.8
"""Share of located points that must fall inside the outlines for them to be drawn."""

COAST_MARGIN_DEG = 0.5
"""Points this close (~50 km) to the outlines count as inside: coastal and island locations (Keys,
Outer Banks, bay islands) fall just outside the simplified state polygons."""


@cache
def us_states(simplified: bool = True) -> gpd.GeoDataFrame:
    """The 48 contiguous US states in WGS84 (read once, then cached).

    Parameters
    ----------
    simplified
        Simplify to :data:`SIMPLIFY_DEG` (for pages that embed them); False: the shapefile's
        full detail (for pictures).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``name`` (state name), ``abbr`` (postal code) and ``geometry``. Callers must not
        modify it (it is shared).
    """
    from libpysal import examples  # a slow import (a second), needed only once a map is drawn

    raw = gpd.read_file(examples.get_path(US48_FILE))
    # The shapefile has no .prj; its coordinates are NAD83 longitude/latitude, which is WGS84
    # to well under the simplification tolerance.
    geometry = raw.geometry.to_numpy()
    if simplified:
        geometry = _simplified(geometry)
    return gpd.GeoDataFrame({"name": raw["STATE_NAME"].astype(str).to_numpy(),
                             "abbr": raw["STATE_ABBR"].astype(str).to_numpy()},
                            geometry=geometry, crs="EPSG:4326")


def _simplified(geometry: np.ndarray) -> np.ndarray:
    """Outlines simplified to :data:`SIMPLIFY_DEG` and rounded to :data:`PRECISION_DEG`."""
    return np.asarray(shapely.set_precision(
        shapely.simplify(geometry, SIMPLIFY_DEG, preserve_topology=True), PRECISION_DEG))


@cache
def _us_area() -> shapely.Geometry:
    """The union of the states, widened by :data:`COAST_MARGIN_DEG` (prepared for lookups)."""
    area = shapely.union_all(us_states().geometry.to_numpy()).buffer(COAST_MARGIN_DEG)
    shapely.prepare(area)
    return area


def scenario_outline(scenario: Scenario, simplified: bool = True) -> gpd.GeoDataFrame | None:
    """The outlines a scenario's maps draw: its own ``map.outline`` polygons when it declares
    them, else the US states when its items (or, without located items, its homes) are in the
    contiguous US (:func:`outline_for`), else None.

    Parameters
    ----------
    scenario
        The scenario drawn.
    simplified
        Simplified outlines (for pages that embed them; a declared layer is simplified by the
        same tolerance) or the full detail (for pictures).
    """
    if scenario.outline is not None:
        geometry = _simplified(scenario.outline) if simplified else scenario.outline
        return gpd.GeoDataFrame({"name": [""] * len(geometry)}, geometry=list(geometry),
                                crs="EPSG:4326")
    lat, lon = scenario.lat[scenario.located], scenario.lon[scenario.located]
    if not len(lat):
        lat, lon = scenario.home_lat[scenario.has_home], scenario.home_lon[scenario.has_home]
    if outline_for(lat, lon) is None:
        return None
    return us_states(simplified)


def outline_for(lat: np.ndarray, lon: np.ndarray) -> gpd.GeoDataFrame | None:
    """The outlines to draw under points at ``lat``/``lon`` (degrees, WGS84), if any.

    Parameters
    ----------
    lat, lon
        Coordinates of the map's points; NaN (unlocated) entries are ignored.

    Returns
    -------
    geopandas.GeoDataFrame or None
        :func:`us_states` when at least :data:`INSIDE_SHARE` of the located points are in the
        contiguous US (within :data:`COAST_MARGIN_DEG` of a state); None otherwise, and when no
        point is located.
    """
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    located = np.isfinite(lat) & np.isfinite(lon)
    if not located.any():
        return None
    states = us_states()
    x0, y0, x1, y1 = states.total_bounds
    lat, lon = lat[located], lon[located]
    # The bounding box first: cheap, and decides most non-US scenarios without the polygons.
    in_box = (lon >= x0 - COAST_MARGIN_DEG) & (lon <= x1 + COAST_MARGIN_DEG) & \
             (lat >= y0 - COAST_MARGIN_DEG) & (lat <= y1 + COAST_MARGIN_DEG)
    if in_box.mean() < INSIDE_SHARE:
        return None
    inside = np.zeros(len(lat), dtype=bool)
    inside[in_box] = shapely.contains_xy(_us_area(), lon[in_box], lat[in_box])
    return states if inside.mean() >= INSIDE_SHARE else None
