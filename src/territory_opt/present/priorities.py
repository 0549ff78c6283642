"""The levels of an ``objective.priorities`` plan as table rows, for the CLI summary and the
report: per level, the criterion, its slack, the value its level reached, the level's valid
bound and gap, the limit later levels kept, the plan's value and the level's status."""

from __future__ import annotations

from typing import Any

from territory_opt.plan import Plan
from territory_opt.text import fmt

PRIORITY_COLUMNS = ("level", "criterion", "slack", "reached", "bound", "gap", "kept within",
                    "plan", "status")
"""Headings of :func:`priority_rows`; all but ``criterion`` and ``status`` are numbers."""


def _number(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else fmt(float(value), digits)


def priority_rows(plan: Plan) -> list[list[str]]:
    """One row of text per level of ``plan.priorities`` (none without priorities)."""
    rows = []
    for n, level in enumerate(plan.priorities, start=1):
        gap = level.get("gap")
        last = n == len(plan.priorities)
        rows.append([
            str(n), str(level.get("criterion", "?")), f"{100 * float(level.get('slack', 0)):g}%",
            _number(level.get("reached")), _number(level.get("bound")),
            "n/a" if gap is None else f"{100 * float(gap):.3g}%",
            "—" if last else _number(level.get("limit")), _number(level.get("value")),
            str(level.get("status", "")),
        ])
    return rows
