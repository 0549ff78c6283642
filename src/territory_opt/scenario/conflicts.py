"""Conflicts of a scenario's hard rules visible from totals alone, without a solver: items no
territory may take (eligibility, the pair table, the distance limit), total load above total
capacity, a band above a capacity, locked load above a band. Every family's quick check before a
solve, and ``territory-opt validate``'s.
"""

from __future__ import annotations

import numpy as np

from territory_opt.errors import Conflict
from territory_opt.scenario.group_conflicts import group_conflicts
from territory_opt.scenario.hierarchy_conflicts import hierarchy_conflicts
from territory_opt.scenario.model import NO_TERRITORY, Scenario, item_blocks
from territory_opt.tolerance import RULE_TOLERANCE, band_slack, capacity_limit

MAX_LISTED = 5
"""Items or territories named in one conflict at most (then "and N more")."""


def quick_conflicts(scenario: Scenario) -> list[Conflict]:
    """Conflicts visible from totals alone, without a solver."""
    return [
        *_homeless_items(scenario),
        *_capacity_totals(scenario),
        *_bands_vs_capacity(scenario),
        *_locked_loads(scenario),
        *group_conflicts(scenario),
        *hierarchy_conflicts(scenario),
    ]


def _homeless_items(scenario: Scenario) -> list[Conflict]:
    """(c) Items that no territory may take under eligibility, the pair table's
    ``only_listed`` and the distance limit.

    Each item is blamed on the rule that shuts it out: eligibility (no territory has the skill),
    the pair table (no listed pair with a skilled territory), the distance limit (every home is
    too far), or several (the skilled, listed territories are too far).
    """
    rules = scenario.spec.rules
    orphans = np.concatenate([
        block.start + np.flatnonzero(~scenario.allowed_block(block).any(axis=1))
        for block in item_blocks(scenario.n_items, scenario.n_territories)] or [[]]).astype(int)
    if not len(orphans):
        return []
    group, table = scenario.eligibility_groups
    limit, unit = scenario.max_distance, scenario.distance_unit
    elig = "eligibility (" + ", ".join(rules.eligibility) + ")"
    dist = f"max distance {limit:g} {unit}" if limit is not None else "max distance"
    listed_only = "pairs (only_listed)"
    leaving = "items.lock_state (leave)"

    def staying(i: int) -> np.ndarray:
        """The territories item ``i`` may stay with or join under its lock state."""
        out = np.ones(scenario.n_territories, dtype=bool)
        if scenario.leave is not None and scenario.leave[i] and scenario.current[i] >= 0:
            out[scenario.current[i]] = False
        return out

    unskilled = "no territory has this skill" if len(rules.eligibility) == 1 else (
        "no territory has all these skills"
    )
    causes: set[str] = set()
    details = []
    m = scenario.n_territories
    for i in orphans:
        skilled, km = table[group[i]], scenario.distance_block(np.array([i]))[0]
        listed = (scenario.listed(np.full(m, i), np.arange(m)) if scenario.only_listed
                  else np.ones(m, dtype=bool))
        tags = ", ".join(f"{t}={scenario.tags[t][i]!r}" for t in rules.eligibility)
        if not skilled.any():
            causes.add(elig)
            detail = f"{tags}: {unskilled}"
        elif not (skilled & listed).any():
            causes.add(listed_only)
            if not listed.any():
                detail = "no pair in the pairs table"
            else:
                causes.add(elig)
                detail = f"{tags}: no listed pair with a territory that has the skill"
        elif not (skilled & listed & staying(i)).any():
            causes.add(leaving)
            detail = (f"lock state 'leave': the only territory open to it is its current one, "
                      f"{scenario.territory_ids[scenario.current[i]]}")
        elif limit is None:  # no rule above shuts it out alone: name them all
            causes.update((elig, listed_only, leaving))
            detail = "no territory may take it"
        else:
            causes.add(dist)
            if not skilled.all():
                causes.add(elig)
            if not listed.all():
                causes.add(listed_only)
            open_ = skilled & listed & staying(i)
            if (skilled & listed & ~staying(i)).any():
                causes.add(leaving)
            nearest = float(np.nanmin(km[open_]))
            which = " with that skill" if not skilled.all() else ""
            which += " among the listed pairs" if not listed.all() else ""
            detail = (f"{tags}; " if not skilled.all() else "") + (
                f"nearest home{which} {nearest:,.1f} {unit} > {limit:g} {unit}")
        details.append(f"{scenario.item_ids[i]} ({detail})")
    more = f" and {len(orphans) - MAX_LISTED} more" if len(orphans) > MAX_LISTED else ""
    return [Conflict(
        " + ".join(c for c in (elig, listed_only, leaving, dist) if c in causes),
        f"{len(orphans)} item(s) have no territory that may take them: "
        f"{'; '.join(details[:MAX_LISTED])}{more}",
    )]


