"""A plan as one self-contained HTML page: ``report.html`` in its plan directory.

The page is written for the manager who decides on the plan, so it opens with the change: when
the scenario has a current alignment, today's KPIs beside the plan's (labels from the metric
registry) under a one-sentence headline, the balance chart with today's deviations ghosted
behind the plan's, what each rep gains and loses, a rep-to-rep transfer matrix and the moved
items with the reason each moved (:func:`~territory_opt.kpi.compare.moves_between`: the hard
rule that forced it, or the objective term it improves). Without a current alignment the plan
is shown alone. Then come the plan's status and objective terms, rule violations, the
per-territory table (split in two when it is wide) with deviations outside their rule's band
highlighted, a map where the items have coordinates and the quotas when the territory table has
them; provenance (solver, backend, seed, timings, versions) closes the page as an appendix. A
plan directory that disagrees with its ``plan.json`` (a file cut short, an edited objective) is
flagged at the top, and the status shown is the one its files support now.

The page carries everything it shows — CSS in a ``<style>``, the balance chart as inline SVG, the
map as a base64 PNG — and loads nothing: it opens from disk with no server and no network (a
Content-Security-Policy in the page forbids any fetch), so it can be mailed or archived as one
file. It fits a 1,400 px wide window without scrolling sideways and prints on A4 landscape.
"""
from __future__ import annotations

import base64
import io
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from territory_opt.atomic import write_file
from territory_opt.errors import TerritoryOptError
from territory_opt.family import Band, family_of
from territory_opt.kpi.compare import move_reason, moves_between
from territory_opt.kpi.evaluate import Evaluation, evaluate
from territory_opt.kpi.levels import level_frames
from territory_opt.kpi.metrics import Metric, metric
from territory_opt.kpi.metrics import column as column_info
from territory_opt.kpi.views import column_title, level_balance_bands
from territory_opt.plan import PLAN_FILE, Plan
from territory_opt.present.notebook import cell
from territory_opt.present.priorities import PRIORITY_COLUMNS, priority_rows
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.scenario.pair_table import distance_source_text
from territory_opt.text import fmt
from territory_opt.version import __version__

REPORT_FILE = "report.html"

VIOLATIONS_SHOWN = 200
"""At most this many violations are listed one by one (a plan with every item unassigned would
otherwise list them all); the summary by rule always counts all of them."""

CHART_LABELS_MAX = 100
"""The balance chart names its territories up to this many; beyond, labels would overlap."""

DEV_SLACK_PCT = 1e-4
"""A deviation counts as outside its band only beyond this (percent points): the evaluator's
relative rule slack (1e-6) expressed in percent, so a load exactly on the band is inside."""

IN_BAND, OUT_HARD, OUT_SOFT, BAND = "#4477AA", "#CC3311", "#EE7733", "#BBDDBB"
"""Chart colours (Paul Tol's bright/vibrant schemes): bars within band, outside a hard band,
outside a soft band, and the shaded tolerance band."""

TODAY = "#777777"
"""Outline of today's bar, ghosted behind the plan's in the balance chart."""

MOVES_SHOWN = 200
"""At most this many moves are listed one by one (largest objective change first); the rest
are counted."""

MATRIX_MAX = 15
"""The transfer matrix names at most this many territories (those in the most moves); the
rest share one "others" row and column, so the matrix fits the page."""

WIDE_TABLE = 12
"""A per-territory table with more columns than this is split in two (balance, then the rest)
so that neither is squeezed into unreadable columns at 1,400 px or on A4 landscape."""

MINUS = "\u2212"
"""The minus sign of signed changes (a hyphen is narrower than a digit and reads as a dash)."""

# Nothing may be fetched: images only from data: URIs, styles only inline. A bug that slipped an
# external reference into the page would show as a blank spot, never as a network request.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


@dataclass(frozen=True)
class Cell:
    """One table cell as shown: its text and CSS classes (``num``, ``out hard``...)."""

    text: str
    cls: str = ""


@dataclass(frozen=True)
class Table:
    """A table ready for the template: header, rows of cells, a key per row, optional total,
    and the titles shown over the columns (default: the column names)."""

    columns: list[str]
    rows: list[list[Cell]]
    numeric: list[bool]
    keys: list[str] = field(default_factory=list)
    total: list[Cell] | None = None
    titles: list[str] = field(default_factory=list)

    @property
    def header(self) -> list[tuple[str, str]]:
        """(column name, title) per column."""
        return list(zip(self.columns, self.titles or self.columns, strict=True))


# --- public API -------------------------------------------------------------------------------


def render_report(plan: Plan, plan_dir: str | Path | None = None) -> str:
    """The plan's report as a complete, self-contained HTML5 document.

    Parameters
    ----------
    plan
        The plan (its scenario and assignment; KPIs are recomputed by its evaluation).
    plan_dir
        The plan's directory, if it has one: the plan's date (``plan.json``'s modification
        time) and the version that made it (from ``plan.json``) are read from there.

    Returns
    -------
    str
        The HTML page (encode as UTF-8).
    """
    s = plan.scenario
    views = family_of(s).views
    evaluation = plan.evaluation
    territories = evaluation.territories
    today = _today(plan)
    bands = balance_bands(plan)
    quotas = quota_table(territories, _quota_basis(plan), s)
    shown = [c for c in territories.columns if not (quotas and str(c).startswith("quota"))]
    map_uri, map_note = _map(plan)
    chart = balance_svg(territories, bands,
                        today.territories if today is not None else None)
    violations = evaluation.violations
    by_rule = Counter((v.rule, v.hard) for v in violations)
    amount: dict[tuple[str, bool], float] = {}
    for v in violations:
        amount[v.rule, v.hard] = amount.get((v.rule, v.hard), 0.0) + v.amount
    context = {
        "title": f"territory-opt report: {s.name}",
        "csp": CSP,
        "version": __version__,
        "changed": plan.scenario_changed,
        "disagreements": list(plan.disagreements),
        "facts": _facts(plan, Path(plan_dir) if plan_dir is not None else None),
        "status": _status_text(plan),
        "objective": fmt(plan.objective, metric("objective").digits_for(())),
        "feasible": evaluation.feasible,
        "hard_count": sum(v.hard for v in violations),
        "soft_count": sum(not v.hard for v in violations),
        "kpis": _metrics_table(evaluation.metrics,
                               today.metrics if today is not None else None),
        "change": _change(plan, today, bands) if today is not None else None,
        "words": views.words,
        "terms": (_priorities_table(plan) if plan.priorities else
                  _terms_table(evaluation.objective.as_dict(), evaluation.objective.total)),
        "priorities": bool(plan.priorities),
        "violation_summary": [
            {"rule": rule, "kind": "hard" if hard else "soft", "count": f"{n:,}",
             "amount": fmt(amount[rule, hard], 2)}
            for (rule, hard), n in sorted(by_rule.items(), key=lambda x: (not x[0][1], x[0][0]))
        ],
        "violations": [
            {"rule": v.rule, "kind": "hard" if v.hard else "soft", "where": v.where,
             "amount": fmt(v.amount, 2), "message": v.message}
            for v in violations[:VIOLATIONS_SHOWN]
        ],
        "violations_total": len(violations),
        "territories": territory_tables(territories[shown], bands, s),
        "levels": _level_sections(s, territories),
        "territory_word": views.words.territory,
        "bands": [{"column": c, "label": b.label, "tolerance": f"±{b.tolerance_pct:g}%",
                   "kind": "hard" if b.hard else "soft"} for c, b in bands.items()
                  if c in territories.columns],
        "chart": Markup(chart) if chart is not None else None,
        "colours": {"in": IN_BAND, "hard": OUT_HARD, "soft": OUT_SOFT, "band": BAND,
                    "today": TODAY},
        "map_uri": map_uri,
        "map_note": map_note,
        "quotas": quotas,
    }
    return _template().render(context)


