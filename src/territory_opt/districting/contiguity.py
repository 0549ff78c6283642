"""Graph helpers for districting on ``(n, edges)`` arrays, and the checks of a plan.

The adjacency graph is held once as CSR arrays (:class:`Adjacency`); the per-move questions of
the local search (does taking unit u out of its district split it?) are answered by searches
restricted to one district, the per-plan questions (components, cut edges) by scipy.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from territory_opt.districting.problem import DistrictingProblem


@dataclass(frozen=True, eq=False)
class Adjacency:
    """Undirected adjacency of ``n`` units as CSR (``indices[indptr[u]:indptr[u+1]]``)."""

    n: int
    edges: np.ndarray  # (e, 2), i < j
    indptr: np.ndarray
    indices: np.ndarray
    _lists: list[list[int]] = field(default_factory=list, repr=False)

    @classmethod
    def from_edges(cls, n: int, edges: np.ndarray) -> Adjacency:
        """Build from ``(e, 2)`` undirected edges (either orientation, no repeats needed)."""
        e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        e = e[e[:, 0] != e[:, 1]]
        e = np.unique(np.sort(e, axis=1), axis=0)
        both = np.concatenate([e, e[:, ::-1]])
        m = sp.csr_array((np.ones(len(both)), (both[:, 0], both[:, 1])), shape=(n, n))
        m.sort_indices()
        return cls(n, e, m.indptr.astype(np.int64), m.indices.astype(np.int64))

    @classmethod
    def of(cls, problem: DistrictingProblem) -> Adjacency:
        """The adjacency of ``problem``'s units."""
        return cls.from_edges(problem.n_units, problem.edges)

    def neighbours(self, u: int) -> np.ndarray:
        """Neighbours of unit ``u``."""
        return self.indices[self.indptr[u]:self.indptr[u + 1]]

    def lists(self) -> list[list[int]]:
        """Neighbour lists as Python ints (the local search loops over these; cached)."""
        if not self._lists:
            ptr, idx = self.indptr.tolist(), self.indices.tolist()
            self._lists.extend(idx[ptr[u]:ptr[u + 1]] for u in range(self.n))
        return self._lists

    def degree(self) -> np.ndarray:
        """Number of neighbours of every unit."""
        return np.diff(self.indptr)


def components(adj: Adjacency, labels: np.ndarray) -> np.ndarray:
    """Component id of every unit in the subgraph of edges inside one district.

    Units with label ``< 0`` (unassigned) are singleton components.
    """
    lab = np.asarray(labels)
    e = adj.edges
    keep = (lab[e[:, 0]] == lab[e[:, 1]]) & (lab[e[:, 0]] >= 0)
    inside = e[keep]
    g = sp.csr_array((np.ones(len(inside)), (inside[:, 0], inside[:, 1])), shape=(adj.n, adj.n))
    _, comp = connected_components(g, directed=False)
    return np.asarray(comp, dtype=np.int64)


def district_components(adj: Adjacency, labels: np.ndarray, k: int) -> np.ndarray:
    """Number of connected pieces of each district ``0..k-1`` (0 for an empty district)."""
    lab = np.asarray(labels)
    comp = components(adj, lab)
    assigned = lab >= 0
    pairs = np.unique(np.stack([lab[assigned], comp[assigned]], axis=1), axis=0)
    return np.bincount(pairs[:, 0], minlength=k)[:k]


def is_contiguous(adj: Adjacency, labels: np.ndarray, k: int) -> bool:
    """Whether every district ``0..k-1`` is non-empty and connected."""
    return bool(np.all(district_components(adj, labels, k) == 1))


def cut_edges(edges: np.ndarray, labels: np.ndarray) -> int:
    """Number of edges whose ends lie in different districts."""
    lab = np.asarray(labels)
    e = np.asarray(edges).reshape(-1, 2)
    return int(np.count_nonzero(lab[e[:, 0]] != lab[e[:, 1]]))


