"""Trade-off curves: the price of a rule, by solving the scenario at each value of one setting.

A planner sweeps one setting from tight to loose — the disruption cap, a balance tolerance, a
weight — and sees travel, balance and disruption at each point. Points are solved in order, each
exactly as it would be on its own (its own construction as the solver's start); with chaining, the
previous point's plan then competes with that solve's plan and the better is kept. For a hard
limit swept from tight to loose the previous plan still meets the looser rules, so the best
objective can never rise as the rule loosens, and no point ends worse than its own solve. The
looser points' bounds also bound the tighter points (their optimum can only be higher), which
tightens the reported gaps.

The previous plan is a candidate, not the solver's start: a start given to the alignment engine
replaces the point's own construction, and a demo sweep warm-started that way kept the 0.3 cap's
plan (gap 5.6%) at 0.35, 0.5 and 1.0, where each solved alone was 4.7% better.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from territory_opt.atomic import write_folder
from territory_opt.backends.contract import Backend, Status, relative_gap
from territory_opt.errors import InfeasibleError, NoPlanFoundError, scenario_error
from territory_opt.plan import Plan
from territory_opt.present.jsonable import records
from territory_opt.scenario.distance_units import scenario_travel_keys
from territory_opt.scenario.model import Scenario
from territory_opt.solve import solve
from territory_opt.studies.variants import is_constraint_limit, with_settings

CSV_FILE = "tradeoff.csv"
PNG_FILE = "tradeoff.png"
JSON_FILE = "tradeoff.json"

LINE_STYLES = ("-", "--", ":", "-.")
"""Line styles of a chart's series when colours tell the groups apart."""

MONOTONE_SLACK = 1e-9
"""Relative slack when checking that a looser limit did not raise the objective."""


@dataclass(frozen=True, eq=False)
class TradeoffPoint:
    """One value of the swept setting and what solving there gave.

    ``plan`` is None when the point is infeasible or no plan was found in time (``message``
    says why). ``bound`` may be higher than ``plan.bound``: a looser point's bound also holds
    here. ``kept_previous`` is set when the previous point's plan beat the solver's.
    """

    value: float
    plan: Plan | None
    bound: float = -math.inf
    status: str = ""
    message: str = ""
    kept_previous: bool = False

    @property
    def objective(self) -> float:
        """The plan's objective (inf without a plan)."""
        return self.plan.objective if self.plan is not None else math.inf

    @property
    def gap(self) -> float:
        """Relative gap of the plan to :attr:`bound` (inf without a plan or bound)."""
        return relative_gap(self.objective, self.bound) if self.plan is not None else math.inf

    @property
    def reason(self) -> str:
        """Why the point has no plan, in one line: an infeasible point's first conflict (the
        line after the message's heading), else the message itself ("" with a plan)."""
        if self.plan is not None:
            return ""
        lines = [line.strip().removeprefix("- ") for line in self.message.splitlines()
                 if line.strip()]
        # InfeasibleError: a heading, then one line per conflict; NoPlanFoundError: one line.
        return lines[1] if len(lines) > 1 else (lines[0] if lines else self.status)


