"""Terminal output (rich): a solved plan's summary, plan KPIs side by side, the per-territory
table, violations, moves, trade-off points, the lead-routing replay, progress lines and the
backends.

What to show comes from the scenario's family (:func:`territory_opt.family.family_of`, its
``views``); how to show it — labels, decimals, which way is better — from the metric registry
(:mod:`territory_opt.kpi.metrics`), as the notebook HTML and the report do.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.markup import escape
from rich.table import Table

from territory_opt.backends.contract import Progress
from territory_opt.family import family_of
from territory_opt.kpi.evaluate import Evaluation, evaluate
from territory_opt.kpi.levels import level_frames
from territory_opt.kpi.metrics import best, column, metric
from territory_opt.kpi.views import column_title, level_balance_bands
from territory_opt.leads.report import HISTORY_METRICS, LEAD_METRICS
from territory_opt.plan import Plan
from territory_opt.present.priorities import PRIORITY_COLUMNS, priority_rows
from territory_opt.present.progress import progress_text
from territory_opt.scenario.model import Scenario
from territory_opt.sizing.headcount import Attempt
from territory_opt.support import SupportMatrix
from territory_opt.text import fmt

VIOLATIONS_SHOWN = 10
"""Violations listed one by one under a plan; the rest are counted."""


def _side_by_side(table: Table, keys: list[str], columns: list[dict[str, float]],
                  extra: dict[str, float] | None = None, skip_missing: bool = False,
                  eligible: list[bool] | None = None) -> None:
    """Rows of ``keys`` by label, one cell per column, the best per row in bold — among the
    ``eligible`` columns only (a plan that breaks a hard rule is never "best")."""
    allowed = eligible if eligible is not None and any(eligible) else [True] * len(columns)
    for key in keys:
        m = metric(key)
        values = [metrics.get(key, float("nan")) for metrics in columns]
        if skip_missing and all(isinstance(v, float) and math.isnan(v) for v in values):
            continue
        digits = m.digits_for(values)
        top = best([v for v, ok in zip(values, allowed, strict=True) if ok], m.lower_is_better)
        cells = [f"[bold]{fmt(v, digits)}[/]" if len(columns) > 1 and ok and v == top
                 else fmt(v, digits) for v, ok in zip(values, allowed, strict=True)]
        if extra is not None:
            cells.append(fmt(extra[key], digits) if key in extra else "")
        table.add_row(escape(m.label), *cells)


def metric_table(scenario: Scenario, columns: dict[str, Evaluation]) -> Table:
    """The family's KPIs of several evaluations side by side, the best per row in bold among
    the plans that keep every hard rule (an infeasible one is marked in its header)."""
    table = Table(title="plan KPIs (best per row in bold, among plans that keep every hard "
                  "rule)", title_justify="left")
    table.add_column("KPI")
    for name, evaluation in columns.items():
        mark = "" if evaluation.feasible else " (breaks a hard rule)"
        table.add_column(escape(name + mark), justify="right")
    _side_by_side(table, family_of(scenario).views.metric_keys(scenario),
                  [e.metrics for e in columns.values()],
                  eligible=[e.feasible for e in columns.values()])
    return table


def territory_labels(scenario: Scenario) -> dict[str, str]:
    """Territory id → ``"T07 Anna Müller"`` for each territory whose name (its rep's) differs
    from its id; the tables show these beside the ids (no entry: the id alone)."""
    labels = {}
    for tid, name in zip(scenario.territory_ids, scenario.territory_names, strict=True):
        tid, name = str(tid), str(name).strip() if isinstance(name, str) else ""
        if name and name != tid:
            labels[tid] = f"{tid} {name}"
    return labels


def territory_table(scenario: Scenario, evaluation: Evaluation, title: str) -> Table:
    """The family's per-territory columns of ``evaluation``; territories by id and rep name,
    deviations signed, a quota's bound (floor, cap) beside it."""
    views = family_of(scenario).views
    labels = territory_labels(scenario)
    t = evaluation.territories
    keys = views.territory_columns(scenario, evaluation)
    table = Table(title=escape(title), title_justify="left")
    numeric = {key: pd.api.types.is_numeric_dtype(t[key])
               and not pd.api.types.is_bool_dtype(t[key]) for key in keys}
    digits = {key: column(key).digits_for(t[key].to_numpy(dtype=float)) if numeric[key] else 0
              for key in keys}
    for key in keys:
        table.add_column(escape(column_title(key, views.words, scenario)),
                         justify="right" if numeric[key] else "left")
    for rec in t.to_dict(orient="records"):
        row = []
        for key in keys:
            value = rec[key]
            if not numeric[key]:
                text = str(value)
                row.append(escape(labels.get(text, text) if key == "territory" else text))
                continue
            text = fmt(float(value), digits[key])
            if key.endswith("_dev_pct") and math.isfinite(float(value)):
                text = f"{float(value):+,.{digits[key]}f}"
            if key == "quota" and rec.get("quota_bound"):
                text += f" ({rec['quota_bound']})"
            row.append(text)
        table.add_row(*row)
    return table


def violation_lines(name: str, evaluation: Evaluation) -> list[str]:
    """How many hard and soft rules ``evaluation`` breaks, and the first few (no lines when
    it breaks none)."""
    violations = evaluation.violations
    if not violations:
        return []
    hard = sum(v.hard for v in violations)
    lines = [f"{name}: {hard} hard and {len(violations) - hard} soft rule violations"]
    lines += [f"  - {v}" for v in violations[:VIOLATIONS_SHOWN]]
    if len(violations) > VIOLATIONS_SHOWN:
        lines.append(f"  ... and {len(violations) - VIOLATIONS_SHOWN} more")
    return lines


def moves_table(moves: pd.DataFrame, scenario: Scenario | None = None) -> Table:
    """Moves with their effect per objective term (the undone move's change) and rule; with
    ``scenario``, the territories by id and rep name."""
    labels = territory_labels(scenario) if scenario is not None else {}
    table = Table(title_justify="left")
    deltas = [c for c in moves.columns if c.startswith("delta_")]
    digits = metric("objective").digits_for(())
    for title in ("item", "from", "to"):
        table.add_column(title)
    for delta in deltas:
        table.add_column(escape(metric(delta.removeprefix("delta_")).label), justify="right")
    table.add_column("forced by")
    for rec in moves.to_dict(orient="records"):
        table.add_row(escape(str(rec["item"])),
                      escape(labels.get(str(rec["from"]), str(rec["from"]))),
                      escape(labels.get(str(rec["to"]), str(rec["to"]))),
                      *[f"{rec[c]:+,.{digits}f}" if math.isfinite(rec[c]) else "n/a"
                        for c in deltas],
                      escape(rec["forced_by"]) or "—")
    return table


def tradeoff_table(curve: Any) -> Table:
    """One row per value of the swept setting: status, objective, bound, gap, travel, balance,
    disruption and time."""
    s = curve.scenario
    frame = curve.frame()
    keys = ["objective", "bound", "travel",
            *(f"{r.attribute}_max_abs_dev_pct" for r in s.spec.rules.balance),
            "moved_items"]
    keys = [k for k in keys if k in frame]
    table = Table(title=f"trade-off of {curve.path}", title_justify="left")
    table.add_column(curve.path.rsplit(".", 1)[-1], justify="right")
    table.add_column("status", justify="right")
    for key in keys:
        table.add_column("bound" if key == "bound" else metric(key).label, justify="right")
        if key == "bound":
            table.add_column("gap %", justify="right")
    table.add_column("s", justify="right")
    for rec in frame.to_dict(orient="records"):
        cells = [f"{rec['value']:g}",
                 str(rec["status"]) + (" (kept previous)" if rec["kept_previous"] else "")]
        solved = rec["status"] not in ("infeasible", "no plan")
        for key in keys:
            value = rec.get(key)
            digits = metric("objective" if key == "bound" else key).digits_for(
                frame[key].to_numpy(dtype=float))
            cells.append(fmt(value, digits) if solved else "")
            if key == "bound":
                gap = rec.get("gap", float("nan"))
                cells.append(f"{100 * gap:.2f}" if solved and math.isfinite(gap)
                             else "" if not solved else "n/a")
        cells.append(fmt(rec.get("seconds"), 1) if solved else "")
        table.add_row(*cells)
    return table


def replay_table(columns: dict[str, dict[str, float]], title: str,
                 history: dict[str, float] | None = None) -> Table:
    """Lead KPIs of several routing policies (one column each), the best per row in bold;
    with ``history``, a last column of what the recorded outcomes say."""
    table = Table(title=escape(title), title_justify="left")
    table.add_column("KPI")
    for name in columns:
        table.add_column(escape(name), justify="right")
    if history:
        table.add_column("history (actual)", justify="right")
    _side_by_side(table, list(LEAD_METRICS), list(columns.values()),
                  extra=history or None, skip_missing=True)
    if history:
        for key in HISTORY_METRICS:
            if key in history:
                m = metric(key)
                table.add_row(m.label, *[""] * len(columns),
                              fmt(history[key], m.digits_for(history[key])))
    return table


def plan_summary(plan: Plan) -> list[str | Table]:
    """A solved plan: its status line (objective, bound, gap, time, backend, seed), who found
    it, the territories, and its KPIs beside the current alignment's."""
    s = plan.scenario
    bound = fmt(plan.bound) if math.isfinite(plan.bound) else "none"
    reason = f" ({plan.stop_reason})" if plan.stop_reason else ""
    parts: list[str | Table] = [
        f"[bold]{escape(s.name)}[/]: {plan.status}{escape(reason)}   objective "
        f"{fmt(plan.objective)}   bound {bound}   "
        f"gap {plan.gap:.3%}   {plan.seconds.get('total', 0):.1f} s ({plan.backend}, "
        f"seed {plan.seed})"]
    if plan.choice:
        parts.append(f"auto chose {escape(plan.choice.get('method', '?'))}: "
                     f"{escape(plan.choice.get('why', ''))}")
    if plan.found_by and plan.found_by != plan.backend:
        parts.append(f"plan found by the {escape(plan.found_by)}")
    if plan.priorities:
        parts.append(priorities_table(plan))
    parts.append(territory_table(s, plan.evaluation, title="territories"))
    parts += level_tables(s, plan.evaluation)
    columns = {"plan": plan.evaluation}
    if s.has_current:
        columns = {"current": evaluate(s, s.current)} | columns
    parts.append(metric_table(s, columns))
    return parts


def level_tables(scenario: Scenario, evaluation: Evaluation) -> list[Table]:
    """One table per level of the hierarchy: each parent's territories, FTE and, per balanced
    attribute, its load, target and deviation % (red outside a hard band of that level)."""
    out = []
    for level, frame in level_frames(scenario, evaluation.territories).items():
        bands = level_balance_bands(scenario, level)
        attributes = [a for a in scenario.attributes if f"{a}_dev_pct" in frame.columns]
        table = Table(title=f"per {level}", title_justify="left")
        table.add_column(level)
        for name in ("territories", "fte"):
            table.add_column(name, justify="right")
        for a in attributes:
            for name in (a, f"{a} target", f"{a} dev %"):
                table.add_column(escape(name), justify="right")
        for row in frame.to_dict("records"):
            cells = [escape(str(row[level])), f"{int(row['territories'])}",
                     fmt(float(row["fte"]), 2)]
            for a in attributes:
                dev = float(row[f"{a}_dev_pct"])
                band = bands.get(f"{a}_dev_pct")
                shown = f"{dev:+.1f}"
                if band is not None and abs(dev) > band.tolerance_pct + 1e-9:
                    shown = f"[{'red' if band.hard else 'yellow'}]{shown}[/]"
                cells += [fmt(float(row[a]), 1), fmt(float(row[f"{a}_target"]), 1), shown]
            table.add_row(*cells)
        out.append(table)
    return out


def priorities_table(plan: Plan) -> Table:
    """``objective.priorities``: each level's criterion, reached value, bound and limit."""
    table = Table(title="priorities (solved in order; the objective is the last level's)",
                  title_justify="left")
    for name in PRIORITY_COLUMNS:
        table.add_column(name, justify="left" if name in ("criterion", "status") else "right")
    for row in priority_rows(plan):
        table.add_row(*(escape(cell) for cell in row))
    return table


def progress_line(p: Progress) -> str:
    """One progress report: the clock (of the limit), the plan's objective (or none yet),
    bound, gap and the phase (:func:`territory_opt.present.progress.progress_text`)."""
    return progress_text(p)


def backends_table(rows: list[dict[str, Any]]) -> Table:
    """The registered backends in preference order: installed, own bound, warm start,
    determinism, the unit of ``--work-limit`` (none: the option is refused), notes."""
    table = Table(title="solver backends (preference order; auto takes the first installed)",
                  title_justify="left")
    for name in ("name", "installed", "own bound", "warm start", "deterministic",
                 "--work-limit counts", "notes"):
        table.add_column(name)
    for r in rows:
        table.add_row(str(r["name"]), "yes" if r["installed"] else "no",
                      "yes" if r["bound"] else "no (LP bound used)",
                      "yes" if r["warm_start"] else "no", "yes" if r["deterministic"] else "no",
                      escape(str(r["work_unit"] or "— (refused)")), escape(str(r["notes"])))
    return table


def headcount_table(name: str, attempts: list[Attempt]) -> Table:
    """Sales-force sizing: each headcount tried, its status, travel, bound, time and why."""
    table = Table(title=f"headcount for {escape(name)}", title_justify="left")
    for heading in ("reps", "status", "travel", "bound", "s", "why"):
        table.add_column(heading, justify="left" if heading in ("status", "why") else "right")
    for a in attempts:
        plan = a.status == "feasible"
        table.add_row(str(a.p) if a.p else "any", a.status, fmt(a.travel) if plan else "",
                      fmt(a.bound) if plan else "", f"{a.seconds:.1f}", escape(a.reason))
    return table


def support_table(matrix: SupportMatrix) -> Table:
    """One family's rules by the solve paths that honour them (``refused``: that path refuses a
    scenario using the rule rather than ignore it)."""
    table = Table(title=f"{matrix.family}: which path honours which rule", title_justify="left")
    rows = matrix.table()
    for name in rows[0] if rows else ("rule",):
        table.add_column(name)
    for row in rows:
        table.add_row(*(("[red]refused[/]" if value == "refused" else escape(value))
                        for value in row.values()))
    return table
