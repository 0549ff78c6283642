"""Hierarchy rules no plan can satisfy, found without a solver (``validate`` and every solve's
quick check), fixed design only (in the joint design the parents are the solver's choice):

* a parent whose locked load alone lies above its band (per-level balance);
* a parent band its territories cannot reach: the most its territories may hold (their hard
  band ceilings, capacities) below the parent's floor;
* ``same_parent`` (stay): the items that must stay within a parent carry more than its
  territories' hard bands allow, or the items that may be in it carry less than they need.
"""

from __future__ import annotations

import numpy as np

from territory_opt.errors import Conflict
from territory_opt.scenario.hierarchy import level_rules, stay_level
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.tolerance import band_slack, capacity_limit

MAX_NAMED = 5


def hierarchy_conflicts(scenario: Scenario) -> list[Conflict]:
    """Every hierarchy rule of ``scenario`` that cannot hold, naming level, parent, amounts."""
    h = scenario.hierarchy
    if h is None or h.design != "fixed":
        return []
    out: list[Conflict] = []
    for rule in level_rules(scenario.spec):
        if not rule.hard:
            continue
        assert rule.level is not None
        level = h.level(rule.level)
        attribute = rule.attribute
        target = level.loads(scenario.targets(attribute))
        lo, hi = (1 - rule.tolerance) * target, (1 + rule.tolerance) * target
        give = band_slack(target)
        label = f"balance {attribute} ±{rule.tolerance * 100:g}% per {level.name}"
        locked = np.flatnonzero(scenario.lock != NO_TERRITORY)
        load = level.loads(np.bincount(
            scenario.lock[locked], weights=scenario.pair_load(attribute, locked,
                                                             scenario.lock[locked]),
            minlength=scenario.n_territories))
        bad = np.flatnonzero(load > hi + give)
        if len(bad):
            out.append(Conflict(f"locks + {label}", _listed([
                f"{level.name} {level.nodes[p]}: locked {attribute} {load[p]:,.2f} > band "
                f"ceiling {hi[p]:,.2f} (over by {load[p] - hi[p]:,.2f})" for p in bad])))
        most = level.loads(_territory_ceiling(scenario, attribute))
        bad = np.flatnonzero(most < lo - give)
        if len(bad):
            out.append(Conflict(f"{label} + territory bands/capacity", _listed([
                f"{level.name} {level.nodes[p]}: its territories may hold at most "
                f"{attribute} {most[p]:,.2f} < band floor {lo[p]:,.2f} (short by "
                f"{lo[p] - most[p]:,.2f})" for p in bad])))
    out += _stay_conflicts(scenario)
    return out


def _territory_ceiling(scenario: Scenario, attribute: str) -> np.ndarray:
    """Per territory: the most ``attribute`` its hard band and capacity allow (inf: no limit)."""
    most = np.full(scenario.n_territories, np.inf)
    for rule in scenario.spec.rules.balance:
        if rule.hard and rule.level is None and rule.attribute == attribute:
            target = scenario.targets(attribute)
            most = np.minimum(most, (1 + rule.tolerance) * target + band_slack(target))
    cap = scenario.capacity.get(attribute)
    if cap is not None:
        most = np.minimum(most, capacity_limit(cap))
    return most


def _stay_conflicts(scenario: Scenario) -> list[Conflict]:
    """``same_parent`` (stay): per parent, the load that must stay in it against the most its
    territories allow, and the load that may be in it against the least they need."""
    h = scenario.hierarchy
    name = stay_level(scenario.spec)
    if h is None or name is None:
        return []
    level = h.level(name)
    out = []
    current, lock = scenario.current, scenario.lock
    has = current != NO_TERRITORY
    home = np.where(has, level.parent[np.where(has, current, 0)], -1)  # current parent
    locked_to = np.where(lock != NO_TERRITORY, level.parent[np.maximum(lock, 0)], -1)
    where = np.where(lock != NO_TERRITORY, locked_to, home)  # -1: may go anywhere
    for rule in scenario.spec.rules.balance:
        if not rule.hard or scenario.has_pair_loads(rule.attribute):
            continue
        attribute = rule.attribute
        weight = scenario.attributes[attribute]
        if rule.level is None:
            target = scenario.targets(attribute)
            ceiling = level.loads((1 + rule.tolerance) * target + band_slack(target))
            floor = level.loads((1 - rule.tolerance) * target - band_slack(target))
            what = f"balance {attribute} ±{rule.tolerance * 100:g}% of its territories"
        elif rule.level == name:
            target = level.loads(scenario.targets(attribute))
            ceiling = (1 + rule.tolerance) * target + band_slack(target)
            floor = (1 - rule.tolerance) * target - band_slack(target)
            what = f"balance {attribute} ±{rule.tolerance * 100:g}% per {name}"
        else:
            continue
        bound = np.bincount(where[where >= 0], weights=weight[where >= 0],
                            minlength=level.n_nodes)
        anywhere = float(weight[where < 0].sum())
        for p in range(level.n_nodes):
            if bound[p] > ceiling[p]:
                out.append(Conflict(
                    f"same_parent {name} + {what}",
                    f"{name} {level.nodes[p]}: its items must stay in it and carry {attribute} "
                    f"{bound[p]:,.2f}, above the {ceiling[p]:,.2f} its bands allow (over by "
                    f"{bound[p] - ceiling[p]:,.2f})"))
            elif bound[p] + anywhere < floor[p]:
                out.append(Conflict(
                    f"same_parent {name} + {what}",
                    f"{name} {level.nodes[p]}: the items that may be in it carry {attribute} "
                    f"{bound[p] + anywhere:,.2f}, below the {floor[p]:,.2f} its bands need "
                    f"(short by {floor[p] - bound[p] - anywhere:,.2f})"))
    return out


def _listed(names: list[str]) -> str:
    shown = "; ".join(names[:MAX_NAMED])
    return shown + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")