def write_report(plan: Plan, plan_dir: str | Path, name: str = REPORT_FILE) -> Path:
    """Write the plan's report into its directory (replacing an earlier one) atomically.

    The page is written to a hidden temporary file beside the target and renamed over it, so
    a reader never sees half a report; nothing else in the directory is touched.

    Parameters
    ----------
    plan
        The plan.
    plan_dir
        An existing directory (the plan's); it is not created.
    name
        File name of the report: a plain ``.html`` name inside ``plan_dir``.

    Returns
    -------
    Path
        The report written.

    Raises
    ------
    TerritoryOptError
        If ``plan_dir`` is not a directory or ``name`` is not a plain ``.html`` file name.
    """
    plan_dir = Path(plan_dir)
    if not plan_dir.is_dir():
        raise TerritoryOptError(f"{plan_dir} is not a directory; give the plan's directory")
    # Only ever this one derived file: no paths that leave the folder, nothing that could be
    # one of the plan's own files (CSV, JSON, map.png) or the interactive map.
    if (Path(name).name != name or name.startswith(".")
            or not name.lower().endswith((".html", ".htm")) or name == "map.html"):
        raise TerritoryOptError(f"report name '{name}': expected a plain file name ending in "
                                ".html (not map.html)")
    return write_file(plan_dir / name, render_report(plan, plan_dir).encode("utf-8"))


def balance_bands(plan: Plan) -> dict[str, Band]:
    """Tolerance bands by deviation column, as the scenario's family sees them (each balance
    rule's ``<attribute>_dev_pct``; a family may add its own, such as leads' fairness)."""
    s = plan.scenario
    return family_of(s).views.bands(s)


def frame_table(frame: pd.DataFrame, bands: dict[str, Band] | None = None,
                scenario: Scenario | None = None) -> Table:
    """Any per-territory table as display cells: labels and decimals per column from the
    metric registry, thousands separators, deviations outside their band marked
    ``out hard``/``out soft``."""
    bands = bands or {}
    words = family_of(scenario).views.words if scenario is not None else None
    columns = [str(c) for c in frame.columns]
    formats = [_column_format(frame[c]) for c in frame.columns]
    rows = []
    for values in frame.itertuples(index=False, name=None):
        row = []
        for column, value, (numeric, digits) in zip(columns, values, formats, strict=True):
            text = _text(value, digits)
            cls = "num" if numeric else ""
            band = bands.get(column)
            if band is not None and _outside(value, band):
                cls += " out " + ("hard" if band.hard else "soft")
            row.append(Cell(text, cls.strip()))
        rows.append(row)
    keys = [str(t) for t in frame["territory"]] if "territory" in frame.columns else []
    return Table(columns, rows, [numeric for numeric, _ in formats], keys,
                 titles=[column_title(c, words, scenario) for c in columns])


def territory_tables(frame: pd.DataFrame, bands: dict[str, Band] | None = None,
                     scenario: Scenario | None = None) -> list[Table]:
    """The per-territory table as one table, or two when it has more than :data:`WIDE_TABLE`
    columns: size and balance (each banded attribute's load, target and deviation), then the
    rest; both start with the territory's id and name so each reads on its own."""
    bands = bands or {}
    columns = [str(c) for c in frame.columns]
    if len(columns) <= WIDE_TABLE:
        return [frame_table(frame, bands, scenario)]
    lead: list[str] = [c for c in ("territory", "name") if c in columns]
    first = {"fte", "items", "accounts"}
    for dev in bands:
        attribute = dev.removesuffix("_dev_pct")
        first |= {attribute, f"{attribute}_target", dev}
    balance = [c for c in columns if c in first and c not in lead]
    rest = [c for c in columns if c not in first and c not in lead]
    if not balance or not rest:
        return [frame_table(frame, bands, scenario)]
    return [frame_table(frame[lead + balance], bands, scenario),
            frame_table(frame[lead + rest], bands, scenario)]


