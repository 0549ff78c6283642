"""Which (item, territory) pairs a model offers, and what each pair costs.

Small scenarios offer every allowed pair: the model is the whole problem and a solver's bound is
valid for it. Large ones offer each item its ``k`` nearest eligible territories (plus its current
one and any territory without a home): a few pairs per item instead of hundreds, found with a
KD-tree, never through an items × territories array. Column generation
(:mod:`territory_opt.alignment.colgen`) then adds any missing pair the LP wants, which both widens
the set where ``k`` is too small and makes the LP bound valid for the whole problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from territory_opt.geo import unit_vectors
from territory_opt.scenario.hierarchy import crossing
from territory_opt.scenario.model import NO_TERRITORY, Scenario, item_blocks

REACH = 2.0
"""Each territory is offered to its nearest ``REACH × its FTE share`` of the items."""


@dataclass(frozen=True, eq=False)
class PairSet:
    """Pairs sorted by item then territory; ``complete`` when every allowed pair is in."""

    item: np.ndarray
    territory: np.ndarray
    complete: bool

    def __len__(self) -> int:
        return len(self.item)

    @classmethod
    def of(cls, item: np.ndarray, territory: np.ndarray, n_territories: int, *,
           complete: bool) -> PairSet:
        """Pairs from unsorted arrays that may repeat."""
        key = np.unique(np.asarray(item, np.int64) * n_territories + territory)
        return cls(key // n_territories, key % n_territories, complete)

    def with_pairs(self, item: np.ndarray, territory: np.ndarray, n_territories: int) -> PairSet:
        """This set plus the given pairs."""
        return PairSet.of(np.concatenate([self.item, item]),
                          np.concatenate([self.territory, territory]), n_territories,
                          complete=self.complete)


def all_pairs(scenario: Scenario) -> PairSet:
    """Every allowed pair (walked in blocks of items)."""
    items, territories = [], []
    for block in item_blocks(scenario.n_items, scenario.n_territories):
        i, k = np.nonzero(scenario.allowed_block(block))
        items.append(i + block.start)
        territories.append(k)
    return PairSet(np.concatenate(items).astype(np.int64),
                   np.concatenate(territories).astype(np.int64), complete=True)


def nearest_pairs(scenario: Scenario, k: int) -> PairSet:
    """Each item's ``k`` nearest eligible territories by home, its current territory and every
    eligible territory without a home; each territory's nearest items (:data:`REACH`); a
    locked item only its lock; each item's ``k`` nearest pairs of the pair table
    (:func:`_listed_nearest`). Pairs the hard rules forbid (eligibility, the distance limit,
    ``only_listed``) are dropped."""
    m = scenario.n_territories
    group, table = scenario.eligibility_groups
    locked = scenario.lock != NO_TERRITORY
    located = scenario.located  # items without coordinates: their distances are all listed
    homed = scenario.has_home
    items = [np.flatnonzero(locked)]
    territories = [scenario.lock[locked]]
    item_xyz = unit_vectors(scenario.lat, scenario.lon)
    home_xyz = unit_vectors(scenario.home_lat, scenario.home_lon)
    listed_item, listed_territory = _listed_nearest(scenario, k)
    items.append(listed_item)
    territories.append(listed_territory)
    for g in range(len(table)):
        unlocated = np.flatnonzero((group == g) & ~locked & ~located)
        members = np.flatnonzero((group == g) & ~locked & located)
        everywhere = np.flatnonzero(table[g] & ~homed)  # no home: no distance, always offered
        items.append(np.repeat(unlocated, len(everywhere)))
        territories.append(np.tile(everywhere, len(unlocated)))
        if not len(members):
            continue
        eligible = np.flatnonzero(table[g])
        near = eligible[homed[eligible]]
        if len(near) > k:
            # Chord length on the unit sphere orders points like great-circle distance.
            _, index = cKDTree(home_xyz[near]).query(item_xyz[members], k=k)
            near_of = near[np.asarray(index).reshape(len(members), k)]
        else:
            near_of = np.broadcast_to(near, (len(members), len(near)))
        everywhere = eligible[~homed[eligible]]  # no home: no distance, always a candidate
        choices = np.hstack([near_of, np.broadcast_to(everywhere, (len(members), len(everywhere)))])
        items.append(np.repeat(members, choices.shape[1]))
        territories.append(choices.reshape(-1))
    # Each territory also offers itself to its nearest items, about twice its FTE share of
    # them: a rep far from everyone else's nearest lists can still fill its balance band.
    free = np.flatnonzero(~locked & located)
    share = np.ceil(REACH * len(free) * scenario.fte / scenario.fte.sum()).astype(np.int64)
    if len(free):
        tree = cKDTree(item_xyz[free])
        for t in np.flatnonzero(homed):
            reach = int(min(share[t], len(free)))
            _, index = tree.query(home_xyz[t], k=reach)
            items.append(free[np.atleast_1d(index)])
            territories.append(np.full(reach, t))
    has_current = ~locked & (scenario.current != NO_TERRITORY)
    items.append(np.flatnonzero(has_current))
    territories.append(scenario.current[has_current])
    item, territory = np.concatenate(items), np.concatenate(territories).astype(np.int64)
    keep = scenario.is_allowed(item, territory)
    # Not marked complete even when it happens to be: only pricing proves that.
    return PairSet.of(item[keep], territory[keep], m, complete=False)


def _listed_nearest(scenario: Scenario, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each item's ``k`` pairs of the pair table with the least distance (any ``k`` of them
    when the table has no distance column)."""
    keys = scenario.pair_keys
    if not len(keys):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    m = scenario.n_territories
    item, territory = keys // m, keys % m
    km = scenario.pair_km if scenario.pair_km is not None else np.zeros(len(keys))
    order = np.lexsort((km, item))
    item, territory = item[order], territory[order]
    starts = np.flatnonzero(np.r_[True, item[1:] != item[:-1]])
    rank = np.arange(len(item)) - np.repeat(starts, np.diff(np.r_[starts, len(item)]))
    keep = rank < k
    return item[keep], territory[keep]


