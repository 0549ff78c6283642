"""HTML for Jupyter: what :class:`Scenario`, :class:`Evaluation`, :class:`Plan` and
:class:`Comparison` show when a notebook cell ends with one of them (their ``_repr_html_``).

Pure functions: an object (or a DataFrame) in, an HTML string out. Every text is escaped, every
table is cut after :data:`MAX_ROWS` rows with a "… N more rows" line (a notebook must stay
responsive on 20,000 items), and numbers are written by :func:`territory_opt.text.fmt` as in
the terminal tables. The output is well-formed XML (one ``<div>`` root), so it also embeds in
exported HTML without surprises.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from territory_opt.scenario.model import NO_TERRITORY
from territory_opt.text import fmt

if TYPE_CHECKING:  # the classes import this module inside their _repr_html_
    from territory_opt.kpi.compare import Comparison
    from territory_opt.kpi.evaluate import Evaluation
    from territory_opt.plan import Plan
    from territory_opt.scenario.model import Scenario

MAX_ROWS = 30
"""Rows shown of a table before the "… N more rows" line."""
HEAD_ROWS = 10
"""Rows of the items table a scenario shows (a glimpse; ``items_frame()`` has them all)."""
MOVE_ROWS = 10
"""Moves a comparison shows (the largest objective changes come first)."""

COUNT_KPIS = frozenset({
    "items", "unassigned", "moved_items", "hard_violations", "cut_edges",
    "disconnected_territories", "accounts", "accounts_locked_away", "moved_accounts",
    "leads", "routed", "unrouted", "capacity_breaches", "capacity_excess_leads",
    "expected_revenue", "avg_deal_size", "components",
})
"""KPIs and columns written without decimals (counts, and money where cents are noise)."""

_STYLE = "font-family: inherit; margin: 0.5em 0"
_NUMBER = "text-align: right"


def digits_for(name: str) -> int:
    """Decimals to show a KPI or table column ``name`` with (as the terminal tables do)."""
    if name in COUNT_KPIS:
        return 0
    if name.endswith(("_cv", "_gini")) or name.startswith("moved_share") or name in (
            "conversion_rate", "lat", "lon", "home_lat", "home_lon"):
        return 4
    if name.startswith(("polsby_popper", "hull_ratio")):
        return 3
    if name.endswith(("_pct", "_max_min")) or name == "fte":
        return 2
    return 1


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


def frame_html(frame: pd.DataFrame, *, max_rows: int = MAX_ROWS, what: str = "rows") -> str:
    """A DataFrame as an HTML table (index dropped), numbers formatted per column by
    :func:`digits_for` and right-aligned, cut after ``max_rows`` rows."""
    columns = [str(c) for c in frame.columns]
    digits = [digits_for(name) for name in columns]
    rows = [[cell(value, d) for value, d in zip(row, digits, strict=True)]
            for row in frame.head(max_rows).itertuples(index=False, name=None)]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(
        frame[c]) for c in frame.columns]
    return table_html(columns, rows, numeric=numeric, max_rows=max_rows, total=len(frame),
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


def _percent(share: float) -> str:
    return f"{100 * share:g}%"


# --- Scenario ---------------------------------------------------------------------------------


def scenario_html(scenario: Scenario) -> str:
    """Summary of a scenario (size, attributes with totals, rules, objective, solver) and the
    head of its items table."""
    s, spec = scenario, scenario.spec
    rules, solver = spec.rules, spec.solver
    pairs: list[tuple[str, str]] = [("model", spec.model)]
    if s.path is not None:
        pairs.append(("file", str(s.path)))
    items = f"{s.n_items:,}"
    if s.accounts is not None:
        items += f" units, {len(s.accounts):,} named accounts"
    pairs += [("items", items),
              ("territories", f"{s.n_territories:,} ({fmt(float(s.fte.sum()), 2)} FTE)")]
    totals = []
    for name, values in s.attributes.items():
        total = float(values.sum()) + (s.accounts.total(name) if s.accounts is not None else 0)
        totals.append(f"{name} {fmt(total, 1)}")
    pairs.append(("attributes (totals)", "; ".join(totals) or "none"))
    if s.tags:
        pairs.append(("tags", ", ".join(s.tags)))
    pairs.append(("current alignment", "yes" if s.has_current else "no"))
    balance = [f"{r.attribute} ±{_percent(r.tolerance)} "
               + ("(hard)" if r.hard else f"(soft, penalty {r.penalty:g})")
               for r in rules.balance]
    pairs.append(("balance", "; ".join(balance) or "none"))
    locks = int(np.sum(s.lock != NO_TERRITORY))
    if s.accounts is not None:
        locks += int(s.accounts.locked.sum())
    pairs.append(("locks", f"{locks:,}"))
    pairs.append(("eligibility", ", ".join(rules.eligibility) or "none"))
    if rules.max_distance_km is not None:
        pairs.append(("max distance", f"{fmt(rules.max_distance_km, 1)} km"))
    cap = rules.disruption
    pairs.append(("disruption cap", "none" if cap is None
                  else f"at most {_percent(cap.max_share)} of {cap.attribute} moves"))
    if s.capacity:
        pairs.append(("capacities", ", ".join(s.capacity)))
    if spec.model == "districting":
        pairs.append(("contiguity", "yes" if rules.contiguity else "no"))
    if spec.pairs is not None:
        listed = f"{len(s.pair_keys):,} listed pairs"
        pairs.append(("pair table", listed + (" (only these allowed)" if s.only_listed else "")))
    pairs.append(("objective", _objective_text(scenario)))
    if spec.quotas is not None:
        q = spec.quotas
        bounds = [f"floor {_percent(q.floor)}" if q.floor is not None else "",
                  f"cap {_percent(q.cap)}" if q.cap is not None else ""]
        pairs.append(("quotas", f"target {fmt(q.target, 0)} split by {q.basis} share"
                      + (f", {_percent(q.fte_weight)} by FTE" if q.fte_weight else "")
                      + "".join(f", {b}" for b in bounds if b) + " of the FTE-fair quota"))
    threads = "auto" if solver.threads is None else str(solver.threads)
    pairs.append(("solver", f"{solver.backend}, time limit {solver.time_limit:g} s, gap "
                  f"{_percent(solver.gap)}, seed {solver.seed}, threads {threads}"))
    title = f"Scenario {s.name}"
    return _wrap(_heading(title), _pairs_html(pairs), _heading("items"),
                 frame_html(s.items_frame(), max_rows=HEAD_ROWS))


def _objective_text(scenario: Scenario) -> str:
    if scenario.leads is not None:
        fairness = scenario.spec.leads.fairness if scenario.spec.leads else None
        penalty = (f" − {fairness.penalty:g} × fairness excess"
                   if fairness is not None and not fairness.hard else "")
        return "expected revenue (maximised)" + penalty
    objective = scenario.spec.objective
    travel = f"travel × {objective.travel.weight:g}"
    if objective.travel.attribute:
        travel += f" (per {objective.travel.attribute})"
    terms = [travel]
    if objective.disruption.weight:
        terms.append(f"disruption × {objective.disruption.weight:g} per moved "
                     f"{objective.disruption.per}")
    if objective.dispersion is not None:
        terms.append(f"dispersion × {objective.dispersion.weight:g}")
    if objective.cut_edges is not None:
        terms.append(f"cut edges × {objective.cut_edges.weight:g}")
    soft = [r.attribute for r in scenario.spec.rules.balance if not r.hard]
    if soft:
        terms.append("penalties of the soft balance rules")
    return " + ".join(terms)


# --- Evaluation, Plan -------------------------------------------------------------------------


def kpi_text(name: str, value: float) -> str:
    """A plan-level KPI as text: decimals by :func:`digits_for`; a KPI of no known kind with a
    whole value (a count) without decimals."""
    digits = digits_for(name)
    value = float(value)
    if digits == 1 and value.is_integer():
        digits = 0
    return cell(value, digits)


def metrics_html(metrics: dict[str, float]) -> str:
    """The plan-level KPIs as a two-column table (kpi, value); never cut (a plan has a few
    dozen at most, and a missing KPI would mislead)."""
    rows = [[name, kpi_text(name, value)] for name, value in metrics.items()]
    return table_html(["kpi", "value"], rows, numeric=[False, True],
                      max_rows=max(MAX_ROWS, len(rows)))


def evaluation_html(evaluation: Evaluation) -> str:
    """Plan KPIs, the territory table and the rule violations (if any)."""
    parts = [_heading("plan KPIs"), metrics_html(evaluation.metrics),
             _heading("territories"), frame_html(evaluation.territories)]
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
                 evaluation_html(plan.evaluation))


# --- Comparison -------------------------------------------------------------------------------


def comparison_html(comparison: Comparison) -> str:
    """The KPIs side by side and the first moves (largest objective change first)."""
    kpis = comparison.kpis()
    columns = [str(c) for c in kpis.columns]
    rows = [[str(name), *(kpi_text(str(name), v) for v in values)]
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
