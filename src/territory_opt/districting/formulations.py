"""The exact districting MILPs: labeling + flow for cut edges, Hess centres + separators.

Built for :mod:`territory_opt.districting.exact` (which solves them, re-solving as separators
are added) and :mod:`territory_opt.districting.bounds` (the centre LP without contiguity).
The formulations are described in :mod:`territory_opt.districting.exact`'s docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from territory_opt.backends.linear import LinearModel, RowBuilder
from territory_opt.districting.contiguity import (
    Adjacency,
    candidate_units,
    components,
    minimal_separator,
    reachable_weight,
    vertex_weighted_distances,
)
from territory_opt.districting.problem import DistrictingProblem


class _Columns:
    """Variables allocated in blocks: bounds, costs, integrality."""

    def __init__(self) -> None:
        self.lb: list[np.ndarray] = []
        self.ub: list[np.ndarray] = []
        self.cost: list[np.ndarray] = []
        self.integer: list[np.ndarray] = []
        self.n = 0

    def add(self, count: int, *, ub: float = 1.0, cost: np.ndarray | float = 0.0,
            integer: bool = True) -> np.ndarray:
        idx = np.arange(self.n, self.n + count)
        self.lb.append(np.zeros(count))
        self.ub.append(np.full(count, float(ub)))
        self.cost.append(np.broadcast_to(np.asarray(cost, dtype=float), (count,)).copy())
        self.integer.append(np.full(count, integer))
        self.n += count
        return idx

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (np.concatenate(self.cost), np.concatenate(self.lb), np.concatenate(self.ub),
                np.concatenate(self.integer))


@dataclass
class _Rows:
    """Rows as COO triplets (row ids local to the group) with their bounds."""

    name: str
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def _sparse_rows(name: str, entries: list[tuple[list[int], list[float]]],
                 lo: np.ndarray | float, hi: np.ndarray | float) -> _Rows:
    """Rows from per-row (columns, values) lists."""
    rows = np.concatenate([np.full(len(c), r) for r, (c, _) in enumerate(entries)]
                          or [np.zeros(0, dtype=np.int64)])
    cols = np.concatenate([np.asarray(c, dtype=np.int64) for c, _ in entries]
                          or [np.zeros(0, dtype=np.int64)])
    vals = np.concatenate([np.asarray(v, dtype=float) for _, v in entries]
                          or [np.zeros(0)])
    count = len(entries)
    return _Rows(name, rows, cols, vals, np.broadcast_to(np.asarray(lo, float), (count,)).copy(),
                 np.broadcast_to(np.asarray(hi, float), (count,)).copy())


class Formulation:
    """What the solve loop needs of a formulation."""

    name = ""

    def __init__(self, problem: DistrictingProblem, adj: Adjacency) -> None:
        self.p = problem
        self.adj = adj
        self.cols = _Columns()
        self.groups: list[_Rows] = []
        self.lb_fix: dict[int, float] = {}
        self.ub_fix: dict[int, float] = {}
        self.fixed = 0

    def linear(self) -> LinearModel:
        """The model with every row added so far."""
        c, lb, ub, integer = self.cols.arrays()
        for i, v in self.lb_fix.items():
            lb[i] = v
        for i, v in self.ub_fix.items():
            ub[i] = v
        builder = RowBuilder(self.cols.n)
        for g in self.groups:
            builder.add(g.name, g.rows, g.cols, g.vals, g.lo, g.hi)
        a, lo, hi, groups = builder.matrix()
        return LinearModel(c, 0.0, lb, ub, integer, a, lo, hi, groups)

    def size(self) -> str:
        rows = sum(len(g.lo) for g in self.groups)
        return f"{self.cols.n} columns, {rows} rows, {self.fixed} fixed at 0"

    def fix_zero(self, idx: np.ndarray | list[int] | int) -> None:
        for i in np.atleast_1d(np.asarray(idx, dtype=np.int64)).tolist():
            if i not in self.ub_fix:
                self.fixed += 1
            self.ub_fix[i] = 0.0

    def valid_bound(self, bound: float) -> float:
        return bound

    def describe(self) -> str:
        return f"model: {self.name}; {self.size()}"

    def point(self, labels: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def separate(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def centres(self, labels: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError


def _weights_nonnegative(problem: DistrictingProblem) -> list[int]:
    """Bands whose weights are all >= 0 (the fixing arguments need that)."""
    return [b for b, band in enumerate(problem.bands) if np.all(np.asarray(band.weight) >= 0)]


def _interchangeable(problem: DistrictingProblem) -> bool:
    """Whether relabelling districts maps plans to plans of equal value."""
    same = all(np.all(np.asarray(b.lo) == b.lo[0]) and np.all(np.asarray(b.hi) == b.hi[0])
               for b in problem.bands)
    no_lock = problem.lock is None or not np.any(np.asarray(problem.lock) >= 0)
    return bool(same and no_lock and problem.fixed_centres is None)


def _max_units(problem: DistrictingProblem) -> int:
    """Most units one district can hold: the lightest units up to the smallest upper limit."""
    n, k = problem.n_units, problem.k
    most = n - k + 1
    for b in _weights_nonnegative(problem):
        band = problem.bands[b]
        w = np.sort(np.asarray(band.weight, dtype=float))
        fits = int(np.searchsorted(np.cumsum(w), float(np.max(band.hi)), side="right"))
        most = min(most, max(fits, 1))
    return most


class LabelingModel(Formulation):
    """Labeling formulation with roots, extended cut objective and single-commodity flow."""

    name = "labeling + flow contiguity (cut edges)"

    def __init__(self, problem: DistrictingProblem, adj: Adjacency) -> None:
        super().__init__(problem, adj)
        n, k, e = problem.n_units, problem.k, len(adj.edges)
        self.n, self.k, self.e = n, k, e
        self.symmetric = _interchangeable(problem)
        self.order = self._order()
        self.pos = np.empty(n, dtype=np.int64)
        self.pos[self.order] = np.arange(n)
        self.big_m = _max_units(problem)
        self.X = self.cols.add(n * k).reshape(n, k)
        self.R = self.cols.add(n * k).reshape(n, k)
        self.Z = self.cols.add(e * k, integer=False, cost=1.0 if problem.objective ==
                               "cut_edges" else 0.0).reshape(e, k)
        self.flow = problem.contiguity
        self.F = self.cols.add(2 * e, ub=self.big_m, integer=False) if self.flow else None
        self.W = self.cols.add(n * k, integer=False).reshape(n, k)  # W[p, j]: roots up to p
        self._rows()
        self._fix()

    def _order(self) -> np.ndarray:
        """Units by decreasing weight of the first band, except that a set B of units that
        cannot root a district goes last (Validi & Buchanan's "B_decreasing"): every piece of
        the graph on B weighs less than the lower limit, so a unit of B, whose district lies
        within the units from it onwards, cannot be its district's first unit. Heavy units
        first puts the roots, and the symmetry break, on units that can carry a district."""
        n = self.p.n_units
        if not self.p.bands or not self.p.contiguity:
            return np.arange(n) if not self.p.bands else np.lexsort(
                (np.arange(n), -np.asarray(self.p.bands[0].weight, dtype=float)))
        w = np.asarray(self.p.bands[0].weight, dtype=float)
        by_weight = np.lexsort((np.arange(n), -w))
        back = self._unrootable(w, float(np.min(self.p.bands[0].lo)))
        return np.concatenate([by_weight[~back[by_weight]], by_weight[back[by_weight]]])

    def _unrootable(self, w: np.ndarray, lo: float, tries: int = 300) -> np.ndarray:
        """A large B: greedy, lightest units first (then in randomly perturbed weight orders,
        keeping the largest B), each unit joining B when the piece of B it would merge into
        still weighs less than ``lo``. Validi & Buchanan solve this as a MIP; the perturbed
        greedy comes within a few units of their sets on the county instances."""
        if np.any(w < 0):
            return np.zeros(len(w), dtype=bool)
        nbrs = self.adj.lists()
        rng = np.random.default_rng(0)
        best = _greedy_b(nbrs, w, lo, np.argsort(w, kind="stable"))
        for _ in range(tries):
            noisy = w * rng.uniform(0.3, 3.0, size=len(w))
            found = _greedy_b(nbrs, w, lo, np.argsort(noisy, kind="stable"))
            if found.sum() > best.sum():
                best = found
        return best

    def _rows(self) -> None:
        p, n, k, e = self.p, self.n, self.k, self.e
        X, R, Z = self.X, self.R, self.Z
        units = np.arange(n)
        g = self.groups
        g.append(_Rows("assign", np.repeat(units, k), X.ravel(), np.ones(n * k), np.ones(n),
                       np.ones(n)))
        for band in p.bands:
            w = np.asarray(band.weight, dtype=float)
            g.append(_Rows(f"band {band.name}", np.tile(np.arange(k), n), X.ravel(),
                           np.repeat(w, k), np.asarray(band.lo, float), np.asarray(band.hi,
                                                                                   float)))
        u, v = self.adj.edges[:, 0], self.adj.edges[:, 1]
        rid = np.arange(e * k)
        g.append(_Rows("cut", np.repeat(rid, 3),
                       np.stack([X[u].ravel(), X[v].ravel(), Z.ravel()], axis=1).ravel(),
                       np.tile([1.0, -1.0, -1.0], e * k), np.full(e * k, -np.inf),
                       np.zeros(e * k)))
        g.append(_Rows("one root", np.tile(np.arange(k), n), R.ravel(), np.ones(n * k),
                       np.ones(k), np.ones(k)))
        g.append(_Rows("root inside", np.repeat(np.arange(n * k), 2),
                       np.stack([R.ravel(), X.ravel()], axis=1).ravel(),
                       np.tile([1.0, -1.0], n * k), np.full(n * k, -np.inf), np.zeros(n * k)))
        if self.p.fixed_centres is None:
            self._root_order_rows()
        if self.flow:
            self._flow_rows()

    def _root_order_rows(self) -> None:
        """``W[p,j] = W[p-1,j] + R[order[p],j]``; a unit joins j only after j's root;
        interchangeable districts: district j+1's root comes after district j's."""
        n, k = self.n, self.k
        X, R, W, order = self.X, self.R, self.W, self.order
        rows, cols, vals = [], [], []
        for p in range(n):
            for j in range(k):
                r = p * k + j
                rows += [r, r]
                cols += [int(W[p, j]), int(R[order[p], j])]
                vals += [1.0, -1.0]
                if p:
                    rows.append(r)
                    cols.append(int(W[p - 1, j]))
                    vals.append(-1.0)
        self.groups.append(_Rows("root sums", np.asarray(rows), np.asarray(cols),
                                 np.asarray(vals), np.zeros(n * k), np.zeros(n * k)))
        first = np.stack([X[order].ravel(), W.ravel()], axis=1).ravel()
        self.groups.append(_Rows("root first", np.repeat(np.arange(n * k), 2), first,
                                 np.tile([1.0, -1.0], n * k), np.full(n * k, -np.inf),
                                 np.zeros(n * k)))
        if self.symmetric and k > 1:
            pairs = [(int(W[p, j + 1]), int(W[p - 1, j])) for p in range(1, n)
                     for j in range(k - 1)]
            m = len(pairs)
            self.groups.append(_Rows("roots in order", np.repeat(np.arange(m), 2),
                                     np.asarray(pairs).ravel(), np.tile([1.0, -1.0], m),
                                     np.full(m, -np.inf), np.zeros(m)))
            self.fix_zero(W[0, 1:])

    def _flow_rows(self) -> None:
        """Each non-root unit absorbs one unit of flow; flow only on uncut edges."""
        assert self.F is not None
        n, e, k, m = self.n, self.e, self.k, self.big_m
        F, R, Z = self.F, self.R, self.Z
        u, v = self.adj.edges[:, 0], self.adj.edges[:, 1]
        # arc a < e goes u -> v, arc e + a goes v -> u
        heads = np.concatenate([v, u])
        tails = np.concatenate([u, v])
        rows = np.concatenate([heads, tails, np.repeat(np.arange(n), k)])
        cols = np.concatenate([F, F, R.ravel()])
        vals = np.concatenate([np.ones(2 * e), -np.ones(2 * e), np.full(n * k, float(m))])
        self.groups.append(_Rows("flow balance", rows, cols, vals, np.ones(n),
                                 np.full(n, np.inf)))
        rid = np.arange(e)
        rows = np.concatenate([rid, rid, np.repeat(rid, k)])
        cols = np.concatenate([F[:e], F[e:], Z.ravel()])
        vals = np.concatenate([np.ones(2 * e), np.full(e * k, float(m - 1))])
        self.groups.append(_Rows("flow on uncut edges", rows, cols, vals, np.full(e, -np.inf),
                                 np.full(e, float(m - 1))))

    # fixing ------------------------------------------------------------------------------------

    def _fix(self) -> None:
        p = self.p
        if p.lock is not None:
            for u in np.flatnonzero(np.asarray(p.lock) >= 0).tolist():
                j = int(p.lock[u])
                self.fix_zero([int(self.X[u, d]) for d in range(self.k) if d != j])
        if p.fixed_centres is not None:
            centres = np.asarray(p.fixed_centres)
            for j, c in enumerate(centres.tolist()):
                self.lb_fix[int(self.R[c, j])] = 1.0
                self.lb_fix[int(self.X[c, j])] = 1.0
            others = np.ones((self.n, self.k), dtype=bool)
            others[centres, np.arange(self.k)] = False
            self.fix_zero(self.R[others])
            return
        capable = self._root_capable()
        self.fix_zero(self.R[~capable].ravel())
        if self.symmetric:
            self._fix_by_position(capable)

    def _root_capable(self) -> np.ndarray:
        """A unit can root a district only if the units from it onwards in the order reach
        every band's lower limit from it (the root is its district's first unit)."""
        nbrs = self.adj.lists()
        ok = np.ones(self.n, dtype=bool)
        later = np.ones(self.n, dtype=bool)
        lows = [(np.asarray(self.p.bands[b].weight, float), float(np.min(self.p.bands[b].lo)))
                for b in _weights_nonnegative(self.p)]
        for v in self.order.tolist():
            for w, lo in lows:
                if not self.flow:
                    reach = float(w[later].sum())
                else:
                    reach = reachable_weight(nbrs, w, v, later)
                if reach < lo:
                    ok[v] = False
            later[v] = False
        return np.repeat(ok[:, None], self.k, axis=1)

    def _fix_by_position(self, capable: np.ndarray) -> None:
        """Roots in increasing order: district j's root has j capable units before it and
        k-1-j after; a unit joins only districts whose root can come before it. Then the
        first units too far from every earlier root root districts 0, 1, … themselves."""
        k, order = self.k, self.order
        cap = capable[order, 0]
        before = np.concatenate([[0], np.cumsum(cap)[:-1]])
        after = cap.sum() - np.cumsum(cap)
        for p, u in enumerate(order.tolist()):
            for j in range(k):
                if j > before[p] or k - 1 - j > after[p]:
                    self.fix_zero(int(self.R[u, j]))
                if j > before[p] + (1 if cap[p] else 0) - 1:
                    self.fix_zero(int(self.X[u, j]))
        if self.flow:
            self._fix_far_roots()

    def _fix_far_roots(self) -> None:
        nbrs = self.adj.lists()
        bands = _weights_nonnegative(self.p)
        if not bands:
            return
        band = self.p.bands[bands[0]]
        w, hi = np.asarray(band.weight, float), float(np.max(band.hi))
        roots: list[int] = []
        dists: list[np.ndarray] = []
        for j in range(self.k):
            v = int(self.order[j])
            if any(d[v] <= hi for d in dists):
                break
            allowed = np.ones(self.n, dtype=bool)
            allowed[roots] = False
            dist = vertex_weighted_distances(nbrs, w, v, allowed)
            self.lb_fix[int(self.R[v, j])] = 1.0
            self.lb_fix[int(self.X[v, j])] = 1.0
            self.fix_zero([int(self.X[i, j]) for i in np.flatnonzero(dist > hi).tolist()])
            roots.append(v)
            dists.append(dist)

    # plans -------------------------------------------------------------------------------------

    def canonical(self, labels: np.ndarray) -> np.ndarray:
        """Relabel districts so their first units (in the order) come in increasing order, as
        the symmetry break wants; labels are kept when districts are not interchangeable."""
        lab = np.asarray(labels, dtype=np.int64)
        if not self.symmetric:
            return lab
        first = [int(self.pos[lab == j].min()) for j in range(self.k)]
        rank = np.argsort(first)
        new = np.empty(self.k, dtype=np.int64)
        new[rank] = np.arange(self.k)
        return new[lab]

    def point(self, labels: np.ndarray) -> np.ndarray:
        """The full column vector of a plan: roots, cut indicators, flow along BFS trees."""
        lab = self.canonical(labels)
        x = np.zeros(self.cols.n)
        n, k = self.n, self.k
        x[self.X[np.arange(n), lab]] = 1.0
        roots = self._roots(lab)
        x[self.R[roots, np.arange(k)]] = 1.0
        u, v = self.adj.edges[:, 0], self.adj.edges[:, 1]
        cut = lab[u] != lab[v]
        x[self.Z[np.flatnonzero(cut), lab[u][cut]]] = 1.0
        is_root = np.zeros(n, dtype=bool)
        is_root[roots] = True
        w_cum = np.cumsum(is_root[self.order][:, None] & (lab[self.order][:, None]
                                                         == np.arange(k)), axis=0)
        x[self.W.ravel()] = w_cum.ravel()
        if self.F is not None:
            x[self.F] = _tree_flow(self.adj, lab, roots)
        return x

    def _roots(self, lab: np.ndarray) -> np.ndarray:
        if self.p.fixed_centres is not None:
            return np.asarray(self.p.fixed_centres, dtype=np.int64)
        return np.asarray([int(self.order[self.pos[lab == j].min()]) for j in range(self.k)])

    def labels(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(np.argmax(x[self.X], axis=1), dtype=np.int64)

    def separate(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        return self.labels(x), 0  # contiguity is in the model

    def valid_bound(self, bound: float) -> float:
        """The cut count is integral: round the bound up (less a tolerance)."""
        return float(math.ceil(bound - 1e-6)) if np.isfinite(bound) else bound

    def centres(self, labels: np.ndarray) -> np.ndarray | None:
        return (np.asarray(self.p.fixed_centres, dtype=np.int64)
                if self.p.fixed_centres is not None else None)

    def describe(self) -> str:
        sym = "roots ordered (interchangeable districts)" if self.symmetric else "labelled"
        return (f"model: {self.name}; {sym}; big-M {self.big_m} units; {self.size()}")


def _greedy_b(nbrs: list[list[int]], w: np.ndarray, lo: float, order: np.ndarray) -> np.ndarray:
    """Units taken in ``order`` into B while every piece of B weighs less than ``lo``."""
    up = list(range(len(w)))
    piece = w.tolist()

    def find(a: int) -> int:
        while up[a] != a:
            up[a] = up[up[a]]
            a = up[a]
        return a

    inside = np.zeros(len(w), dtype=bool)
    for v in order.tolist():
        roots = {find(x) for x in nbrs[v] if inside[x]}
        if piece[v] + sum(piece[r] for r in roots) >= lo:
            continue
        inside[v] = True
        for r in roots:
            up[r] = v
            piece[v] += piece[r]
    return inside


def _tree_flow(adj: Adjacency, lab: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """Arc flows of a BFS tree per district from its root: each arc carries its subtree size."""
    nbrs = adj.lists()
    e = len(adj.edges)
    arc = {}
    for a, (u, v) in enumerate(adj.edges.tolist()):
        arc[(u, v)] = a
        arc[(v, u)] = e + a
    flow = np.zeros(2 * e)
    for j, r in enumerate(roots.tolist()):
        parent = {r: -1}
        order = [r]
        for v in order:
            for w in nbrs[v]:
                if w not in parent and lab[w] == j:
                    parent[w] = v
                    order.append(w)
        size = dict.fromkeys(order, 1)
        for v in reversed(order[1:]):
            size[parent[v]] += size[v]
            flow[arc[(parent[v], v)]] = size[v]
    return flow


class CentreModel(Formulation):
    """Hess formulation: units to centres (chosen among candidates, or fixed per district)."""

    def __init__(self, problem: DistrictingProblem, adj: Adjacency,
                 contiguity: bool | None = None) -> None:
        super().__init__(problem, adj)
        assert problem.cost is not None, "dispersion and travel need a cost matrix"
        self.fixed_mode = problem.fixed_centres is not None
        self.name = ("centres fixed" if self.fixed_mode else "Hess centres chosen") + \
            " + a,b-separator rows"
        self.contiguity = problem.contiguity if contiguity is None else contiguity
        n = problem.n_units
        self.cu = (np.asarray(problem.fixed_centres, dtype=np.int64) if self.fixed_mode
                   else candidate_units(problem))
        self.m = len(self.cu)
        allowed = self._allowed()
        self.pair_unit, self.pair_col = np.nonzero(allowed)
        self.index = np.full((n, self.m), -1, dtype=np.int64)
        cost = np.asarray(problem.cost, dtype=float)[self.pair_unit, self.pair_col]
        self.x = self.cols.add(len(cost), cost=cost)
        self.index[self.pair_unit, self.pair_col] = self.x
        self.labelled = self.fixed_mode or not _interchangeable(problem)
        self.zc = (self.cols.add(self.m * problem.k).reshape(self.m, problem.k)
                   if self.labelled and not self.fixed_mode else None)
        self.fixed = int(n * self.m - len(cost))
        self._rows()

    def _allowed(self) -> np.ndarray:
        """Pairs (unit, column) that can occur: within the upper limits' weighted path
        distance of the centre (when contiguous), locks kept for fixed centres."""
        p, n = self.p, self.p.n_units
        ok = np.ones((n, self.m), dtype=bool)
        nbrs = self.adj.lists()
        for b in _weights_nonnegative(p):
            band = p.bands[b]
            w = np.asarray(band.weight, float)
            for c, u in enumerate(self.cu.tolist()):
                hi = float(band.hi[c]) if self.fixed_mode else float(np.max(band.hi))
                if self.contiguity:
                    ok[:, c] &= vertex_weighted_distances(nbrs, w, u) <= hi + 1e-9
                else:
                    ok[:, c] &= w + w[u] * (np.arange(n) != u) <= hi + 1e-9
        if p.lock is not None and self.fixed_mode:
            lock = np.asarray(p.lock)
            for u in np.flatnonzero(lock >= 0).tolist():
                ok[u, :] = False
                ok[u, lock[u]] = True
        if self.fixed_mode:
            ok[self.cu, :] = False
            ok[self.cu, np.arange(self.m)] = True
        return ok

    def _y(self, c: int) -> int:
        return int(self.index[self.cu[c], c])

    def _rows(self) -> None:
        n, k, m = self.p.n_units, self.p.k, self.m
        g = self.groups
        g.append(_Rows("assign", self.pair_unit, self.x, np.ones(len(self.x)), np.ones(n),
                       np.ones(n)))
        open_ = np.asarray([self._y(c) for c in range(m)])
        if self.fixed_mode:
            for c in range(m):
                self.lb_fix[int(open_[c])] = 1.0
        else:
            usable = open_ >= 0
            g.append(_Rows("k centres", np.zeros(int(usable.sum())), open_[usable],
                           np.ones(int(usable.sum())), np.full(1, float(k)),
                           np.full(1, float(k))))
            self._coupling(open_)
        self._band_rows(open_)
        if self.zc is not None:
            self._label_rows(open_)
        if self.contiguity:
            self._neighbour_rows()

    def _coupling(self, open_: np.ndarray) -> None:
        """``x[i,c] <= x[c,c]``: a unit joins only an open centre."""
        keep = self.pair_unit != self.cu[self.pair_col]
        xs, cols = self.x[keep], self.pair_col[keep]
        ys = open_[cols]
        r = np.arange(len(xs))
        self.groups.append(_Rows("join open centres", np.repeat(r, 2),
                                 np.stack([xs, ys], axis=1).ravel(),
                                 np.tile([1.0, -1.0], len(xs)), np.full(len(xs), -np.inf),
                                 np.zeros(len(xs))))
        self.fix_zero(self.x[(open_[self.pair_col] < 0)])

    def _band_rows(self, open_: np.ndarray) -> None:
        p, m = self.p, self.m
        for band in p.bands:
            w = np.asarray(band.weight, float)[self.pair_unit]
            if self.fixed_mode:
                self.groups.append(_Rows(f"band {band.name}", self.pair_col, self.x, w,
                                         np.asarray(band.lo, float), np.asarray(band.hi, float)))
                continue
            for side, limits in (("lo", band.lo), ("hi", band.hi)):
                if self.zc is None:  # every district the same limits: scale the open centre
                    extra_cols, extra_rows = open_, np.arange(m)
                    extra_vals = -np.full(m, float(limits[0]))
                else:
                    extra_cols = self.zc.ravel()
                    extra_rows = np.repeat(np.arange(m), p.k)
                    extra_vals = -np.tile(np.asarray(limits, float), m)
                usable = extra_cols >= 0
                rows = np.concatenate([self.pair_col, extra_rows[usable]])
                cols = np.concatenate([self.x, extra_cols[usable]])
                vals = np.concatenate([w, extra_vals[usable]])
                lo, hi = (0.0, np.inf) if side == "lo" else (-np.inf, 0.0)
                self.groups.append(_Rows(f"band {band.name} {side}", rows, cols, vals,
                                         np.full(m, lo), np.full(m, hi)))

    def _label_rows(self, open_: np.ndarray) -> None:
        """Chosen centres with labelled districts: ``z[c,j]`` names the district centred at
        c; each district has one centre; locked units join only centres of their district."""
        assert self.zc is not None
        p, m, k = self.p, self.m, self.p.k
        z = self.zc
        entries = [([int(v) for v in z[c]] + ([int(open_[c])] if open_[c] >= 0 else []),
                    [1.0] * k + ([-1.0] if open_[c] >= 0 else [])) for c in range(m)]
        self.groups.append(_sparse_rows("label open centres", entries, 0.0, 0.0))
        self.groups.append(_Rows("one centre per district", np.tile(np.arange(k), m), z.ravel(),
                                 np.ones(m * k), np.ones(k), np.ones(k)))
        if p.lock is None:
            return
        lock = np.asarray(p.lock)
        entries = []
        for u in np.flatnonzero(lock >= 0).tolist():
            for c in np.flatnonzero(self.index[u] >= 0).tolist():
                entries.append(([int(self.index[u, c]), int(z[c, lock[u]])], [1.0, -1.0]))
        self.groups.append(_sparse_rows("locks", entries, -np.inf, 0.0))

    def _neighbour_rows(self) -> None:
        """``x[i,c] <= Σ_{s ∈ N(i)} x[s,c]``: a unit other than the centre has a neighbour in
        its district (N(i) separates i from c)."""
        nbrs = self.adj.lists()
        entries = []
        for i, c, xi in zip(self.pair_unit.tolist(), self.pair_col.tolist(), self.x.tolist(),
                            strict=True):
            if i == self.cu[c]:
                continue
            near = [int(self.index[s, c]) for s in nbrs[i] if self.index[s, c] >= 0]
            if not near:
                self.fix_zero(xi)
                continue
            entries.append(([xi, *near], [1.0] + [-1.0] * len(near)))
        self.groups.append(_sparse_rows("neighbour separators", entries, -np.inf, 0.0))

    # plans -------------------------------------------------------------------------------------

    def _assignment(self, x: np.ndarray) -> np.ndarray:
        """Column (centre) of each unit in a solution."""
        col = np.full(self.p.n_units, -1, dtype=np.int64)
        on = x[self.x] > 0.5
        col[self.pair_unit[on]] = self.pair_col[on]
        return col

    def _district_of_column(self, x: np.ndarray, col: np.ndarray) -> np.ndarray:
        """District number of each column: itself for fixed centres, from z when labelled,
        else open centres numbered in order."""
        out = np.full(self.m, -1, dtype=np.int64)
        if self.fixed_mode:
            return np.arange(self.m)
        if self.zc is not None:
            zv = x[self.zc] > 0.5
            for c in range(self.m):
                if zv[c].any():
                    out[c] = int(np.argmax(zv[c]))
            return out
        used = np.unique(col[col >= 0])
        out[used] = np.arange(len(used))
        return out

    def labels(self, x: np.ndarray) -> np.ndarray:
        col = self._assignment(x)
        return np.asarray(self._district_of_column(x, col)[col], dtype=np.int64)

    def separate(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """Labels of the solution, and how many separator rows were added for its split
        districts (none when contiguity is off)."""
        col = self._assignment(x)
        labels = self._district_of_column(x, col)[col]
        if not self.contiguity:
            return labels, 0
        comp = components(self.adj, col)
        entries = []
        for c in np.unique(col).tolist():
            centre_piece = comp[self.cu[c]]
            members = np.flatnonzero(col == c)
            for piece in np.unique(comp[members]).tolist():
                if piece == centre_piece:
                    continue
                units = members[comp[members] == piece]
                sep = minimal_separator(self.adj, units, int(self.cu[c]))
                near = [int(self.index[s, c]) for s in sep.tolist() if self.index[s, c] >= 0]
                for a in units.tolist():
                    entries.append(([int(self.index[a, c]), *near],
                                    [1.0] + [-1.0] * len(near)))
        if entries:
            self.groups.append(_sparse_rows("generated separators", entries, -np.inf, 0.0))
        return labels, len(entries)

    def point(self, labels: np.ndarray) -> np.ndarray:
        """Column vector of a plan: each unit with its district's (best) centre."""
        lab = np.asarray(labels, dtype=np.int64)
        x = np.zeros(self.cols.n)
        centres = self.centres(lab)
        assert centres is not None
        where = {int(u): c for c, u in enumerate(self.cu.tolist())}
        cols = np.asarray([where.get(int(u), -1) for u in centres])
        if np.any(cols < 0):
            return x
        idx = self.index[np.arange(self.p.n_units), cols[lab]]
        x[idx[idx >= 0]] = 1.0
        if self.zc is not None:
            x[self.zc[cols, np.arange(self.p.k)]] = 1.0
        return x

    def centres(self, labels: np.ndarray) -> np.ndarray | None:
        from territory_opt.districting.contiguity import best_centres

        return best_centres(self.p, np.asarray(labels, dtype=np.int64))
