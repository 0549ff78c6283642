"""Recombination (ReCom) for the districting search: two neighbouring districts merged and cut
again at an edge of a random spanning tree, both sides connected by construction (DeFord,
Duchin & Solomon 2021). With narrow bands almost every single-unit move breaks a band;
recombination is what reaches and crosses the feasible plans.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

import numpy as np

from territory_opt.districting.state import FEASIBLE, SearchState


class Region:
    """Two neighbouring districts merged, for recombination: units, inner edges, anchors."""

    def __init__(self, search: SearchState, a: int, b: int) -> None:
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

    def score_current(self, search: SearchState, favour: int = -1) -> tuple[float, float, float]:
        """(violation, the ``favour`` district's own violation, objective) as they are."""
        viol = sum(search.term(i, d, search.load[i][d]) for i in range(len(search.w))
                   for d in (self.a, self.b))
        own = (sum(search.term(i, favour, search.load[i][favour])
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

    def best_cut(self, search: SearchState, rng: random.Random, hard: bool,
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
                part = [search.term(i, da, sub[i][v]) for i in range(nb)]
                rest = [search.term(i, db, total[i] - sub[i][v]) for i in range(nb)]
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


def recombine_worst(search: SearchState) -> None:
    """Recombine a district outside its bands (drawn by how far outside) with the
    neighbouring district on the way to the nearest one with room to balance it (weight
    to give for a district below its limits, room to take for one above), keeping the
    split that lowers their violation most and, among those, the drawn district's own:
    the excess or shortfall moves one district along that way each time, so it reaches
    the room it needs even across districts sitting at their limits."""
    nb = len(search.w)
    terms = [sum(search.term(b, j, search.load[b][j]) for b in range(nb))
             for j in range(search.k)]
    total = sum(terms)
    if total <= 0:
        return
    pick = search.rng.random() * total
    a = 0
    while a < search.k - 1 and pick > terms[a]:
        pick -= terms[a]
        a += 1
    short = any(search.load[b][a] < search.lo[b][a] for b in range(nb))

    def room(j: int) -> bool:
        mid = [(search.lo[b][j] + search.hi[b][j]) / 2 for b in range(nb)]
        return all((search.load[b][j] > mid[b]) if short else (search.load[b][j] < mid[b])
                   for b in range(nb))

    if search.rng.random() < 0.5:  # half the time a plain pair, as narrow bands prefer
        others = sorted({search.labels[w] for u in search.blist if search.labels[u] == a
                         for w in search.nbrs[u]} - {a})
        if others:
            recombine(search, a, others[search.rng.randrange(len(others))], hard=False)
        return
    step = first_step(search, a, room)
    if step >= 0:
        recombine(search, a, step, hard=False, favour=a)


def first_step(search: SearchState, a: int, goal: Callable[[int], bool]) -> int:
    """The neighbouring district of a on a shortest way (in districts) to one where
    ``goal`` holds; a random neighbour when none does; -1 without neighbours."""
    graph: dict[int, set[int]] = {j: set() for j in range(search.k)}
    lab = search.labels
    for u in search.blist:
        for w in search.nbrs[u]:
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
    return options[search.rng.randrange(len(options))] if options else -1


def recombine_random(search: SearchState) -> None:
    """Recombine two neighbouring districts drawn at random, inside the bands."""
    if not search.blist:
        return
    u = search.blist[search.rng.randrange(len(search.blist))]
    others = sorted({search.labels[w] for w in search.nbrs[u]} - {search.labels[u]})
    if others:
        recombine(search, search.labels[u], others[search.rng.randrange(len(others))], hard=True)


def recombine(search: SearchState, a: int, b: int, hard: bool, trees: int = 8,
              favour: int = -1) -> None:
    """Merge districts a and b, cut random spanning trees of the union at each edge, and
    keep the best split (violation, then objective) if it is no worse than the current
    one. Both sides of a tree cut are connected, so contiguity holds by construction
    (ReCom, DeFord, Duchin & Solomon 2021)."""
    search.stats.recombinations += 1
    region = Region(search, a, b)
    if region.size < 2:
        return
    current = region.score_current(search, favour)
    best: tuple[float, float, float, list[int]] | None = None
    for _ in range(trees):
        found = region.best_cut(search, search.rng, hard, favour)
        if found is not None and (best is None or found[:3] < best[:3]):
            best = found
    if best is None or best[:3] > current:
        return
    if best[:3] == current and hard and search.rng.random() < 0.5:
        return  # an equal plan: take it half the time, to wander the plateau
    side = set(best[3])
    changes = [(u, a if u in side else b) for u in region.units]
    for u, d in changes:
        if search.labels[u] != d:
            do, dv = search.deltas(u, search.labels[u], d)
            search.apply(u, search.labels[u], d, do, dv)
    search.stats.recombined += 1
    if search.viol <= FEASIBLE and search.value < search.best_value - 1e-9:
        search.record()