def quota_table(territories: pd.DataFrame, basis: str | None = None,
                scenario: Scenario | None = None) -> Table | None:
    """The quota section's table, or None when the territory table has no ``quota*`` column.

    Columns: territory, name, fte, the quota basis (when named and present) and every
    ``quota*`` column; a total row sums what adds up (fte, basis, quota, shares) and recomputes
    the ratios (quota per FTE, quota to basis) from the sums.
    """
    quota_columns = [c for c in territories.columns if str(c).startswith("quota")]
    if not quota_columns:
        return None
    lead = [c for c in ("territory", "name", "fte") if c in territories.columns]
    extra = [basis] if basis is not None and basis in territories.columns and basis not in lead \
        else []
    frame = territories[lead + extra + quota_columns]
    table = frame_table(frame, scenario=scenario)
    sums = {c: float(pd.to_numeric(frame[c], errors="coerce").sum()) for c in frame.columns
            if _is_numeric(frame[c])}
    total: list[Cell] = []
    for c, numeric in zip(frame.columns, table.numeric, strict=True):
        column = str(c)
        _, digits = _column_format(frame[c])
        value: float | None = None
        if column == "quota_per_fte" and "quota" in sums and sums.get("fte"):
            value = sums["quota"] / sums["fte"]
        elif column == "quota_to_basis_pct" and "quota" in sums and extra and sums[extra[0]]:
            value = 100 * sums["quota"] / sums[extra[0]]
        elif column in sums and (column.endswith("share_pct") or not _is_ratio(column)):
            value = sums[column]
        if value is not None:
            total.append(Cell(fmt(value, digits), "num"))
        elif column == "territory":
            total.append(Cell("total"))
        elif not numeric and column != "name":
            # A label column such as quota_bound ("floor", "cap", ""): how many of each.
            counts = Counter(str(v) for v in frame[c] if isinstance(v, str) and v)
            total.append(Cell(", ".join(f"{k} ×{n}" for k, n in sorted(counts.items()))))
        else:
            total.append(Cell("", "num" if numeric else ""))
    return Table(table.columns, table.rows, table.numeric, table.keys, total, table.titles)


