"""Which solve paths honour which alignment rule: the one table refusal and ``auto`` read.

A path is a backend (``highs``, ``cpsat``, ``pulp``, ``scip``, ``heuristic``) or the
``decompose`` command. The exact backends solve the MIP of
:mod:`territory_opt.alignment.formulation`, which holds every rule; the heuristic's moves and
repairs know the balance, capacity, lock and eligibility rules but not the account groups, so it
refuses a scenario that has them rather than return a plan that breaks one.
"""

from __future__ import annotations

from territory_opt.errors import TerritoryOptError
from territory_opt.scenario.model import Scenario

EXACT_PATHS = ("highs", "cpsat", "pulp", "scip")
"""Backends that solve the whole alignment MIP (every rule is a row)."""

RULE_PATHS: dict[str, tuple[str, ...]] = {
    "groups.together": EXACT_PATHS,
    "groups.apart": EXACT_PATHS,
    "groups.at_most": EXACT_PATHS,
    "items.lock_state": (*EXACT_PATHS, "heuristic"),  # locks and allowed pairs: every move
}
"""Rule (its YAML key) -> the paths that honour it. A rule not listed here is honoured by
every path."""

AUTO_FALLBACK = "highs"
"""What ``auto`` runs when its measured choice does not honour a rule of the scenario."""


def rules_used(scenario: Scenario) -> list[str]:
    """The rules of :data:`RULE_PATHS` that ``scenario`` uses."""
    groups = getattr(scenario, "groups", None)  # a stand-in with only a size has no rules
    used = groups.rules() if groups is not None else []
    if getattr(scenario, "leave", None) is not None:
        used.append("items.lock_state")
    return used


def unsupported(scenario: Scenario, path: str) -> list[str]:
    """The rules of ``scenario`` that ``path`` does not honour."""
    return [rule for rule in rules_used(scenario)
            if path not in RULE_PATHS.get(rule, (path,))]


def honours_all(scenario: Scenario, path: str) -> bool:
    """Whether ``path`` honours every rule of ``scenario``."""
    return not unsupported(scenario, path)


def require_support(scenario: Scenario, path: str) -> None:
    """Refuse to run ``path`` on a scenario with a rule it does not honour.

    Raises
    ------
    TerritoryOptError
        Naming the rules and the paths that honour them.
    """
    missing = unsupported(scenario, path)
    if not missing:
        return
    paths = sorted(set.intersection(*(set(RULE_PATHS[rule]) for rule in missing)))
    raise TerritoryOptError(
        f"{path} does not honour {', '.join(missing)} (it could return a plan that breaks "
        f"them); use --backend {' / '.join(paths) or 'none'}, or backend: auto")