def removal_keeps_connected(nbrs: list[list[int]], labels: np.ndarray | list[int],
                            u: int) -> bool:
    """Whether district ``labels[u]`` stays connected (and non-empty) without unit ``u``.

    Searches from every neighbour of ``u`` in the district at once, one search per start, and
    merges searches as they meet. It stops as soon as all have met (connected) or one search
    runs out of units (that piece is cut off), so the cost is about the size of the smaller
    side, not of the district: what makes the check cheap on large districts.
    """
    d = labels[u]
    starts = list(dict.fromkeys(v for v in nbrs[u] if labels[v] == d))
    if len(starts) <= 1:
        return bool(starts)  # no neighbour in the district: u is alone and cannot leave
    parent = list(range(len(starts)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    owner: dict[int, int] = {u: -1}
    owner.update((v, i) for i, v in enumerate(starts))
    queues = [deque([v]) for v in starts]
    roots = list(range(len(starts)))
    while len(roots) > 1:
        for i in roots:
            if find(i) != i:
                continue
            queue = queues[i]
            if not queue:
                return False  # this piece is explored and met no other: u holds it on
            v = queue.popleft()
            for w in nbrs[v]:
                if labels[w] != d:
                    continue
                o = owner.get(w)
                if o is None:
                    owner[w] = i
                    queue.append(w)
                elif o >= 0 and (r := find(o)) != i:
                    parent[r] = i  # the searches met: one search carries on for both
                    queue.extend(queues[r])
                    queues[r].clear()
        roots = [i for i in roots if find(i) == i]
    return True


def minimal_separator(adj: Adjacency, piece: np.ndarray, target: int) -> np.ndarray:
    """A minimal vertex set separating the connected set ``piece`` from unit ``target``.

    Fischetti et al. (2017), "Thinning out Steiner trees", algorithm 1: of the units bordering
    ``piece``, keep those reachable from ``target`` without passing through the border.
    """
    nbrs = adj.lists()
    in_piece = np.zeros(adj.n, dtype=bool)
    in_piece[piece] = True
    border = np.zeros(adj.n, dtype=bool)
    for v in np.flatnonzero(in_piece).tolist():
        for w in nbrs[v]:
            if not in_piece[w]:
                border[w] = True
    seen = np.zeros(adj.n, dtype=bool)
    seen[target] = True
    queue = deque([target])
    while queue:
        v = queue.popleft()
        if border[v]:
            continue  # reached the border: do not walk past it
        for w in nbrs[v]:
            if not seen[w] and not in_piece[w]:
                seen[w] = True
                queue.append(w)
    return np.flatnonzero(border & seen)


def vertex_weighted_distances(nbrs: list[list[int]], weight: np.ndarray, source: int,
                              allowed: np.ndarray | None = None) -> np.ndarray:
    """Least total ``weight`` of the units on a path from ``source`` to each unit (both ends
    counted), through ``allowed`` units only; ``inf`` where no path exists.

    A connected district holding ``source`` and ``v`` holds such a path, so when this exceeds the
    band's upper limit the two can never share a district (variable fixing).
    """
    w = np.asarray(weight, dtype=float).tolist()
    ok = np.ones(len(w), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    dist = [float("inf")] * len(w)
    if not ok[source]:
        return np.asarray(dist)
    dist[source] = w[source]
    heap = [(w[source], source)]
    while heap:
        d, v = heapq.heappop(heap)
        if d > dist[v]:
            continue
        for x in nbrs[v]:
            nd = d + w[x]
            if ok[x] and nd < dist[x]:
                dist[x] = nd
                heapq.heappush(heap, (nd, x))
    return np.asarray(dist)


def reachable_weight(nbrs: list[list[int]], weight: np.ndarray, source: int,
                     allowed: np.ndarray) -> float:
    """Total ``weight`` of the units reachable from ``source`` through ``allowed`` units."""
    if not allowed[source]:
        return 0.0
    seen = {source}
    queue = deque([source])
    total = 0.0
    while queue:
        v = queue.popleft()
        total += float(weight[v])
        for x in nbrs[v]:
            if x not in seen and allowed[x]:
                seen.add(x)
                queue.append(x)
    return total


# --- checks of a plan ------------------------------------------------------------------------


def band_loads(problem: DistrictingProblem, labels: np.ndarray) -> list[np.ndarray]:
    """Per band, the ``(k,)`` weight total of each district."""
    lab = np.asarray(labels, dtype=np.int64)
    return [np.bincount(lab, weights=np.asarray(b.weight, dtype=float), minlength=problem.k)
            for b in problem.bands]


def band_violation(problem: DistrictingProblem, labels: np.ndarray) -> float:
    """Sum over bands and districts of the amount outside ``[lo, hi]``, relative to the band's
    mean target (so bands of different units add up)."""
    total = 0.0
    for band, load in zip(problem.bands, band_loads(problem, labels), strict=True):
        scale = _band_scale(band.lo, band.hi)
        lo, hi = np.asarray(band.lo, float), np.asarray(band.hi, float)
        total += float((np.maximum(lo - load, 0) + np.maximum(load - hi, 0)).sum()) / scale
    return total


def _band_scale(lo: np.ndarray, hi: np.ndarray) -> float:
    """A positive size for a band: its mean target, or 1 when that is zero."""
    mid = float(np.mean((np.asarray(lo, float) + np.asarray(hi, float)) / 2))
    return abs(mid) if abs(mid) > 1e-12 else 1.0


def best_centres(problem: DistrictingProblem, labels: np.ndarray) -> np.ndarray:
    """For chosen centres: per district, the candidate inside it with the least total cost
    (``-1`` for a district with no candidate). For fixed centres: ``fixed_centres``."""
    if problem.fixed_centres is not None:
        return np.asarray(problem.fixed_centres, dtype=np.int64)
    assert problem.cost is not None
    lab = np.asarray(labels, dtype=np.int64)
    cands = candidate_units(problem)
    out = np.full(problem.k, -1, dtype=np.int64)
    for j in range(problem.k):
        members = np.flatnonzero(lab == j)
        cols = np.flatnonzero(lab[cands] == j)
        if len(cols):
            totals = problem.cost[np.ix_(members, cols)].sum(axis=0)
            out[j] = cands[cols[int(np.argmin(totals))]]
    return out


def candidate_units(problem: DistrictingProblem) -> np.ndarray:
    """The unit of each cost column for chosen centres (all units when ``candidates`` is None)."""
    if problem.candidates is None:
        return np.arange(problem.n_units, dtype=np.int64)
    return np.asarray(problem.candidates, dtype=np.int64)


def cost_columns(problem: DistrictingProblem, centres: np.ndarray) -> np.ndarray:
    """The cost column of each district's centre: ``j`` for fixed centres, else the column of
    the candidate unit ``centres[j]``."""
    if problem.fixed_centres is not None:
        return np.arange(problem.k, dtype=np.int64)
    column = {int(u): c for c, u in enumerate(candidate_units(problem).tolist())}
    return np.asarray([column[int(u)] for u in centres], dtype=np.int64)


def objective_value(problem: DistrictingProblem, labels: np.ndarray,
                    centres: np.ndarray | None = None) -> float:
    """The objective of a plan (for chosen centres without ``centres``: the best ones)."""
    lab = np.asarray(labels, dtype=np.int64)
    if problem.objective == "cut_edges":
        return float(cut_edges(problem.edges, lab))
    assert problem.cost is not None
    if centres is None:
        centres = best_centres(problem, lab)
    if np.any(np.asarray(centres) < 0):
        return float("inf")
    cols = cost_columns(problem, centres)
    return float(problem.cost[np.arange(problem.n_units), cols[lab]].sum())


def plan_problems(problem: DistrictingProblem, labels: np.ndarray,
                  centres: np.ndarray | None = None, tol: float = 1e-9) -> list[str]:
    """What is wrong with a plan (empty when it keeps every rule): labels out of range, locks,
    bands, contiguity, centres outside their district."""
    lab = np.asarray(labels, dtype=np.int64)
    out: list[str] = []
    if lab.shape != (problem.n_units,) or lab.min() < 0 or lab.max() >= problem.k:
        return ["labels out of range"]
    if problem.lock is not None:
        lock = np.asarray(problem.lock)
        bad = np.flatnonzero((lock >= 0) & (lock != lab))
        if len(bad):
            out.append(f"{len(bad)} locked units moved")
    for band, load in zip(problem.bands, band_loads(problem, lab), strict=True):
        scale = max(1.0, _band_scale(band.lo, band.hi))
        if np.any(load < np.asarray(band.lo) - tol * scale) or np.any(
                load > np.asarray(band.hi) + tol * scale):
            out.append(f"band {band.name} not kept")
    pieces = district_components(Adjacency.of(problem), lab, problem.k)
    if np.any(pieces == 0):
        out.append("empty district")
    if problem.contiguity and np.any(pieces > 1):
        out.append(f"{int(np.count_nonzero(pieces > 1))} districts not connected")
    if centres is not None and np.any(lab[np.asarray(centres)] != np.arange(problem.k)):
        out.append("a centre outside its district")
    return out
