"""Explain why a scenario is infeasible: which rules conflict, and by how much.

Two layers. The arithmetic checks that need no solver (total load vs total capacity, locked
load vs bands, items nobody may take, a band vs a capacity) are the scenario's own
(:func:`territory_opt.scenario.conflicts.quick_conflicts`).
:func:`solver_conflicts` runs when the model is infeasible but the quick checks found nothing:
it measures the least disruption the other rules force (to compare with a disruption cap), then
solves an elastic copy of the model — every balance, capacity and disruption row may give, at a
cost of its relative violation — and names the rules that had to give.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from territory_opt.alignment.formulation import build_alignment
from territory_opt.alignment.group_diagnosis import group_solver_conflicts
from territory_opt.alignment.hierarchy_diagnosis import hierarchy_solver_conflicts
from territory_opt.backends.contract import Backend, SolveOptions
from territory_opt.errors import Conflict
from territory_opt.scenario.conflicts import listed
from territory_opt.scenario.model import Scenario
from territory_opt.scenario.schema import DisruptionTerm, Objective, TravelTerm

REL_EPS = 1e-6


def solver_conflicts(
    scenario: Scenario, backend: Backend, options: SolveOptions
) -> list[Conflict]:
    """Conflicts found by re-solving variants of the model (see the module docstring)."""
    # The probes are not the user's solve: their "plan found" progress lines would mislead.
    options = dataclasses.replace(options, progress=None)
    if scenario.groups is not None:  # name the groups, or diagnose the rest without them
        grouped = group_solver_conflicts(scenario, backend, options)
        if grouped is not None:
            return grouped
        scenario = dataclasses.replace(scenario, groups=None)
    if scenario.hierarchy is not None:  # name the level, or diagnose the rest without it
        found = hierarchy_solver_conflicts(scenario, backend, options)
        if found is not None:
            return found
        scenario = dataclasses.replace(scenario, hierarchy=None)
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
                            f"relaxation: {listed(names)}"))
    return out or [Conflict("hard rules", "no plan meets every hard rule (LP relaxation "
                            "infeasible)")]


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
                            f"{listed(names)}"))
    if len(out) == 1:
        out[0] = dataclasses.replace(out[0], explanation=out[0].explanation
                                     + " given the other hard rules")
    return out
