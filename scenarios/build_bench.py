"""Build a ``bench-*`` scenario: clustered accounts, two balance bands, workload-weighted travel.

The engine's benchmark family (``benchmarks/scaling.py``), the instances of the alignment engine
issue: accounts in Gaussian clusters plus a uniform background over a 500 km square, lognormal
potential, workload correlated with potential, reps near the k-means centres of the accounts,
workload ±5% and potential ±10% as the only rules, and travel weighted by workload. No current
alignment, no eligibility: the pure balanced assignment, where the gap to the LP bound is the
measure of an engine.

The square sits at 38°N 98°W (plain lat/lon, so every tool reads it); one seeded
``numpy.random.Generator`` drives everything, so the same seed rewrites byte-identical files.

Run from the repository root (``build_demo.py --preset bench-*`` calls this too)::

    python scenarios/build_bench.py --preset bench-1k [--seed N] [--out DIR]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.cluster.vq import kmeans2


@dataclass(frozen=True)
class BenchPreset:
    """Size of a clustered benchmark scenario and its time limit (the issue's target time)."""

    name: str
    n_accounts: int
    n_reps: int
    time_limit: int


PRESETS: dict[str, BenchPreset] = {
    p.name: p for p in (
        BenchPreset("bench-1k", 1_000, 20, 5),
        BenchPreset("bench-5k", 5_000, 50, 10),
        BenchPreset("bench-20k", 20_000, 100, 15),
        BenchPreset("bench-100k", 100_000, 500, 120),
    )
}
DEFAULT_SEED = 2026
SQUARE_KM = 500.0
ORIGIN = (38.0, -98.0)
"""Latitude and longitude of the square's south-west corner."""
KM_PER_DEGREE = 111.32
BACKGROUND_SHARE = 0.15
"""Accounts spread uniformly over the square; the rest sit in clusters."""
ACCOUNTS_PER_CLUSTER = 40
CLUSTER_SIGMA_KM = (5.0, 25.0)
"""Range of the clusters' standard deviations (drawn uniformly)."""
MAX_ITEM_SHARE_OF_TARGET = 0.25
"""No account exceeds this share of an average territory's target (workload and potential)."""
SCENARIOS_DIR = Path(__file__).resolve().parent
CSV_FLOAT_FORMAT = "%.10g"

SCENARIO_YAML = """\
# @NAME@: @ACCOUNTS@ clustered accounts in a 500 km square, @REPS@ reps near k-means centres.
# Built by scenarios/build_bench.py --preset @NAME@ (seed @SEED@). Do not edit by hand; re-run it.
version: 1
name: @NAME@
model: alignment
items:
  path: accounts.csv
  id: account_id
  latitude: lat
  longitude: lon
  attributes: [potential, workload_h]
territories:
  path: reps.csv
  id: rep_id
  name: name
  home_latitude: home_lat
  home_longitude: home_lon
rules:
  balance:
    - {attribute: workload_h, tolerance: 0.05}
    - {attribute: potential, tolerance: 0.10}
objective:
  travel: {weight: 1.0, attribute: workload_h}
solver:
  backend: auto
  time_limit: @TIME_LIMIT@
  gap: 0
  seed: 0
"""


def cap_share(values: np.ndarray, share: float) -> np.ndarray:
    """``values`` with none above ``share`` of their mean × the number of territories' share
    (clipped, then re-checked: clipping lowers the mean)."""
    out = values.astype(float).copy()
    for _ in range(20):
        cap = share * out.sum()
        if out.max() <= cap:
            break
        out = np.minimum(out, cap)
    return out


def place_accounts(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) km coordinates inside the square: clusters plus a uniform background."""
    n_background = round(BACKGROUND_SHARE * n)
    n_clusters = max(1, (n - n_background) // ACCOUNTS_PER_CLUSTER)
    centres = rng.uniform(0.0, SQUARE_KM, size=(n_clusters, 2))
    sigma = rng.uniform(*CLUSTER_SIGMA_KM, size=n_clusters)
    members = rng.integers(0, n_clusters, size=n - n_background)
    clustered = centres[members] + rng.normal(size=(len(members), 2)) * sigma[members, None]
    background = rng.uniform(0.0, SQUARE_KM, size=(n_background, 2))
    return np.clip(np.vstack([clustered, background]), 0.0, SQUARE_KM)


def to_lat_lon(km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude of square coordinates (equirectangular around the square)."""
    lat0, lon0 = ORIGIN
    lat = lat0 + km[:, 1] / KM_PER_DEGREE
    lon = lon0 + km[:, 0] / (KM_PER_DEGREE * np.cos(np.radians(lat0 + SQUARE_KM / 2
                                                                / KM_PER_DEGREE)))
    return np.round(lat, 6), np.round(lon, 6)


def build(seed: int, preset: BenchPreset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The accounts and reps tables of ``preset`` for ``seed``."""
    rng = np.random.default_rng(seed)
    n, m = preset.n_accounts, preset.n_reps
    km = place_accounts(n, rng)
    item_share = MAX_ITEM_SHARE_OF_TARGET / m
    potential = np.round(cap_share(rng.lognormal(np.log(30_000), 1.0, size=n), item_share))
    noise = rng.lognormal(0.0, 0.35, size=n)
    workload = np.round(cap_share(20.0 + 0.03 * potential**0.6 * noise, item_share), 1)
    order = rng.permutation(n)  # clusters and background interleaved in the table
    km, potential, workload = km[order], potential[order], workload[order]
    lat, lon = to_lat_lon(km)
    width = max(4, len(str(n)))
    accounts = pd.DataFrame({
        "account_id": [f"A{i:0{width}d}" for i in range(1, n + 1)],
        "lat": lat, "lon": lon,
        "potential": potential.astype(np.int64), "workload_h": workload,
    })
    centres, _ = kmeans2(km, m, seed=rng, minit="++")
    home = centres + rng.normal(scale=2.0, size=centres.shape)  # a home near, not at, the centre
    home_lat, home_lon = to_lat_lon(np.clip(home, 0.0, SQUARE_KM))
    reps = pd.DataFrame({
        "rep_id": [f"R{k:03d}" for k in range(1, m + 1)],
        "name": [f"Rep {k}" for k in range(1, m + 1)],
        "home_lat": home_lat, "home_lon": home_lon,
    })
    return accounts, reps


def write_scenario(out: Path, template: str, fields: dict[str, str], accounts: pd.DataFrame,
                   reps: pd.DataFrame) -> None:
    """Write ``template`` with its ``@KEY@`` fields filled as scenario.yaml, and the two tables,
    into ``out`` (byte-stable: LF line ends, fixed float format). ``build_demo.py`` shares it."""
    out.mkdir(parents=True, exist_ok=True)
    text = template
    for key, value in fields.items():
        text = text.replace(key, value)
    (out / "scenario.yaml").write_text(text, encoding="utf-8", newline="\n")
    accounts.to_csv(out / "accounts.csv", index=False, float_format=CSV_FLOAT_FORMAT,
                    lineterminator="\n")
    reps.to_csv(out / "reps.csv", index=False, float_format=CSV_FLOAT_FORMAT, lineterminator="\n")


def write_outputs(out: Path, accounts: pd.DataFrame, reps: pd.DataFrame, seed: int,
                  preset: BenchPreset) -> None:
    """Write scenario.yaml, accounts.csv and reps.csv into ``out``."""
    write_scenario(out, SCENARIO_YAML, {
        "@SEED@": str(seed), "@NAME@": preset.name, "@ACCOUNTS@": f"{len(accounts):,}",
        "@REPS@": str(len(reps)), "@TIME_LIMIT@": str(preset.time_limit)}, accounts, reps)


def main(argv: list[str] | None = None) -> None:
    """Build one preset, write it and print its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="RNG seed (default 2026)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="bench-1k")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default scenarios/<preset>)")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    out = args.out or SCENARIOS_DIR / preset.name
    accounts, reps = build(args.seed, preset)
    write_outputs(out, accounts, reps, args.seed, preset)
    print(f"{len(accounts):,} accounts × {len(reps)} reps; wrote {out}/scenario.yaml, "
          "accounts.csv, reps.csv")


if __name__ == "__main__":
    main()
