"""HTML for Jupyter: what :class:`Scenario`, :class:`Evaluation`, :class:`Plan` and
:class:`Comparison` show when a notebook cell ends with one of them (their ``_repr_html_`` asks
:func:`territory_opt.rendering.to_html`, and this module registers the renderers).

Pure functions: an object (or a DataFrame) in, an HTML string out. Every text is escaped, every
table is cut after :data:`MAX_ROWS` rows with a "… N more rows" line (a notebook must stay
responsive on 20,000 items), and numbers are written by :func:`territory_opt.text.fmt` with the
labels and decimals of the metric registry (:mod:`territory_opt.kpi.metrics`), as the terminal
tables and the report write them. The output is well-formed XML (one ``<div>`` root), so it
also embeds in exported HTML without surprises.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from territory_opt.family import Words, family_of
from territory_opt.kpi.compare import Comparison
from territory_opt.kpi.evaluate import Evaluation
from territory_opt.kpi.metrics import column, metric
from territory_opt.kpi.views import column_title, percent
from territory_opt.plan import Plan
from territory_opt.rendering import to_html
from territory_opt.scenario.model import Scenario
from territory_opt.text import fmt

MAX_ROWS = 30
"""Rows shown of a table before the "… N more rows" line."""
HEAD_ROWS = 10
"""Rows of the items table a scenario shows (a glimpse; ``items_frame()`` has them all)."""
MOVE_ROWS = 10
"""Moves a comparison shows (the largest objective changes come first)."""

_STYLE = "font-family: inherit; margin: 0.5em 0"
_NUMBER = "text-align: right"


def digits_for(name: str, values: Any = ()) -> int:
    """Decimals to show a KPI or table column ``name`` with, from the metric registry
    (:mod:`territory_opt.kpi.metrics`); for a name it does not know, by ``values``."""
    return column(name).digits_for(values)


def cell(value: Any, digits: int = 1, missing: str = "") -> str:
    """One value as text (not yet escaped): numbers by :func:`~territory_opt.text.fmt`
    (integers without decimals), booleans as yes/no, ``missing`` for None or pandas' NA, the
    rest by ``str``."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return fmt(int(value), 0)
    if isinstance(value, float | np.floating):
        return fmt(float(value), digits)
    if value is None or value is pd.NA or value is pd.NaT:
        return missing
    return str(value)


def table_html(header: Sequence[str], rows: Sequence[Sequence[str]], *,
               numeric: Sequence[bool] | None = None, max_rows: int = MAX_ROWS,
               total: int | None = None, what: str = "rows") -> str:
    """An HTML table of already formatted ``rows`` under ``header``, cut after ``max_rows``.

    Parameters
    ----------
    header
        Column titles.
    rows
        Cell texts (escaped here).
    numeric
        Per column: right-align it? Default: none.
    max_rows
        Rows shown; a "… N more rows" line stands for the rest.
    total
        Rows in all, when ``rows`` holds only the first ones (default ``len(rows)``).
    what
        The noun of the "… N more" line.
    """
    shown = rows[:max_rows]
    total = len(rows) if total is None else total
    right = list(numeric) if numeric is not None else [False] * len(header)
    out = [f'<table class="dataframe" style="{_STYLE}">', "<thead><tr>"]
    out += [f"<th>{escape(str(title))}</th>" for title in header]
    out.append("</tr></thead><tbody>")
    for row in shown:
        out.append("<tr>")
        out += [f'<td style="{_NUMBER}">{escape(text)}</td>' if right[column]
                else f"<td>{escape(text)}</td>" for column, text in enumerate(row)]
        out.append("</tr>")
    out.append("</tbody></table>")
    if total > len(shown):
        out.append(f"<p><em>… {total - len(shown):,} more {escape(what)}</em></p>")
    return "".join(out)


def frame_html(frame: pd.DataFrame, *, max_rows: int = MAX_ROWS, what: str = "rows",
               labels: bool = False, scenario: Scenario | None = None) -> str:
    """A DataFrame as an HTML table (index dropped), numbers formatted per column by the
    metric registry (:func:`digits_for`, over the whole column) and right-aligned, cut after
    ``max_rows`` rows; with ``labels``, columns titled by their registry labels."""
    columns = [str(c) for c in frame.columns]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(
        frame[c]) for c in frame.columns]
    digits = [digits_for(name, frame[c].to_numpy(dtype=float) if is_number else ())
              for name, c, is_number in zip(columns, frame.columns, numeric, strict=True)]
    rows = [[cell(value, d) for value, d in zip(row, digits, strict=True)]
            for row in frame.head(max_rows).itertuples(index=False, name=None)]
    words = family_of(scenario).views.words if scenario is not None else None
    header = [column_title(name, words, scenario) for name in columns] if labels else columns
    return table_html(header, rows, numeric=numeric, max_rows=max_rows, total=len(frame),
                      what=what)


def _pairs_html(pairs: Sequence[tuple[str, str]]) -> str:
    """A two-column label/value table (the summaries)."""
    rows = "".join(f'<tr><th style="text-align: left">{escape(label)}</th>'
                   f'<td style="text-align: left">{escape(value)}</td></tr>'
                   for label, value in pairs)
    return f'<table style="{_STYLE}"><tbody>{rows}</tbody></table>'


def _heading(text: str) -> str:
    return f"<h4>{escape(text)}</h4>"


def _wrap(*parts: str) -> str:
    return '<div class="territory-opt">' + "".join(parts) + "</div>"


# --- Scenario ---------------------------------------------------------------------------------