def balance_svg(territories: pd.DataFrame, bands: dict[str, Band],
                today: pd.DataFrame | None = None) -> str | None:
    """Horizontal bars of each banded deviation column per territory, the band shaded, as an
    inline ``<svg>`` element (None when no column has a band).

    Parameters
    ----------
    territories
        The plan's per-territory table.
    bands
        Tolerance bands by deviation column.
    today
        Today's per-territory table (same territories, same order), if there is one: its
        deviations are drawn as outlined bars behind the plan's.
    """
    columns = [c for c in bands if c in territories.columns]
    if not columns or territories.empty:
        return None
    n = len(territories)
    labels = _chart_labels(territories)
    fig = Figure(figsize=(2.2 + min(3.6 * len(columns), 9.0), float(np.clip(0.24 * n + 1.5,
                                                                             2.4, 40.0))),
                 layout="constrained")
    FigureCanvasAgg(fig)  # a canvas of its own: no pyplot, no global figure registry
    axes = fig.subplots(1, len(columns), sharey=True, squeeze=False)[0]
    y = np.arange(n)
    for ax, column in zip(axes, columns, strict=True):
        band = bands[column]
        dev = _deviations(territories[column])
        outside = np.abs(dev) > band.tolerance_pct + DEV_SLACK_PCT
        colours = np.where(outside, OUT_HARD if band.hard else OUT_SOFT, IN_BAND)
        ax.axvspan(-band.tolerance_pct, band.tolerance_pct, color=BAND, linewidth=0, zorder=0)
        before = dev
        if today is not None and column in today.columns and len(today) == n:
            before = _deviations(today[column])
            # Today as an outline, wider than the plan's bar: both stay readable where they
            # overlap, and the band shows through.
            ax.barh(y, before, height=0.85, facecolor="none", edgecolor=TODAY, linewidth=0.8,
                    zorder=1.5)
        ax.barh(y, dev, color=list(colours), height=0.5 if before is not dev else 0.7,
                zorder=2)
        ax.axvline(0, color="#333333", linewidth=0.8, zorder=3)
        # The band must stay visible next to deviations many times its width.
        reach = max(float(np.abs(dev).max()) * 1.08, float(np.abs(before).max()) * 1.08,
                    2 * band.tolerance_pct, 1.0)
        ax.set_xlim(-reach, reach)
        ax.grid(axis="x", color="#DDDDDD", linewidth=0.5, zorder=1)
        ax.tick_params(labelsize=7)
        kind = "hard" if band.hard else "soft"
        ax.set_title(_mathtext_safe(f"{band.label}: ±{band.tolerance_pct:g}% ({kind})"),
                     fontsize=9)
        ax.set_xlabel("deviation from target, %", fontsize=8)
    if n <= CHART_LABELS_MAX:
        axes[0].set_yticks(y, labels)
    else:
        axes[0].set_yticks([])
        axes[0].set_ylabel(f"{n:,} territories, in table order", fontsize=8)
    axes[0].set_ylim(n - 0.5, -0.5)  # first territory on top, as in the table
    buffer = io.StringIO()
    # IDs inside the SVG are salted with a random UUID unless a salt is set: a fixed one makes
    # the same plan give the same page. (rc_context restores the setting straight after.)
    with matplotlib.rc_context({"svg.hashsalt": "territory-opt-report"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML declaration and DOCTYPE: it goes inline
    # The RDF metadata only names vocabularies (URLs); nothing in the page needs it.
    return re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.DOTALL)


# --- today vs plan ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What the plan changes against today's alignment, ready for the template.

    Attributes
    ----------
    headline
        One sentence: how many items move, what happens to the balance bands and to travel.
    gains
        Per territory with a move in or out: items gained, lost, net, and the balance
        attribute's amount gained and lost (keyed by territory id).
    matrix
        Moves from today's territory (rows) to the plan's (columns), with totals.
    moves
        The moved items, largest objective change first, at most :data:`MOVES_SHOWN`.
    moves_total
        Every move, listed or not.
    untouched
        Territories with no move in or out (left out of ``gains``).
    """

    headline: str
    gains: Table
    matrix: Table
    moves: Table
    moves_total: int
    untouched: int


def _today(plan: Plan) -> Evaluation | None:
    """Today's alignment evaluated as the plan is (None without a current alignment)."""
    s = plan.scenario
    return evaluate(s, s.current) if s.has_current else None


def _change(plan: Plan, today: Evaluation, bands: dict[str, Band]) -> Change:
    """The plan against today's alignment (see :class:`Change`)."""
    s = plan.scenario
    base = np.asarray(s.current, dtype=np.int64)
    after = np.asarray(plan.assignment, dtype=np.int64)
    frame = moves_between(s, base, after, "plan")
    names = _rep_names(s)
    words = family_of(s).views.words
    return Change(
        headline=_headline(plan, today, bands),
        gains=_gains_table(s, base, after, names, words.items),
        matrix=_transfer_matrix(s, base, after, names),
        moves=_moves_table(s, frame.iloc[:MOVES_SHOWN], names),
        moves_total=len(frame),
        untouched=int(np.sum(~_touched(s, base, after))),
    )


def _headline(plan: Plan, today: Evaluation, bands: dict[str, Band]) -> str:
    """One sentence for the manager: the share of items moved, the balance bands, travel."""
    s = plan.scenario
    words = family_of(s).views.words
    base, after = s.current, plan.assignment
    had = base != NO_TERRITORY
    moved = int(np.sum(had & (after != base)))
    new = int(np.sum(~had & (after != NO_TERRITORY)))
    text = (f"The plan moves {moved:,} of {s.n_items:,} {words.items} "
            f"({100 * moved / max(s.n_items, 1):.1f}%)")
    if new:
        text += f", assigns {new:,} with no {words.territory} today"
    clause = _band_clause(plan.evaluation.territories, today.territories, bands, words.territory,
                          words.territories)
    if clause:
        text += " and " + clause
    before, now = today.metrics.get("travel"), plan.evaluation.metrics.get("travel")
    if before and now is not None and math.isfinite(before) and math.isfinite(now):
        text += f"; travel {_signed(100 * (now - before) / abs(before), 1)}%"
    return text + "."


def _band_clause(plan: pd.DataFrame, today: pd.DataFrame, bands: dict[str, Band],
                 territory: str, territories: str) -> str:
    """What the plan does to the balance bands: brings or keeps every territory within them,
    or how many it leaves outside each (and how many were outside today)."""
    banded = [c for c in bands if c in plan.columns and c in today.columns]
    if not banded:
        return ""
    outside_now = {c: sum(_outside(v, bands[c]) for v in plan[c]) for c in banded}
    outside_today = {c: sum(_outside(v, bands[c]) for v in today[c]) for c in banded}
    if not any(outside_now.values()):
        verb = "brings" if any(outside_today.values()) else "keeps"
        labels = [bands[c].label for c in banded]
        joined = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
        return f"{verb} every {territory} within the {joined} band{'s' if len(labels) > 1 else ''}"
    return "; ".join(
        f"leaves {outside_now[c]:,} of {len(plan):,} {territories} outside the "
        f"{bands[c].label} band (today {outside_today[c]:,})" for c in banded if outside_now[c])


def _rep_names(s: Scenario) -> list[str]:
    """Each territory as a manager knows it: its name, with its id where the name is missing
    or shared with another territory."""
    ids = [str(t) for t in s.territory_ids]
    names = [str(n) if isinstance(n, str) and n else t for n, t in zip(s.territory_names, ids,
                                                                       strict=True)]
    shared = {n for n, count in Counter(names).items() if count > 1}
    return [f"{n} ({t})" if n in shared and n != t else n for n, t in zip(names, ids,
                                                                          strict=True)]


def _touched(s: Scenario, base: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per territory: whether any item moves into or out of it."""
    moved = base != after
    hit = np.zeros(s.n_territories, dtype=bool)
    for side in (base[moved], after[moved]):
        hit[side[side != NO_TERRITORY]] = True
    return hit


def _amount_attribute(s: Scenario) -> str | None:
    """The attribute whose amount gained and lost is shown: ``potential`` when a balance rule
    is on it, else the first balance rule's attribute (None without one)."""
    rules = getattr(getattr(s.spec, "rules", None), "balance", None) or ()
    names = [r.attribute for r in rules if r.attribute in s.attributes]
    if not names:
        return None
    return "potential" if "potential" in names else names[0]


def _gains_table(s: Scenario, base: np.ndarray, after: np.ndarray, names: list[str],
                 items_word: str) -> Table:
    """Items (and the balance attribute's amount) each territory gains and loses."""
    n = s.n_territories
    moved = np.flatnonzero(base != after)
    into, out = after[moved], base[moved]
    to_ok, from_ok = into != NO_TERRITORY, out != NO_TERRITORY
    gained = np.bincount(into[to_ok], minlength=n)
    lost = np.bincount(out[from_ok], minlength=n)
    columns = ["territory", "gained", "lost", "net"]
    titles = [family_of(s).views.words.territory, f"{items_word} gained", f"{items_word} lost",
              "net"]
    series: list[np.ndarray] = [gained, lost, gained - lost]
    attribute = _amount_attribute(s)
    digits = 0
    if attribute is not None:
        weight = np.asarray(s.item_weight(attribute), dtype=float)[moved]
        amount_in = np.bincount(into[to_ok], weights=weight[to_ok], minlength=n)
        amount_out = np.bincount(out[from_ok], weights=weight[from_ok], minlength=n)
        series += [amount_in, amount_out, amount_in - amount_out]
        columns += [f"{attribute}_gained", f"{attribute}_lost", f"{attribute}_net"]
        titles += [f"{attribute} gained", f"{attribute} lost", f"{attribute} net"]
        digits = column_info(attribute).digits_for(weight)
    shown = np.flatnonzero(_touched(s, base, after))
    places = [0, 0, 0] + [digits] * (len(series) - 3)
    rows = [[Cell(names[k])] + [_count_cell(v[k], d, signed=j % 3 == 2)
                                for j, (v, d) in enumerate(zip(series, places, strict=True))]
            for k in shown]
    total = [Cell("total")] + [_count_cell(v[shown].sum(), d, signed=j % 3 == 2)
                               for j, (v, d) in enumerate(zip(series, places, strict=True))]
    return Table(columns, rows, [False] + [True] * len(series),
                 [str(s.territory_ids[k]) for k in shown], total, titles)


def _count_cell(value: float, digits: int, signed: bool = False) -> Cell:
    """A number cell; a net change signed, zero shown as 0."""
    if signed and round(float(value), digits) != 0:
        return Cell(_signed(float(value), digits), "num")
    return Cell(fmt(abs(float(value)) if signed else float(value), digits), "num")


def _transfer_matrix(s: Scenario, base: np.ndarray, after: np.ndarray,
                     names: list[str]) -> Table:
    """Moves from today's territory (rows) to the plan's (columns), blank for none.

    Over :data:`MATRIX_MAX` territories, only those in the most moves get a row and a column
    of their own; the rest are summed in "others". Items with no territory today (or in the
    plan) count under "none". The keys of rows and columns are territory ids, ``others``,
    ``none`` and ``total``.
    """
    n = s.n_territories
    moved = np.flatnonzero(base != after)
    # Index n stands for "no territory".
    rows_at = np.where(base[moved] == NO_TERRITORY, n, base[moved])
    cols_at = np.where(after[moved] == NO_TERRITORY, n, after[moved])
    counts = np.zeros((n + 1, n + 1), dtype=np.int64)
    np.add.at(counts, (rows_at, cols_at), 1)
    groups = _matrix_groups(counts, names, [str(t) for t in s.territory_ids])
    columns = ["from"] + [key for key, _, _ in groups] + ["total"]
    titles = ["today \u2192 plan"] + [label for _, label, _ in groups] + ["total"]
    rows = []
    for _, label, members in groups:
        line = [int(counts[np.ix_(members, to)].sum()) for _, _, to in groups]
        rows.append([Cell(label, "rowhead")] + [Cell(f"{v:,}" if v else "", "num") for v in line]
                    + [Cell(f"{sum(line):,}", "num total")])
    sums = [int(counts[:, to].sum()) for _, _, to in groups]
    total = [Cell("total")] + [Cell(f"{v:,}" if v else "", "num") for v in sums] + [
        Cell(f"{len(moved):,}", "num")]
    return Table(columns, rows, [False] + [True] * (len(groups) + 1),
                 [key for key, _, _ in groups], total, titles)


def _matrix_groups(counts: np.ndarray, names: list[str], ids: list[str]
                   ) -> list[tuple[str, str, list[int]]]:
    """The matrix's rows (and columns) as (key, label, indices into ``counts``): every
    territory up to :data:`MATRIX_MAX`, else the busiest and "others"; "none" when some item
    has no territory on one side."""
    n = len(ids)
    busy = counts.sum(axis=0) + counts.sum(axis=1)
    if n <= MATRIX_MAX:
        own = list(range(n))
    else:
        ranked = sorted((k for k in range(n) if busy[k]), key=lambda k: (-busy[k], k))
        own = sorted(ranked[:MATRIX_MAX])
    groups = [(ids[k], names[k], [k]) for k in own]
    rest = [k for k in range(n) if k not in set(own)]
    if rest and busy[rest].sum():
        groups.append(("others", f"{len(rest):,} others", rest))
    if busy[n]:
        groups.append(("none", "none", [n]))
    return groups


def _moves_table(s: Scenario, frame: pd.DataFrame, names: list[str]) -> Table:
    """The moves of ``frame`` (:func:`moves_between`) with territory names and the reason for
    each: the hard rule that forced it, or the objective term it improves most."""
    by_id = {str(t): name for t, name in zip(s.territory_ids, names, strict=True)}
    digits = metric("objective").digits_for(())
    rows = []
    for move in frame.to_dict("records"):
        delta = float(move["delta_objective"])
        rows.append([Cell(str(move["item"])), Cell(by_id.get(str(move["from"]), "none")),
                     Cell(by_id.get(str(move["to"]), "none")), Cell(move_reason(move)),
                     Cell(_signed(delta, digits) if math.isfinite(delta) else "n/a", "num")])
    return Table(["item", "from", "to", "reason", "delta_objective"], rows,
                 [False, False, False, False, True], [str(i) for i in frame["item"]],
                 titles=[family_of(s).views.words.item, "from (today)", "to (plan)", "why",
                         "objective change"])


# --- sections ---------------------------------------------------------------------------------


def _facts(plan: Plan, plan_dir: Path | None) -> list[tuple[str, str]]:
    """The header: provenance and solve outcome as (label, text) rows."""
    s = plan.scenario
    family = family_of(s)
    words = family.views.words
    digits = metric("objective").digits_for(())
    meta = _plan_json(plan_dir)
    status = _status_text(plan)
    backend = plan.backend + (f", found by {plan.found_by}" if plan.found_by else "")
    bound = "none" if not math.isfinite(plan.bound) else fmt(plan.bound, digits)
    if plan.bound_source not in ("", "none") and math.isfinite(plan.bound):
        bound += f" ({plan.bound_source})"
    gap = plan.gap
    rows = [
        ("scenario", s.name + (f" ({s.path})" if s.path is not None else "")),
        ("model", f"{family.name}: {s.n_items:,} {words.items}, {s.n_territories:,} "
                  f"{words.territories}"),
        ("status", status),
        ("backend", backend),
        ("objective", fmt(plan.objective, digits)),
    ]
    distances = distance_source_text(s)  # pair table scenarios: unit and completed pairs
    if distances is not None:
        rows.append(("distances", distances))
    if math.isfinite(plan.solver_objective) and not math.isclose(
            plan.solver_objective, plan.objective, rel_tol=1e-6, abs_tol=1e-6):
        rows.append(("solver's objective", fmt(plan.solver_objective, digits)))
    rows += [
        ("bound", bound),
        ("gap", f"{100 * gap:.3g}%" if math.isfinite(gap) else "n/a (no bound)"),
        ("seed", str(plan.seed)),
        ("times", ", ".join(f"{k} {fmt(v, 2)} s" for k, v in plan.seconds.items()) or "n/a"),
    ]
    made_with = meta.get("territory_opt_version") if meta else None
    rows.append(("territory-opt version",
                 f"plan made with {made_with}, report by {__version__}" if made_with
                 and made_with != __version__ else str(made_with or __version__)))
    date = _plan_date(plan_dir)
    if date is not None:
        rows.append(("plan date", date))
    if s.digest:
        rows.append(("scenario digest", s.digest))
    return rows


def _status_text(plan: Plan) -> str:
    """The status the files support now (:attr:`Plan.status_now`), with the solve's stop
    reason; a recorded status the assignment contradicts is named only as a claim."""
    now = plan.status_now
    if now != plan.status:
        return f"{now} ({PLAN_FILE} says '{plan.status}', which the assignment contradicts)"
    return str(now) + (f" ({plan.stop_reason})" if plan.stop_reason else "")


def _plan_json(plan_dir: Path | None) -> dict[str, Any] | None:
    if plan_dir is None:
        return None
    try:
        meta = json.loads((plan_dir / PLAN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # no plan.json (an unwritten plan) or a garbled one
        return None
    return meta if isinstance(meta, dict) else None


def _plan_date(plan_dir: Path | None) -> str | None:
    """When ``plan.json`` was written (local time with its offset). plan.json records no date;
    its file time is the plan's, whereas the folder's changes whenever a map or a report is
    added to it."""
    if plan_dir is None:
        return None
    try:
        mtime = (plan_dir / PLAN_FILE).stat().st_mtime
    except OSError:
        return None
    return datetime.fromtimestamp(mtime).astimezone().isoformat(sep=" ", timespec="minutes")


def _metrics_table(metrics: dict[str, float], today: dict[str, float] | None = None
                   ) -> Table:
    """Every plan-level KPI by its registry label and decimals (the row key is the KPI's);
    with today's KPIs, the columns are Today, Plan and Change."""
    if today is None:
        rows = [[Cell(metric(name).label), Cell(_text(value, metric(name).digits_for(value)),
                                                "num")]
                for name, value in metrics.items()]
        return Table(["KPI", "value"], rows, [False, True], list(metrics))
    rows = []
    for name, value in metrics.items():
        m = metric(name)
        before = today.get(name, math.nan)
        digits = m.digits_for([value, before])
        rows.append([Cell(m.label), Cell(_text(before, digits), "num"),
                     Cell(_text(value, digits), "num"), _change_cell(before, value, digits, m)])
    return Table(["KPI", "today", "plan", "change"], rows, [False, True, True, True],
                 list(metrics), titles=["KPI", "Today", "Plan", "Change"])


def _change_cell(before: float, after: float, digits: int, m: Metric) -> Cell:
    """The change from today to the plan: signed, with the relative change for amounts
    (not for percentages, shares or scores, where a relative change misleads), marked
    ``better``/``worse`` by the registry's direction."""
    if not (math.isfinite(before) and math.isfinite(after)):
        return Cell("n/a", "num")
    diff = after - before
    if abs(diff) < 0.5 * 10.0 ** -digits:
        return Cell("no change", "num")
    text = _signed(diff, digits)
    if m.unit != "%" and (m.digits or 0) <= 1 and before:
        text += f" ({_signed(100 * diff / abs(before), 1)}%)"
    better = (diff < 0) == m.lower_is_better
    return Cell(text, "num " + ("better" if better else "worse"))


def _signed(value: float, digits: int) -> str:
    """``+1,234.5`` / ``−1,234.5`` (a true minus sign)."""
    text = fmt(abs(value), digits)
    return ("+" if value > 0 else MINUS if value < 0 else "") + text


def _terms_table(terms: dict[str, float], total: float) -> Table:
    """The objective's terms, with the objective's decimals (they add up to it)."""
    digits = metric("objective").digits_for(())
    rows = [[Cell(metric(name).label), Cell(fmt(value, digits), "num")]
            for name, value in terms.items()]
    return Table(["term", "value"], rows, [False, True], list(terms),
                 [Cell("total"), Cell(fmt(total, digits), "num")])


def _priorities_table(plan: Plan) -> Table:
    """``objective.priorities``: one row per level (:mod:`territory_opt.present.priorities`)."""
    numeric = [name not in ("criterion", "status") for name in PRIORITY_COLUMNS]
    rows = [[Cell(text, "num" if num else "") for text, num in zip(row, numeric, strict=True)]
            for row in priority_rows(plan)]
    return Table(list(PRIORITY_COLUMNS), rows, numeric, [row[1] for row in priority_rows(plan)])


def _map(plan: Plan) -> tuple[str | None, str]:
    """The map as a ``data:`` URI and a note under it; no URI, and why, without coordinates."""
    s = plan.scenario
    no_map = family_of(s).views.map_note(s)
    if no_map is not None:
        return None, no_map
    polygons = s.geometry is not None and any(
        g is not None and g.geom_type in ("Polygon", "MultiPolygon") for g in s.geometry)
    located = int(s.located.sum())
    if not polygons and not located:
        return None, ("No map: no item has coordinates (latitude and longitude, or a "
                      "polygon) in this scenario.")
    # Imported here: geopandas and pyproj take a second to import.
    from territory_opt.present.maps import map_png

    png = map_png(s, plan.assignment)
    note = "Territories coloured so that neighbours differ (also for colour-blind eyes)."
    if not polygons and located < s.n_items:
        note += f" {s.n_items - located:,} of {s.n_items:,} items have no coordinates and " \
                "are not drawn."
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii"), note


def _quota_basis(plan: Plan) -> str | None:
    """The attribute quotas are split by, when the scenario sets quotas (else None)."""
    quotas = getattr(plan.scenario.spec, "quotas", None)
    basis = getattr(quotas, "basis", None)
    return basis if isinstance(basis, str) else None


# --- formatting -------------------------------------------------------------------------------


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _is_ratio(column: str) -> bool:
    """Columns whose sum means nothing (percentages, rates, per-FTE figures, extremes)."""
    return any(part in column for part in ("pct", "per_", "ratio", "rate", "mean", "min",
                                           "max", "share", "dev", "cv", "gini"))


def _column_format(series: pd.Series) -> tuple[bool, int]:
    """Whether a column is numeric, and the decimals it is shown with (the metric registry's,
    by its values' magnitude for a column it does not know)."""
    if not _is_numeric(series):
        return False, 0
    return True, column_info(str(series.name)).digits_for(series.to_numpy(dtype=float))


def _text(value: Any, digits: int) -> str:
    """A cell's text: yes/no, n/a for missing, ±∞, numbers by :func:`fmt`; text as is."""
    return cell(value, digits, missing="n/a")


def _deviations(series: pd.Series) -> np.ndarray:
    """A deviation column as floats, missing and infinite values drawn as 0."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    return np.asarray(np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0), dtype=float)


def _outside(value: Any, band: Band) -> bool:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(v) and abs(v) > band.tolerance_pct + DEV_SLACK_PCT


def _chart_labels(territories: pd.DataFrame) -> list[str]:
    """Territory id, and its name when that says more (shortened to fit the margin)."""
    ids = [str(t) for t in territories.get("territory", pd.Series(range(len(territories))))]
    names = [str(n) for n in territories.get("name", pd.Series(ids))]
    labels = [t if n == t else f"{t} {n}" for t, n in zip(ids, names, strict=True)]
    return [_mathtext_safe(x if len(x) <= 32 else x[:31] + "…") for x in labels]


def _mathtext_safe(text: str) -> str:
    """Matplotlib reads ``$...$`` as maths: a name with two dollars would be typeset or fail."""
    return text.replace("$", r"\$")


# --- template ---------------------------------------------------------------------------------


def _level_sections(s: Scenario, territories: pd.DataFrame) -> list[dict[str, Any]]:
    """One section per level of the hierarchy (``territories.levels``): its parents' loads,
    targets and deviations, marked against that level's balance rules."""
    out = []
    for name, frame in level_frames(s, territories).items():
        bands = level_balance_bands(s, name)
        out.append({"name": name, "table": frame_table(frame, bands, s),
                    "bands": [f"{c} ±{b.tolerance_pct:g}% {'hard' if b.hard else 'soft'}"
                              for c, b in bands.items()]})
    return out


@cache
def _template() -> jinja2.Template:
    # Autoescape: names and ids come from the user's files and must never become markup.
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env.from_string(TEMPLATE)


TEMPLATE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="territory-opt {{ version }}">
<title>{{ title }}</title>
<style>
@page { size: A4 landscape; margin: 10mm; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: #222; margin: 0 auto; padding: 16px 24px 40px; max-width: 1400px; }
h1 { font-size: 22px; margin: 8px 0 12px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ccc; padding-bottom: 2px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
p.headline { font-size: 16px; margin: 8px 0 12px; }
table { border-collapse: collapse; font-size: 13px; max-width: 100%; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e4e4e4; text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }
td.num { white-space: nowrap; }
thead th { background: #f2f2f2; position: sticky; top: 0; vertical-align: bottom; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: 600; border-top: 2px solid #999; }
tbody tr:nth-child(even) { background: #fafafa; }
/* Wide tables share the width out instead of growing past it: fixed layout, cells wrap. */
table.fit { table-layout: fixed; width: 100%; }
table.fit td, table.fit th { white-space: normal; }
table.fit td.num { overflow-wrap: anywhere; }
#transfer-matrix th, #transfer-matrix td { padding: 3px 4px; }
#transfer-matrix th:first-child { width: 11em; }
#transfer-matrix thead th { font-size: 11px; }
#transfer-matrix td.rowhead { font-weight: 600; }
#transfer-matrix td.total { font-weight: 600; border-left: 2px solid #999; }
#gains-table th:first-child { width: 24%; }
#move-table th:nth-child(1) { width: 12%; }
#move-table th:nth-child(2), #move-table th:nth-child(3) { width: 20%; }
#move-table th:nth-child(4) { width: 34%; }
#violation-list th:nth-child(5) { width: 40%; }
td.out { font-weight: 600; }
td.out.hard { background: #f6d5cc; color: #8a1c00; }
td.out.soft { background: #fde6d2; color: #8a4300; }
td.better { color: #1b6e20; }
td.worse { color: #8a1c00; }
table.facts th { font-weight: 600; color: #555; width: 12em; }
.warning { background: #fff3cd; border: 1px solid #e0b600; padding: 8px 12px;
  border-radius: 4px; }
.warning.alert { background: #f8d7da; border-color: #b02a37; color: #58151c; }
.warning ul { margin: 4px 0 0; padding-left: 20px; }
.ok { color: #1b6e20; font-weight: 600; }
.bad { color: #8a1c00; font-weight: 600; }
.note { color: #555; }
.columns { display: flex; flex-wrap: wrap; gap: 32px; align-items: flex-start; }
.columns > div { min-width: 0; max-width: 100%; }
figure { margin: 8px 0; }
figure svg, figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 12px; margin-top: 4px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px;
  border: 1px solid #777; vertical-align: middle; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  table { font-size: 10px; }
  th, td { padding: 2px 4px; }
  thead th { position: static; }
  tr, figure { page-break-inside: avoid; break-inside: avoid; }
  h2, h3 { page-break-after: avoid; break-after: avoid; }
  figure svg { max-height: 180mm; width: auto; }
  #appendix { page-break-before: always; break-before: page; }
}
</style>
</head>
<body>
<header>
<h1>{{ title }}</h1>
{% if disagreements %}
<div class="warning alert" id="plan-disagreements" role="alert"><strong>This plan directory
disagrees with its plan.json:</strong> the files may have been cut short or edited. This report
shows the files as they are, evaluated afresh, not what plan.json recorded.
<ul>
{% for sentence in disagreements %}
<li>{{ sentence }}</li>
{% endfor %}
</ul>
</div>
{% endif %}
{% if changed %}
<p class="warning" id="scenario-changed"><strong>Scenario changed since this plan:</strong>
the scenario's files differ from those the plan was made from. This report evaluates the plan
on the scenario as it is now.</p>
{% endif %}
</header>
<main>
{% macro table(t, id, caption=None, cls="") %}
<table id="{{ id }}"{% if cls %} class="{{ cls }}"{% endif %}>
{% if caption %}<caption class="note">{{ caption }}</caption>{% endif %}
<thead><tr>{% for key, title in t.header %}<th scope="col" data-key="{{ key }}"{% if
t.numeric[loop.index0] %} class="num"{% endif %}>{{ title }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in t.rows %}
<tr{% if t.keys %} data-key="{{ t.keys[loop.index0] }}"{% endif %}>{% for cell in row
%}<td{% if cell.cls %} class="{{ cell.cls }}"{% endif %}>{{ cell.text }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
{% if t.total %}
<tfoot><tr>{% for cell in t.total %}<td{% if cell.cls %} class="{{ cell.cls }}"{% endif
%}>{{ cell.text }}</td>{% endfor %}</tr></tfoot>
{% endif %}
</table>
{% endmacro %}
<section id="today-vs-plan">
<h2>Plan KPIs{% if change %}: today vs plan{% endif %}</h2>
{% if change %}
<p class="headline" id="headline">{{ change.headline }}</p>
{% else %}
<p class="note" id="no-current">This scenario has no current alignment: the plan is shown
alone.</p>
{% endif %}
{{ table(kpis, "kpi-table") }}
</section>

<section id="balance">
<h2>Balance{% if change %}: today vs plan{% endif %}</h2>
{% if chart %}
<figure id="balance-chart">
{{ chart }}
<figcaption>Deviation of each {{ territory_word }}'s load from its target, in percent; the
shaded band is the rule's tolerance.<span class="swatch" style="background: {{ colours.in
}}"></span>plan, within the band<span class="swatch" style="background: {{ colours.hard
}}"></span>outside a hard band<span class="swatch" style="background: {{ colours.soft
}}"></span>outside a soft band{% if change %}<span class="swatch" style="border-color: {{
colours.today }}"></span>today (outline){% endif %}<span class="swatch" style="background: {{
colours.band }}"></span>tolerance band</figcaption>
</figure>
{% else %}
<p class="note" id="no-chart">No balance chart: the scenario has no balance rule.</p>
{% endif %}
</section>
{% if change %}

<section id="gains">
<h2>Gained and lost per {{ words.territory }}</h2>
{% if change.moves_total %}
{{ table(change.gains, "gains-table", cls="fit") }}
{% if change.untouched %}
<p class="note">{{ "{:,}".format(change.untouched) }} {{ words.territory if change.untouched == 1
else words.territories }} neither gain nor lose any {{ words.item }}.</p>
{% endif %}
{% else %}
<p class="note" id="no-moves">The plan keeps every {{ words.item }} where it is today.</p>
{% endif %}
</section>
{% if change.moves_total %}

<section id="transfers">
<h2>Transfers between {{ words.territories }}</h2>
<p class="note">{{ words.items|capitalize }} moved from each {{ words.territory }} today (rows)
to each {{ words.territory }} in the plan (columns).</p>
{{ table(change.matrix, "transfer-matrix", cls="fit") }}
</section>

<section id="moves">
<h2>The moves{% if change.moves_total > change.moves.rows|length %} (the {{
change.moves.rows|length }} that change the objective most, of {{
"{:,}".format(change.moves_total) }}){% endif %}</h2>
<p class="note">Why each {{ words.item }} moves: a hard rule that would break if it stayed
(forced), or the objective term moving it improves most. The objective change is the plan's
objective minus that of the plan with this move alone undone.</p>
{{ table(change.moves, "move-table", cls="fit") }}
{% if change.moves_total > change.moves.rows|length %}
<p class="note" id="moves-rest">…and {{ "{:,}".format(change.moves_total - change.moves.rows|length)
}} more moves not listed.</p>
{% endif %}
</section>
{% endif %}
{% endif %}

<section id="status">
<h2>Status and objective</h2>
<p id="plan-status">Status: {{ status }}. Hard rules: {% if feasible %}<span class="ok">all
hold</span>{% else %}<span class="bad">{{ hard_count }} broken</span>{% endif %}{% if soft_count
%}; {{ soft_count }} soft violation{{ "s" if soft_count != 1 }}{% endif %}. Objective: {{
objective }}.</p>
<h3>{{ "Priorities (solved in order; the objective is the last level's)" if priorities
    else "Objective terms" }}</h3>
{{ table(terms, "objective-terms") }}
</section>

<section id="violations">
<h2>Rule violations</h2>
{% if not violations_total %}
<p id="no-violations">none</p>
{% else %}
<table id="violation-summary">
<thead><tr><th scope="col">rule</th><th scope="col">kind</th><th scope="col" class="num">count</th>
<th scope="col" class="num">total amount</th></tr></thead>
<tbody>
{% for r in violation_summary %}
<tr><td>{{ r.rule }}</td><td>{{ r.kind }}</td><td class="num">{{ r.count }}</td>
<td class="num">{{ r.amount }}</td></tr>
{% endfor %}
</tbody>
</table>
<h3>Each violation{% if violations_total > violations|length %} (the first {{ violations|length
}} of {{ "{:,}".format(violations_total) }}){% endif %}</h3>
<table id="violation-list" class="fit">
<thead><tr><th scope="col">rule</th><th scope="col">kind</th><th scope="col">where</th>
<th scope="col" class="num">amount</th><th scope="col">message</th></tr></thead>
<tbody>
{% for v in violations %}
<tr class="{{ v.kind }}"><td>{{ v.rule }}</td><td>{{ v.kind }}</td><td>{{ v.where }}</td>
<td class="num">{{ v.amount }}</td><td>{{ v.message }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}
</section>

<section id="territories">
<h2>Per {{ territory_word }}</h2>
{% if bands %}
<p class="note">Highlighted: deviations outside their rule's band
({% for b in bands %}{{ b.column }} {{ b.tolerance }} {{ b.kind }}{{ ", " if not loop.last
}}{% endfor %}); red for a hard rule, amber for a soft one.</p>
{% endif %}
{% for t in territories %}
{% if loop.index0 %}<h3>Per {{ territory_word }}, continued</h3>{% endif %}
{{ table(t, "territory-table" if loop.first else "territory-table-" ~ loop.index, cls="fit") }}
{% endfor %}
</section>
{% for level in levels %}

<section id="level-{{ level.name }}">
<h2>Per {{ level.name }}</h2>
<p class="note">Loads and targets summed over each {{ level.name }}'s {{ territory_word }}s{% if
level.bands %}; highlighted: deviations outside the {{ level.name }} bands ({% for b in level.bands
%}{{ b }}{{ ", " if not loop.last }}{% endfor %}){% endif %}.</p>
{{ table(level.table, "level-" ~ level.name ~ "-table", cls="fit") }}
</section>
{% endfor %}

<section id="map">
<h2>Map</h2>
{% if map_uri %}
<figure>
<img id="map-image" src="{{ map_uri }}" alt="Map of the plan's territories">
<figcaption>{{ map_note }}</figcaption>
</figure>
{% else %}
<p class="note" id="no-map">{{ map_note }}</p>
{% endif %}
</section>
{% if quotas %}

<section id="quotas">
<h2>Quotas</h2>
{{ table(quotas, "quota-table", cls="fit") }}
</section>
{% endif %}

<section id="appendix">
<h2>Appendix: provenance</h2>
<p class="note">How this plan was made: the solver, its settings and timings, and the versions
involved.</p>
<table class="facts" id="plan-facts">
{% for label, value in facts %}
<tr><th scope="row">{{ label }}</th><td>{{ value }}</td></tr>
{% endfor %}
<tr><th scope="row">hard rules</th><td>{% if feasible %}<span class="ok">all hold</span>{% else
%}<span class="bad">{{ hard_count }} broken</span>{% endif %}{% if soft_count
%}; {{ soft_count }} soft violation{{ "s" if soft_count != 1 }}{% endif %}</td></tr>
</table>
</section>
</main>
<footer>
<p class="note">Made by territory-opt {{ version }}. This page is self-contained: it loads
nothing from the network.</p>
</footer>
</body>
</html>
"""
