"""Account groups no plan can satisfy, found without a solver (``validate`` and every solve's
quick check): a must-link group heavier than any band allows, or that no territory may take
whole, or whose members are locked apart; a cannot-link group with more members than the
territories that may take them, or with members locked together; more items with a capped tag
locked to one territory than the cap, or more of them than the cap times the territories.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_bipartite_matching

from territory_opt.errors import Conflict
from territory_opt.scenario.groups import ItemGroup, named
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.tolerance import band_slack, capacity_limit


def group_conflicts(scenario: Scenario) -> list[Conflict]:
    """Every group of ``scenario.groups`` that cannot hold, with the amounts."""
    if scenario.groups is None:
        return []
    out: list[Conflict] = []
    for group in scenario.groups.all():
        if group.rule == "together":
            out += _together(scenario, group)
        else:
            out += _spread(scenario, group)
    return out


def _locks(scenario: Scenario, group: ItemGroup) -> tuple[np.ndarray, np.ndarray]:
    """The group's locked members and their lock territories."""
    lock = scenario.lock[group.members]
    locked = lock != NO_TERRITORY
    return group.members[locked], lock[locked]


def _together(scenario: Scenario, group: ItemGroup) -> list[Conflict]:
    ids, tids = scenario.item_ids, scenario.territory_ids
    n = len(group.members)
    items, where = _locks(scenario, group)
    if len(np.unique(where)) > 1:
        parts = "; ".join(f"{named(ids, items[where == k])} to {tids[k]}"
                          for k in np.unique(where))
        return [Conflict(f"group {group.label} + locks",
                         f"its {n} items must share one territory, but some are locked to "
                         f"different ones: {parts}")]
    common = scenario.allowed_block(group.members).all(axis=0)
    if not common.any():
        return [Conflict(f"group {group.label} + eligibility/locks/distance",
                         f"no territory may take all {n} items of the group "
                         f"({named(ids, group.members)})")]
    out = []
    limits = [(f"balance {r.attribute} ±{r.tolerance * 100:g}%", r.attribute,
               (1 + r.tolerance) * scenario.targets(r.attribute)
               + band_slack(scenario.targets(r.attribute)), "band ceiling")
              for r in scenario.spec.rules.balance if r.hard and r.level is None]
    limits += [(f"capacity {name}", name, capacity_limit(cap), "capacity")
               for name, cap in scenario.capacity.items()]
    candidates = np.flatnonzero(common)
    for rule, attribute, ceiling, what in limits:
        load = scenario.pair_load(attribute, group.members[:, None], candidates[None, :]).sum(
            axis=0)
        if (load > ceiling[candidates]).all():
            best = int(np.argmax(ceiling[candidates] - load))
            k = candidates[best]
            out.append(Conflict(
                f"group {group.label} + {rule}",
                f"its {n} items carry {attribute} {load[best]:,.2f} together, above the "
                f"{what} of every territory that may take them all (largest room: "
                f"{tids[k]} {ceiling[k]:,.2f}, over by {load[best] - ceiling[k]:,.2f})"))
    return out


def _spread(scenario: Scenario, group: ItemGroup) -> list[Conflict]:
    """apart (at most 1 per territory) and at_most (at most ``count``)."""
    ids, tids = scenario.item_ids, scenario.territory_ids
    n, limit = len(group.members), group.limit
    out = []
    items, where = _locks(scenario, group)
    ks, counts = np.unique(where, return_counts=True)
    over = counts > limit
    if over.any():
        parts = "; ".join(f"{tids[k]}: {c} locked ({named(ids, items[where == k])})"
                          for k, c in zip(ks[over], counts[over], strict=True))
        out.append(Conflict(f"group {group.label} + locks",
                            f"at most {limit} of its items per territory, but {parts}"))
    allowed = scenario.allowed_block(group.members)
    room = int(allowed.any(axis=0).sum())
    # Each territory offers ``limit`` slots: can every member get a slot it may take?
    slots = sp.csr_array(np.repeat(allowed, limit, axis=1).astype(np.int8))
    matched = int((maximum_bipartite_matching(slots, perm_type="column") >= 0).sum())
    if matched < n:
        what = ("different territories" if group.rule == "apart"
                else f"territories at {limit} per territory")
        out.append(Conflict(
            f"group {group.label} + eligibility/locks/distance",
            f"its {n} items need {what}, but only {matched} can be placed so "
            f"({room} territor{'y' if room == 1 else 'ies'} may take any of them, "
            f"room for {room * limit}; short by {n - matched})"))
    return out