@dataclass(frozen=True, eq=False)
class TradeoffCurve:
    """The points of one sweep, in the order they were solved (tight to loose for a limit)."""

    scenario: Scenario
    path: str
    points: list[TradeoffPoint] = field(default_factory=list)

    @property
    def is_limit(self) -> bool:
        """Whether the swept setting is a hard limit (larger = looser)."""
        return is_constraint_limit(self.path)

    def frame(self) -> pd.DataFrame:
        """One row per point: value, status, objective, bound, gap, the objective terms and
        the KPIs a planner weighs (travel, balance, disruption, geography, revenue)."""
        rows = []
        for point in self.points:
            row: dict[str, Any] = {"value": point.value, "status": point.status,
                                   "objective": point.objective, "bound": point.bound,
                                   "gap": point.gap, "kept_previous": point.kept_previous,
                                   "message": point.message}
            if point.plan is not None:
                e = point.plan.evaluation
                row.update({f"term_{k}": v for k, v in e.objective.as_dict().items()})
                row.update({k: e.metrics[k] for k in curve_metrics(self.scenario)
                            if k in e.metrics})
                row["seconds"] = point.plan.seconds.get("total", math.nan)
            rows.append(row)
        return pd.DataFrame(rows)

    def monotone_violations(self) -> list[str]:
        """Where a looser limit gave a worse objective than a tighter one (theory says it
        cannot, when every point is solved to its gap target). Empty for a weight sweep,
        where no such order holds."""
        if not self.is_limit:
            return []
        out = []
        solved = sorted((p for p in self.points if p.plan is not None), key=lambda p: p.value)
        for tight, loose in itertools.pairwise(solved):
            allowed = tight.objective + MONOTONE_SLACK * max(1.0, abs(tight.objective))
            if loose.objective > allowed:
                out.append(f"{self.path}={loose.value:g} has objective {loose.objective:,.2f}, "
                           f"above {tight.objective:,.2f} at the tighter {tight.value:g}")
        return out

    def png(self) -> bytes:
        """The chart: objective and bound, travel, balance and disruption per value."""
        return chart(self.frame(), x="value",
                     title=f"{self.scenario.name}: trade-off of {self.path}",
                     xlabel=self.path + (" (tight → loose)" if self.is_limit else ""))

    def summary(self) -> dict[str, Any]:
        """What ``tradeoff.json`` holds."""
        return {"format": "territory-opt tradeoff v1", "scenario": self.scenario.name,
                "scenario_path": str(self.scenario.path) if self.scenario.path else None,
                "scenario_digest": self.scenario.digest, "setting": self.path,
                "is_limit": self.is_limit, "monotone_violations": self.monotone_violations(),
                "points": records(self.frame())}

    def write(self, directory: str | Path) -> Path:
        """Write ``tradeoff.csv``, ``tradeoff.png`` and ``tradeoff.json`` into a new folder,
        atomically (an existing path is never overwritten)."""

        def fill(folder: Path) -> None:
            self.frame().to_csv(folder / CSV_FILE, index=False, float_format="%.10g")
            (folder / PNG_FILE).write_bytes(self.png())
            (folder / JSON_FILE).write_text(json.dumps(self.summary(), indent=2) + "\n",
                                            encoding="utf-8")

        return write_folder(directory, fill)

    def _repr_html_(self) -> str:
        """Jupyter: the chart above the table of points."""
        import base64
        import html

        from territory_opt.present.notebook import frame_html

        image = base64.b64encode(self.png()).decode("ascii")
        title = html.escape(f"{self.scenario.name}: trade-off of {self.path}")
        return (f"<div><h4>{title}</h4>"
                f'<img src="data:image/png;base64,{image}" style="max-width:100%"/>'
                f"{frame_html(self.frame().drop(columns=['message']))}</div>")


def tradeoff(
    scenario: Scenario,
    path: str,
    values: Sequence[float],
    *,
    backend: str | Backend | None = None,
    time_limit: float | None = None,
    gap: float | None = None,
    seed: int | None = None,
    threads: int | None = None,
    work_limit: float | None = None,
    chain: bool = True,
    progress: Callable[[TradeoffPoint], None] | None = None,
) -> TradeoffCurve:
    """Solve ``scenario`` at each value of the setting at YAML path ``path``.

    Parameters
    ----------
    scenario
        The base scenario.
    path
        What to sweep, e.g. ``rules.disruption.max_share``, ``rules.balance.workload_h.
        tolerance``, ``objective.disruption.weight`` (see
        :data:`territory_opt.studies.variants.SWEEPABLE_HELP`).
    values
        The values; a hard limit is solved from tight to loose whatever their order.
    backend, time_limit, gap, seed, threads, work_limit
        As given (None: not given), for every point's :func:`territory_opt.solve`, which
        merges them with the scenario's ``solver:`` (``time_limit`` and ``work_limit`` per
        point).
    chain
        Let the previous point's plan, where it meets this point's rules, compete with this
        point's own solve and keep the better of the two (default). ``False`` keeps each
        point's own solve. Either way each point is solved as on its own, so a chained point
        is never worse than its unchained solve.
    progress
        Called with each point as soon as it is solved.

    Raises
    ------
    ScenarioError
        An unknown path, fewer than two values, or a value the schema refuses.
    """
    if len(values) < 2:
        raise scenario_error(f"tradeoff {path}", "values", f"{len(values)} value(s)",
                             "at least two values to draw a curve")
    ordered = sorted(values) if is_constraint_limit(path) else list(values)
    variants = [with_settings(scenario, {path: float(v)}) for v in ordered]  # check all first
    points: list[TradeoffPoint] = []
    previous: Plan | None = None
    for value, variant in zip(ordered, variants, strict=True):
        point = _solve_point(variant, float(value), previous if chain else None,
                             backend=backend, time_limit=time_limit, gap=gap, seed=seed,
                             threads=threads, work_limit=work_limit)
        points.append(point)
        previous = point.plan or previous
        if progress is not None:
            progress(point)
    if is_constraint_limit(path):
        points = _share_bounds(points)
    return TradeoffCurve(scenario, path, points)


