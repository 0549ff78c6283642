"""Decomposed solves: very large alignments solved region by region, in parallel, and stitched.

1. **Regions** of territories: the ``territories.region`` column, or equal-sized regions cut
   from the reps' homes by recursive bisection.
2. **A bound for the whole model**: the Lagrangian relaxation of the whole model's band rows
   (:func:`whole_relaxation`), valid whatever the partition; the regions' own bounds are not.
   Its band prices make step 3's costs.
3. **Items to regions** by a transportation LP over groups of alike items, at Lagrangian
   costs: every region's load of each hard balance attribute within its territories' summed
   band (narrowed, so the territories inside still have room). The LP is nearly integral;
   the few split groups are cut by their items' preferences.
4. **Regions solved in parallel** (Dask: a local cluster, an existing one, or in-process), each
   as a scenario of its own that keeps the whole scenario's targets.
5. **Stitched and coordinated**: one plan, then neighbourhood MIPs around the territories on a
   region border re-solve across it (:mod:`territory_opt.alignment.neighbourhoods`).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from territory_opt.alignment.choice import choose
from territory_opt.alignment.colgen import Relaxation
from territory_opt.alignment.engine import solve_alignment
from territory_opt.alignment.formulation import build_alignment, row_layout
from territory_opt.alignment.lagrange import lagrangian_relaxation
from territory_opt.alignment.neighbourhoods import improve_by_neighbourhoods, territory_neighbours
from territory_opt.alignment.pairs import cost_block, nearest_pairs
from territory_opt.alignment.support import require_support
from territory_opt.backends.contract import SolveOptions, Status, stop_status
from territory_opt.cluster import dask_client
from territory_opt.deadline import Deadline, Stopwatch, stop_on_ctrl_c
from territory_opt.errors import Conflict, InfeasibleError, NoPlanFoundError, TerritoryOptError
from territory_opt.geo import unit_vectors
from territory_opt.outcome import settle
from territory_opt.plan import Plan
from territory_opt.scenario.model import NO_TERRITORY, Scenario, item_blocks
from territory_opt.scenario.subset import sub_scenario
from territory_opt.settings import SolveSettings, WarmStart

TERRITORIES_PER_REGION = 50
"""Default region size when regions are clustered: about the size solved well in a minute."""

BAND_NARROWING = 0.8
"""A region's summed band is narrowed to this share of its width around the target, leaving
its territories room to balance inside it. At 20,000 × 100 in 4 regions: 0.3 left the
regions' optima summing 3.0% above the whole model's bound, 0.5 2.0%, 0.8 0.1%; at 1.0 a
region found no plan in its time."""

REGRET_BUCKETS = 8
"""Items with the same two cheapest regions are grouped by regret quantile into this many."""

BOUND_SHARE = 0.2
"""Share of the time limit for the whole model's relaxation (the bound and the partition's
prices). The prices decide the partition: at 200,000 × 1,000 in 1,200 s, 20% (253 s of ascent)
left the stitched plan at 230.9M, 35% (438 s) at 225.0M and the final plan level with the whole
model's. But 45% for the regions left one of 20 regions without a plan in its 53 s when the
machine was busy; 60% has not failed. Better prices should come from a faster ascent, not
from the regions' time."""

REGIONS_SHARE = 0.6
"""Share of the time limit for the regions' solves, on every worker."""

EVALUATION_RESERVE = 0.02
"""Share of the time limit kept for evaluating the final plan (seconds at 200,000 items)."""

COORDINATION_CANDIDATES = 8
"""Nearest territories per item in the whole model the coordination pass works on."""


@dataclass(frozen=True)
class RegionResult:
    """What one region's solve sends back."""

    region: int
    assignment: np.ndarray  # local territory index per local item
    bound: float  # valid for the region's own scenario only
    status: str
    objective: float
    seconds: float
    error: str = ""


@dataclass(frozen=True)
class Decomposition:
    """How the scenario was cut, and what each region gave."""

    territory_region: np.ndarray  # region index per territory
    item_region: np.ndarray  # region index per item
    names: list[str]
    results: list[RegionResult]
    seconds: dict[str, float]
    stitched_objective: float  # the regions' plans put together, before coordination


