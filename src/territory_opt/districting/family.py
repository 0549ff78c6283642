"""The districting family — the plug-in registered under ``model: districting``: from a
scenario to a :class:`DistrictingProblem`, and back to a Plan.

- ``cut_edges``: no centres;
- ``dispersion``: centres chosen by the model among the units (all of them up to
  :data:`ALL_CANDIDATES`, else a seeded spread sample — the bound then holds only for that
  sample, so none is reported), cost ``weight_i × km(i, c)``;
- ``travel``: fixed centres, each territory's home unit (the unit whose polygon holds the
  home, else the nearest), cost ``travel weight × attribute_i × km(i, home_j)`` — the same
  term the KPI evaluator computes.

Named accounts (``accounts:``) enter as weight: a unit carries the attributes of the accounts
that go with it, and each band of a territory is shifted by the accounts locked to it. Locked
accounts count in the bands only: the dispersion and travel terms measure units (with the
accounts that go with them).

Backends: ``highs`` (the exact model), ``heuristic`` (region growing + contiguity-keeping local
search), ``auto`` (exact up to :data:`EXACT_UNITS` units, with a short heuristic start).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from territory_opt.backends.contract import (
    Progress,
    Status,
    in_phase,
    stop_status,
    timed_from,
)
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.districting.exact import solve_exact
from territory_opt.districting.heuristic import solve_heuristic
from territory_opt.districting.kpis import (
    districting_objective,
    districting_terms,
    evaluate_districting,
)
from territory_opt.districting.problem import DistrictBand, DistrictingProblem, DistrictingResult
from territory_opt.districting.support import SUPPORT
from territory_opt.districting.views import VIEWS
from territory_opt.errors import Conflict, InfeasibleError, NoPlanFoundError, TerritoryOptError
from territory_opt.family import Views
from territory_opt.geo import haversine_km, unit_vectors
from territory_opt.kpi.compare import MAX_ANALYSED_MOVES
from territory_opt.kpi.evaluate import Evaluation, ObjectiveTerms, dispersion_weight
from territory_opt.plan import Plan
from territory_opt.scenario.conflicts import quick_conflicts
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.settings import SolveSettings
from territory_opt.tolerance import band_slack, capacity_limit

ALL_CANDIDATES = 2_000
"""Up to this many units, every unit may be a centre (dispersion)."""
EXACT_UNITS = 500
"""``auto`` runs the exact model up to this many units, the heuristic beyond."""
START_SHARE = 0.1
"""Share of the time the exact model's heuristic start may use (at most 10 s)."""
BACKENDS = ("auto", "highs", "heuristic")
EXACT_PHASE = "exact districting"
"""The phase name of the exact model's progress (HiGHS on the districting MIP)."""


def districting_problem(scenario: Scenario, seed: int = 0) -> DistrictingProblem:
    """The arrays of the module docstring for ``scenario``."""
    if scenario.adjacency is None:
        raise TerritoryOptError("a districting scenario needs an adjacency (polygons or a table)")
    spec = scenario.spec
    k = scenario.n_territories
    bands = []
    for rule in spec.rules.balance:
        if not rule.hard:
            raise TerritoryOptError(f"rules.balance ({rule.attribute}): soft balance is not "
                                    "supported by districting yet; make it hard")
        target = scenario.targets(rule.attribute)
        fixed = locked_loads(scenario, rule.attribute)
        give = band_slack(target)  # the rule checker's slack (tolerance.py)
        bands.append(DistrictBand(rule.attribute, scenario.item_weight(rule.attribute),
                                  target * (1 - rule.tolerance) - give - fixed,
                                  target * (1 + rule.tolerance) + give - fixed))
    for name, capacity in scenario.capacity.items():
        bands.append(DistrictBand(f"capacity {name}", scenario.item_weight(name),
                                  np.zeros(k), capacity_limit(capacity)
                                  - locked_loads(scenario, name)))
    kind = districting_objective(spec)
    lock = scenario.lock if (scenario.lock != NO_TERRITORY).any() else None
    base = DistrictingProblem(n_units=scenario.n_items, k=k, edges=scenario.adjacency,
                              bands=tuple(bands), objective="cut_edges", lock=lock,
                              contiguity=spec.rules.contiguity)
    if kind == "cut_edges":
        return base
    if kind == "travel":
        if not scenario.has_home.all():
            raise TerritoryOptError(
                "districting without objective.dispersion or objective.cut_edges minimises "
                "travel from each territory's home: give every territory home_latitude/"
                "home_longitude, or choose objective: {dispersion: {attribute: ...}}")
        km = haversine_km(scenario.lat[:, None], scenario.lon[:, None],
                          scenario.home_lat[None, :], scenario.home_lon[None, :])
        weight = spec.objective.travel.weight * scenario.travel_weight()
        return replace(base, objective="travel", cost=weight[:, None] * km,
                       fixed_centres=home_units(scenario))
    candidates = (np.arange(scenario.n_items) if scenario.n_items <= ALL_CANDIDATES
                  else spread_sample(scenario, ALL_CANDIDATES, seed))
    km = haversine_km(scenario.lat[:, None], scenario.lon[:, None],
                      scenario.lat[candidates][None, :], scenario.lon[candidates][None, :])
    term = spec.objective.dispersion
    weight = (term.weight if term is not None else 1.0) * dispersion_weight(scenario)
    return replace(base, objective="dispersion", cost=weight[:, None] * km,
                   candidates=candidates)


