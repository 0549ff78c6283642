"""Districting heuristic for thousands to tens of thousands of units: seeded region growing that
keeps every district connected, then local search that never disconnects a district.

Two kinds of step, both keeping every district connected:

* single-unit moves between neighbouring districts, refused when the unit's district would
  split (:func:`~territory_opt.districting.contiguity.removal_keeps_connected`), annealed;
* recombination (ReCom): two neighbouring districts merged and cut again at an edge of a random
  spanning tree, both sides connected by construction. With narrow bands (±0.5% of a county
  population) almost every single move breaks a band, and recombination is what reaches and
  crosses the feasible plans.

First the search gets inside the bands (annealing the violation, measured in band widths, and
recombining the most violating district toward the nearest one with room), then it anneals the
objective with moves that keep every band, recombining between cycles and going back to the
best plan after a cycle that found nothing better. Only plans inside every band are kept.

Deterministic for a given seed and ``iterations``; a time limit or stop flag cuts the same
sequence of moves short. The bound is cheap and says what it is in ``method``/``log``.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from territory_opt.backends.contract import Status
from territory_opt.districting.contiguity import (
    Adjacency,
    best_centres,
    candidate_units,
    cost_columns,
    objective_value,
    plan_problems,
    removal_keeps_connected,
)
from territory_opt.districting.problem import DistrictingProblem, DistrictingResult

FEASIBLE = 1e-9
"""Largest relative band violation counted as keeping the band (float sums of weights)."""

LP_BOUND_CELLS = 200_000
"""The LP bound is built up to this many unit × centre variables; above, the trivial bound."""


def solve_heuristic(problem: DistrictingProblem, *, time_limit: float, seed: int = 0,
                    start: np.ndarray | None = None, stop: threading.Event | None = None,
                    iterations: int | None = None, bound: bool = True,
                    patience: float | None = None) -> DistrictingResult:
    """Districts by region growing and annealing; the best plan inside the bands.

    Parameters
    ----------
    problem : DistrictingProblem
    time_limit : float
        Seconds for everything (growing, search, bound).
    seed : int
        Seeds the random choices: same seed and ``iterations``, same plan.
    start : numpy.ndarray, optional
        District per unit to start from; pieces cut off from their district are regrown.
    stop : threading.Event, optional
        When set, the search ends and the best plan so far is returned.
    iterations : int, optional
        Move attempts at most (default: until the time limit).
    bound : bool
        Whether to spend time on a lower bound (the LP without contiguity, for costs).
    patience : float, optional
        End the search once this many seconds pass without a better plan (a warm start for
        the exact solver need not use all its time).

    Returns
    -------
    DistrictingResult
        FEASIBLE with the best plan (OPTIMAL when it meets the bound), INFEASIBLE when a cheap
        argument proves there is no plan, NO_PLAN when the search found none.
    """
    started = time.perf_counter()
    deadline = started + max(time_limit, 0.0)
    adj = Adjacency.of(problem)
    proof = infeasibility_reason(problem, adj)
    if proof:
        return _result(problem, None, -math.inf, Status.INFEASIBLE, started, "heuristic", proof)
    lower, bound_note = (trivial_bound(problem, adj) if not bound
                         else lower_bound(problem, adj, deadline, share=0.2))
    rng = random.Random(seed)
    labels = initial_plan(problem, adj, rng, start)
    search = _Search(problem, adj, labels, rng)
    log = [f"bound: {bound_note}"]
    if search.infeasible_start:
        log.append("growing left a district disconnected (locks apart?)")
    else:
        search.run(_Clock(deadline, stop, iterations, patience), lower)
    log.append(search.summary())
    if search.best is None:
        return _result(problem, None, lower, Status.NO_PLAN, started, "heuristic", *log)
    plan = np.asarray(search.best, dtype=np.int64)
    centres = search.best_centres
    issues = plan_problems(problem, plan, centres)
    if issues:  # a guard: the search keeps every rule by construction
        log.append("best plan rejected: " + "; ".join(issues))
        return _result(problem, None, lower, Status.NO_PLAN, started, "heuristic", *log)
    value = objective_value(problem, plan, centres)
    status = Status.OPTIMAL if value <= lower + 1e-9 * max(1.0, abs(value)) else Status.FEASIBLE
    return DistrictingResult(labels=plan, objective=value, bound=lower, status=status,
                             seconds=time.perf_counter() - started,
                             method=f"heuristic (region growing + annealing); bound: "
                                    f"{bound_note}",
                             centres=centres, log="\n".join(log))


def _result(problem: DistrictingProblem, labels: np.ndarray | None, bound: float,
            status: Status, started: float, method: str, *log: str) -> DistrictingResult:
    return DistrictingResult(labels=labels, objective=math.inf, bound=bound, status=status,
                             seconds=time.perf_counter() - started, method=method,
                             log="\n".join(log))


# --- proofs and bounds -----------------------------------------------------------------------


def infeasibility_reason(problem: DistrictingProblem, adj: Adjacency) -> str:
    """A short proof that no plan exists, from totals and graph components; "" if none found."""
    for band in problem.bands:
        total = float(np.sum(band.weight))
        if total < float(np.sum(band.lo)) - 1e-9 * max(1.0, abs(total)):
            return f"band {band.name}: total {total:g} is below the sum of the lower limits"
        if total > float(np.sum(band.hi)) + 1e-9 * max(1.0, abs(total)):
            return f"band {band.name}: total {total:g} is above the sum of the upper limits"
    if problem.k > problem.n_units:
        return f"{problem.k} districts from {problem.n_units} units"
    if not problem.contiguity:
        return ""
    comp = _graph_components(adj)
    n_comp = int(comp.max()) + 1 if len(comp) else 0
    if n_comp > problem.k:
        return f"the adjacency graph has {n_comp} pieces, more than {problem.k} districts"
    anchors = _anchors(problem)
    for j, units in enumerate(anchors):
        if len({int(comp[u]) for u in units}) > 1:
            return f"district {j}'s locked units and centre lie in different graph pieces"
    if problem.fixed_centres is not None:
        seeded = {int(comp[u]) for u in problem.fixed_centres}
        if len(seeded) < n_comp:
            return "a piece of the adjacency graph holds no fixed centre"
    return ""


def _graph_components(adj: Adjacency) -> np.ndarray:
    from territory_opt.districting.contiguity import components

    return components(adj, np.zeros(adj.n, dtype=np.int64))


def _anchors(problem: DistrictingProblem) -> list[list[int]]:
    """Units each district must hold: its fixed centre first, then its locked units."""
    out: list[list[int]] = [[] for _ in range(problem.k)]
    if problem.fixed_centres is not None:
        for j, c in enumerate(np.asarray(problem.fixed_centres).tolist()):
            out[j].append(int(c))
    if problem.lock is not None:
        for u in np.flatnonzero(np.asarray(problem.lock) >= 0).tolist():
            j = int(problem.lock[u])
            if u not in out[j]:
                out[j].append(u)
    return out


def trivial_bound(problem: DistrictingProblem, adj: Adjacency) -> tuple[float, str]:
    """A bound that costs nothing: ``k - pieces`` cut edges (the k districts, contracted, still
    connect each piece of the graph), or every unit at its cheapest allowed centre."""
    if problem.objective == "cut_edges":
        pieces = int(_graph_components(adj).max()) + 1
        return float(max(problem.k - pieces, 0)), "k - graph pieces (districts contracted)"
    assert problem.cost is not None
    cost = np.asarray(problem.cost, dtype=float)
    cheapest = cost.min(axis=1)
    if problem.lock is not None and problem.fixed_centres is not None:
        locked = np.flatnonzero(np.asarray(problem.lock) >= 0)
        cheapest[locked] = cost[locked, np.asarray(problem.lock)[locked]]
    return float(cheapest.sum()), "each unit at its cheapest centre"


def lower_bound(problem: DistrictingProblem, adj: Adjacency, deadline: float,
                share: float) -> tuple[float, str]:
    """The LP relaxation without contiguity when it is small enough to solve in ``share`` of
    the time left (HiGHS), else :func:`trivial_bound`. Both are valid bounds."""
    fallback = trivial_bound(problem, adj)
    if problem.objective == "cut_edges":
        return fallback
    budget = share * (deadline - time.perf_counter())
    assert problem.cost is not None
    cells = problem.n_units * problem.cost.shape[1]
    if budget < 0.05 or cells > LP_BOUND_CELLS:
        return fallback
    from territory_opt.districting.exact import relaxation_lp

    value = relaxation_lp(problem, budget)
    if value is None or value <= fallback[0]:
        return fallback
    return value, "LP relaxation without contiguity (HiGHS)"


# --- the first plan --------------------------------------------------------------------------


def initial_plan(problem: DistrictingProblem, adj: Adjacency, rng: random.Random,
                 start: np.ndarray | None = None) -> list[int]:
    """A plan with every district connected where growing can make it so.

    From ``start`` (pieces of a district not holding its anchor, or not its largest, are
    regrown), else from seeds: fixed centres and locked units, then spread units (farthest in
    hops from the seeds so far; candidates only when centres are chosen).
    """
    nbrs = adj.lists()
    labels = [-1] * problem.n_units
    anchors = _anchors(problem)
    for j, units in enumerate(anchors):
        for u in units:
            labels[u] = j
    if start is not None:
        _keep_start(problem, adj, labels, np.asarray(start, dtype=np.int64), anchors)
    for j, units in enumerate(anchors):
        _connect(nbrs, labels, j, units)
    _add_seeds(problem, nbrs, labels, rng)
    _grow(problem, nbrs, labels, rng)
    return labels


def _keep_start(problem: DistrictingProblem, adj: Adjacency, labels: list[int],
                start: np.ndarray, anchors: list[list[int]]) -> None:
    """Copy ``start`` into ``labels``, keeping one piece per district: the one with its anchor,
    else the heaviest in units; the rest is left for growing."""
    from territory_opt.districting.contiguity import components

    if start.shape != (problem.n_units,):
        return
    lab = np.where((start >= 0) & (start < problem.k), start, -1)
    locked = np.asarray([x >= 0 for x in labels])
    lab[locked] = np.asarray(labels)[locked]
    comp = components(adj, lab)
    for j in range(problem.k):
        members = np.flatnonzero(lab == j)
        if not len(members):
            continue
        if anchors[j]:
            keep = int(comp[anchors[j][0]])
        else:
            ids, counts = np.unique(comp[members], return_counts=True)
            keep = int(ids[np.argmax(counts)])
        for u in members[comp[members] == keep].tolist():
            labels[u] = j


def _connect(nbrs: list[list[int]], labels: list[int], j: int, units: list[int]) -> None:
    """Join the anchors of district ``j`` by shortest paths through unassigned units."""
    if len(units) < 2:
        return
    for target in units[1:]:
        seen = {target: -1}
        queue = deque([target])
        hit = -1
        while queue and hit < 0:
            v = queue.popleft()
            for w in nbrs[v]:
                if w in seen:
                    continue
                if labels[w] == j and w != target:
                    seen[w] = v
                    hit = w
                    break
                if labels[w] == -1:
                    seen[w] = v
                    queue.append(w)
        while hit >= 0:  # walk back from the district to the target, claiming the path
            labels[hit] = j
            hit = seen[hit]


def _add_seeds(problem: DistrictingProblem, nbrs: list[list[int]], labels: list[int],
               rng: random.Random) -> None:
    """One seed for every district still empty, each as far (in hops) from the others as
    possible; among candidates when centres are chosen."""
    empty = [j for j in range(problem.k) if j not in set(labels)]
    if not empty:
        return
    allowed = np.zeros(problem.n_units, dtype=bool)
    if problem.objective != "cut_edges" and problem.fixed_centres is None:
        allowed[candidate_units(problem)] = True
    else:
        allowed[:] = True
    hops = _hops(nbrs, [u for u, j in enumerate(labels) if j >= 0], problem.n_units)
    seeded = np.isfinite(hops)  # units in a graph piece that holds a district already
    if not seeded.any():
        # no seed yet: start from the unit farthest from a random one (the periphery)
        first = rng.randrange(problem.n_units)
        hops = _hops(nbrs, [first], problem.n_units)
        hops[~np.isfinite(hops)] = 0
    for j in empty:
        free = allowed & (np.asarray(labels) < 0)
        if not free.any():
            break
        # Every graph piece (an island kept apart by bridges: false) gets a district before
        # any piece gets a second: growing never crosses from one piece to another.
        pool = free & ~seeded if (free & ~seeded).any() else free
        score = np.where(pool, np.where(np.isfinite(hops), hops, 1e18), -1.0)
        best = np.flatnonzero(score == score.max())
        u = int(best[rng.randrange(len(best))])
        labels[u] = j
        reach = _hops(nbrs, [u], problem.n_units)
        seeded |= np.isfinite(reach)
        hops = np.minimum(hops, reach)


def _hops(nbrs: list[list[int]], sources: list[int], n: int) -> np.ndarray:
    """Hop distance from the nearest source (inf where unreachable)."""
    dist = [math.inf] * n
    queue = deque(sources)
    for s in sources:
        dist[s] = 0
    while queue:
        v = queue.popleft()
        for w in nbrs[v]:
            if dist[w] == math.inf:
                dist[w] = dist[v] + 1
                queue.append(w)
    return np.asarray(dist, dtype=float)


def _grow(problem: DistrictingProblem, nbrs: list[list[int]], labels: list[int],
          rng: random.Random) -> None:
    """Grow the districts from what they hold: the least filled district takes its best
    neighbouring unit (most neighbours inside for cut edges, else cheapest to its centre), until
    it would pass its upper limit; what is left goes to the least filled neighbouring district.
    """
    import heapq

    k, n = problem.k, problem.n_units
    weight, target = _primary(problem)
    lock = np.asarray(problem.lock) if problem.lock is not None else np.full(n, -1)
    centre_col = _growth_columns(problem, labels)
    load = [0.0] * k
    count: dict[tuple[int, int], int] = {}
    heaps: list[list[tuple[float, float, int]]] = [[] for _ in range(k)]

    def key(v: int, j: int) -> float:
        if centre_col is None:
            return -float(count.get((v, j), 0))
        return float(problem.cost[v, centre_col[j]])  # type: ignore[index]

    def push_neighbours(u: int, j: int) -> None:
        for w in nbrs[u]:
            if labels[w] == -1 and lock[w] in (-1, j):
                count[(w, j)] = count.get((w, j), 0) + 1
                heapq.heappush(heaps[j], (key(w, j), rng.random(), w))

    for u, j in enumerate(labels):
        if j >= 0:
            load[j] += weight[u]
    for u, j in enumerate(labels):
        if j >= 0:
            push_neighbours(u, j)
    full = [False] * k
    while True:
        open_ = [j for j in range(k) if not full[j] and heaps[j]]
        if not open_:
            break
        j = min(open_, key=lambda d: (load[d] / target[d], d))
        v = -1
        while heaps[j]:
            kv, _, w = heapq.heappop(heaps[j])
            if labels[w] == -1 and kv <= key(w, j) + 1e-12:
                v = w
                break
        if v < 0:
            continue
        if load[j] + weight[v] > problem_hi(problem, j) and load[j] > 0:
            full[j] = True
            heapq.heappush(heaps[j], (key(v, j), rng.random(), v))
            continue
        labels[v] = j
        load[j] += weight[v]
        push_neighbours(v, j)
    _sweep(nbrs, labels, load, target, lock)


def _sweep(nbrs: list[list[int]], labels: list[int], load: list[float], target: list[float],
           lock: np.ndarray) -> None:
    """Give every unit still unassigned to the least filled neighbouring district."""
    pending = [u for u, j in enumerate(labels) if j == -1]
    while pending:
        left = []
        for u in pending:
            options = {labels[w] for w in nbrs[u] if labels[w] >= 0}
            if lock[u] >= 0:
                options &= {int(lock[u])}
            if not options:
                left.append(u)
                continue
            j = min(options, key=lambda d: (load[d] / target[d], d))
            labels[u] = j
        if len(left) == len(pending):
            return  # units no district can reach (a graph piece without a seed)
        pending = left


def _primary(problem: DistrictingProblem) -> tuple[list[float], list[float]]:
    """Weights and per-district targets of the band that steers growing (the first; unit
    counts when there is none)."""
    if not problem.bands:
        return [1.0] * problem.n_units, [problem.n_units / problem.k] * problem.k
    band = problem.bands[0]
    mid = (np.asarray(band.lo, float) + np.asarray(band.hi, float)) / 2
    mid = np.where(mid > 0, mid, max(float(np.mean(mid)), 1e-9))
    return np.asarray(band.weight, float).tolist(), mid.tolist()


def problem_hi(problem: DistrictingProblem, j: int) -> float:
    """Upper limit of district ``j`` in the first band (inf without bands)."""
    return float(problem.bands[0].hi[j]) if problem.bands else math.inf


def _growth_columns(problem: DistrictingProblem, labels: list[int]) -> list[int] | None:
    """Cost column steering each district's growth: its fixed centre's, or the candidate
    nearest its seed; None for cut edges."""
    if problem.objective == "cut_edges" or problem.cost is None:
        return None
    if problem.fixed_centres is not None:
        return list(range(problem.k))
    cands = candidate_units(problem).tolist()
    where = {u: c for c, u in enumerate(cands)}
    out = []
    for j in range(problem.k):
        seed = next((u for u, d in enumerate(labels) if d == j), -1)
        if seed in where:
            out.append(where[seed])
        elif seed >= 0:
            out.append(int(np.argmin(problem.cost[seed])))
        else:
            out.append(0)
    return out


# --- the local search ------------------------------------------------------------------------


@dataclass
class _Stats:
    moves: int = 0
    tried: int = 0
    split: int = 0
    cycles: int = 0
    recombinations: int = 0
    recombined: int = 0


class _Clock:
    """Deadline, stop flag and move-attempt budget of one search."""

    def __init__(self, deadline: float, stop: threading.Event | None,
                 iterations: int | None, patience: float | None = None) -> None:
        self.deadline, self.stop = deadline, stop
        self.left = math.inf if iterations is None else float(iterations)
        self.patience = math.inf if patience is None else patience
        self.improved = math.inf  # when the last better plan was found (none yet)

    def over(self, spend: int = 0) -> bool:
        """Whether the search must end (after charging ``spend`` attempts)."""
        self.left -= spend
        now = time.perf_counter()
        return (self.left <= 0 or now > self.deadline or now - self.improved > self.patience
                or (self.stop is not None and self.stop.is_set()))


class _Region:
    """Two neighbouring districts merged, for recombination: units, inner edges, anchors."""

    def __init__(self, search: _Search, a: int, b: int) -> None:
        lab = search.labels
        self.a, self.b = a, b
        units = [u for u, d in enumerate(lab) if d in (a, b)]
        self.units = units
        self.size = len(units)
        local = {u: i for i, u in enumerate(units)}
        self.local = local
        edges = [(local[u], local[w]) for u in units for w in search.nbrs[u]
                 if w > u and w in local]
        self.edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        # anchors: pinned units keep their district
        self.anchor = [lab[u] if search.pinned[u] else -1 for u in units]
        self.weights = [[w[u] for u in units] for w in search.w]
        self.cost_a = self.cost_b = None
        if not search.cut:
            assert search.cost is not None
            idx = np.asarray(units)
            self.cost_a = search.cost[idx, search.cols[a]].tolist()
            self.cost_b = search.cost[idx, search.cols[b]].tolist()

    def score_current(self, search: _Search, favour: int = -1) -> tuple[float, float, float]:
        """(violation, the ``favour`` district's own violation, objective) as they are."""
        viol = sum(search._term(i, d, search.load[i][d]) for i in range(len(search.w))
                   for d in (self.a, self.b))
        own = (sum(search._term(i, favour, search.load[i][favour])
                   for i in range(len(search.w))) if favour >= 0 else 0.0)
        lab = search.labels
        side = np.asarray([lab[u] == self.a for u in self.units])
        return viol, own, self._objective(side)

    def _objective(self, side: np.ndarray) -> float:
        """Objective of the region's split (``side``: the units going to a)."""
        if self.cost_a is None:
            e = self.edges
            return float(np.count_nonzero(side[e[:, 0]] != side[e[:, 1]]))
        ca, cb = np.asarray(self.cost_a), np.asarray(self.cost_b)
        return float(ca[side].sum() + cb[~side].sum())

    def best_cut(self, search: _Search, rng: random.Random, hard: bool,
                 favour: int = -1) -> tuple[float, float, float, list[int]] | None:
        """Best split of one random spanning tree: (violation, the ``favour`` district's own
        violation, objective, units to a)."""
        n = self.size
        order, parent = self._random_tree(rng)
        if len(order) < n:
            return None  # the union is not connected (cannot happen for neighbours)
        nb = len(self.weights)
        sub = [[0.0] * n for _ in range(nb)]
        anchors_a = [0] * n
        anchors_b = [0] * n
        for v in reversed(order):
            for i in range(nb):
                sub[i][v] += self.weights[i][v]
            anchors_a[v] += self.anchor[v] == self.a
            anchors_b[v] += self.anchor[v] == self.b
            p = parent[v]
            if p >= 0:
                for i in range(nb):
                    sub[i][p] += sub[i][v]
                anchors_a[p] += anchors_a[v]
                anchors_b[p] += anchors_b[v]
        root = order[0]
        total = [sub[i][root] for i in range(nb)]
        all_a, all_b = anchors_a[root], anchors_b[root]
        options: list[tuple[float, float, int, bool]] = []
        for v in order[1:]:
            for to_a in (True, False):
                da, db = (self.a, self.b) if to_a else (self.b, self.a)
                if to_a and (anchors_b[v] or anchors_a[v] != all_a):
                    continue
                if not to_a and (anchors_a[v] or anchors_b[v] != all_b):
                    continue
                part = [search._term(i, da, sub[i][v]) for i in range(nb)]
                rest = [search._term(i, db, total[i] - sub[i][v]) for i in range(nb)]
                viol = sum(part) + sum(rest)
                if hard and viol > FEASIBLE:
                    continue
                own = sum(part) if da == favour else sum(rest) if db == favour else 0.0
                options.append((viol, own, v, to_a))
        if not options:
            return None
        options.sort(key=lambda t: t[:2])
        least = options[0][:2]
        chosen = [o for o in options if o[0] <= least[0] + 1e-12 and o[1] <= least[1] + 1e-12]
        members = self._subtrees(order, parent)
        best: tuple[float, float, float, list[int]] | None = None
        for viol, own, v, to_a in chosen[:16]:
            inside = members(v)
            side = inside if to_a else ~inside
            value = self._objective(side)
            if best is None or (viol, own, value) < best[:3]:
                best = (viol, own, value,
                        [self.units[i] for i in np.flatnonzero(side).tolist()])
        return best

    def _random_tree(self, rng: random.Random) -> tuple[list[int], list[int]]:
        """A random spanning tree (Kruskal on random edge weights): BFS order and parents."""
        n = self.size
        up = list(range(n))

        def find(x: int) -> int:
            while up[x] != x:
                up[x] = up[up[x]]
                x = up[x]
            return x

        edges = self.edges.tolist()
        rng.shuffle(edges)
        adj: list[list[int]] = [[] for _ in range(n)]
        for u, v in edges:
            ru, rv = find(u), find(v)
            if ru != rv:
                up[ru] = rv
                adj[u].append(v)
                adj[v].append(u)
        parent = [-1] * n
        root = rng.randrange(n)
        order = [root]
        seen = [False] * n
        seen[root] = True
        for v in order:
            for w in adj[v]:
                if not seen[w]:
                    seen[w] = True
                    parent[w] = v
                    order.append(w)
        return order, parent

    def _subtrees(self, order: list[int],
                  parent: list[int]) -> Callable[[int], np.ndarray]:
        """A function giving the boolean mask of the subtree below a unit (Euler intervals)."""
        n = self.size
        children: list[list[int]] = [[] for _ in range(n)]
        for v in order[1:]:
            children[parent[v]].append(v)
        tin = [0] * n
        tout = [0] * n
        clock = 0
        stack = [(order[0], False)]
        while stack:
            v, done = stack.pop()
            if done:
                tout[v] = clock
                continue
            tin[v] = clock
            clock += 1
            stack.append((v, True))
            stack.extend((c, False) for c in children[v])
        tin_a = np.asarray(tin)
        tout_a = np.asarray(tout)

        def members(v: int) -> np.ndarray:
            return np.asarray((tin_a >= tin_a[v]) & (tin_a < tout_a[v]))

        return members


class _Search:
    """Simulated annealing over boundary moves; the state is plain Python lists for speed."""

    def __init__(self, problem: DistrictingProblem, adj: Adjacency, labels: list[int],
                 rng: random.Random) -> None:
        self.p = problem
        self.nbrs = adj.lists()
        self.rng = rng
        self.labels = labels
        self.k = problem.k
        self.stats = _Stats()
        self.clock = _Clock(math.inf, None, None)
        self.best: list[int] | None = None
        self.best_value = math.inf
        self.best_centres: np.ndarray | None = None
        self.infeasible_start = (any(x < 0 for x in labels)
                                 or (problem.contiguity and not _all_connected(adj, labels,
                                                                               self.k)))
        self._bands()
        self.cut = problem.objective == "cut_edges"
        self.pinned = [False] * problem.n_units
        if problem.lock is not None:
            for u in np.flatnonzero(np.asarray(problem.lock) >= 0).tolist():
                self.pinned[u] = True
        self.cost: np.ndarray | None = None
        self.centres: list[int] = []
        self.cols: list[int] = []
        if not self.cut:
            assert problem.cost is not None
            self.cost = np.asarray(problem.cost, dtype=float)
        if self.infeasible_start:
            return
        self._set_centres()
        self._boundary()
        self.value = self._value()
        self.scale = self._objective_scale()

    # state -------------------------------------------------------------------------------------

    def _bands(self) -> None:
        p = self.p
        self.w = [np.asarray(b.weight, float).tolist() for b in p.bands]
        self.lo = [np.asarray(b.lo, float).tolist() for b in p.bands]
        self.hi = [np.asarray(b.hi, float).tolist() for b in p.bands]
        self.inv = []
        widths = []
        for b in p.bands:
            mid = float(np.mean((np.asarray(b.lo, float) + np.asarray(b.hi, float)) / 2))
            size = abs(mid) if abs(mid) > 1e-12 else 1.0
            self.inv.append(1.0 / size)
            widths.append(float(np.mean(np.asarray(b.hi, float) - np.asarray(b.lo, float)))
                          / size)
        self.width = max(min(widths), 1e-4) if widths else 1.0
        # a typical unit's weight in band widths: the violation one move makes
        moves = [float(np.median(np.abs(b.weight))) * inv / self.width
                 for b, inv in zip(p.bands, self.inv, strict=True)]
        self.unit_move = max(max(moves), 1e-6) if moves else 1.0
        self._loads()

    def _loads(self) -> None:
        lab = np.asarray(self.labels)
        self.load = [np.bincount(lab, weights=np.asarray(w), minlength=self.k).tolist()
                     for w in self.w]
        self.viol = sum(self._term(b, j, self.load[b][j])
                        for b in range(len(self.w)) for j in range(self.k))

    def _term(self, b: int, j: int, load: float) -> float:
        lo: float = self.lo[b][j]
        hi: float = self.hi[b][j]
        if load < lo:
            return (lo - load) * self.inv[b]
        if load > hi:
            return (load - hi) * self.inv[b]
        return 0.0

    def _set_centres(self) -> None:
        """Pin each district's centre (fixed, or the best candidate inside it)."""
        p = self.p
        if self.cut:
            return
        for c in self.centres:
            if p.lock is None or p.lock[c] < 0:
                self.pinned[c] = False
        centres = best_centres(p, np.asarray(self.labels))
        self.centres = centres.tolist()
        if np.any(centres < 0):
            self.cols = _growth_columns(p, self.labels) or []
            return
        self.cols = cost_columns(p, centres).tolist()
        for c in self.centres:
            self.pinned[c] = True

    def _boundary(self) -> None:
        lab = self.labels
        self.foreign = [sum(1 for w in nb if lab[w] != lab[u]) for u, nb in enumerate(self.nbrs)]
        self.blist: list[int] = []
        self.bpos = [-1] * len(lab)
        for u, f in enumerate(self.foreign):
            if f:
                self._badd(u)

    def _badd(self, u: int) -> None:
        if self.bpos[u] < 0:
            self.bpos[u] = len(self.blist)
            self.blist.append(u)

    def _bdrop(self, u: int) -> None:
        i = self.bpos[u]
        if i >= 0:
            last = self.blist.pop()
            if last != u:
                self.blist[i] = last
                self.bpos[last] = i
            self.bpos[u] = -1

    def _value(self) -> float:
        lab = np.asarray(self.labels)
        if self.cut:
            e = self.p.edges
            return float(np.count_nonzero(lab[e[:, 0]] != lab[e[:, 1]]))
        assert self.cost is not None
        cols = np.asarray(self.cols)
        return float(self.cost[np.arange(len(lab)), cols[lab]].sum())

    def _objective_scale(self) -> float:
        """Typical size of one move's objective change (1 for cut edges)."""
        if self.cut or not self.blist:
            return 1.0
        assert self.cost is not None
        sample = self.blist[:: max(1, len(self.blist) // 500)]
        diffs = []
        for u in sample:
            a = self.labels[u]
            for w in self.nbrs[u]:
                b = self.labels[w]
                if b != a:
                    diffs.append(abs(self.cost[u, self.cols[b]] - self.cost[u, self.cols[a]]))
                    break
        scale = float(np.median(diffs)) if diffs else 0.0
        return scale if scale > 0 else max(float(np.mean(np.abs(self.cost))), 1.0)

    # moves -------------------------------------------------------------------------------------

    def _deltas(self, u: int, a: int, b: int) -> tuple[float, float]:
        dv = 0.0
        for i in range(len(self.w)):
            wu = self.w[i][u]
            if wu == 0.0:
                continue
            la, lb = self.load[i][a], self.load[i][b]
            dv += (self._term(i, a, la - wu) + self._term(i, b, lb + wu)
                   - self._term(i, a, la) - self._term(i, b, lb))
        if self.cut:
            lab = self.labels
            do = 0.0
            for w in self.nbrs[u]:
                if lab[w] == a:
                    do += 1.0
                elif lab[w] == b:
                    do -= 1.0
        else:
            assert self.cost is not None
            do = float(self.cost[u, self.cols[b]] - self.cost[u, self.cols[a]])
        return do, dv

    def _apply(self, u: int, a: int, b: int, do: float, dv: float) -> None:
        lab = self.labels
        for i in range(len(self.w)):
            wu = self.w[i][u]
            self.load[i][a] -= wu
            self.load[i][b] += wu
        self.value += do
        self.viol += dv
        lab[u] = b
        f = 0
        for w in self.nbrs[u]:
            lw = lab[w]
            if lw == a:
                self.foreign[w] += 1
                self._badd(w)
                f += 1
            elif lw == b:
                self.foreign[w] -= 1
                if self.foreign[w] == 0:
                    self._bdrop(w)
            else:
                f += 1
        self.foreign[u] = f
        if f:
            self._badd(u)
        else:
            self._bdrop(u)
        self.stats.moves += 1

    # search ------------------------------------------------------------------------------------

    def run(self, clock: _Clock, lower: float) -> None:
        """First into the bands (moves that shrink the violation, and recombinations of the
        most violating district with a neighbour), then anneal the objective inside the bands
        in cycles (hot to cold) with recombinations between them, restarting from the best plan
        after a cycle that found nothing better. Ends at the deadline, the stop flag,
        ``iterations`` move attempts, the patience or the bound."""
        self.clock = clock
        self._record()
        if not self.blist:
            return  # one district, or nothing can move: the plan is the only one
        while self.best is None and not self.clock.over():
            self._anneal(max(2_000, 5 * self.p.n_units), hard=False)
            if self.viol > FEASIBLE:
                for _ in range(self.k):
                    self._recombine_worst()
                    if self.viol <= FEASIBLE or self.clock.over():
                        break
            self._loads()
            self._record()
        cycle = max(2_000, 10 * self.p.n_units)
        recombination = 8 * self.p.n_units  # its cost in move attempts, as the clock charges
        # Work annealing and recombining is kept about even, counted in attempts rather than
        # seconds, so that a seed gives the same plan however busy the machine is.
        spent = [0, 0]
        while self.best is not None and not self.clock.over():
            if self.best_value <= lower + 1e-9:
                return
            before = self.best_value
            self._anneal(cycle, hard=True)
            spent[0] += cycle
            while spent[1] < spent[0] and not self.clock.over(recombination):
                self._recombine_random()
                spent[1] += recombination
            self.stats.cycles += 1
            self._loads()
            if not self.cut:
                self._recentre()
            if self.best_value >= before:
                self._restore()

    def _anneal(self, steps: int, hard: bool) -> None:
        """Boundary moves for ``steps`` tries, temperature falling geometrically. ``hard``:
        only moves that keep every band (the plan is inside them), annealing the objective;
        else annealing the violation (in band widths) with the objective as a small tie-break.
        """
        rng, lab, nbrs = self.rng, self.labels, self.nbrs
        if hard:
            t_hot, t_cold = 1.5 * self.scale, 0.03 * self.scale
        else:  # in band widths, from about one typical unit's weight down
            t_hot, t_cold = 0.5 * self.unit_move, 0.01 * self.unit_move
        ratio = (t_cold / t_hot) ** (1.0 / max(steps, 1))
        temp = t_hot
        contig = self.p.contiguity
        per_width = 1.0 / self.width
        tie = 1e-3 * self.unit_move / self.scale  # far below what one unit's weight moves
        for step in range(steps):
            if step & 255 == 0 and self.clock.over(256):
                return
            temp *= ratio
            if not self.blist:
                return
            u = self.blist[rng.randrange(len(self.blist))]
            self.stats.tried += 1
            if self.pinned[u]:
                continue
            a = lab[u]
            options = [lab[w] for w in nbrs[u] if lab[w] != a]
            b = options[rng.randrange(len(options))]
            do, dv = self._deltas(u, a, b)
            if hard:
                if dv > 1e-12:
                    continue
                delta = do
            else:
                delta = dv * per_width + tie * do
            if delta > 0 and rng.random() >= math.exp(-delta / temp):
                continue
            if contig and not removal_keeps_connected(nbrs, lab, u):
                self.stats.split += 1
                continue
            self._apply(u, a, b, do, dv)
            if self.viol <= FEASIBLE and self.value < self.best_value - 1e-9:
                self._record()
                if not hard:
                    return  # inside the bands: the objective's turn

    # recombination -----------------------------------------------------------------------------

    def _recombine_worst(self) -> None:
        """Recombine a district outside its bands (drawn by how far outside) with the
        neighbouring district on the way to the nearest one with room to balance it (weight
        to give for a district below its limits, room to take for one above), keeping the
        split that lowers their violation most and, among those, the drawn district's own:
        the excess or shortfall moves one district along that way each time, so it reaches
        the room it needs even across districts sitting at their limits."""
        nb = len(self.w)
        terms = [sum(self._term(b, j, self.load[b][j]) for b in range(nb))
                 for j in range(self.k)]
        total = sum(terms)
        if total <= 0:
            return
        pick = self.rng.random() * total
        a = 0
        while a < self.k - 1 and pick > terms[a]:
            pick -= terms[a]
            a += 1
        short = any(self.load[b][a] < self.lo[b][a] for b in range(nb))

        def room(j: int) -> bool:
            mid = [(self.lo[b][j] + self.hi[b][j]) / 2 for b in range(nb)]
            return all((self.load[b][j] > mid[b]) if short else (self.load[b][j] < mid[b])
                       for b in range(nb))

        if self.rng.random() < 0.5:  # half the time a plain pair, as narrow bands prefer
            others = sorted({self.labels[w] for u in self.blist if self.labels[u] == a
                             for w in self.nbrs[u]} - {a})
            if others:
                self._recombine(a, others[self.rng.randrange(len(others))], hard=False)
            return
        step = self._first_step(a, room)
        if step >= 0:
            self._recombine(a, step, hard=False, favour=a)

    def _first_step(self, a: int, goal: Callable[[int], bool]) -> int:
        """The neighbouring district of a on a shortest way (in districts) to one where
        ``goal`` holds; a random neighbour when none does; -1 without neighbours."""
        graph: dict[int, set[int]] = {j: set() for j in range(self.k)}
        lab = self.labels
        for u in self.blist:
            for w in self.nbrs[u]:
                if lab[w] != lab[u]:
                    graph[lab[u]].add(lab[w])
        first = {j: j for j in sorted(graph[a])}
        queue = deque(sorted(graph[a]))
        while queue:
            j = queue.popleft()
            if goal(j):
                return first[j]
            for x in sorted(graph[j]):
                if x != a and x not in first:
                    first[x] = first[j]
                    queue.append(x)
        options = sorted(graph[a])
        return options[self.rng.randrange(len(options))] if options else -1

    def _recombine_random(self) -> None:
        """Recombine two neighbouring districts drawn at random, inside the bands."""
        if not self.blist:
            return
        u = self.blist[self.rng.randrange(len(self.blist))]
        others = sorted({self.labels[w] for w in self.nbrs[u]} - {self.labels[u]})
        if others:
            self._recombine(self.labels[u], others[self.rng.randrange(len(others))], hard=True)

    def _recombine(self, a: int, b: int, hard: bool, trees: int = 8, favour: int = -1) -> None:
        """Merge districts a and b, cut random spanning trees of the union at each edge, and
        keep the best split (violation, then objective) if it is no worse than the current
        one. Both sides of a tree cut are connected, so contiguity holds by construction
        (ReCom, DeFord, Duchin & Solomon 2021)."""
        self.stats.recombinations += 1
        region = _Region(self, a, b)
        if region.size < 2:
            return
        current = region.score_current(self, favour)
        best: tuple[float, float, float, list[int]] | None = None
        for _ in range(trees):
            found = region.best_cut(self, self.rng, hard, favour)
            if found is not None and (best is None or found[:3] < best[:3]):
                best = found
        if best is None or best[:3] > current:
            return
        if best[:3] == current and hard and self.rng.random() < 0.5:
            return  # an equal plan: take it half the time, to wander the plateau
        side = set(best[3])
        changes = [(u, a if u in side else b) for u in region.units]
        for u, d in changes:
            if self.labels[u] != d:
                do, dv = self._deltas(u, self.labels[u], d)
                self._apply(u, self.labels[u], d, do, dv)
        self.stats.recombined += 1
        if self.viol <= FEASIBLE and self.value < self.best_value - 1e-9:
            self._record()

    def _record(self) -> None:
        if self.viol > FEASIBLE or any(c < 0 for c in self.centres):
            return
        self._loads()  # check with exact sums before keeping it
        if self.viol > FEASIBLE:
            return
        self.best = list(self.labels)
        self.best_value = self.value
        self.clock.improved = time.perf_counter()
        self.best_centres = None if self.cut else np.asarray(self.centres, dtype=np.int64)

    def _restore(self) -> None:
        assert self.best is not None
        self.labels[:] = self.best
        self._loads()
        self._set_centres()
        self._boundary()
        self.value = self._value()

    def _recentre(self) -> None:
        """Move each district's chosen centre to its best candidate (only ever lowers the
        objective)."""
        if self.p.fixed_centres is not None:
            return
        self._set_centres()
        self.value = self._value()
        if self.viol <= FEASIBLE and self.value < self.best_value - 1e-9:
            self._record()

    def summary(self) -> str:
        """One log line: moves made and tried, moves refused for splitting a district."""
        s = self.stats
        return (f"search: {s.cycles} cycles, {s.tried} move tries, {s.moves} moves, "
                f"{s.split} refused (would split a district), {s.recombined} of "
                f"{s.recombinations} recombinations taken")


def _all_connected(adj: Adjacency, labels: list[int], k: int) -> bool:
    from territory_opt.districting.contiguity import is_contiguous

    return is_contiguous(adj, np.asarray(labels), k)