def solve_decomposed(
    scenario: Scenario,
    *,
    regions: int | None = None,
    backend: str | None = None,
    time_limit: float | None = None,
    gap: float | None = None,
    seed: int | None = None,
    threads: int | None = None,
    warm_start: WarmStart = "construct",
    candidates: int | None = None,
    work_limit: float | None = None,
    verbose: bool = False,
    workers: int = 2,
    scheduler: str | None = None,
    progress: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[Plan, Decomposition]:
    """Solve ``scenario`` region by region (module docstring).

    The solve options are merged once, as for :func:`territory_opt.solve`
    (:meth:`SolveSettings.merged`: explicit argument > scenario ``solver:`` > defaults), and
    each is honoured or refused (:func:`refuse_unsupported`), never dropped:

    * ``backend``, ``gap``, ``seed``, ``verbose``: every region's solve;
    * ``time_limit``: the whole solve, roughly: 20% to the whole model's bound and prices, 60%
      to the regions (shared by size over the ``workers``), what is left to the coordination
      pass;
    * ``threads``: each region's solve and the coordination pass (default 1: regions run side
      by side, one thread each, so ``workers`` × ``threads`` cores are busy at once);
    * ``candidates``: the nearest territories offered per item in each region's solve;
    * ``warm_start``: ``construct`` or ``none`` in each region's solve; ``current`` and a
      given assignment are refused, and so is ``work_limit`` (see :func:`refuse_unsupported`).

    Parameters
    ----------
    regions
        Number of regions to cluster the territories into; ``None``: the ``region`` column,
        else one region per :data:`TERRITORIES_PER_REGION` territories.
    scheduler
        ``None`` a local Dask cluster of ``workers`` processes, ``"serial"`` in this process,
        or the address of a Dask scheduler (``tcp://HOST:PORT``).
    stop
        Set it (or press Ctrl-C) to end the bound and the coordination pass early.

    Raises
    ------
    TerritoryOptError
        For a scenario that cannot be decomposed (not an alignment, a disruption cap), or an
        option the decomposition cannot honour (naming it).
    InfeasibleError
        When no partition keeps every region's bands (the message says which).
    NoPlanFoundError
        When a region finds no plan in its share of the time.
    """
    settings = SolveSettings.merged(
        scenario, backend=backend, time_limit=time_limit, gap=gap, threads=threads, seed=seed,
        warm_start=warm_start, candidates=candidates, work_limit=work_limit, verbose=verbose)
    refuse_unsupported(settings)
    require_support(scenario, "decompose")  # the disruption cap and the groups: refused
    deadline = Deadline(settings.time_limit, stop=stop or threading.Event())
    with stop_on_ctrl_c(deadline.stop):
        return _decomposed(scenario, settings, deadline, regions, workers, scheduler,
                           progress or (lambda _message: None))


def refuse_unsupported(settings: SolveSettings) -> None:
    """Refuse, naming it, a solve option the decomposition cannot honour.

    Raises
    ------
    TerritoryOptError
        ``work_limit`` (the regions share the time limit by size over parallel workers, and
        the partition's prices come from a timed ascent: no deterministic effort to count);
        ``warm_start`` ``current`` or an assignment (the items are re-partitioned before the
        regions solve, so a whole-model start does not map onto the regions' models).
    """
    if settings.work_limit is not None:
        raise TerritoryOptError(
            f"--work-limit {settings.work_limit:g} (solver.work_limit) is not supported with "
            "--regions: the regions share the time limit by size over parallel workers, so "
            "their effort is not deterministic; give --time-limit instead, or solve without "
            "--regions")
    if settings.warm_start_name not in ("construct", "none"):
        shown = "a plan" if settings.warm_start_name == "assignment" else "current"
        raise TerritoryOptError(
            f"--warm-start {shown} is not supported with --regions: the items are "
            "re-partitioned into regions before the regions solve, so a start for the whole "
            "model is not one for the regions; use --warm-start construct or none")


def _decomposed(scenario: Scenario, settings: SolveSettings, deadline: Deadline,
                regions: int | None, workers: int, scheduler: str | None,
                say: Callable[[str], None]) -> tuple[Plan, Decomposition]:
    time_limit, gap, seed = settings.time_limit, settings.gap, settings.seed
    threads = settings.threads or 1
    backend = settings.backend_name
    if backend == "auto":
        # Chosen once, for the whole scenario and limit: a region's share of the time depends
        # on the scheduler, and every scheduler must give the same plan.
        backend = choose(scenario, settings).method
    seconds: dict[str, float] = {}
    labels, names = territory_regions(scenario, regions, seed)
    if not scenario.has_home.all() and regions is not None:
        raise TerritoryOptError("clustering needs every territory's home")
    say(f"{len(names)} regions of {np.bincount(labels).min()}–{np.bincount(labels).max()} "
        "territories")
    # The whole model's Lagrangian relaxation first: its bound holds whatever the partition,
    # and its band prices tell the partition which territories are short of load.
    watch = Stopwatch()
    relaxation = whole_relaxation(scenario, deadline.share(BOUND_SHARE), seed)
    bound = relaxation.bound
    seconds["bound"] = watch.seconds()
    say(f"bound for the whole model {bound:,.1f} in {seconds['bound']:.1f} s")
    seconds["partition"] = seconds["regions"] = 0.0
    while True:
        watch = Stopwatch()
        item_region = partition_items(scenario, labels, len(names), relaxation.duals)
        seconds["partition"] += watch.seconds()
        say(f"items to regions in {watch.seconds():.1f} s")
        tasks = [(r, sub_scenario(scenario, np.flatnonzero(item_region == r),
                                  np.flatnonzero(labels == r))) for r in range(len(names))]
        # The regions' share of the time on every worker, in proportion to their sizes.
        cells = np.array([sub.n_items * sub.n_territories for _, sub in tasks], dtype=float)
        parallel = 1 if scheduler == "serial" else min(workers, len(tasks))
        budget = REGIONS_SHARE * time_limit * parallel * cells / cells.sum()
        per_region = float(budget.min())
        # What each region's solve is told: the settings, one region's time, its threads.
        region_settings = dataclasses.replace(settings, backend=backend, threads=threads,
                                              progress=None)
        watch = Stopwatch()
        results = _run_regions(tasks, region_settings, budget, workers, scheduler, say,
                               deadline.stop)
        seconds["regions"] += watch.seconds()
        unsolved = [res for res in results if res.status == "failed"]
        if unsolved:  # out of time: merging would only make it harder
            raise NoPlanFoundError(
                f"{len(unsolved)} of {len(names)} regions found no plan in their share of the "
                f"time (the least {per_region:.0f} s; {unsolved[0].error}); give a longer "
                f"--time-limit ({REGIONS_SHARE:.0%} of it is shared by the regions, by size, "
                "over --workers) or more workers")
        failed = [res.region for res in results if res.error]
        if not failed:
            break
        if len(names) == 1:
            raise InfeasibleError([Conflict("balance", results[0].error)])
        # An infeasible region (too few territories to balance its lumpy items): merge it
        # into its nearest region and cut again (rare with ~50 territories, routine with 4).
        merged = merge_regions(scenario, labels, failed[0])
        say(f"region {names[failed[0]]} could not be solved ({results[failed[0]].error}); "
            "merged into its nearest region")
        names = [n for r, n in enumerate(names) if r != failed[0]]
        labels = merged
    seconds["merges"] = float(len(territory_regions(scenario, regions, seed)[1]) - len(names))

    assignment = np.full(scenario.n_items, NO_TERRITORY, dtype=np.int64)
    for res in results:
        items = np.flatnonzero(item_region == res.region)
        territories = np.flatnonzero(labels == res.region)
        assignment[items] = territories[res.assignment]

    watch = Stopwatch()
    # Coordination gets what is left (20% when every phase used its share; more when the
    # regions reached their gap early), less a reserve for evaluating the final plan.
    left = deadline.remaining() - EVALUATION_RESERVE * time_limit
    coordination = deadline.share(1.0, at_most=max(left, 0.0))
    options = SolveOptions(time_limit=coordination.remaining(), gap=gap, seed=seed,
                           threads=threads, stop=deadline.stop)
    stitched = Plan(scenario=scenario, assignment=assignment, status=Status.FEASIBLE,
                    bound=bound, backend="decomposed").objective
    say(f"stitched plan {stitched:,.1f}; coordinating across borders")
    assignment = coordinate(scenario, assignment, labels, bound, options, coordination)
    seconds["coordination"] = watch.seconds()
    seconds["total"] = deadline.elapsed()

    plan = Plan(scenario=scenario, assignment=assignment, status=Status.FEASIBLE, bound=bound,
                backend=f"decomposed ({backend})",
                bound_source="Lagrangian relaxation of the whole model, priced over all pairs",
                options={"time_limit": time_limit, "gap": gap, "seed": seed, "threads": threads,
                         "candidates": settings.candidates,
                         "warm_start": settings.warm_start_name, "regions": len(names),
                         "workers": workers},
                seconds=seconds, found_by=f"{len(names)} regions + border coordination",
                work=deadline.spent)
    # The one status rule, as for every solve; settle() then has the evaluator's last word.
    status, reason = stop_status(plan.objective, bound, gap_target=gap,
                                 interrupted=deadline.interrupted,
                                 solver_reason=deadline.limit_reason())
    plan = settle(dataclasses.replace(plan, status=status, stop_reason=reason))
    return plan, Decomposition(labels, item_region, names, results, seconds, stitched)


def territory_regions(scenario: Scenario, regions: int | None, seed: int
                      ) -> tuple[np.ndarray, list[str]]:
    """Region index per territory, and the regions' names: the ``region`` column when there is
    one and ``regions`` is None, else a recursive bisection of the homes into regions of equal
    size (k-means gave regions of 19 to 93 territories at 1,000, and the largest ran out of
    time)."""
    if regions is None and scenario.territory_region is not None:
        names, labels = np.unique(scenario.territory_region.astype(str), return_inverse=True)
        return labels.astype(np.int64), [str(n) for n in names]
    m = scenario.n_territories
    count = min(regions or max(1, round(m / TERRITORIES_PER_REGION)), m)
    if not scenario.has_home.all():
        raise TerritoryOptError("cutting territories into regions needs every home; give "
                                "a territories.region column instead")
    labels = np.zeros(m, dtype=np.int64)
    _bisect(scenario.home_lat, scenario.home_lon, np.arange(m), count, labels, 0)
    return labels, [f"R{r + 1}" for r in range(count)]


def _bisect(lat: np.ndarray, lon: np.ndarray, members: np.ndarray, count: int,
            labels: np.ndarray, first: int) -> None:
    """Cut ``members`` into ``count`` regions of (nearly) equal numbers of territories:
    recursively at the median along the wider of north-south and east-west. Equal regions
    make equal tasks, so the waves of parallel solves end together."""
    if count == 1:
        labels[members] = first
        return
    y = lat[members]
    x = lon[members] * np.cos(np.radians(float(np.mean(y))))
    axis = x if np.ptp(x) >= np.ptp(y) else y
    order = members[np.argsort(axis, kind="stable")]
    left = count // 2
    cut = round(len(members) * left / count)
    _bisect(lat, lon, order[:cut], left, labels, first)
    _bisect(lat, lon, order[cut:], count - left, labels, first + left)


def merge_regions(scenario: Scenario, labels: np.ndarray, region: int) -> np.ndarray:
    """Labels with ``region`` merged into the region whose homes' centre is nearest, then
    renumbered 0..R-2."""
    xyz = unit_vectors(scenario.home_lat, scenario.home_lon)
    count = int(labels.max()) + 1
    centre = np.array([xyz[labels == r].mean(axis=0) for r in range(count)])
    distance = np.linalg.norm(centre - centre[region], axis=1)
    distance[region] = np.inf
    target = int(np.argmin(distance))
    out = np.where(labels == region, target, labels)
    return np.unique(out, return_inverse=True)[1].astype(np.int64)


def partition_items(scenario: Scenario, labels: np.ndarray, n_regions: int,
                    duals: np.ndarray | None = None) -> np.ndarray:
    """Region per item: the transportation LP of the module docstring, rounded.

    Costs are Lagrangian when ``duals`` (the whole model's band prices) are given: an item's
    cost to a region is its cheapest ``c_ik − Σ_r a_r,ik y_r`` there. Raw costs ignore that a
    region's territories must share its items evenly: at 20,000 × 100 in 4 regions they put
    items next to a border territory that then had to pass them on to far ones, and the
    regions' own optima summed to 30% above the whole model's.

    The LP works on groups of items that look alike to it — same cheapest and second
    cheapest region, similar regret between them, same eligibility tags, same lock — so its
    size is groups × regions (thousands × tens at 200,000 items), not items × regions; a group
    split between regions is cut by its items' preferences.
    """
    region_cost = _region_costs(scenario, labels, n_regions, duals)
    if not np.isfinite(region_cost).any(axis=1).all():
        stuck = scenario.item_ids[~np.isfinite(region_cost).any(axis=1)][:5]
        raise InfeasibleError([Conflict("eligibility / distance",
                                        f"items {list(stuck)} may go to no territory")])
    group = _alike_groups(scenario, region_cost)
    n_groups = int(group.max()) + 1
    # A group may use a region only if every member may (sums of finite costs stay finite).
    group_cost = np.zeros((n_groups, n_regions))
    np.add.at(group_cost, group, region_cost)
    hard_bands = [band for band in row_layout(scenario).bands if band.penalty is None]
    weights = [np.bincount(group, weights=band.weight, minlength=n_groups)
               for band in hard_bands]
    share = _transport(group_cost, weights, hard_bands, labels, n_regions)
    return _split_groups(share, group, region_cost, hard_bands[0].weight if hard_bands
                         else np.ones(scenario.n_items))


def _alike_groups(scenario: Scenario, region_cost: np.ndarray) -> np.ndarray:
    """Group index per item: items with the same two cheapest regions, regret between them
    in the same one of :data:`REGRET_BUCKETS` quantiles, same eligibility and lock."""
    n_regions = region_cost.shape[1]
    if n_regions == 1:
        return np.zeros(scenario.n_items, dtype=np.int64)
    top = np.argsort(region_cost, axis=1, kind="stable")[:, :2]
    first = np.take_along_axis(region_cost, top, axis=1)
    regret = np.nan_to_num(first[:, 1] - first[:, 0], posinf=np.finfo(float).max)
    edges = np.unique(np.quantile(regret, np.linspace(0, 1, REGRET_BUCKETS + 1)[1:-1]))
    bucket = np.searchsorted(edges, regret)
    eligibility, _ = scenario.eligibility_groups
    lock = np.where(scenario.lock == NO_TERRITORY, scenario.n_territories, scenario.lock)
    _, group = np.unique(np.stack([top[:, 0], top[:, 1], bucket, eligibility, lock]), axis=1,
                         return_inverse=True)
    return np.asarray(group, dtype=np.int64).ravel()


def _transport(cost: np.ndarray, weights: list[np.ndarray], bands: list[Any],
               labels: np.ndarray, n_regions: int) -> np.ndarray:
    """Share of each group in each region: min Σ cost × share, every group placed once, every
    region's load of each band within its territories' summed band, narrowed."""
    n_groups = cost.shape[0]
    g_index, r_index = np.nonzero(np.isfinite(cost))
    c = cost[g_index, r_index]
    columns = np.arange(len(c))
    rows: list[sp.csr_array] = [sp.csr_array((np.ones(len(c)), (g_index, columns)),
                                             shape=(n_groups, len(c)))]
    lo: list[np.ndarray] = [np.ones(n_groups)]
    hi: list[np.ndarray] = [np.ones(n_groups)]
    for band, weight in zip(bands, weights, strict=True):
        target = (band.lo + band.hi) / 2 if np.all(np.isfinite(band.hi)) else band.lo
        band_lo = np.where(np.isfinite(band.lo), target - BAND_NARROWING * (target - band.lo),
                           band.lo)
        band_hi = np.where(np.isfinite(band.hi), target + BAND_NARROWING * (band.hi - target),
                           band.hi)
        rows.append(sp.csr_array((weight[g_index], (r_index, columns)),
                                 shape=(n_regions, len(c))))
        lo.append(np.bincount(labels, weights=np.nan_to_num(band_lo, neginf=0.0),
                              minlength=n_regions))
        hi.append(np.array([band_hi[labels == r].sum() for r in range(n_regions)]))
    a = sp.vstack(rows).tocsr()
    lower, upper = np.concatenate(lo), np.concatenate(hi)
    # linprog wants A_ub x <= b_ub: both sides of every row, infinite ones dropped.
    finite_hi, finite_lo = np.isfinite(upper), np.isfinite(lower)
    a_ub = sp.vstack([a[finite_hi], -a[finite_lo]]).tocsr()
    b_ub = np.concatenate([upper[finite_hi], -lower[finite_lo]])
    result = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=(0, 1), method="highs")
    if result.status != 0 or result.x is None:
        raise InfeasibleError([Conflict(
            "regions + balance", f"no split of the items over the {n_regions} regions keeps "
            "every region's load within its territories' bands (narrowed to "
            f"{BAND_NARROWING:.0%}); try fewer regions or a region column ({result.message})")])
    share = np.zeros(cost.shape)
    share[g_index, r_index] = np.clip(result.x, 0.0, 1.0)
    return share


