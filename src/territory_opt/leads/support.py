"""Which lead-allocation paths honour which rule (:mod:`territory_opt.support`).

Leads are routed by the ``leads:`` section (capacity, fairness, ownership, win rates) with
``rules.eligibility`` and locks, on every path (the batch MIP and the flow heuristic). The
alignment rules — balance bands, territory capacities, distance limits, pair tables, disruption
caps — mean nothing to a lead's routing: a leads scenario that uses one is refused.
"""

from __future__ import annotations

from territory_opt.scenario.model import NO_TERRITORY
from territory_opt.support import EXACT, HEURISTIC, RuleSupport, SolvePath, SupportMatrix

_ALIGNMENT_ONLY = "an alignment rule; leads: capacity and fairness go in the leads: section"

SUPPORT = SupportMatrix("leads", (
    SolvePath(EXACT, "exact (highs, cpsat, scip, cbc)"),
    SolvePath(HEURISTIC, "heuristic (flow)"),
), (
    RuleSupport("rules.eligibility", lambda s: bool(s.spec.rules.eligibility)),
    RuleSupport("rules.locks / owners", lambda s: bool((s.lock != NO_TERRITORY).any())),
    RuleSupport("rules.balance", lambda s: bool(s.spec.rules.balance), (), _ALIGNMENT_ONLY),
    RuleSupport("territories.capacity", lambda s: bool(s.capacity), (), _ALIGNMENT_ONLY),
    RuleSupport("rules.max_distance", lambda s: s.max_distance is not None, (), _ALIGNMENT_ONLY),
    RuleSupport("pairs", lambda s: s.spec.pairs is not None, (), _ALIGNMENT_ONLY),
    RuleSupport("rules.disruption (cap)", lambda s: s.spec.rules.disruption is not None, (),
                _ALIGNMENT_ONLY),
))
"""The lead family's support matrix."""
