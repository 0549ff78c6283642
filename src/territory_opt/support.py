"""Which solve paths honour which rule: one matrix per problem family.

A rule a scenario uses and the chosen path cannot honour is refused before solving (CLI exit 2,
HTTP 422), naming the rule and the paths that honour it — never ignored. ``auto`` only refuses a
rule no path of the family honours (it picks a path that honours the rest).
``territory-opt backends`` prints the matrices.

A *path* is a kind of solve, not a solver: ``exact`` (a backend solving the family's whole MIP:
HiGHS, CP-SAT, SCIP, CBC, ``pulp:NAME``, or a user's own backend object), ``heuristic``, and for
alignment ``decompose`` (``--regions``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from territory_opt.errors import TerritoryOptError
from territory_opt.scenario.model import Scenario

EXACT = "exact"
HEURISTIC = "heuristic"
DECOMPOSE = "decompose"


@dataclass(frozen=True)
class SolvePath:
    """One column of a matrix: its key and how people call it."""

    key: str
    label: str


@dataclass(frozen=True)
class RuleSupport:
    """One row of a matrix: a rule (its YAML key), whether a scenario uses it, and the paths
    that honour it (every path of the family when ``paths`` is None)."""

    rule: str
    used: Callable[[Scenario], bool]
    paths: tuple[str, ...] | None = None
    note: str = ""

    def honoured_by(self, path: str) -> bool:
        """Whether ``path`` honours this rule."""
        return self.paths is None or path in self.paths


class UnsupportedRuleError(TerritoryOptError):
    """A rule of the scenario that the chosen path (or every path) cannot honour."""


@dataclass(frozen=True)
class SupportMatrix:
    """The rules of one family by the paths that honour them."""

    family: str
    paths: tuple[SolvePath, ...]
    rules: tuple[RuleSupport, ...]

    def path_of(self, backend: str) -> str | None:
        """The path a backend name runs (None for ``auto``: the family picks one)."""
        if backend == "auto":
            return None
        if backend in (HEURISTIC, DECOMPOSE):
            return backend
        return EXACT

    def unsupported(self, scenario: Scenario, backend: str) -> list[RuleSupport]:
        """The rules ``scenario`` uses that ``backend``'s path does not honour (for ``auto``:
        those no path honours)."""
        path = self.path_of(backend)
        keys = [p.key for p in self.paths]
        out = []
        for rule in self.rules:
            if path is None:
                refused = not any(rule.honoured_by(k) for k in keys)
            else:
                refused = not rule.honoured_by(path)
            if refused and rule.used(scenario):
                out.append(rule)
        return out

    def require(self, scenario: Scenario, backend: str) -> None:
        """Refuse to solve ``scenario`` on ``backend`` if its path cannot honour a rule.

        Raises
        ------
        UnsupportedRuleError
            Naming each rule and the paths that honour it.
        """
        missing = self.unsupported(scenario, backend)
        if not missing:
            return
        one = len(missing) == 1
        who = {None: f"no {self.family} path", HEURISTIC: "the heuristic",
               DECOMPOSE: "a decomposed solve (--regions)"}.get(self.path_of(backend),
                                                              f"backend {backend}")
        lines = [f"{rule.rule}: {self._honoured_text(rule)}" for rule in missing]
        raise UnsupportedRuleError(
            f"{who} cannot honour {'this rule' if one else 'these rules'} of the "
            f"{self.family} scenario, and refuses rather than return a plan that ignores "
            f"{'it' if one else 'them'}:\n  " + "\n  ".join(lines))

    def _honoured_text(self, rule: RuleSupport) -> str:
        able = [p.label for p in self.paths if rule.honoured_by(p.key)]
        note = f" ({rule.note})" if rule.note else ""
        if not able:
            return f"no {self.family} path honours it{note}"
        return f"honoured by {' or '.join(able)}{note}"

    def table(self) -> list[dict[str, str]]:
        """The matrix as rows: ``rule``, one column per path label (``yes`` / ``refused``),
        ``note``."""
        return [{"rule": rule.rule,
                 **{p.label: "yes" if rule.honoured_by(p.key) else "refused"
                    for p in self.paths},
                 "note": rule.note} for rule in self.rules]