def _capacity_totals(scenario: Scenario) -> list[Conflict]:
    """(a) Total load of an attribute above the sum of capacities.

    With loads from the pair table, each item counts its least load over the territories it
    may go to: the least total any plan can have.
    """
    out = []
    for name, cap in scenario.capacity.items():
        per_pair = scenario.has_pair_loads(name)
        total = float(_least_loads(scenario, name).sum() if per_pair
                      else scenario.attributes[name].sum())
        room = float(cap.sum())
        if total > float(capacity_limit(cap).sum()):
            least = "least possible total" if per_pair else "total"
            out.append(Conflict(
                f"capacity {name}",
                f"{least} {name} {total:,.2f} exceeds total capacity {room:,.2f} "
                f"by {total - room:,.2f} ({(total - room) / max(room, 1e-12):.1%})",
            ))
    return out


def _least_loads(scenario: Scenario, attribute: str) -> np.ndarray:
    """Each item's least load of ``attribute`` over the territories it may go to (0 for an
    item with none: those are reported on their own)."""
    out = np.zeros(scenario.n_items)
    for block in item_blocks(scenario.n_items, scenario.n_territories):
        load = np.where(scenario.allowed_block(block), scenario.load_block(attribute, block),
                        np.inf)
        least = load.min(axis=1)
        out[block] = np.where(np.isfinite(least), least, 0.0)
    return out


def _bands_vs_capacity(scenario: Scenario) -> list[Conflict]:
    """A hard balance band whose floor lies above the territory's capacity."""
    out = []
    for rule in scenario.spec.rules.balance:
        cap = scenario.capacity.get(rule.attribute)
        if not rule.hard or cap is None or rule.level is not None:
            continue
        target = scenario.targets(rule.attribute)
        floor = (1 - rule.tolerance) * target
        bad = np.flatnonzero(floor - band_slack(target) > capacity_limit(cap))
        if len(bad):
            names = [f"{scenario.territory_ids[k]} (floor {floor[k]:,.2f} > capacity "
                     f"{cap[k]:,.2f})" for k in bad]
            out.append(Conflict(f"balance {rule.attribute} ±{rule.tolerance * 100:g}% + capacity",
                                f"the band needs more than the capacity allows in {listed(names)}"))
    return out


def _locked_loads(scenario: Scenario) -> list[Conflict]:
    """(b) Items locked to a territory already push it above its band or capacity."""
    locked = scenario.lock != NO_TERRITORY
    if not locked.any():
        return []
    out = []
    limits = [(f"balance {r.attribute} ±{r.tolerance * 100:g}%", r.attribute,
               (1 + r.tolerance) * scenario.targets(r.attribute), "band ceiling",
               band_slack(scenario.targets(r.attribute)))
              for r in scenario.spec.rules.balance if r.hard and r.level is None]
    limits += [(f"capacity {name}", name, cap, "capacity",
                np.where(np.isfinite(cap), RULE_TOLERANCE * (np.abs(cap) + 1), 0.0))
               for name, cap in scenario.capacity.items()]
    for rule, attribute, ceiling, what, give in limits:
        items = np.flatnonzero(locked)
        load = np.bincount(scenario.lock[items],
                           weights=scenario.pair_load(attribute, items, scenario.lock[items]),
                           minlength=scenario.n_territories)
        bad = np.flatnonzero(load > ceiling + give)
        if len(bad):
            names = [f"{scenario.territory_ids[k]}: locked {attribute} {load[k]:,.2f} > {what} "
                     f"{ceiling[k]:,.2f} (over by {load[k] - ceiling[k]:,.2f})" for k in bad]
            out.append(Conflict(f"locks + {rule}", listed(names)))
    return out


def listed(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")