def locked_loads(scenario: Scenario, name: str) -> np.ndarray:
    """Per territory: the load its locked accounts bring whatever the units do (a unit's
    other accounts are in its weight, :meth:`Scenario.item_weight`)."""
    if scenario.accounts is None:
        return np.zeros(scenario.n_territories)
    return scenario.accounts.locked_loads(name, scenario.n_territories)


def home_units(scenario: Scenario) -> np.ndarray:
    """Per territory, its centre unit: the unit whose polygon holds its home, else the
    nearest unit — distinct units, since a unit lies in one territory only (two reps in one
    town: the second gets the nearest unit not taken)."""
    from shapely.geometry import Point

    out = np.zeros(scenario.n_territories, dtype=np.int64)
    taken = np.zeros(scenario.n_items, dtype=bool)
    for j in range(scenario.n_territories):
        home = Point(scenario.home_lon[j], scenario.home_lat[j])
        inside = ([i for i, g in enumerate(scenario.geometry) if g.contains(home)]
                  if scenario.geometry is not None else [])
        km = haversine_km(scenario.lat, scenario.lon, scenario.home_lat[j], scenario.home_lon[j])
        free_inside = [i for i in inside if not taken[i]]
        out[j] = free_inside[0] if free_inside else int(np.argmin(np.where(taken, np.inf, km)))
        taken[out[j]] = True
    return out


def spread_sample(scenario: Scenario, count: int, seed: int) -> np.ndarray:
    """``count`` units spread over the map (farthest-point sampling from a seeded start)."""
    xyz = unit_vectors(scenario.lat, scenario.lon)
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(scenario.n_items))]
    nearest = np.linalg.norm(xyz - xyz[chosen[0]], axis=1)
    for _ in range(count - 1):
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(xyz - xyz[pick], axis=1))
    return np.sort(np.asarray(chosen, dtype=np.int64))


