"""Round the LP relaxation to a plan and repair the bands it breaks, by greedy single moves.

The LP splits only a few items (at most about two per territory), so sending each item to its
largest LP share breaks each band by at most a couple of items' weight. Moving items, one at a
time, along the model's pairs — each move the one that most reduces the total relative
violation of the hard rows, cheapest first among equals — usually restores every band in a few
hundred vectorised steps. A restricted MIP then starts from a feasible plan instead of having to
find one (HiGHS needs minutes for a first plan at 20,000 × 100; this takes well under a second).
"""

from __future__ import annotations

import numpy as np

from territory_opt.alignment.formulation import AlignmentModel
from territory_opt.deadline import Deadline

MAX_MOVES_PER_ITEM = 0.05
"""Give up after this many moves per item (plus a fixed 1,000)."""
TABU = 10
"""An item moved in the last this many moves stays put (avoids cycling)."""
MAX_WEIGHT = 1e6
"""Guided local search stops raising row weights here."""
MAX_BATCH = 50_000
"""Candidate moves looked at per batch."""
TOLERANCE = 1e-9
"""Relative violation that counts as none (the MIP's own feasibility tolerance is 1e-6)."""


def round_and_repair(model: AlignmentModel, x: np.ndarray, deadline: Deadline | None = None
                     ) -> tuple[np.ndarray, float]:
    """An assignment from the LP point ``x`` and its remaining total relative violation of
    the hard rows (0: a plan; else greedy single moves got stuck there). The moves are
    counted, so the result depends on ``deadline`` only when its time runs out first."""
    assignment = model.assignment(x, min_share=0.0)
    rows = _HardRows(model)
    n_pairs = len(model.pair_item)
    item, territory = model.pair_item, model.pair_territory
    cost = model.linear.c[:n_pairs]
    m = model.scenario.n_territories
    keys = item * m + territory
    loads = rows.loads(np.searchsorted(keys, np.arange(len(assignment)) * m + assignment))
    moves = 1000 + int(MAX_MOVES_PER_ITEM * model.scenario.n_items)
    recent: list[int] = []
    for _ in range(moves):
        if deadline is not None and deadline.expired():
            break
        violation = float(rows.violation(loads).sum())
        if violation <= TOLERANCE:
            return assignment, 0.0
        # Only a move into or out of a broken territory can mend it (or the cap row).
        broken = rows.broken_territories(loads)
        source_all = assignment[item]
        near = broken[source_all] | broken[territory]
        j = np.flatnonzero(near & (source_all != territory) & ~np.isin(item, recent))
        here = np.searchsorted(keys, item[j] * m + source_all[j])  # the items' pairs now
        delta_cost = cost[j] - cost[here]
        delta = rows.move_delta(loads, here, j)
        pick = int(np.lexsort((delta_cost, delta))[0]) if len(j) else -1
        best = int(j[pick]) if pick >= 0 else -1
        if best < 0 or not delta[pick] < -TOLERANCE:
            # A local minimum: weigh the rows still broken more heavily (guided local
            # search), so the next moves trade other rows' slack for theirs.
            if rows.reweigh(loads):
                continue
            if best < 0:
                return assignment, violation
            rows.row_weight[:] = 1.0  # weights exhausted: take the best move uphill (tabu
            rows.cap_row_weight = 1.0  # search; the tabu list keeps it from coming back)
            batch = [pick]
        else:
            batch = _disjoint_moves(delta, delta_cost, here, j, territory)
        for chosen in batch:
            move = int(j[chosen])
            loads = rows.apply(loads, int(here[chosen]), move)
            assignment[item[move]] = territory[move]
            recent = [*recent[-(TABU - 1):], int(item[move])]  # no ping-pong of one item
    return assignment, float(rows.violation(loads).sum())


def _disjoint_moves(delta: np.ndarray, delta_cost: np.ndarray, here: np.ndarray,
                    j: np.ndarray, territory: np.ndarray) -> list[int]:
    """Improving moves, best first, no two touching the same territory: their band changes
    do not interact, so all can be applied at once (hundreds of moves per pass on large
    models instead of one)."""
    order = np.lexsort((delta_cost, delta))
    order = order[delta[order] < -TOLERANCE][:MAX_BATCH]
    used: set[int] = set()
    batch = []
    for index in order.tolist():
        source, target = int(territory[here[index]]), int(territory[j[index]])
        if source in used or target in used:
            continue
        used.update((source, target))
        batch.append(index)
    return batch


