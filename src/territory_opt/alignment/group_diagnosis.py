"""Which account groups make an infeasible alignment infeasible (the solver-side diagnosis,
after :mod:`territory_opt.scenario.group_conflicts` found nothing by arithmetic)."""

from __future__ import annotations

import dataclasses

from territory_opt.alignment.formulation import build_alignment
from territory_opt.backends.contract import Backend, SolveOptions
from territory_opt.errors import Conflict
from territory_opt.scenario.groups import ItemGroup
from territory_opt.scenario.model import Scenario


def group_solver_conflicts(scenario: Scenario, backend: Backend, options: SolveOptions
                           ) -> list[Conflict] | None:
    """Which group rules make an infeasible scenario infeasible, with the amounts.

    None when the scenario is infeasible without its groups too (the other rules conflict:
    the caller diagnoses those, groups dropped). Otherwise each group that alone, with every
    other hard rule, allows no plan; or, when none does alone, all the groups together.
    """
    assert scenario.groups is not None
    plain = dataclasses.replace(scenario, groups=None)
    if not backend.solve(build_alignment(plain).linear, options).status.has_plan:
        return None
    out = []
    for group in scenario.groups.all():
        one = dataclasses.replace(scenario, groups=scenario.groups.only(group))
        if not backend.solve(build_alignment(one).linear, options).status.has_plan:
            out.append(Conflict(f"group {group.label} + the other hard rules",
                                _amounts(scenario, group)))
    if out:
        return out
    labels = [g.label for g in scenario.groups.all()]
    shown = "; ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
    return [Conflict("group rules together", f"each group can be met alone but not all "
                     f"{len(labels)} at once with the other hard rules: {shown}")]


def _amounts(scenario: Scenario, group: ItemGroup) -> str:
    """What the group asks, in the units of the hard balance rules."""
    n = len(group.members)
    loads = ", ".join(f"{r.attribute} {scenario.attributes[r.attribute][group.members].sum():,.2f}"
                      for r in scenario.spec.rules.balance if r.hard)
    carry = f" carrying {loads}" if loads else ""
    if group.rule == "together":
        return (f"no plan puts its {n} items{carry} in one territory while keeping every "
                f"other hard rule")
    return (f"no plan spreads its {n} items{carry} at most {group.limit} per territory over "
            f"the {scenario.n_territories} territories while keeping every other hard rule")
