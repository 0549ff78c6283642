"""Local search on an alignment plan: single moves and swaps that keep every hard rule.

A plan's neighbours are (1) one item moved to another of its pairs and (2) two items of two
territories exchanged. Every candidate is scored at once with numpy over the model's pairs (the
pair cost, soft bands' penalties; hard bands, capacities and the disruption cap as feasibility),
then the improving ones are applied best first, each re-checked against the loads as they are at
that moment — so a pass costs a few vectorised sweeps plus a short Python loop, at any size.

Swaps are what a tight band needs: an item rarely fits into a neighbour whose workload sits at
the top of its ±5%, but two items of similar weight can trade places. Per ordered pair of
territories only the :data:`SWAP_HALVES` most promising half-moves are crossed, so swaps stay
linear in the model's size.

It works on any alignment model (locks, eligibility, distance limits and pair tables are in the
pair set; per-pair loads in the band weights), starts from a plan that keeps the hard rules and
only ever returns plans that keep them, each no worse than the last.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from territory_opt.alignment.formulation import AlignmentModel, Band
from territory_opt.deadline import Deadline
from territory_opt.scenario.model import NO_TERRITORY

SWAP_HALVES = 24
"""Half-moves (item, from, to) kept per ordered pair of territories when building swaps."""
IMPROVEMENT = 1e-9
"""Relative objective change below which a move does not count as improving."""
FEASIBILITY = 1e-9
"""Relative slack (of a row's scale) a hard row may be off by, as the repair allows."""


@dataclasses.dataclass(frozen=True, eq=False)
class Searched:
    """A plan after local search: the assignment, its model objective and the moves made."""

    assignment: np.ndarray
    objective: float
    moves: int
    swaps: int


class LocalSearch:
    """Loads and costs of one plan of ``model``, with vectorised move and swap passes."""

    def __init__(self, model: AlignmentModel, assignment: np.ndarray, *,
                 elastic: float | None = None) -> None:
        scenario = model.scenario
        layout = model.layout
        self.model = model
        self.m = scenario.n_territories
        self.item, self.territory = model.pair_item, model.pair_territory
        self.cost = model.linear.c[: len(self.item)]
        self.keys = self.item * self.m + self.territory
        # Elastic (a repair): hard bands are priced like soft ones, at ``elastic`` per unit of
        # relative violation, so moves that mend them win over any change of cost.
        hard = [b for b in layout.bands if b.penalty is None and elastic is None]
        soft = [b for b in layout.bands if b.penalty is not None or elastic is not None]
        self.hard_w = _weights(model, hard, len(self.item))
        self.soft_w = _weights(model, soft, len(self.item))
        self.hard_lo, self.hard_hi = _limits(hard, self.m)
        self.soft_lo, self.soft_hi = _limits(soft, self.m)
        self.tol = np.array([FEASIBILITY * b.scale for b in hard]).reshape(len(hard), self.m)
        self.penalty = np.array([np.full(self.m, float(b.penalty)) if b.penalty is not None
                                 else elastic / np.asarray(b.scale, dtype=float)
                                 for b in soft], dtype=float).reshape(len(soft), self.m)
        self.cap_weight = layout.cap_weight
        self.cap_floor = layout.cap_floor
        self.current = scenario.current
        self.threshold = 0.0
        self.set_plan(assignment)

    # -- state ------------------------------------------------------------------------------

    def set_plan(self, assignment: np.ndarray) -> None:
        """Start from ``assignment`` (every item on one of its pairs)."""
        self.assignment = assignment.astype(np.int64).copy()
        self.pair = np.searchsorted(self.keys, np.arange(len(assignment)) * self.m
                                    + self.assignment)
        self.hard_load = _loads(self.hard_w, self.territory, self.pair, self.m)
        self.soft_load = _loads(self.soft_w, self.territory, self.pair, self.m)
        self.stays = 0.0
        if self.cap_weight is not None:
            self.stays = float(self.cap_weight[self.assignment == self.current].sum())
        self.threshold = IMPROVEMENT * max(1.0, abs(self.objective))

    @property
    def objective(self) -> float:
        """Pair costs plus soft bands' penalties (the model's objective of this plan)."""
        return float(self.cost[self.pair].sum()) + float(
            (self.penalty * _outside(self.soft_load, self.soft_lo, self.soft_hi)).sum())

    def feasible(self) -> bool:
        """Whether the plan keeps every hard row."""
        inside = ((self.hard_load >= self.hard_lo - self.tol)
                  & (self.hard_load <= self.hard_hi + self.tol)).all()
        return bool(inside) and (self.cap_weight is None
                                 or self.stays >= self.cap_floor - FEASIBILITY * self._cap_scale)

    @property
    def _cap_scale(self) -> float:
        return max(float(self.cap_weight.sum()), 1.0) if self.cap_weight is not None else 1.0

    # -- moves ------------------------------------------------------------------------------

    def move_pass(self, deadline: Deadline) -> int:
        """Apply improving single moves, best first; the number applied."""
        here = self.pair[self.item]
        source, target = self.territory[here], self.territory
        candidate = np.flatnonzero(source != target)
        gain = self._delta(candidate, here[candidate], None, None)
        order = np.argsort(gain, kind="stable")
        order = candidate[order[np.isfinite(gain[order])]]
        batch = _Batch(self.m)
        for p in order.tolist():
            if deadline.expired() or batch.full:
                break
            i = int(self.item[p])
            if self.pair[i] != here[p]:
                continue  # the item moved earlier in this pass
            batch.offer(self, [(i, p)], (int(self.territory[here[p]]), int(self.territory[p])))
        return batch.applied

    def swap_pass(self, deadline: Deadline) -> int:
        """Apply improving swaps (two items of two territories trade places); the number."""
        halves = self._halves()
        if halves is None:
            return 0
        first, second = halves
        if len(first) == 0:
            return 0
        here_a, here_b = self.pair[self.item[first]], self.pair[self.item[second]]
        gain = self._delta(first, here_a, second, here_b)
        keep = np.isfinite(gain)
        first, second, gain = first[keep], second[keep], gain[keep]
        order = np.argsort(gain, kind="stable")
        batch = _Batch(self.m)
        for a, b in zip(first[order].tolist(), second[order].tolist(), strict=True):
            if deadline.expired() or batch.full:
                break
            i, j = int(self.item[a]), int(self.item[b])
            # Both items must still sit where the swap was scored from.
            if self.assignment[i] != self.territory[b] or self.assignment[j] != self.territory[a]:
                continue
            batch.offer(self, [(i, a), (j, b)], (int(self.territory[b]), int(self.territory[a])))
        return batch.applied

    def _halves(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Swaps as pairs of model pairs ``(a, b)``: a moves its item from k to l, b its item
        from l to k; per ordered (k, l) the :data:`SWAP_HALVES` half-moves that would gain
        most alone (cost and soft penalties, hard rows ignored: the other half may mend them)."""
        here = self.pair[self.item]
        source, target = self.territory[here], self.territory
        half = np.flatnonzero(source != target)
        if len(half) == 0:
            return None
        saving = self._delta(half, here[half], None, None, raw=True)
        key = source[half] * self.m + target[half]
        order = np.lexsort((saving, key))
        half, key = half[order], key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        lengths = np.diff(np.r_[starts, len(key)])
        rank = np.arange(len(key)) - np.repeat(starts, lengths)
        kept = rank < SWAP_HALVES
        half, key = half[kept], key[kept]
        groups, group_start, group_len = np.unique(key, return_index=True, return_counts=True)
        forward = (groups // self.m) < (groups % self.m)
        back_key = (groups % self.m) * self.m + groups // self.m
        where = np.searchsorted(groups, back_key)
        where = np.minimum(where, len(groups) - 1)
        has_back = forward & (groups[where] == back_key)
        g = np.flatnonzero(has_back)
        partner = where[g]
        # Cross every half of group g with every half of its partner group.
        n_first = group_len[g]
        n_second = group_len[partner]
        per_first_half = np.repeat(n_second, n_first)  # partners for each first half
        first_index = np.concatenate([np.arange(s, s + c) for s, c in
                                      zip(group_start[g].tolist(), n_first.tolist(),
                                          strict=True)]) if len(g) else np.zeros(0, np.int64)
        second_start = np.repeat(group_start[partner], n_first)
        total = int(per_first_half.sum())
        if total == 0:
            return None
        offsets = np.arange(total) - np.repeat(np.cumsum(per_first_half) - per_first_half,
                                               per_first_half)
        a = np.repeat(first_index, per_first_half)
        b = np.repeat(second_start, per_first_half) + offsets
        return half[a], half[b]

    def _delta(self, to_a: np.ndarray, from_a: np.ndarray, to_b: np.ndarray | None,
               from_b: np.ndarray | None, *, raw: bool = False) -> np.ndarray:
        """Objective change of moving the items of pairs ``from_a`` to ``to_a`` (and, for
        swaps, ``from_b`` to ``to_b`` at the same time); +inf where a hard row would break or
        the change does not improve — unless ``raw``: then the change itself, everywhere."""
        delta = self.cost[to_a] - self.cost[from_a]
        source, target = self.territory[from_a], self.territory[to_a]
        change_k_hard = -self.hard_w[:, from_a]
        change_l_hard = self.hard_w[:, to_a].copy()
        change_k_soft = -self.soft_w[:, from_a]
        change_l_soft = self.soft_w[:, to_a].copy()
        cap_change = self._cap_change(from_a, to_a)
        if to_b is not None and from_b is not None:
            delta = delta + self.cost[to_b] - self.cost[from_b]
            change_k_hard = change_k_hard + self.hard_w[:, to_b]
            change_l_hard = change_l_hard - self.hard_w[:, from_b]
            change_k_soft = change_k_soft + self.soft_w[:, to_b]
            change_l_soft = change_l_soft - self.soft_w[:, from_b]
            cap_change = cap_change + self._cap_change(from_b, to_b)
        ok = np.ones(len(to_a), dtype=bool)
        for t, change in ((source, change_k_hard), (target, change_l_hard)):
            after = self.hard_load[:, t] + change
            ok &= ((after >= self.hard_lo[:, t] - self.tol[:, t])
                   & (after <= self.hard_hi[:, t] + self.tol[:, t])).all(axis=0)
        if self.cap_weight is not None:
            ok &= self.stays + cap_change >= self.cap_floor - FEASIBILITY * self._cap_scale
        for t, change in ((source, change_k_soft), (target, change_l_soft)):
            load = self.soft_load[:, t]
            lo, hi = self.soft_lo[:, t], self.soft_hi[:, t]
            delta = delta + (self.penalty[:, t] * (_outside(load + change, lo, hi)
                                                      - _outside(load, lo, hi))).sum(axis=0)
        if raw:
            return np.asarray(delta)
        return np.where(ok & (delta < -self.threshold), delta, np.inf)

    def _cap_change(self, from_pair: np.ndarray, to_pair: np.ndarray) -> np.ndarray:
        if self.cap_weight is None:
            return np.zeros(len(from_pair))
        i = self.item[from_pair]
        home = self.current[i]
        w = self.cap_weight[i]
        return (np.where(self.territory[to_pair] == home, w, 0.0)
                - np.where(self.territory[from_pair] == home, w, 0.0))

    def _try(self, moves: list[tuple[int, int]]) -> bool:
        """Apply ``moves`` (item, new pair) if they keep every hard row and improve the
        objective at today's loads; whether they were applied."""
        froms = np.array([self.pair[i] for i, _ in moves])
        tos = np.array([p for _, p in moves])
        if len(moves) == 1:
            delta = self._delta(tos, froms, None, None)
        else:
            delta = self._delta(tos[:1], froms[:1], tos[1:], froms[1:])
        if not np.isfinite(delta[0]):
            return False
        self._apply(moves)
        return True

    def _apply(self, moves: list[tuple[int, int]]) -> None:
        """Move each item ``i`` to pair ``p`` of ``moves``, updating the loads."""
        for i, p in moves:
            f = int(self.pair[i])
            source, target = int(self.territory[f]), int(self.territory[p])
            self.hard_load[:, source] -= self.hard_w[:, f]
            self.hard_load[:, target] += self.hard_w[:, p]
            self.soft_load[:, source] -= self.soft_w[:, f]
            self.soft_load[:, target] += self.soft_w[:, p]
            if self.cap_weight is not None:
                home = self.current[i]
                self.stays += float(self.cap_weight[i]) * (float(target == home)
                                                           - float(source == home))
            self.pair[i] = p
            self.assignment[i] = target


RECHECKS = 10_000
"""Per pass, at most this many candidates touching a territory an earlier move of the pass
changed are re-scored one by one (the next pass scores them all again, vectorised)."""


class _Batch:
    """One pass's moves: a candidate whose territories no earlier move of the pass touched is
    applied as scored (its gain is exact); the others are re-scored, up to :data:`RECHECKS`
    (all are, under a disruption cap)."""

    def __init__(self, m: int) -> None:
        self.touched = np.zeros(m, dtype=bool)
        self.n_touched = 0
        self.m = m
        self.applied = self.rechecked = 0

    @property
    def full(self) -> bool:
        """Whether no candidate of the pass can be applied any more."""
        return self.rechecked >= RECHECKS and self.n_touched >= self.m

    def offer(self, search: LocalSearch, moves: list[tuple[int, int]],
              territories: tuple[int, int]) -> None:
        source, target = territories
        # The disruption cap is one row over all territories: no move is independent of it.
        if not (self.touched[source] or self.touched[target]) and search.cap_weight is None:
            search._apply(moves)
        elif self.rechecked < RECHECKS:
            self.rechecked += 1
            if not search._try(moves):
                return
        else:
            return
        self.n_touched += int(not self.touched[source]) + int(not self.touched[target])
        self.touched[[source, target]] = True
        self.applied += 1


def local_search(model: AlignmentModel, assignment: np.ndarray, deadline: Deadline
                 ) -> Searched:
    """Moves and swaps from ``assignment`` (a plan keeping the hard rules) until a pass of
    both finds nothing or ``deadline`` ends; the plan is returned unchanged if it breaks a
    hard rule or has an item without a pair."""
    if (assignment == NO_TERRITORY).any():
        return Searched(assignment, float("inf"), 0, 0)
    search = LocalSearch(model, assignment)
    if not search.feasible():
        return Searched(assignment, search.objective, 0, 0)
    moves = swaps = 0
    while not deadline.expired():
        moved = search.move_pass(deadline)
        swapped = search.swap_pass(deadline)
        moves, swaps = moves + moved, swaps + swapped
        if moved + swapped == 0:
            break
    return Searched(search.assignment, search.objective, moves, swaps)


def _weights(model: AlignmentModel, bands: list[Band], n_pairs: int) -> np.ndarray:
    """Per band, each pair's load in it (a pair table may set its own)."""
    rows = [model.layout.band_entries(b, model.pair_item, model.pair_territory) for b in bands]
    return np.array(rows, dtype=float).reshape(len(bands), n_pairs)


def _limits(bands: list[Band], m: int) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([b.lo for b in bands], dtype=float).reshape(len(bands), m)
    hi = np.array([b.hi for b in bands], dtype=float).reshape(len(bands), m)
    return lo, hi


def _loads(weights: np.ndarray, territory: np.ndarray, pair: np.ndarray, m: int) -> np.ndarray:
    return np.array([np.bincount(territory[pair], weights=w[pair], minlength=m)
                     for w in weights], dtype=float).reshape(len(weights), m)


def _outside(load: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """How far each load lies outside its band (0 inside; infinite limits never bind)."""
    with np.errstate(invalid="ignore"):
        below = np.where(np.isfinite(lo), np.maximum(lo - load, 0.0), 0.0)
        above = np.where(np.isfinite(hi), np.maximum(load - hi, 0.0), 0.0)
    return np.asarray(below + above)


REPAIR_PRICE = 1e6
"""Elastic repair: a 100% violation of a hard row costs this many times the dearest pair."""


def elastic_repair(model: AlignmentModel, assignment: np.ndarray, deadline: Deadline
                   ) -> tuple[np.ndarray, float]:
    """Mend the hard bands ``assignment`` breaks by moves and swaps that price a band's
    violation far above any cost (:data:`REPAIR_PRICE`); the plan and the total relative
    violation left (0: every hard band kept). Plans breaking the disruption cap, or with an
    item without a pair, come back unchanged with an infinite violation."""
    if (assignment == NO_TERRITORY).any():
        return assignment, float("inf")
    cost = np.abs(model.linear.c[: len(model.pair_item)])
    price = REPAIR_PRICE * max(float(cost.max(initial=0.0)), 1.0)
    search = LocalSearch(model, assignment, elastic=price)
    if search.cap_weight is not None and search.stays < search.cap_floor:
        return assignment, float("inf")
    # In elastic mode every band is in the search's soft loads; the hard ones are measured.
    hard = np.array([b.penalty is None for b in model.layout.bands], dtype=bool)
    scale = np.array([b.scale for b in model.layout.bands], dtype=float).reshape(
        len(hard), search.m)[hard]

    def violation() -> float:
        outside = _outside(search.soft_load, search.soft_lo, search.soft_hi)[hard]
        return float((outside / scale).sum())

    left = violation()
    while left > FEASIBILITY and not deadline.expired():
        changed = search.move_pass(deadline) + search.swap_pass(deadline)
        left = violation()
        if not changed:
            break
    return search.assignment, left


def band_violation(model: AlignmentModel, assignment: np.ndarray) -> tuple[float, np.ndarray]:
    """The total relative violation of the hard bands by ``assignment`` (each row's excess
    over its scale), and the territories with a broken hard band."""
    hard = [b for b in model.layout.bands if b.penalty is None]
    m = model.scenario.n_territories
    pair = np.searchsorted(model.pair_item * m + model.pair_territory,
                           np.arange(len(assignment)) * m + assignment)
    load = _loads(_weights(model, hard, len(model.pair_item)), model.pair_territory, pair, m)
    lo, hi = _limits(hard, m)
    scale = np.array([b.scale for b in hard], dtype=float).reshape(len(hard), m)
    excess = _outside(load, lo, hi) / scale
    broken = np.flatnonzero((excess > FEASIBILITY).any(axis=0))
    return float(excess.sum()), broken
