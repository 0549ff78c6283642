"""Explain why a scenario is infeasible: which rules conflict, and by how much.

Two layers. :func:`quick_conflicts` runs arithmetic checks that need no solver (total load vs
total capacity, locked load vs bands, items nobody may take, a band vs a capacity).
:func:`solver_conflicts` runs when the model is infeasible but the quick checks found nothing:
it measures the least disruption the other rules force (to compare with a disruption cap), then
solves an elastic copy of the model — every balance, capacity and disruption row may give, at a
cost of its relative violation — and names the rules that had to give.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from territory_opt.alignment.formulation import build_alignment
from territory_opt.backends.contract import Backend, SolveOptions
from territory_opt.errors import Conflict
from territory_opt.scenario.model import NO_TERRITORY, Scenario, item_blocks
from territory_opt.scenario.schema import DisruptionTerm, Objective, TravelTerm
from territory_opt.tolerance import RULE_TOLERANCE, band_slack, capacity_limit

MAX_LISTED = 5
REL_EPS = 1e-6


def quick_conflicts(scenario: Scenario) -> list[Conflict]:
    """Conflicts visible from totals alone, without a solver."""
    return [
        *_homeless_items(scenario),
        *_capacity_totals(scenario),
        *_bands_vs_capacity(scenario),
        *_locked_loads(scenario),
    ]


def solver_conflicts(
    scenario: Scenario, backend: Backend, options: SolveOptions
) -> list[Conflict]:
    """Conflicts found by re-solving variants of the model (see the module docstring)."""
    # The probes are not the user's solve: their "plan found" progress lines would mislead.
    options = dataclasses.replace(options, progress=None)
    conflicts = _disruption_cap_conflict(scenario, backend, options)
    if conflicts:
        return conflicts
    return _elastic_conflicts(scenario, backend, options)


def violation_conflicts(scenario: Scenario, violation: dict[str, np.ndarray]) -> list[Conflict]:
    """Conflicts from the rows column generation's phase 1 could not satisfy: per rule, the
    territories short of or over their band, by how much (LP amounts: a plan needs at least
    that much give)."""
    out = []
    for group, slack in violation.items():
        short = slack[:, 0] + slack[:, 1]
        bad = np.flatnonzero(short > REL_EPS * np.maximum(np.abs(short).max(), 1.0))
        if not len(bad):
            continue
        if group == "disruption cap":
            out.append(Conflict(group, f"must be exceeded by at least {short[0]:,.2f} units"))
            continue
        names = [f"{scenario.territory_ids[k]} ({'short' if slack[k, 0] > slack[k, 1] else 'over'}"
                 f" by {short[k]:,.2f})" for k in bad]
        out.append(Conflict(group, f"cannot hold in {len(bad)} territory(ies) even in the LP "
                            f"relaxation: {_list(names)}"))
    return out or [Conflict("hard rules", "no plan meets every hard rule (LP relaxation "
                            "infeasible)")]


def _list(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


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
    limit = rules.max_distance_km
    elig = "eligibility (" + ", ".join(rules.eligibility) + ")"
    dist = f"max distance {limit:g} km" if limit is not None else "max distance"
    listed_only = "pairs (only_listed)"
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
        else:
            causes.add(dist)
            if not skilled.all():
                causes.add(elig)
            if not listed.all():
                causes.add(listed_only)
            nearest = float(np.nanmin(km[skilled & listed]))
            which = " with that skill" if not skilled.all() else ""
            which += " among the listed pairs" if not listed.all() else ""
            detail = (f"{tags}; " if not skilled.all() else "") + (
                f"nearest home{which} {nearest:,.1f} km > {limit:g} km")
        details.append(f"{scenario.item_ids[i]} ({detail})")
    more = f" and {len(orphans) - MAX_LISTED} more" if len(orphans) > MAX_LISTED else ""
    return [Conflict(
        " + ".join(c for c in (elig, listed_only, dist) if c in causes),
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
        if not rule.hard or cap is None:
            continue
        target = scenario.targets(rule.attribute)
        floor = (1 - rule.tolerance) * target
        bad = np.flatnonzero(floor - band_slack(target) > capacity_limit(cap))
        if len(bad):
            names = [f"{scenario.territory_ids[k]} (floor {floor[k]:,.2f} > capacity "
                     f"{cap[k]:,.2f})" for k in bad]
            out.append(Conflict(f"balance {rule.attribute} ±{rule.tolerance * 100:g}% + capacity",
                                f"the band needs more than the capacity allows in {_list(names)}"))
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
              for r in scenario.spec.rules.balance if r.hard]
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
            out.append(Conflict(f"locks + {rule}", _list(names)))
    return out


def _disruption_cap_conflict(
    scenario: Scenario, backend: Backend, options: SolveOptions
) -> list[Conflict]:
    """(d) The least share the other hard rules force to move, against the cap."""
    cap = scenario.spec.rules.disruption
    if cap is None or not scenario.has_current:
        return []
    spec = scenario.spec
    # Same hard rules without the cap; objective: moved weight of the capped attribute.
    probe_spec = spec.model_copy(update={
        "rules": spec.rules.model_copy(update={
            "disruption": None, "balance": [r for r in spec.rules.balance if r.hard]}),
        "objective": Objective(travel=TravelTerm(weight=0.0),
                               disruption=DisruptionTerm(weight=1.0, per=cap.attribute)),
    })
    probe = dataclasses.replace(scenario, spec=probe_spec)
    result = backend.solve(build_alignment(probe).linear, options)
    if not result.status.has_plan:
        return []  # the other rules already conflict; the elastic pass will say how
    total = float(scenario.item_weight(cap.attribute).sum())
    least = max(result.bound, 0.0) / total if total else 0.0
    if least <= cap.max_share + REL_EPS:
        return []
    what = "items" if cap.attribute == "items" else cap.attribute
    hard = [r for r in spec.rules.balance if r.hard]
    balance = ", ".join(f"{r.attribute} ±{r.tolerance * 100:g}%" for r in hard)
    return [Conflict(
        f"disruption cap ({what} ≤ {cap.max_share:.1%}) + balance ({balance or 'none'})",
        f"the other hard rules force moving at least {least:.1%} of {what} "
        f"(best plan found moves {result.objective / total:.1%}); the cap allows "
        f"{cap.max_share:.1%}, short by {least - cap.max_share:.1%}",
    )]


def _elastic_conflicts(
    scenario: Scenario, backend: Backend, options: SolveOptions
) -> list[Conflict]:
    """Let every rule give and report the ones that must, with amounts."""
    model = build_alignment(scenario, elastic=True)
    result = backend.solve(model.linear, options)
    if not result.status.has_plan or result.x is None:
        return []
    out = []
    for block in model.elastic:
        if not block.hard:  # a soft rule giving is no conflict: its penalty is the price
            continue
        slack = model.slack(result.x, block.group)
        short = slack[:, 0] + slack[:, 1]
        bad = np.flatnonzero(short > REL_EPS * np.maximum(block.scale, 1.0))
        if not len(bad):
            continue
        if block.group == "disruption cap":
            out.append(Conflict(block.group, f"must be exceeded by {short[0]:,.2f} units "
                                f"({short[0] / block.scale[0]:.1%} of the total)"))
            continue
        names = [f"{scenario.territory_ids[k]} ({'short' if slack[k, 0] > slack[k, 1] else 'over'}"
                 f" by {short[k]:,.2f} = {short[k] / block.scale[k]:.1%})" for k in bad]
        out.append(Conflict(block.group, f"cannot hold in {len(bad)} territory(ies): "
                            f"{_list(names)}"))
    if len(out) == 1:
        out[0] = dataclasses.replace(out[0], explanation=out[0].explanation
                                     + " given the other hard rules")
    return out
