"""Errors a user can act on.

Every error that reaches a user names where the problem is (file, row or YAML path, field), what was
found and what was expected. The CLI prints :meth:`ScenarioError.__str__` and exits with status 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input.

    Parameters
    ----------
    where
        File, and row or YAML path inside it, e.g. ``accounts.csv, row 17``.
    field
        Column or YAML key at fault.
    found
        What the input holds.
    expected
        What it should hold.
    """

    where: str
    field: str
    found: str
    expected: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: found {self.found}; expected {self.expected}"


class TerritoryOptError(Exception):
    """Base class of the errors territory-opt raises on purpose."""


class ScenarioError(TerritoryOptError):
    """The scenario (YAML or a table) is malformed. Holds one or more :class:`Problem`."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        head = "invalid scenario" if len(self.problems) == 1 else (
            f"invalid scenario ({len(self.problems)} problems)"
        )
        return head + ":\n" + "\n".join(f"  - {p}" for p in self.problems)


def scenario_error(where: str | Path, field: str, found: str, expected: str) -> ScenarioError:
    """Shorthand for a :class:`ScenarioError` with a single problem."""
    return ScenarioError([Problem(str(where), field, found, expected)])


@dataclass(frozen=True)
class Conflict:
    """A set of rules that cannot all hold, and by how much they miss."""

    rules: str
    explanation: str

    def __str__(self) -> str:
        return f"{self.rules}: {self.explanation}"


@dataclass
class InfeasibleError(TerritoryOptError):
    """No assignment satisfies every hard rule; ``conflicts`` says which rules clash."""

    conflicts: list[Conflict] = field(default_factory=list)

    def __str__(self) -> str:
        lines = ["the scenario is infeasible: no plan meets every hard rule."]
        lines += [f"  - {c}" for c in self.conflicts]
        if not self.conflicts:
            lines.append("  (no single conflict found; the combination of rules is too tight)")
        return "\n".join(lines)


class BackendError(TerritoryOptError, KeyError):
    """A backend name that is unknown, or a solver that is not installed.

    Also a ``KeyError``, since it is raised by a lookup in the backend registry.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""  # KeyError would add quotes


class NoPlanFoundError(TerritoryOptError):
    """The solver stopped (time limit) without finding any plan."""
