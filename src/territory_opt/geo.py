"""Distances on the Earth and coordinate conversion."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), the radius every great-circle distance here uses."""


def haversine_km(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> np.ndarray:
    """Great-circle distance in km between points given in degrees; broadcasts like numpy.

    NaN in, NaN out (a territory without a home has no distance).
    """
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlmb = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def unit_vectors(lat: ArrayLike, lon: ArrayLike) -> np.ndarray:
    """Points on the unit sphere, one row (x, y, z) per point; NaN coordinates give zeros.

    Chord length between them orders pairs like great-circle distance, so a KD-tree over them
    finds nearest neighbours on the Earth.
    """
    phi, lmb = np.radians(lat), np.radians(lon)
    xyz = np.column_stack([np.cos(phi) * np.cos(lmb), np.cos(phi) * np.sin(lmb), np.sin(phi)])
    return np.asarray(np.nan_to_num(xyz))


def to_lonlat(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Project ``x, y`` in ``crs`` to WGS84 longitude and latitude (degrees).

    Raises
    ------
    ValueError
        If ``crs`` is not a CRS pyproj knows.
    """
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        source = CRS.from_user_input(crs)
    except CRSError as exc:
        raise ValueError(str(exc)) from exc
    transformer = Transformer.from_crs(source, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(x, y)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