class _HardRows:
    """The hard band, capacity and cap rows as per-territory load vectors."""

    def __init__(self, model: AlignmentModel) -> None:
        layout = model.layout
        self.scenario = model.scenario
        hard = [b for b in layout.bands if b.penalty is None]
        n, m = model.scenario.n_items, model.scenario.n_territories

        def stack(values: list[np.ndarray], width: int) -> np.ndarray:
            return np.array(values, dtype=float).reshape(len(values), width)

        # Per pair: a pair table may give an item a different load in each territory.
        self.weight = stack([layout.band_entries(b, model.pair_item, model.pair_territory)
                             for b in hard], len(model.pair_item))
        self.item = model.pair_item
        self.territory = model.pair_territory
        del n
        self.lo = stack([b.lo for b in hard], m)
        self.hi = stack([b.hi for b in hard], m)
        self.scale = stack([b.scale for b in hard], m)
        self.row_weight = np.ones_like(self.lo)  # guided local search weights
        self.cap_row_weight = 1.0
        self.cap_weight = layout.cap_weight
        self.cap_floor = layout.cap_floor
        self.cap_scale = max(float(layout.cap_weight.sum()), 1e-9) if (
            layout.cap_weight is not None) else 1.0

    def loads(self, pair: np.ndarray) -> tuple[np.ndarray, float]:
        """Band loads and the cap row's staying weight when item i takes ``pair[i]``."""
        m = self.scenario.n_territories
        band = np.array([np.bincount(self.territory[pair], weights=w[pair], minlength=m)
                         for w in self.weight]).reshape(len(self.weight), m)
        stays = 0.0
        if self.cap_weight is not None:
            current = self.scenario.current[self.item[pair]]
            stays = float(self.cap_weight[self.item[pair]][current == self.territory[pair]].sum())
        return band, stays

    def violation(self, loads: tuple[np.ndarray, float]) -> np.ndarray:
        band, stays = loads
        out = _band_violation(band, self.lo, self.hi, self.scale).sum(axis=0)
        if self.cap_weight is not None:
            out = out + max(self.cap_floor - stays, 0.0) / self.cap_scale
        return np.asarray(out)

    def broken_territories(self, loads: tuple[np.ndarray, float]) -> np.ndarray:
        """Boolean per territory: a band row of it is broken (all, if the cap row is)."""
        band, stays = loads
        if self.cap_weight is not None and self.cap_floor - stays > TOLERANCE * self.cap_scale:
            return np.ones(self.scenario.n_territories, dtype=bool)
        return np.asarray((_band_violation(band, self.lo, self.hi, self.scale)
                           > TOLERANCE).any(axis=0))

    def reweigh(self, loads: tuple[np.ndarray, float]) -> bool:
        """Double the weight of every broken row; False once weights hit :data:`MAX_WEIGHT`."""
        band, stays = loads
        broken = _band_violation(band, self.lo, self.hi, self.scale) > TOLERANCE
        if self.cap_weight is not None and self.cap_floor - stays > 0:
            self.cap_row_weight *= 2.0
        self.row_weight[broken] *= 2.0
        return bool(self.row_weight.max() <= MAX_WEIGHT and self.cap_row_weight <= MAX_WEIGHT)

    def move_delta(self, loads: tuple[np.ndarray, float], here: np.ndarray, to: np.ndarray
                   ) -> np.ndarray:
        """Change of the weighted violation if each item left pair ``here[j]`` for ``to[j]``."""
        band, stays = loads
        delta = np.zeros(len(to))
        source, target = self.territory[here], self.territory[to]
        for g in range(len(self.weight)):
            lo, hi, scale, weight = self.lo[g], self.hi[g], self.scale[g], self.row_weight[g]
            for k, change in ((source, -self.weight[g][here]), (target, self.weight[g][to])):
                before = band[g][k]
                delta += weight[k] * (_band_violation(before + change, lo[k], hi[k], scale[k])
                                      - _band_violation(before, lo[k], hi[k], scale[k]))
        if self.cap_weight is not None:
            item = self.item[to]
            current = self.scenario.current[item]
            change = np.where(current == target, self.cap_weight[item],
                              np.where(current == source, -self.cap_weight[item], 0.0))
            before = max(self.cap_floor - stays, 0.0)
            delta += self.cap_row_weight * (
                np.maximum(self.cap_floor - stays - change, 0.0) - before) / self.cap_scale
        return delta

    def apply(self, loads: tuple[np.ndarray, float], here: int, to: int
              ) -> tuple[np.ndarray, float]:
        """Loads after the item of pair ``here`` moves to pair ``to``."""
        band, stays = loads
        band = band.copy()
        source, target = self.territory[here], self.territory[to]
        band[:, source] -= self.weight[:, here]
        band[:, target] += self.weight[:, to]
        if self.cap_weight is not None:
            i = self.item[to]
            current = self.scenario.current[i]
            stays += self.cap_weight[i] * (float(current == target) - float(current == source))
        return band, stays


def _band_violation(load: np.ndarray, lo: np.ndarray, hi: np.ndarray, scale: np.ndarray
                    ) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # infinite bounds
        below = np.where(np.isfinite(lo), np.maximum(lo - load, 0.0), 0.0)
        above = np.where(np.isfinite(hi), np.maximum(load - hi, 0.0), 0.0)
    return np.asarray((below + above) / scale)
