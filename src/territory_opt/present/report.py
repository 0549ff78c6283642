"""A plan as one self-contained HTML page: ``report.html`` in its plan directory.

The page carries everything it shows — CSS in a ``<style>``, the balance chart as inline SVG, the
map as a base64 PNG — and loads nothing: it opens from disk with no server and no network (a
Content-Security-Policy in the page forbids any fetch), so it can be mailed or archived as one
file. It holds the plan's provenance, KPIs, objective terms, rule violations, the per-territory
table with deviations outside their rule's band highlighted, a balance chart, a map where the
items have coordinates, and the quotas when the territory table has them. A plan directory that
disagrees with its ``plan.json`` (a file cut short, an edited objective) is flagged at the top,
and the status shown is the one its files support now.
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
from territory_opt.kpi.metrics import column as column_info
from territory_opt.kpi.metrics import metric
from territory_opt.kpi.views import column_title
from territory_opt.plan import PLAN_FILE, Plan
from territory_opt.present.notebook import cell
from territory_opt.scenario.model import Scenario
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
    bands = balance_bands(plan)
    quotas = quota_table(territories, _quota_basis(plan), s)
    shown = [c for c in territories.columns if not (quotas and str(c).startswith("quota"))]
    map_uri, map_note = _map(plan)
    chart = balance_svg(territories, bands)
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
        "feasible": evaluation.feasible,
        "hard_count": sum(v.hard for v in violations),
        "soft_count": sum(not v.hard for v in violations),
        "kpis": _metrics_table(evaluation.metrics),
        "terms": _terms_table(evaluation.objective.as_dict(), evaluation.objective.total),
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
        "territories": frame_table(territories[shown], bands, s),
        "territory_word": views.words.territory,
        "bands": [{"column": c, "label": b.label, "tolerance": f"±{b.tolerance_pct:g}%",
                   "kind": "hard" if b.hard else "soft"} for c, b in bands.items()
                  if c in territories.columns],
        "chart": Markup(chart) if chart is not None else None,
        "colours": {"in": IN_BAND, "hard": OUT_HARD, "soft": OUT_SOFT, "band": BAND},
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


def balance_svg(territories: pd.DataFrame, bands: dict[str, Band]) -> str | None:
    """Horizontal bars of each banded deviation column per territory, the band shaded, as an
    inline ``<svg>`` element (None when no column has a band)."""
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
        dev = np.nan_to_num(pd.to_numeric(territories[column], errors="coerce")
                            .to_numpy(dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
        outside = np.abs(dev) > band.tolerance_pct + DEV_SLACK_PCT
        colours = np.where(outside, OUT_HARD if band.hard else OUT_SOFT, IN_BAND)
        ax.axvspan(-band.tolerance_pct, band.tolerance_pct, color=BAND, linewidth=0, zorder=0)
        ax.barh(y, dev, color=list(colours), height=0.7, zorder=2)
        ax.axvline(0, color="#333333", linewidth=0.8, zorder=3)
        # The band must stay visible next to deviations many times its width.
        reach = max(float(np.abs(dev).max()) * 1.08, 2 * band.tolerance_pct, 1.0)
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


def _metrics_table(metrics: dict[str, float]) -> Table:
    """Every plan-level KPI by its registry label and decimals (the row key is the KPI's)."""
    rows = [[Cell(metric(name).label), Cell(_text(value, metric(name).digits_for(value)),
                                            "num")]
            for name, value in metrics.items()]
    return Table(["KPI", "value"], rows, [False, True], list(metrics))


def _terms_table(terms: dict[str, float], total: float) -> Table:
    """The objective's terms, with the objective's decimals (they add up to it)."""
    digits = metric("objective").digits_for(())
    rows = [[Cell(metric(name).label), Cell(fmt(value, digits), "num")]
            for name, value in terms.items()]
    return Table(["term", "value"], rows, [False, True], list(terms),
                 [Cell("total"), Cell(fmt(total, digits), "num")])


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
    # Imported here: geopandas, pyproj and folium take a second to import.
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
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: #222; margin: 0 auto; padding: 16px 24px 40px; max-width: 1400px; }
h1 { font-size: 22px; margin: 8px 0 12px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ccc; padding-bottom: 2px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e4e4e4; text-align: left;
  white-space: nowrap; }
thead th { background: #f2f2f2; position: sticky; top: 0; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: 600; border-top: 2px solid #999; }
tbody tr:nth-child(even) { background: #fafafa; }
td.out { font-weight: 600; }
td.out.hard { background: #f6d5cc; color: #8a1c00; }
td.out.soft { background: #fde6d2; color: #8a4300; }
table.facts th { font-weight: 600; color: #555; width: 12em; }
table.facts td { white-space: normal; }
.scroll { overflow-x: auto; max-width: 100%; }
.warning { background: #fff3cd; border: 1px solid #e0b600; padding: 8px 12px;
  border-radius: 4px; }
.warning.alert { background: #f8d7da; border-color: #b02a37; color: #58151c; }
.warning ul { margin: 4px 0 0; padding-left: 20px; }
.ok { color: #1b6e20; font-weight: 600; }
.bad { color: #8a1c00; font-weight: 600; }
.note { color: #555; }
.columns { display: flex; flex-wrap: wrap; gap: 32px; align-items: flex-start; }
figure { margin: 8px 0; }
figure svg, figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 12px; margin-top: 4px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px;
  border: 1px solid #777; vertical-align: middle; }
@media print { thead th { position: static; } .scroll { overflow: visible; } }
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
<table class="facts" id="plan-facts">
{% for label, value in facts %}
<tr><th scope="row">{{ label }}</th><td>{{ value }}</td></tr>
{% endfor %}
<tr><th scope="row">hard rules</th><td>{% if feasible %}<span class="ok">all hold</span>{% else
%}<span class="bad">{{ hard_count }} broken</span>{% endif %}{% if soft_count
%}; {{ soft_count }} soft violation{{ "s" if soft_count != 1 }}{% endif %}</td></tr>
</table>
</header>
<main>
{% macro table(t, id, caption=None) %}
<div class="scroll">
<table id="{{ id }}">
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
</div>
{% endmacro %}
<section id="kpis">
<h2>Plan KPIs</h2>
<div class="columns">
<div>{{ table(kpis, "kpi-table") }}</div>
<div>
<h3>Objective terms</h3>
{{ table(terms, "objective-terms") }}
</div>
</div>
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
<div class="scroll">
<table id="violation-list">
<thead><tr><th scope="col">rule</th><th scope="col">kind</th><th scope="col">where</th>
<th scope="col" class="num">amount</th><th scope="col">message</th></tr></thead>
<tbody>
{% for v in violations %}
<tr class="{{ v.kind }}"><td>{{ v.rule }}</td><td>{{ v.kind }}</td><td>{{ v.where }}</td>
<td class="num">{{ v.amount }}</td><td>{{ v.message }}</td></tr>
{% endfor %}
</tbody>
</table>
</div>
{% endif %}
</section>

<section id="territories">
<h2>Per {{ territory_word }}</h2>
{% if bands %}
<p class="note">Highlighted: deviations outside their rule's band
({% for b in bands %}{{ b.column }} {{ b.tolerance }} {{ b.kind }}{{ ", " if not loop.last
}}{% endfor %}); red for a hard rule, amber for a soft one.</p>
{% endif %}
{{ table(territories, "territory-table") }}
</section>

<section id="balance">
<h2>Balance</h2>
{% if chart %}
<figure id="balance-chart">
{{ chart }}
<figcaption>Deviation of each {{ territory_word }}'s load from its target, in percent; the
shaded band is the rule's tolerance.<span class="swatch" style="background: {{ colours.in
}}"></span>within the band<span class="swatch" style="background: {{ colours.hard
}}"></span>outside a hard band<span class="swatch" style="background: {{ colours.soft
}}"></span>outside a soft band<span class="swatch" style="background: {{ colours.band
}}"></span>tolerance band</figcaption>
</figure>
{% else %}
<p class="note" id="no-chart">No balance chart: the scenario has no balance rule.</p>
{% endif %}
</section>

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
{{ table(quotas, "quota-table") }}
</section>
{% endif %}
</main>
<footer>
<p class="note">Made by territory-opt {{ version }}. This page is self-contained: it loads
nothing from the network.</p>
</footer>
</body>
</html>
"""
