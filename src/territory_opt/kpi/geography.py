"""Geography KPIs of a plan: contiguity, compactness, area and dispersion of each territory.

Pure functions of arrays — features, points, adjacency edges, a label per item — so any plan
(a solver's, the current alignment, another tool's) is judged by the same code. Labels are
territory indices ``0..k-1``, or ``-1`` for an unassigned item, which counts nowhere.

Shapes are measured in an equal-area projection chosen for their extent
(:func:`territory_opt.scenario.units.equal_area`); distances are great-circle km
(:func:`territory_opt.geo.haversine_km`). A KPI that is not defined — polygon measures of point
items or of an empty territory, components without edges — is NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from territory_opt.geo import haversine_km, unit_vectors

if TYPE_CHECKING:
    import geopandas as gpd

UNASSIGNED = -1
"""Label of an item in no territory."""

CENTRE_BLOCK = 512
"""Candidate centres per block when a territory's best centre is searched (memory bound)."""

SHAPE_COLUMNS = ("area_km2", "perimeter_km", "polsby_popper", "hull_ratio", "parts")
"""Per-territory columns measured on the dissolved territory shape."""


def evaluate_geography(
    geometry: np.ndarray | None,
    lat: np.ndarray,
    lon: np.ndarray,
    edges: np.ndarray | None,
    labels: np.ndarray,
    n_territories: int,
    weight: np.ndarray | None = None,
    centres: np.ndarray | None = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Geography KPIs per territory and for the plan.

    Parameters
    ----------
    geometry
        Per item its shapely feature in WGS84 (``Scenario.geometry``), or None.
    lat, lon
        Per item a point in degrees (NaN where unknown: it counts in no distance).
    edges
        Adjacency ``(e, 2)`` over items (:mod:`territory_opt.scenario.units`), or None.
    labels
        Territory index per item, ``-1`` if unassigned.
    n_territories
        Number of territories ``k``.
    weight
        Per item the weight of its distance to the centre (default: 1 each).
    centres
        ``(k, 2)`` latitude, longitude of each territory's centre (e.g. the rep's home); a
        row of NaN, or no array, means the weighted centroid of the territory's items.

    Returns
    -------
    tuple[pd.DataFrame, dict[str, float]]
        Per territory (index ``0..k-1``): ``components`` (connected pieces in the adjacency
        graph), ``area_km2``, ``perimeter_km`` (total over parts and holes), ``polsby_popper``
        (4πA/P², 1 for a disc), ``hull_ratio`` (area / convex-hull area), ``parts`` (polygons
        of the dissolved shape), ``centre_lat``, ``centre_lon``, ``dispersion_km`` (weighted
        mean km from the items to the centre). Plan metrics: ``cut_edges`` (edges between two
        territories), ``disconnected_territories``, ``polsby_popper_mean``,
        ``polsby_popper_min``, ``dispersion_total_km`` (Σ weight × km over assigned items).
    """
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    labels = _checked_labels(labels, len(lat), n_territories)
    table = pd.DataFrame(index=pd.RangeIndex(n_territories))
    components = (territory_components(edges, labels, n_territories) if edges is not None
                  else np.full(n_territories, np.nan))
    table["components"] = components
    shape = (shape_kpis(geometry, labels, n_territories) if geometry is not None
             else pd.DataFrame(np.nan, index=table.index, columns=list(SHAPE_COLUMNS)))
    table = table.join(shape)
    w = np.ones(len(lat)) if weight is None else np.asarray(weight, dtype=float)
    centre_lat, centre_lon = _centres(lat, lon, labels, n_territories, w, centres)
    table["centre_lat"], table["centre_lon"] = centre_lat, centre_lon
    km = item_km_to_centre(lat, lon, labels, centre_lat, centre_lon)
    table["dispersion_km"] = _weighted_mean(km, w, labels, n_territories)

    pp = table["polsby_popper"].to_numpy(dtype=float)
    metrics = {
        "cut_edges": (float(cut_edge_mask(edges, labels).sum()) if edges is not None
                      else np.nan),
        "disconnected_territories": (float((components > 1).sum()) if edges is not None
                                     else np.nan),
        "polsby_popper_mean": _finite_mean(pp),
        "polsby_popper_min": float(pp[np.isfinite(pp)].min()) if np.isfinite(pp).any()
        else np.nan,
        "dispersion_total_km": float(np.nansum(km * w)),
    }
    return table, metrics


# --- adjacency --------------------------------------------------------------------------------


def cut_edge_mask(edges: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per edge: do its ends lie in two different territories? (An edge to an unassigned item
    is not cut: it joins no two territories.)"""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    labels = np.asarray(labels, dtype=np.int64)
    a, b = labels[edges[:, 0]], labels[edges[:, 1]]
    return np.asarray((a != b) & (a != UNASSIGNED) & (b != UNASSIGNED))