def scenario_html(scenario: Scenario) -> str:
    """Summary of a scenario (size, attributes with totals, rules, objective — as its family's
    views describe it — and solver) and the head of its items table."""
    s, solver = scenario, scenario.spec.solver
    family = family_of(s)
    pairs: list[tuple[str, str]] = [("model", family.name)]
    if s.path is not None:
        pairs.append(("file", str(s.path)))
    pairs += family.views.describe(s)
    threads = "auto" if solver.threads is None else str(solver.threads)
    pairs.append(("solver", f"{solver.backend}, time limit {solver.time_limit:g} s, gap "
                  f"{percent(solver.gap)}, seed {solver.seed}, threads {threads}"))
    title = f"Scenario {s.name}"
    return _wrap(_heading(title), _pairs_html(pairs), _heading("items"),
                 frame_html(s.items_frame(), max_rows=HEAD_ROWS))


# --- Evaluation, Plan -------------------------------------------------------------------------


def kpi_text(name: str, value: float) -> str:
    """A plan-level KPI as text, with the registry's decimals (a KPI of no known kind: by its
    magnitude, so a whole value — a count — without decimals)."""
    return cell(float(value), metric(name).digits_for(float(value)))


def metrics_html(metrics: dict[str, float]) -> str:
    """The plan-level KPIs as a two-column table (kpi, value) by their registry labels; never
    cut (a plan has a few dozen at most, and a missing KPI would mislead)."""
    rows = [[metric(name).label, kpi_text(name, value)] for name, value in metrics.items()]
    return table_html(["kpi", "value"], rows, numeric=[False, True],
                      max_rows=max(MAX_ROWS, len(rows)))


def evaluation_html(evaluation: Evaluation, scenario: Scenario | None = None) -> str:
    """Plan KPIs, the territory table and the rule violations (if any); with the evaluation's
    ``scenario`` (a plan knows it, an evaluation alone does not), its family's words."""
    words = family_of(scenario).views.words if scenario is not None else Words()
    parts = [_heading("plan KPIs"), metrics_html(evaluation.metrics),
             _heading(words.territories),
             frame_html(evaluation.territories, labels=True, scenario=scenario)]
    violations = evaluation.violations
    if violations:
        hard = sum(v.hard for v in violations)
        parts.append(_heading(f"violations: {hard} hard, {len(violations) - hard} soft"))
        rows = [[v.rule, v.where, cell(v.amount, 2), "hard" if v.hard else "soft", v.message]
                for v in violations[:MAX_ROWS]]
        parts.append(table_html(["rule", "where", "amount", "kind", "message"], rows,
                                numeric=[False, False, True, False, False],
                                total=len(violations), what="violations"))
    return _wrap(*parts)


def plan_html(plan: Plan) -> str:
    """Plan header (scenario, status, backend, objective, bound, gap, seed) and its
    evaluation."""
    if plan.status_now != plan.status:  # a plan directory whose files contradict plan.json
        status = f"{plan.status_now} (plan.json says '{plan.status}'; " + "; ".join(
            plan.disagreements) + ")"
    else:
        status = str(plan.status) + (f" ({plan.stop_reason})" if plan.stop_reason else "")
    gap = f"{plan.gap:.3%}" if math.isfinite(plan.gap) else "n/a"
    pairs = [("scenario", plan.scenario.name), ("status", status),
             ("backend", plan.backend + (f" (plan found by {plan.found_by})"
                                         if plan.found_by and plan.found_by != plan.backend
                                         else "")),
             ("objective", fmt(plan.objective, 1)),
             ("bound", fmt(plan.bound, 1) if math.isfinite(plan.bound) else "none"),
             ("gap", gap), ("seed", str(plan.seed))]
    if "total" in plan.seconds:
        pairs.append(("time", f"{plan.seconds['total']:.1f} s"))
    if plan.scenario_changed:
        pairs.append(("warning", "the scenario's files changed since this plan was made"))
    return _wrap(_heading(f"Plan of {plan.scenario.name}"), _pairs_html(pairs),
                 evaluation_html(plan.evaluation, plan.scenario))


# --- Comparison -------------------------------------------------------------------------------


def comparison_html(comparison: Comparison) -> str:
    """The KPIs side by side and the first moves (largest objective change first)."""
    kpis = comparison.kpis()
    columns = [str(c) for c in kpis.columns]
    rows = [[metric(str(name)).label, *(kpi_text(str(name), v) for v in values)]
            for name, values in zip(kpis.index, kpis.to_numpy(), strict=True)]
    parts = [_heading("KPIs side by side"),
             table_html(["kpi", *columns], rows, numeric=[False] + [True] * len(columns),
                        max_rows=max(MAX_ROWS, len(rows)))]
    moves = comparison.moves
    names = list(comparison.evaluations)
    counts = moves.groupby("plan").size() if len(moves) else pd.Series(dtype=int)
    moved = "; ".join(f"{name}: {int(counts.get(name, 0)):,}" for name in names[1:])
    parts.append(_heading(f"moves from {names[0]} ({moved})"))
    if len(moves):
        parts.append(frame_html(moves, max_rows=MOVE_ROWS, what="moves"))
    else:
        parts.append("<p>no item moved</p>")
    return _wrap(*parts)


# Jupyter shows these (their _repr_html_ asks territory_opt.rendering.to_html).
to_html.register(Scenario, scenario_html)
to_html.register(Evaluation, evaluation_html)
to_html.register(Plan, plan_html)
to_html.register(Comparison, comparison_html)
