"""Which hierarchy rules make an infeasible alignment infeasible (the solver-side diagnosis,
after :mod:`territory_opt.scenario.hierarchy_conflicts` found nothing by arithmetic): only the
hierarchy rows may give, and the parents (or the cap on moves across) that must give are named
with their level and amounts."""

from __future__ import annotations

import dataclasses

import numpy as np

from territory_opt.alignment.formulation import build_alignment
from territory_opt.backends.contract import Backend, SolveOptions
from territory_opt.errors import Conflict
from territory_opt.scenario.model import Scenario

REL_EPS = 1e-6
HIERARCHY_ROWS = ("level ", "same_parent ")


def hierarchy_solver_conflicts(scenario: Scenario, backend: Backend, options: SolveOptions
                               ) -> list[Conflict] | None:
    """The hierarchy rules an infeasible scenario cannot keep, with the amounts; None when it
    is infeasible without them too (the caller diagnoses the rest, hierarchy dropped)."""
    h = scenario.hierarchy
    assert h is not None
    plain = dataclasses.replace(scenario, hierarchy=None)
    if not backend.solve(build_alignment(plain).linear, options).status.has_plan:
        return None
    model = build_alignment(scenario, elastic=True)
    ub = model.linear.ub.copy()
    for block in model.elastic:  # only the hierarchy rows give
        if not block.group.startswith(HIERARCHY_ROWS):
            ub[block.start:block.stop] = 0.0
    result = backend.solve(dataclasses.replace(model.linear, ub=ub), options)
    rule = scenario.spec.rules.same_parent
    if not result.status.has_plan or result.x is None:
        what = (f"same_parent {rule.level}: items stay within their current {rule.level}"
                if rule is not None else "the hierarchy")
        return [Conflict(f"{what} + the other hard rules",
                         "no plan keeps every item within its current parent while keeping "
                         "every other hard rule")]
    out = []
    for block in model.elastic:
        if not block.hard or not block.group.startswith(HIERARCHY_ROWS):
            continue
        slack = model.slack(result.x, block.group)
        short = slack[:, 0] + slack[:, 1]
        bad = np.flatnonzero(short > REL_EPS * np.maximum(block.scale, 1.0))
        if not len(bad):
            continue
        if block.group.startswith("same_parent") and rule is not None:
            need = int(np.ceil(rule.max_moves or 0) + np.ceil(short[0] - REL_EPS))
            out.append(Conflict(f"{block.group} {rule.max_moves}",
                                f"the other hard rules need at least {need} items to move to "
                                f"another {rule.level}; the cap allows {rule.max_moves}, short "
                                f"by {need - (rule.max_moves or 0)}"))
            continue
        level = h.level(block.group.split()[1])
        side = np.where(slack[:, 0] > slack[:, 1], "short", "over")
        names = [f"{level.name} {level.nodes[p]} ({side[p]} by {short[p]:,.2f} = "
                 f"{short[p] / block.scale[p]:.1%})" for p in bad]
        rule_name = " ".join(block.group.split()[2:4])
        out.append(Conflict(f"{rule_name} per {level.name} + the other hard rules",
                            f"cannot hold in {len(bad)} {level.name}(s): " + ", ".join(names)))
    return out or [Conflict("hierarchy rules + the other hard rules",
                            "no plan keeps the hierarchy rules and every other hard rule")]