def territory_components(edges: np.ndarray, labels: np.ndarray, n_territories: int
                         ) -> np.ndarray:
    """Connected components of each territory's items in the adjacency graph (0 if empty).

    Only edges inside a territory are kept; each territory then has as many components as
    distinct components among its items.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    inside = edges[(labels[edges[:, 0]] == labels[edges[:, 1]]) & (labels[edges[:, 0]] >= 0)]
    graph = coo_matrix((np.ones(len(inside)), (inside[:, 0], inside[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    assigned = labels != UNASSIGNED
    distinct = np.unique(np.column_stack([labels[assigned], comp[assigned]]), axis=0)
    return np.bincount(distinct[:, 0], minlength=n_territories).astype(float)


# --- shapes -----------------------------------------------------------------------------------


def dissolve(geometry: np.ndarray, labels: np.ndarray, n_territories: int) -> gpd.GeoSeries:
    """Each territory's polygon items merged into one shape, in the equal-area CRS.

    Point items are left out (they have no area); a territory without polygons gets None.
    """
    import geopandas as gpd

    from territory_opt.scenario.units import equal_area

    labels = np.asarray(labels, dtype=np.int64)
    projected = equal_area(geometry)
    keep = projected.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy() & (labels >= 0)
    if not keep.any():
        return gpd.GeoSeries([None] * n_territories, crs=projected.crs)
    frame = gpd.GeoDataFrame({"territory": labels[keep]}, geometry=projected[keep].to_numpy(),
                             crs=projected.crs)
    shapes = frame.dissolve(by="territory").geometry
    return shapes.reindex(pd.RangeIndex(n_territories))


def shape_kpis(geometry: np.ndarray, labels: np.ndarray, n_territories: int) -> pd.DataFrame:
    """Area, perimeter, Polsby–Popper, hull ratio and parts of each dissolved territory.

    Multi-part territories are measured as one shape: total area over total perimeter.
    """
    import shapely

    shapes = dissolve(geometry, labels, n_territories)
    present = shapes.notna().to_numpy()
    area = np.where(present, shapes.area.to_numpy(dtype=float), np.nan)
    perimeter = np.where(present, shapes.length.to_numpy(dtype=float), np.nan)
    hull = np.where(present, shapes.convex_hull.area.to_numpy(dtype=float), np.nan)
    parts = np.where(present, shapely.get_num_geometries(shapes.to_numpy()), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):  # empty territories stay NaN
        return pd.DataFrame({
            "area_km2": area / 1e6,
            "perimeter_km": perimeter / 1e3,
            "polsby_popper": 4 * np.pi * area / perimeter**2,
            "hull_ratio": area / hull,
            "parts": parts.astype(float),
        }, index=pd.RangeIndex(n_territories))


# --- distances --------------------------------------------------------------------------------


def weighted_centroids(lat: np.ndarray, lon: np.ndarray, labels: np.ndarray,
                       n_territories: int, weight: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Each territory's weighted mean position on the sphere (latitude, longitude).

    Averaged as unit vectors, not degrees, so a territory across the antimeridian is not put
    on the other side of the Earth. NaN for a territory with no located item or zero weight.
    """
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    labels = np.asarray(labels, dtype=np.int64)
    w = np.ones(len(lat)) if weight is None else np.asarray(weight, dtype=float)
    use = (labels >= 0) & np.isfinite(lat) & np.isfinite(lon)
    xyz = unit_vectors(lat[use], lon[use]) * w[use, None]
    total = np.column_stack([
        np.bincount(labels[use], weights=xyz[:, d], minlength=n_territories) for d in range(3)
    ])
    norm = np.linalg.norm(total, axis=1)
    out_lat, out_lon = np.full(n_territories, np.nan), np.full(n_territories, np.nan)
    ok = norm > 1e-12
    x, y, z = (total[ok] / norm[ok, None]).T
    out_lat[ok] = np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))
    out_lon[ok] = np.degrees(np.arctan2(y, x))
    return out_lat, out_lon


