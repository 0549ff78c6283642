"""Which districting paths honour which rule (:mod:`territory_opt.support`).

Both paths — the exact model (HiGHS with contiguity separators) and the heuristic search — keep
hard balance bands, capacities, locks and contiguity. Neither knows eligibility, a distance
limit, a pair table, a cap or a price on moves, or soft bands: a districting scenario that uses
one is refused (an alignment honours them all).
"""

from __future__ import annotations

from territory_opt.scenario.model import NO_TERRITORY
from territory_opt.support import EXACT, HEURISTIC, RuleSupport, SolvePath, SupportMatrix

_ALIGNMENT_ONLY = "an alignment rule; use model: alignment"

SUPPORT = SupportMatrix("districting", (
    SolvePath(EXACT, "exact (highs)"),
    SolvePath(HEURISTIC, "heuristic"),
), (
    RuleSupport("rules.balance (hard)", lambda s: any(r.hard for r in s.spec.rules.balance)),
    RuleSupport("rules.balance (soft)",
                lambda s: any(not r.hard for r in s.spec.rules.balance), (),
                "make the band hard"),
    RuleSupport("territories.capacity", lambda s: bool(s.capacity)),
    RuleSupport("rules.locks / items.lock", lambda s: bool((s.lock != NO_TERRITORY).any())),
    RuleSupport("rules.contiguity", lambda s: s.spec.rules.contiguity),
    RuleSupport("rules.eligibility", lambda s: bool(s.spec.rules.eligibility), (),
                _ALIGNMENT_ONLY),
    RuleSupport("rules.max_distance", lambda s: s.max_distance is not None, (), _ALIGNMENT_ONLY),
    RuleSupport("pairs", lambda s: s.spec.pairs is not None, (), _ALIGNMENT_ONLY),
    RuleSupport("rules.disruption (cap)", lambda s: s.spec.rules.disruption is not None, (),
                _ALIGNMENT_ONLY),
    RuleSupport("objective.disruption", lambda s: s.spec.objective.disruption.weight > 0, (),
                _ALIGNMENT_ONLY),
))
"""The districting family's support matrix."""