def solve_districting(scenario: Scenario, *, backend: str, deadline: Deadline, gap: float,
                      threads: int | None, seed: int,
                      progress: Callable[[Progress], None] | None = None) -> Plan:
    """Solve a districting scenario into a :class:`Plan` (module docstring) by ``deadline``:
    the heuristic start takes :data:`START_SHARE` of it (at most 10 s), the exact model the
    rest; progress is reported with the seconds since ``deadline`` began."""
    if backend not in BACKENDS:
        raise TerritoryOptError(f"districting runs on {', '.join(BACKENDS)}, not '{backend}'")
    started = Stopwatch()
    time_limit = deadline.seconds
    report = timed_from(deadline, progress)
    problem = districting_problem(scenario, seed)
    exact = backend == "highs" or (backend == "auto" and scenario.n_items <= EXACT_UNITS)
    if exact:
        warm = solve_heuristic(problem, deadline=deadline.share(START_SHARE, at_most=10.0),
                               seed=seed, progress=report)
        if report is not None:
            report(Progress(warm.objective if warm.labels is not None else math.inf,
                            warm.bound, deadline.elapsed(), phase=EXACT_PHASE))
        result = solve_exact(problem, deadline=deadline.rest(), seed=seed, threads=threads,
                             start=warm.labels, progress=_bound_only(in_phase(EXACT_PHASE, report)))
        if result.labels is None and warm.labels is not None:
            result = DistrictingResult(warm.labels, warm.objective, max(result.bound, warm.bound),
                                       Status.FEASIBLE, result.seconds, warm.method, warm.centres)
    else:
        result = solve_heuristic(problem, deadline=deadline, seed=seed, progress=report)
    seconds = started.seconds()
    if result.status == Status.INFEASIBLE:
        rules = ", ".join(["contiguity"] * problem.contiguity
                          + [f"balance {b.name}" for b in problem.bands])
        raise InfeasibleError([Conflict(rules, "no districting keeps every territory "
                                        "connected and within its bands (proven by the exact "
                                        "model)")])
    if result.labels is None:
        raise NoPlanFoundError(f"districting found no plan within {time_limit:g} s "
                               f"({scenario.n_items:,} units, {problem.k} territories). Try a "
                               "longer --time-limit or looser balance tolerances.")
    labels = np.asarray(result.labels, dtype=np.int64)
    sampled = problem.candidates is not None and len(problem.candidates) < problem.n_units
    bound = float("-inf") if sampled else result.bound  # a bound over a sample of centres
    plan = Plan(
        scenario=scenario, assignment=labels, status=Status.FEASIBLE, bound=bound,
        backend="highs" if exact else "heuristic",
        bound_source=result.method if np.isfinite(bound) else "none",
        options={"time_limit": time_limit, "gap": gap, "threads": threads, "seed": seed},
        seconds={"solve": result.seconds, "total": seconds},
        solver_objective=result.objective, scenario_digest=scenario.digest,
        stop_reason="", found_by=result.method, work=deadline.spent)
    status, reason = stop_status(plan.objective, plan.bound, gap_target=gap,
                                 interrupted=deadline.interrupted,
                                 solver_reason=deadline.limit_reason())
    if progress is not None:
        progress(Progress(plan.objective, plan.bound, deadline.elapsed(), phase="done"))
    return replace(plan, status=status, stop_reason=reason)



def _bound_only(progress: Callable[[Progress], None] | None
                ) -> Callable[[Progress], None] | None:
    """``progress`` told only the exact model's bound: its incumbents may still split a district
    (separators are added between rounds), and a plan that breaks a rule is never shown as the
    best one; the heuristic start's plan and the final plan are."""
    if progress is None:
        return None
    tell = progress

    def report(event: Progress) -> None:
        tell(replace(event, objective=math.inf))

    return report


class DistrictingFamily:
    """Contiguous districts of geographic units (module docstring)."""

    name = "districting"
    views: Views = VIEWS
    support = SUPPORT
    analysed_moves = MAX_ANALYSED_MOVES

    def conflicts(self, scenario: Scenario) -> list[Conflict]:
        """The arithmetic checks of totals (the loader has checked the unit graph's pieces
        against the territories; the exact model proves the rest)."""
        return quick_conflicts(scenario)

    def solve(self, scenario: Scenario, settings: SolveSettings, deadline: Deadline) -> Plan:
        """The best districting within ``settings`` by ``deadline``."""
        return solve_districting(scenario, backend=settings.backend_name,
                                 deadline=deadline, gap=settings.gap,
                                 threads=settings.threads, seed=settings.seed,
                                 progress=settings.progress)

    def evaluate(self, scenario: Scenario, assignment: np.ndarray) -> Evaluation:
        """The common evaluation with the districting objective, accounts and contiguity."""
        return evaluate_districting(scenario, assignment)

    def objective_terms(self, scenario: Scenario, assignment: np.ndarray) -> ObjectiveTerms:
        """The one term the scenario minimises (travel, dispersion or cut edges)."""
        return districting_terms(scenario, assignment)


FAMILY = DistrictingFamily()
