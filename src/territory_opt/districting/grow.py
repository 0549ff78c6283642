"""First districting plans: seeded region growing that keeps every district connected.

Seeds are the fixed centres and locked units, then units spread apart in hops; the least
filled district takes its best neighbouring unit until it would pass its upper limit, and
what is left goes to the least filled neighbouring district.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque

import numpy as np

from territory_opt.districting.contiguity import Adjacency, candidate_units, components
from territory_opt.districting.problem import DistrictingProblem, district_anchors


def initial_plan(problem: DistrictingProblem, adj: Adjacency, rng: random.Random,
                 start: np.ndarray | None = None) -> list[int]:
    """A plan with every district connected where growing can make it so.

    From ``start`` (pieces of a district not holding its anchor, or not its largest, are
    regrown), else from seeds: fixed centres and locked units, then spread units (farthest in
    hops from the seeds so far; candidates only when centres are chosen).
    """
    nbrs = adj.lists()
    labels = [-1] * problem.n_units
    anchors = district_anchors(problem)
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
    k, n = problem.k, problem.n_units
    weight, target = _primary(problem)
    lock = np.asarray(problem.lock) if problem.lock is not None else np.full(n, -1)
    centre_col = growth_columns(problem, labels)
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


def growth_columns(problem: DistrictingProblem, labels: list[int]) -> list[int] | None:
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
