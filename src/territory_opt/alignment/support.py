"""Which alignment paths honour which rule (:mod:`territory_opt.support`): the matrix refusal,
``auto`` and ``territory-opt backends`` read.

The exact backends solve the MIP of :mod:`territory_opt.alignment.formulation`, which holds every
rule as rows. The heuristic's moves and repairs know the balance, capacity, lock, eligibility,
distance and disruption rules but not the account groups. The decomposed solve cuts the
scenario into regions that solve apart, so a rule over the whole plan (the disruption cap) or
over items of several regions (the groups) is out of its reach.
"""

from __future__ import annotations

from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.support import (
    DECOMPOSE,
    EXACT,
    HEURISTIC,
    RuleSupport,
    SolvePath,
    SupportMatrix,
)

AUTO_FALLBACK = "highs"
"""What ``auto`` runs when its measured choice does not honour a rule of the scenario."""


def _groups(rule: str) -> RuleSupport:
    def used(s: Scenario) -> bool:
        return s.groups is not None and bool(getattr(s.groups, rule))

    return RuleSupport(f"rules.groups.{rule}", used, (EXACT,),
                       "the heuristic's moves and the regions do not know the groups")


SUPPORT = SupportMatrix("alignment", (
    SolvePath(EXACT, "exact (highs, cpsat, scip, cbc, pulp:*)"),
    SolvePath(HEURISTIC, "heuristic"),
    SolvePath(DECOMPOSE, "decomposed (--regions)"),
), (
    RuleSupport("rules.balance (hard)", lambda s: any(r.hard for r in s.spec.rules.balance)),
    RuleSupport("rules.balance (soft)",
                lambda s: any(not r.hard for r in s.spec.rules.balance)),
    RuleSupport("territories.capacity", lambda s: bool(s.capacity)),
    RuleSupport("rules.locks / items.lock", lambda s: bool((s.lock != NO_TERRITORY).any())),
    RuleSupport("items.lock_state (leave)", lambda s: s.leave is not None),
    RuleSupport("rules.eligibility", lambda s: bool(s.spec.rules.eligibility)),
    RuleSupport("rules.max_distance", lambda s: s.max_distance is not None),
    RuleSupport("pairs (distances, loads, only_listed)", lambda s: s.spec.pairs is not None),
    RuleSupport("rules.disruption (cap)", lambda s: s.spec.rules.disruption is not None,
                (EXACT, HEURISTIC), "a cap on the whole plan's moves; regions solve apart"),
    RuleSupport("objective.priorities", lambda s: bool(s.spec.objective.priorities), (EXACT,),
                "each level is the whole MIP with the earlier levels' limits as rows"),
    _groups("together"),
    _groups("apart"),
    _groups("at_most"),
    RuleSupport("rules.balance (level)",
                lambda s: _levels(s) and any(r.level for r in s.spec.rules.balance),
                (EXACT,), "the heuristic's moves and the regions know per-territory bands only"),
    RuleSupport("rules.same_parent (stay)",
                lambda s: _levels(s) and _same_parent(s) == "stay",
                (EXACT, HEURISTIC), "regions cut items off their current territory"),
    RuleSupport("rules.same_parent (max_moves)",
                lambda s: _levels(s) and _same_parent(s) == "max_moves", (EXACT,),
                "a cap on the whole plan's moves across parents"),
    RuleSupport("rules.same_parent (price)",
                lambda s: _levels(s) and _same_parent(s) == "price",
                (EXACT, HEURISTIC), "regions cut items off their current territory"),
    RuleSupport("hierarchy.design: joint",
                lambda s: _levels(s) and getattr(s.hierarchy, "design", "") == "joint", (EXACT,),
                "parents chosen with the assignment in one MIP"),
))
"""The alignment family's support matrix."""


def _levels(s: Scenario) -> bool:
    """Whether the scenario has a hierarchy (``territories.levels``)."""
    return getattr(s, "hierarchy", None) is not None


def _same_parent(s: Scenario) -> str | None:
    """Which form of ``rules.same_parent`` the scenario uses: stay, max_moves or price."""
    rule = s.spec.rules.same_parent
    if rule is None:
        return None
    if rule.max_moves is not None:
        return "max_moves"
    return "price" if rule.price is not None else "stay"


def unsupported(scenario: Scenario, path: str) -> list[str]:
    """The rules of ``scenario`` that ``path`` (a backend name, ``heuristic`` or
    ``decompose``) does not honour."""
    return [rule.rule for rule in SUPPORT.unsupported(scenario, path)]


def require_support(scenario: Scenario, path: str) -> None:
    """Refuse to run ``path`` on a scenario with a rule it does not honour
    (:meth:`SupportMatrix.require`)."""
    SUPPORT.require(scenario, path)
