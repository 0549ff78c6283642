"""The one place a plan's status is decided: from its objective and a valid bound by the one
status rule (:func:`~territory_opt.backends.contract.stop_status`, which backends, engines and
families all use), then by :func:`settle` against the scenario's own numbers.

A solver judges its plan on its own model — scaled rows, a feasibility tolerance of about 1e-6,
integers rounded. The user judges it on the scenario. An account of potential 1e-7 moved under
a disruption cap was within the solver's tolerance and outside the cap, and the plan was called
optimal beside a hard violation in its own evaluation. So every family's plan passes through
:func:`settle` before it is returned: the KPI evaluator's hard-rule check (the project's one
rule checker, at its documented tolerance) has the last word, and a plan that breaks a hard rule
there is never ``optimal`` or ``feasible`` but :attr:`Status.VIOLATES`.
"""

from __future__ import annotations

from dataclasses import replace

from territory_opt.backends.contract import Status
from territory_opt.kpi.evaluate import Violation
from territory_opt.plan import Plan


def hard_violations(plan: Plan) -> list[Violation]:
    """The hard rules ``plan`` breaks, as the KPI evaluator sees them."""
    return [v for v in plan.evaluation.violations if v.hard]


def settle(plan: Plan) -> Plan:
    """``plan`` with a status that is true on the scenario's numbers: a plan claimed optimal
    or feasible that breaks a hard rule becomes :attr:`Status.VIOLATES`, its stop reason
    naming how many rules and the first."""
    if plan.status not in (Status.OPTIMAL, Status.FEASIBLE):
        return plan
    broken = hard_violations(plan)
    if not broken:
        return plan
    first = broken[0]
    reason = (f"the plan breaks {len(broken)} hard rule(s) on the scenario's own numbers "
              f"(first: {first}); the solver's tolerance hid it")
    return replace(plan, status=Status.VIOLATES, stop_reason=reason)