def _split_groups(share: np.ndarray, group: np.ndarray, region_cost: np.ndarray,
                  weight: np.ndarray) -> np.ndarray:
    """Region per item from its group's shares: a whole group where the LP put it whole; a
    split group's items by how much they prefer each region, filling each region's share of
    the group's weight."""
    out = np.argmax(share, axis=1)[group]
    split = np.flatnonzero((share > 1e-9).sum(axis=1) > 1)
    for g in split:
        members = np.flatnonzero(group == g)
        regions = np.flatnonzero(share[g] > 1e-9)
        regions = regions[np.argsort(-share[g, regions])]
        quota = share[g, regions] * weight[members].sum()
        # Each item to the region (among the group's) it prefers most while quota is left.
        regret = region_cost[np.ix_(members, regions)]
        order = np.argsort(regret[:, 0] - regret.min(axis=1), kind="stable")
        for i in order:
            choice = np.argsort(regret[i], kind="stable")
            fits = [j for j in choice if quota[j] >= weight[members[i]] / 2]
            j = fits[0] if fits else int(np.argmax(quota))
            out[members[i]] = regions[j]
            quota[j] -= weight[members[i]]
    return np.asarray(out, dtype=np.int64)


def _region_costs(scenario: Scenario, labels: np.ndarray, n_regions: int,
                  duals: np.ndarray | None = None) -> np.ndarray:
    """Per item and region, the cheapest allowed pair cost to a territory of that region
    (Lagrangian, ``c − Σ a·y``, when the band rows' ``duals`` are given)."""
    n = scenario.n_items
    out = np.full((n, n_regions), np.inf)
    order = np.argsort(labels, kind="stable")
    starts = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1]])
    present = labels[order][starts]
    layout = row_layout(scenario)
    for block in item_blocks(n, scenario.n_territories):
        cost = cost_block(scenario, block)
        if duals is not None:
            cost = cost - layout.dual_terms(duals, np.arange(block.start, block.stop))
        out[block][:, present] = np.minimum.reduceat(cost[:, order], starts, axis=1)
    return out