def _solve_point(variant: Scenario, value: float, previous: Plan | None, **options: Any
                 ) -> TradeoffPoint:
    """Solve ``variant`` as on its own, then keep ``previous`` instead where it is feasible
    here and better.

    The solve starts from the point's own construction, never from ``previous``: a given
    start replaces the construction in the engine, and on a looser limit the previous plan is
    often far worse than it, which left HiGHS stuck at the tighter point's plan.
    """
    try:
        plan = solve(variant, warm_start="construct", **options)
    except InfeasibleError as exc:
        return TradeoffPoint(value, None, status="infeasible", message=str(exc))
    except NoPlanFoundError as exc:
        # Out of time before a plan of its own: the previous point's plan, where it keeps this
        # point's rules, is still a plan of this point (with no bound of its own).
        fallback = _previous_here(variant, previous, str(exc))
        if fallback is None:
            return TradeoffPoint(value, None, status="no plan", message=str(exc))
        return TradeoffPoint(value, fallback, bound=fallback.bound, status=_status(fallback),
                             kept_previous=True)
    carried = _carried(plan, previous)
    if carried is not None:
        plan = carried
    return TradeoffPoint(value, plan, bound=plan.bound, status=_status(plan),
                         kept_previous=carried is not None)


def _previous_here(variant: Scenario, previous: Plan | None, reason: str) -> Plan | None:
    """``previous``'s assignment as a plan of ``variant`` when it meets every hard rule there;
    its bound is not carried (a tighter point's bound does not hold for a looser one)."""
    if previous is None:
        return None
    plan = dataclasses.replace(previous, scenario=variant, status=Status.FEASIBLE,
                               bound=-math.inf, bound_source="none",
                               stop_reason=f"no plan of its own ({reason.splitlines()[0]})",
                               found_by="the previous point's plan")
    return plan if plan.evaluation.feasible else None


def _carried(plan: Plan, previous: Plan | None) -> Plan | None:
    """``previous``'s assignment as a plan of ``plan``'s scenario, if it meets every hard rule
    there and beats ``plan`` by more than rounding (ties keep the point's own plan, so a curve
    does not depend on float noise)."""
    if previous is None:
        return None
    # The previous plan, judged under this point's rules and weights.
    carried = dataclasses.replace(plan, assignment=previous.assignment,
                                  found_by="the previous point's plan")
    margin = MONOTONE_SLACK * max(1.0, abs(plan.objective))
    if carried.evaluation.feasible and carried.objective < plan.objective - margin:
        return carried
    return None


def _share_bounds(points: list[TradeoffPoint]) -> list[TradeoffPoint]:
    """Give each point the best bound of it and the looser points: a tighter limit's optimum
    is at least a looser one's, so their bounds hold for it too."""
    out: list[TradeoffPoint] = []
    best = -math.inf
    for point in reversed(points):  # loosest first
        best = max(best, point.bound)
        if point.plan is None:
            out.append(point)
            continue
        shared = dataclasses.replace(point, bound=best)
        out.append(dataclasses.replace(shared, status=_status(point.plan, best)))
    return out[::-1]