def pair_costs(scenario: Scenario, item: np.ndarray, territory: np.ndarray) -> np.ndarray:
    """Objective cost of each pair: weighted travel + disruption if it moves the item."""
    objective = scenario.spec.objective
    km = scenario.distance(item, territory)
    travel = np.where(np.isnan(km), 0.0, km) * scenario.travel_weight()[item]
    current = scenario.current[item]
    moved = (current != NO_TERRITORY) & (current != territory)
    per_move = scenario.item_weight(objective.disruption.per)[item]
    return np.asarray(
        objective.travel.weight * travel + objective.disruption.weight * per_move * moved
        + crossing_price(scenario, item, territory)
    )


def crossing_price(scenario: Scenario, item: np.ndarray, territory: np.ndarray) -> np.ndarray:
    """``rules.same_parent.price`` where the pair moves the item to another parent (else 0)."""
    rule = scenario.spec.rules.same_parent
    if rule is None or rule.price is None or scenario.hierarchy is None:
        return np.zeros(np.broadcast_shapes(np.shape(item), np.shape(territory)))
    return rule.price * crossing(scenario.hierarchy, rule.level, scenario.current, item,
                                 territory)


def cost_block(scenario: Scenario, block: slice) -> np.ndarray:
    """:func:`pair_costs` of the items in ``block`` × every territory; +inf where not allowed."""
    objective = scenario.spec.objective
    km = scenario.distance_block(block)
    cost = objective.travel.weight * np.where(np.isnan(km), 0.0, km)
    cost *= scenario.travel_weight()[block][:, None]
    current = scenario.current[block]
    has = np.flatnonzero(current != NO_TERRITORY)
    if objective.disruption.weight and len(has):
        per_move = objective.disruption.weight * scenario.item_weight(objective.disruption.per)
        moved = np.zeros_like(cost)
        moved[has] = per_move[block][has, None]
        moved[has, current[has]] = 0.0
        cost += moved
    rows = np.arange(*block.indices(scenario.n_items))
    cost += crossing_price(scenario, rows[:, None], np.arange(scenario.n_territories)[None, :])
    cost[~scenario.allowed_block(block)] = np.inf
    return cost