def _solve_region(region: int, sub: Scenario, settings: SolveSettings, time_limit: float,
                  stop: threading.Event | None = None) -> RegionResult:
    """One region's plan, by the alignment engine with the decomposition's ``settings`` and
    the region's ``time_limit`` (its share of the regions' time, fixed when the task was
    sent: the task may run in another process), settled on the region's own numbers.
    ``stop``: the decomposition's stop signal, when the region runs in this process."""
    watch = Stopwatch()
    settings = dataclasses.replace(settings, time_limit=time_limit)
    try:
        deadline = Deadline(time_limit, stop=stop or threading.Event())
        plan = settle(solve_alignment(sub, settings, deadline))
        return RegionResult(region, plan.assignment, plan.bound, str(plan.status),
                            plan.objective, watch.seconds())
    except InfeasibleError as exc:
        return RegionResult(region, np.zeros(0, np.int64), -np.inf, "infeasible", np.inf,
                            watch.seconds(), error=str(exc).splitlines()[0])
    except TerritoryOptError as exc:  # no plan in time, or a solver's refusal
        return RegionResult(region, np.zeros(0, np.int64), -np.inf, "failed", np.inf,
                            watch.seconds(), error=str(exc).splitlines()[0])


def _run_regions(tasks: list[tuple[int, Scenario]], settings: SolveSettings,
                 budget: np.ndarray, workers: int, scheduler: str | None,
                 say: Callable[[str], None], stop: threading.Event | None = None
                 ) -> list[RegionResult]:
    """The regions' solves, ``budget[r]`` seconds each: in this process, or on a Dask cluster
    (largest regions first)."""
    tasks = sorted(tasks, key=lambda t: -t[1].n_items * t[1].n_territories)
    if scheduler == "serial":
        results = []
        for region, sub in tasks:
            results.append(_solve_region(region, sub, settings, float(budget[region]), stop))
            say(f"region {region + 1}/{len(tasks)} solved")
        return sorted(results, key=lambda res: res.region)
    from distributed import as_completed

    with dask_client(scheduler, workers) as client:
        futures = [client.submit(_solve_region, region, sub, settings, float(budget[region]),
                                 key=f"region-{region}-{settings.seed}", retries=2,
                                 pure=False)
                   for region, sub in tasks]
        results = []
        for done, result in as_completed(futures, with_results=True):
            results.append(result)
            say(f"region {result.region + 1}: {result.status} in {result.seconds:.0f} s "
                f"({len(results)}/{len(tasks)})")
            del done
        return sorted(results, key=lambda res: res.region)