def _status(plan: Plan, bound: float | None = None) -> str:
    bound = plan.bound if bound is None else bound
    target = float(plan.options.get("gap", 0.0) or 0.0)
    if plan.status == Status.OPTIMAL or relative_gap(plan.objective, bound) <= max(target, 1e-9):
        return "optimal"
    return "feasible"


def curve_metrics(scenario: Scenario) -> list[str]:
    """The plan KPIs a curve shows, in chart order."""
    names = ["travel", scenario_travel_keys(scenario.spec)[0]]
    names += [f"{r.attribute}_max_abs_dev_pct" for r in scenario.spec.rules.balance]
    names += ["moved_items", "moved_share_items", "cut_edges", "disconnected_territories",
              "expected_revenue", "fairness_max_abs_dev_pct", "quota_to_basis_max_pct",
              "hard_violations"]
    return names


def chart(frame: pd.DataFrame, *, x: str, title: str, xlabel: str, by: str | None = None
          ) -> bytes:
    """Panels — objective (with bound), travel, balance |dev| %, disruption, those present —
    of a table with one row per solved setting (a curve's or a sweep's frame), as PNG.

    ``x`` is the column on the horizontal axis; with ``by``, one line per value of that column
    (a grid sweep's second setting). Rows without a finite objective are marked on the axis.
    """
    solved = frame[frame["objective"].map(_finite)]
    panels: list[tuple[str, list[tuple[str, str]]]] = [
        ("objective", [("objective", "objective"), ("bound", "bound")])]
    if "travel" in solved and solved["travel"].notna().any():
        panels.append(("travel", [("travel", "travel")]))
    devs = [(c, c.removesuffix("_max_abs_dev_pct")) for c in solved.columns
            if c.endswith("_max_abs_dev_pct")]
    if devs:
        panels.append(("balance: max |dev| %", devs))
    if "moved_share_items" in solved:
        panels.append(("disruption: share of items moved", [("moved_share_items", "moved")]))
    if "cut_edges" in solved:
        panels.append(("cut edges", [("cut_edges", "cut edges")]))
    if "expected_revenue" in solved:
        panels.append(("expected revenue", [("expected_revenue", "expected revenue")]))
    fig = Figure(figsize=(6.4, 2.2 * len(panels) + 0.6), dpi=110)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    unsolved = frame[~frame["objective"].map(_finite)]
    groups = [("", solved)] if by is None else [
        (f"{by}={_label(key)}", rows) for key, rows in solved.groupby(by, sort=False)]
    for ax, (name, series) in zip(axes, panels, strict=True):
        for g, (group, rows) in enumerate(groups):
            for s, (column, label) in enumerate(series):
                values = rows[column].where(rows[column].map(_finite))
                shown = ", ".join(part for part in (label if len(series) > 1 else "", group)
                                  if part)
                # With groups: a colour per group, a line style per series (bound dashed).
                style = {} if by is None else {"color": f"C{g % 10}",
                                               "linestyle": LINE_STYLES[s % len(LINE_STYLES)]}
                ax.plot(rows[x], values, marker="o", label=shown or label, **style)
        _mark_unsolved(ax, unsolved, x)
        ax.set_title(name, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        if len(series) > 1 or len(groups) > 1:
            ax.legend(fontsize=7)
    axes[-1].set_xlabel(xlabel)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float | np.number) else str(value)


def _mark_unsolved(ax: Axes, unsolved: pd.DataFrame, x: str = "value") -> None:
    """An infeasible (or unsolved) point: a red cross on the x axis."""
    for value, status in zip(unsolved[x], unsolved["status"], strict=True):
        ax.axvline(value, color="tab:red", alpha=0.25, linestyle="--")
        ax.annotate(status, (value, 0), xycoords=("data", "axes fraction"), fontsize=7,
                    color="tab:red", rotation=90, va="bottom", ha="right")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and math.isfinite(float(value))
