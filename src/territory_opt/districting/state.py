"""The state of a districting local search: the plan, its band loads, boundary and centres.

Plain Python lists for speed. Moves (:meth:`SearchState.apply`) keep the loads, the boundary
set and the objective up to date; the best plan inside every band is kept
(:meth:`SearchState.record`). The annealing is in :mod:`~territory_opt.districting.search`,
recombination in :mod:`~territory_opt.districting.recombine`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from territory_opt.deadline import Deadline
from territory_opt.districting.contiguity import (
    Adjacency,
    best_centres,
    cost_columns,
    is_contiguous,
)
from territory_opt.districting.grow import growth_columns
from territory_opt.districting.problem import DistrictingProblem

FEASIBLE = 1e-9
"""Largest relative band violation counted as keeping the band (float sums of weights)."""


@dataclass
class Stats:
    moves: int = 0
    tried: int = 0
    split: int = 0
    cycles: int = 0
    recombinations: int = 0
    recombined: int = 0


class Clock:
    """When one search must end: its :class:`Deadline` (time, stop signal, work), a budget of
    move attempts, and patience (seconds without a better plan).

    Move attempts are the heuristic's deterministic effort: :meth:`over` charges them to the
    deadline's work account, so under a work limit the search ends on attempts alone. Patience
    is a time rule, so it is left out under a work limit (the plan must not depend on load).
    """

    def __init__(self, deadline: Deadline, iterations: int | None = None,
                 patience: float | None = None,
                 better: Callable[[float], None] | None = None,
                 heartbeat: Callable[[], None] | None = None) -> None:
        self.deadline = deadline
        self.heartbeat = heartbeat  # called at each check (it times itself), for progress
        self.left = math.inf if iterations is None else float(iterations)
        self.patience = (math.inf if patience is None or deadline.work is not None
                         else patience)
        self.improved = math.inf  # deadline.elapsed() when the last better plan was found
        self.better = better  # told the value of each better plan

    def over(self, spend: int = 0) -> bool:
        """Whether the search must end (after charging ``spend`` attempts)."""
        if spend:
            self.left -= spend
            self.deadline.spend(spend)
        if self.heartbeat is not None:
            self.heartbeat()
        return (self.left <= 0 or self.deadline.expired()
                or self.deadline.elapsed() - self.improved > self.patience)

    def found(self, value: float) -> None:
        """A better plan of ``value`` was found (restarts the patience)."""
        if math.isfinite(self.patience):
            self.improved = self.deadline.elapsed()
        if self.better is not None:
            self.better(value)


class SearchState:
    """A plan being searched, with what makes a move cheap to price and apply."""

    def __init__(self, problem: DistrictingProblem, adj: Adjacency, labels: list[int],
                 rng: random.Random) -> None:
        self.p = problem
        self.nbrs = adj.lists()
        self.rng = rng
        self.labels = labels
        self.k = problem.k
        self.stats = Stats()
        self.clock = Clock(Deadline(math.inf))
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
        self.recount()

    def recount(self) -> None:
        lab = np.asarray(self.labels)
        self.load = [np.bincount(lab, weights=np.asarray(w), minlength=self.k).tolist()
                     for w in self.w]
        self.viol = sum(self.term(b, j, self.load[b][j])
                        for b in range(len(self.w)) for j in range(self.k))

    def term(self, b: int, j: int, load: float) -> float:
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
            self.cols = growth_columns(p, self.labels) or []
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

    def deltas(self, u: int, a: int, b: int) -> tuple[float, float]:
        dv = 0.0
        for i in range(len(self.w)):
            wu = self.w[i][u]
            if wu == 0.0:
                continue
            la, lb = self.load[i][a], self.load[i][b]
            dv += (self.term(i, a, la - wu) + self.term(i, b, lb + wu)
                   - self.term(i, a, la) - self.term(i, b, lb))
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

    def apply(self, u: int, a: int, b: int, do: float, dv: float) -> None:
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

    def record(self) -> None:
        if self.viol > FEASIBLE or any(c < 0 for c in self.centres):
            return
        self.recount()  # check with exact sums before keeping it
        if self.viol > FEASIBLE:
            return
        self.best = list(self.labels)
        self.best_value = self.value
        self.best_centres = None if self.cut else np.asarray(self.centres, dtype=np.int64)
        self.clock.found(self.value)

    def restore(self) -> None:
        assert self.best is not None
        self.labels[:] = self.best
        self.recount()
        self._set_centres()
        self._boundary()
        self.value = self._value()

    def recentre(self) -> None:
        """Move each district's chosen centre to its best candidate (only ever lowers the
        objective)."""
        if self.p.fixed_centres is not None:
            return
        self._set_centres()
        self.value = self._value()
        if self.viol <= FEASIBLE and self.value < self.best_value - 1e-9:
            self.record()

    def summary(self) -> str:
        """One log line: moves made and tried, moves refused for splitting a district."""
        s = self.stats
        return (f"search: {s.cycles} cycles, {s.tried} move tries, {s.moves} moves, "
                f"{s.split} refused (would split a district), {s.recombined} of "
                f"{s.recombinations} recombinations taken")


def _all_connected(adj: Adjacency, labels: list[int], k: int) -> bool:
    return is_contiguous(adj, np.asarray(labels), k)