def item_km_to_centre(lat: np.ndarray, lon: np.ndarray, labels: np.ndarray,
                      centre_lat: np.ndarray, centre_lon: np.ndarray) -> np.ndarray:
    """Great-circle km from each item to its territory's centre; NaN if unassigned."""
    labels = np.asarray(labels, dtype=np.int64)
    km = np.full(len(lat), np.nan)
    assigned = np.flatnonzero(labels >= 0)
    km[assigned] = haversine_km(lat[assigned], lon[assigned],
                                centre_lat[labels[assigned]], centre_lon[labels[assigned]])
    return km


def _centres(lat: np.ndarray, lon: np.ndarray, labels: np.ndarray, n_territories: int,
             weight: np.ndarray, centres: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The given centres, with the weighted centroid where a centre is missing."""
    c_lat, c_lon = weighted_centroids(lat, lon, labels, n_territories, weight)
    if centres is None:
        return c_lat, c_lon
    centres = np.asarray(centres, dtype=float).reshape(n_territories, 2)
    given = np.isfinite(centres).all(axis=1)
    return np.where(given, centres[:, 0], c_lat), np.where(given, centres[:, 1], c_lon)


def _weighted_mean(values: np.ndarray, weight: np.ndarray, labels: np.ndarray,
                   n_territories: int) -> np.ndarray:
    """Per territory ``Σ w·v / Σ w`` over its items with a value; NaN where ``Σ w`` is 0."""
    use = (labels >= 0) & np.isfinite(values)
    num = np.bincount(labels[use], weights=(weight * values)[use], minlength=n_territories)
    den = np.bincount(labels[use], weights=weight[use], minlength=n_territories)
    out = np.full(n_territories, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


# --- checks and helpers -----------------------------------------------------------------------


def _checked_labels(labels: np.ndarray, n_items: int, n_territories: int) -> np.ndarray:
    """Labels as int64, after checking their shape and range (a mistake here is a bug)."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (n_items,):
        raise ValueError(f"labels have shape {labels.shape}; expected ({n_items},)")
    if len(labels) and (labels.min() < UNASSIGNED or labels.max() >= n_territories):
        raise ValueError(f"labels must lie in -1..{n_territories - 1}; found "
                         f"{labels.min()}..{labels.max()}")
    return labels


def _finite_mean(values: np.ndarray) -> float:
    """Mean of the finite values; NaN if there are none (no warning for an empty mean)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def best_centres(lat: np.ndarray, lon: np.ndarray, weight: np.ndarray, labels: np.ndarray,
                 k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per territory, the unit of it that minimises ``Σ weight_i × km(i, centre)`` over its
    units (the p-median centre), and that sum; ``-1`` and 0 for an empty territory."""
    centres = np.full(k, UNASSIGNED, dtype=np.int64)
    totals = np.zeros(k)
    for j in range(k):
        members = np.flatnonzero(labels == j)
        if not len(members):
            continue
        best, best_cost = -1, np.inf
        for start in range(0, len(members), CENTRE_BLOCK):
            candidates = members[start:start + CENTRE_BLOCK]
            km = haversine_km(lat[members][:, None], lon[members][:, None],
                              lat[candidates][None, :], lon[candidates][None, :])
            cost = weight[members] @ km
            pick = int(np.argmin(cost))
            if cost[pick] < best_cost:
                best, best_cost = int(candidates[pick]), float(cost[pick])
        centres[j], totals[j] = best, best_cost
    return centres, totals


def cut_edges(edges: np.ndarray | None, labels: np.ndarray) -> int:
    """Adjacency edges whose two units lie in different territories (or are unassigned)."""
    if edges is None or not len(edges):
        return 0
    a, b = labels[edges[:, 0]], labels[edges[:, 1]]
    return int(np.sum((a != b) | (a == UNASSIGNED)))