def whole_relaxation(scenario: Scenario, deadline: Deadline, seed: int) -> Relaxation:
    """The whole scenario's Lagrangian relaxation of its band rows (subgradient ascent over
    each item's nearest territories, priced over every pair): its bound holds whatever the
    partition, and its prices steer the partition.

    The regions' own LP band prices would be a natural start for a bound, but each region's
    prices have their own level: put together they bound the demo at −6.4M where the LP is
    0.72M (items flock across borders to the cheapest region), and the ascent does not recover
    from there.
    """
    pairs = nearest_pairs(scenario, COORDINATION_CANDIDATES)
    options = SolveOptions(seed=seed, threads=1).within(deadline)
    return lagrangian_relaxation(scenario, pairs, options, deadline)


def coordinate(scenario: Scenario, assignment: np.ndarray, labels: np.ndarray, bound: float,
               options: SolveOptions, deadline: Deadline) -> np.ndarray:
    """Neighbourhood MIPs around the territories that border another region, then around any
    territory while time is left, on the whole model (each item's nearest territories plus
    its place in the stitched plan)."""
    if len(np.unique(labels)) < 2 or deadline.over(0.5):
        return assignment
    pairs = nearest_pairs(scenario, COORDINATION_CANDIDATES)
    pairs = pairs.with_pairs(np.arange(scenario.n_items), assignment, scenario.n_territories)
    model = build_alignment(scenario, pairs)
    x = model.start_vector(assignment)
    neighbours = territory_neighbours(model, assignment, 4)
    border = np.flatnonzero((labels[neighbours] != labels[:, None]).any(axis=1))
    improved = improve_by_neighbourhoods(model, x, bound, options, deadline, seeds=border)
    # Time left: every territory's neighbourhood, borders or not.
    if deadline.remaining() > 1.0 and not deadline.expired():
        improved = improve_by_neighbourhoods(model, improved.x, bound, options, deadline)
    return model.assignment(improved.x)
