"""The :class:`Plan`: an assignment with its provenance, written and read as a plan directory.

A plan directory holds ``assignment.csv`` (item, territory, moved, locked), ``territories.csv``
(per-territory KPIs), ``accounts.csv`` where a districting scenario names accounts (account,
unit, territory, locked, moved), ``quotas.csv`` where the scenario sets quotas (territory,
basis load, quota, share, per FTE, floor or cap) and ``plan.json`` (scenario path and hash,
version, backend and options, seed, status, objective, bound, gap, times, plan-level KPIs). It
is written into a temporary sibling directory and renamed into place, so a reader never sees
half a plan.

Times in ``plan.json``: ``seconds`` are the solve's (its phases and ``total``), measured inside
the solve; ``load_seconds`` the scenario's loading, as measured by the caller (the CLI), and
``write_seconds`` the writing of the plan directory up to ``plan.json`` (null when not
measured; plans written before these existed have neither, and read as None).

Reading a plan directory re-evaluates its assignment and checks it against what ``plan.json``
recorded (rows, objective, status): a folder cut short or edited by hand is flagged in
:attr:`Plan.disagreements` instead of being shown with the status it once had.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from territory_opt.atomic import write_folder
from territory_opt.backends.contract import Status, relative_gap
from territory_opt.deadline import Stopwatch
from territory_opt.errors import Problem, ScenarioError, scenario_error
from territory_opt.kpi.evaluate import Evaluation, evaluate, moved_mask
from territory_opt.kpi.quotas import QUOTA_COLUMNS
from territory_opt.rendering import to_html
from territory_opt.scenario.load import load_scenario
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.scenario.tables import read_text_table
from territory_opt.text import fmt
from territory_opt.version import __version__

if TYPE_CHECKING:
    import geopandas as gpd

OBJECTIVE_TOLERANCE = 1e-6
"""Relative and absolute tolerance between ``plan.json``'s objective and the recomputed one."""

ASSIGNMENT_FILE = "assignment.csv"
TERRITORIES_FILE = "territories.csv"
ACCOUNTS_FILE = "accounts.csv"
QUOTAS_FILE = "quotas.csv"
PLAN_FILE = "plan.json"


@dataclass(frozen=True, eq=False)
class Plan:
    """An assignment of a scenario's items with how it was found.

    ``objective`` is recomputed by the KPI evaluator from the assignment, not copied from the
    solver; ``bound`` is a lower bound on the optimum valid for the whole model
    (``-inf`` when none is known). ``disagreements`` are sentences naming where a plan read
    from a directory differs from its ``plan.json`` (none for a plan made in memory);
    ``recorded_hard_violations`` is the number of hard violations ``plan.json`` recorded (None
    for a plan made in memory). Neither is written into ``plan.json``. ``load_seconds`` is
    the scenario's loading as the caller measured it (:meth:`timed`), ``write_seconds`` the
    plan directory's writing (:meth:`write` measures it); None when not measured.
    """

    scenario: Scenario
    assignment: np.ndarray
    status: Status
    bound: float
    backend: str
    bound_source: str = "none"
    options: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    solver_objective: float = float("nan")
    scenario_digest: str | None = None
    stop_reason: str = ""
    found_by: str = ""
    disagreements: tuple[str, ...] = ()
    recorded_hard_violations: int | None = None
    load_seconds: float | None = None
    write_seconds: float | None = None
    work: float | None = None
    """Deterministic effort the solve spent, in its backend's unit (``territory-opt
    backends``): a 30 s solve's ``work`` is a work limit that reproduces about that solve."""
    choice: dict[str, str] | None = None
    """What ``backend: auto`` chose and why (``asked``, ``method``, ``why``); None otherwise."""
    anytime: tuple[dict[str, float | None], ...] = ()
    """The best objective by 25%, 50% and 100% of the limit (``share``, ``seconds``,
    ``objective``; None before the first plan)."""
    priorities: tuple[dict[str, Any], ...] = ()
    """Under ``objective.priorities``, one entry per level in order: ``criterion``, ``slack``,
    ``reached`` (the value its level's solve reached), ``bound`` (that level's valid lower
    bound), ``gap``, ``limit`` (what later levels kept it within), ``value`` (the plan's),
    ``status``, ``seconds`` (:mod:`territory_opt.alignment.priorities`); empty otherwise."""

    @cached_property
    def evaluation(self) -> Evaluation:
        """KPIs of this plan (computed once, from scenario and assignment only)."""
        return evaluate(self.scenario, self.assignment)

    @property
    def objective(self) -> float:
        """Objective recomputed from the assignment."""
        return self.evaluation.objective.total

    @property
    def gap(self) -> float:
        """``(objective - bound) / |objective|``; inf without a bound."""
        return relative_gap(self.objective, self.bound)

    @property
    def status_now(self) -> Status:
        """The status as the assignment supports it now: the recorded one, or
        :attr:`Status.VIOLATES` when the recorded status promises a plan but the assignment
        breaks more hard rules than ``plan.json`` recorded (:func:`_status_contradicted`)."""
        if self.recorded_hard_violations is not None and _status_contradicted(
                self.status, self.recorded_hard_violations, _hard_count(self.evaluation)):
            return Status.VIOLATES
        return self.status

    @property
    def seed(self) -> int:
        """Seed the solve used."""
        return int(self.options.get("seed", 0))

    def assignment_frame(self) -> pd.DataFrame:
        """One row per item: item, territory, moved, locked."""
        s = self.scenario
        return pd.DataFrame({
            "item": s.item_ids,
            "territory": s.territory_label(self.assignment),
            "moved": moved_mask(s, self.assignment),
            "locked": s.lock != NO_TERRITORY,
        })

    def accounts_frame(self) -> pd.DataFrame | None:
        """One row per named account: account, unit, territory, locked, moved (None without
        accounts)."""
        return self.scenario.accounts_frame(self.assignment)

    def quotas_frame(self) -> pd.DataFrame | None:
        """One row per territory: territory, name, fte, the basis load and the quota columns
        (None when the scenario sets no ``quotas``)."""
        rules = self.scenario.spec.quotas
        if rules is None:
            return None
        table = self.evaluation.territories
        return table[["territory", "name", "fte", rules.basis, *QUOTA_COLUMNS]]

    def summary(self) -> dict[str, Any]:
        """The content of ``plan.json``."""
        s = self.scenario
        terms = self.evaluation.objective
        return {
            "format": "territory-opt plan v1",
            "territory_opt_version": __version__,
            "scenario": {"name": s.name, "path": str(s.path) if s.path else None,
                         "digest": s.digest},
            "backend": self.backend,
            "options": self.options,
            "seed": self.seed,
            "status": str(self.status),
            "stop_reason": self.stop_reason,
            "found_by": self.found_by,
            "objective": _finite(self.objective),
            "objective_terms": terms.as_dict(),
            "solver_objective": _finite(self.solver_objective),
            "bound": _finite(self.bound),
            "bound_source": self.bound_source,
            "gap": _finite(self.gap),
            "seconds": self.seconds,
            "load_seconds": None if self.load_seconds is None else _finite(self.load_seconds),
            "write_seconds": None if self.write_seconds is None else _finite(self.write_seconds),
            "work": None if self.work is None else _finite(self.work),
            "choice": self.choice,
            "anytime": list(self.anytime),
            **({"priorities": list(self.priorities)} if self.priorities else {}),
            "kpis": {k: _finite(v) for k, v in self.evaluation.metrics.items()},
            "violations": [str(v) for v in self.evaluation.violations],
            # territories.levels: each territory's parent per level (the joint design's choice)
            **({"hierarchy": s.hierarchy.as_dict(s.territory_ids)}
               if s.hierarchy is not None else {}),
        }

    def timed(self, *, load_seconds: float | None = None,
              write_seconds: float | None = None) -> Plan:
        """This plan with the seconds its scenario took to load (or its directory to write),
        its evaluation kept (not computed again)."""
        out = dataclasses.replace(
            self, load_seconds=self.load_seconds if load_seconds is None else load_seconds,
            write_seconds=self.write_seconds if write_seconds is None else write_seconds)
        if "evaluation" in vars(self):
            vars(out)["evaluation"] = vars(self)["evaluation"]
        return out

    def write(self, directory: str | Path) -> Path:
        """Write the plan directory atomically; refuse to overwrite an existing path.
        ``plan.json`` is written last, with ``write_seconds``: the seconds spent writing up to
        it (:meth:`written` returns the plan with them)."""
        return self.written(directory)[1]

    def written(self, directory: str | Path) -> tuple[Plan, Path]:
        """:meth:`write`, and this plan with the ``write_seconds`` its ``plan.json`` records."""
        watch = Stopwatch()
        recorded: list[Plan] = [self]

        def fill(folder: Path) -> None:
            self.assignment_frame().to_csv(folder / ASSIGNMENT_FILE, index=False)
            # 15 significant digits: every figure as computed, without binary noise
            # (450.40000000000003); "%.6g" wrote 10,514,604 as 1.05146e+07.
            self.evaluation.territories.to_csv(folder / TERRITORIES_FILE, index=False,
                                               float_format="%.15g")
            accounts = self.accounts_frame()
            if accounts is not None:
                accounts.to_csv(folder / ACCOUNTS_FILE, index=False)
            quotas = self.quotas_frame()
            if quotas is not None:
                quotas.to_csv(folder / QUOTAS_FILE, index=False, float_format="%.10g")
            recorded[0] = self.timed(write_seconds=watch.seconds())
            (folder / PLAN_FILE).write_text(json.dumps(recorded[0].summary(), indent=2) + "\n",
                                            encoding="utf-8")

        path = write_folder(directory, fill)
        return recorded[0], path

    @classmethod
    def read(cls, directory: str | Path, scenario: Scenario | None = None) -> Plan:
        """Read a plan directory; loads its scenario from ``plan.json`` unless one is given.

        The assignment is evaluated at once and compared with ``plan.json``; what differs is in
        :attr:`disagreements` (see :func:`_disagreements`), and :attr:`status_now` says whether
        the recorded status still holds.
        """
        directory = Path(directory)
        meta_path = directory / PLAN_FILE
        if not meta_path.is_file():
            raise scenario_error(directory, PLAN_FILE, "no such file", "a plan directory")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if scenario is None:
            path = meta["scenario"]["path"]
            if not path:
                raise scenario_error(meta_path, "scenario.path", "nothing",
                                     "the scenario's path (or pass the scenario)")
            scenario = load_scenario(path)
        if scenario.hierarchy is not None and scenario.hierarchy.design == "joint" and (
                meta.get("hierarchy")):  # the parents the joint design chose
            scenario = dataclasses.replace(scenario, hierarchy=scenario.hierarchy.from_dict(
                meta["hierarchy"], scenario.territory_ids))
        assignment, rows = _read_assignment_rows(scenario, directory / ASSIGNMENT_FILE)
        status = Status(meta["status"])
        evaluation = evaluate(scenario, assignment)
        recorded_hard = _recorded_hard(meta)
        plan = cls(
            scenario=scenario,
            assignment=assignment,
            status=status,
            bound=_number(meta.get("bound"), missing=-math.inf),
            backend=meta.get("backend", "unknown"),
            bound_source=meta.get("bound_source", "none"),
            options=meta.get("options", {}),
            seconds=meta.get("seconds", {}),
            solver_objective=_number(meta.get("solver_objective")),
            scenario_digest=meta["scenario"].get("digest"),
            stop_reason=meta.get("stop_reason", ""),
            found_by=meta.get("found_by", ""),
            load_seconds=_optional_number(meta.get("load_seconds")),
            write_seconds=_optional_number(meta.get("write_seconds")),
            work=_optional_number(meta.get("work")),
            choice=meta.get("choice"),
            anytime=tuple(meta.get("anytime") or ()),
            priorities=tuple(meta.get("priorities") or ()),
            disagreements=_disagreements(scenario, assignment, evaluation, rows, meta,
                                         recorded_hard),
            recorded_hard_violations=recorded_hard,
        )
        # cached_property keeps its value in the instance's __dict__: hand it the evaluation
        # just made rather than evaluating the plan a second time.
        vars(plan)["evaluation"] = evaluation
        return plan

    @property
    def scenario_changed(self) -> bool:
        """Whether the scenario's files differ from those the plan was made from."""
        return self.scenario_digest is not None and self.scenario_digest != self.scenario.digest

    def territories_frame(self) -> pd.DataFrame:
        """One-call DataFrame view of the per-territory KPIs: a copy of
        ``evaluation.territories`` (what ``territories.csv`` holds), one row per territory,
        so editing it leaves the plan's evaluation alone."""
        return self.evaluation.territories.copy()

    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """The assignment as a GeoDataFrame (EPSG:4326), one row per item in scenario order:
        ``item``, ``territory``, ``territory_name`` ('' where unassigned), ``moved``,
        ``locked`` (as :meth:`assignment_frame`) and ``geometry``: the item's feature when the
        items came from a geo table or GeoDataFrame (polygons, reprojected to WGS84), else
        ``Point(lon, lat)``, None for an item without coordinates.

        Only the plan's map-shaped outputs are GeoDataFrames (this and
        :meth:`territories_geodataframe`); :class:`Evaluation` frames stay plain pandas, so
        KPIs need no geopandas and keep one type whatever the scenario's tables were.
        """
        import geopandas as gpd

        s = self.scenario
        frame = self.assignment_frame()
        names = np.where(self.assignment >= 0,
                         s.territory_names[np.maximum(self.assignment, 0)], "")
        frame.insert(2, "territory_name", np.asarray(names, dtype=object))
        return gpd.GeoDataFrame(frame, geometry=item_geometries(s), crs="EPSG:4326")

    def territories_geodataframe(self) -> gpd.GeoDataFrame:
        """The per-territory KPIs (:meth:`territories_frame`) as a GeoDataFrame (EPSG:4326):
        ``geometry`` is the union (dissolve) of the territory's items' polygons when the items
        are polygons (districting units, a polygon layer), else the territory's home point
        (None without a home, or a polygon territory without items)."""
        import geopandas as gpd

        frame = self.territories_frame()
        return gpd.GeoDataFrame(frame, geometry=territory_geometries(self.scenario,
                                                                     self.assignment),
                                crs="EPSG:4326")

    def _repr_html_(self) -> str:
        """Jupyter: scenario, status, backend, objective, bound, gap and seed, then the
        evaluation (KPIs, territories, violations)."""
        return to_html(self)  # the renderer is registered from above (present.notebook)


def item_geometries(scenario: Scenario) -> np.ndarray:
    """Per item, a shapely geometry (WGS84): its feature from a geo table, else its point;
    None for an item without coordinates."""
    import shapely

    if scenario.geometry is not None:
        return np.asarray(scenario.geometry, dtype=object)
    points = shapely.points(scenario.lon, scenario.lat)
    points[~scenario.located] = None
    return np.asarray(points, dtype=object)


def territory_geometries(scenario: Scenario, assignment: np.ndarray) -> np.ndarray:
    """Per territory: the union of its items' polygons when the items are polygons, else
    its home point (None without one)."""
    import shapely

    out = np.full(scenario.n_territories, None, dtype=object)
    geometry = scenario.geometry
    polygons = geometry is not None and bool(len(geometry)) and bool(
        np.isin(shapely.get_type_id(geometry), (3, 6)).all())  # Polygon, MultiPolygon
    if polygons:
        assert geometry is not None
        for k in range(scenario.n_territories):
            members = geometry[assignment == k]
            if len(members):
                out[k] = shapely.union_all(members)
        return out
    home = scenario.has_home
    out[home] = shapely.points(scenario.home_lon[home], scenario.home_lat[home])
    return out


def _disagreements(scenario: Scenario, assignment: np.ndarray, evaluation: Evaluation,
                   rows: int, meta: dict[str, Any], recorded_hard: int) -> tuple[str, ...]:
    """Where a plan directory's files disagree with its ``plan.json``, as sentences.

    Parameters
    ----------
    scenario, assignment, evaluation
        The scenario, the assignment read from ``assignment.csv`` and its evaluation.
    rows
        Data rows of ``assignment.csv``: fewer than the scenario's items means a file cut
        short (the items without a row are unassigned, as is one whose row was cut before its
        territory).
    meta
        ``plan.json``: its ``objective`` is compared with the recomputed one (tolerance
        :data:`OBJECTIVE_TOLERANCE`), its ``status`` with the hard violations now.
    recorded_hard
        Hard violations ``plan.json`` recorded (:func:`_recorded_hard`).
    """
    out = []
    if rows < scenario.n_items:
        unassigned = int(np.count_nonzero(assignment == NO_TERRITORY))
        out.append(f"{ASSIGNMENT_FILE} has {_count(rows, 'row')} for "
                   f"{_count(scenario.n_items, 'item')}: {_count(unassigned, 'item')} "
                   f"{'is' if unassigned == 1 else 'are'} unassigned")
    if "objective" in meta:
        said = _number(meta["objective"])  # null: a non-finite objective
        now = evaluation.objective.total
        if not _same_objective(said, now):
            said_text, now_text = _telling_apart(said, now)
            out.append(f"{PLAN_FILE} says objective {said_text}; the files give {now_text}")
    status = Status(meta["status"])
    hard = _hard_count(evaluation)
    if _status_contradicted(status, recorded_hard, hard):
        recorded = f" ({PLAN_FILE} recorded {recorded_hard:,})" if recorded_hard else ""
        out.append(f"{PLAN_FILE} says '{status}' but the assignment breaks "
                   f"{_count(hard, 'hard rule')}{recorded}")
    return tuple(out)


def _status_contradicted(status: Status, recorded_hard: int, hard_now: int) -> bool:
    """Whether a recorded status that comes with a plan (optimal, feasible) is contradicted:
    the assignment breaks more hard rules now than were recorded with it. (A plan may be
    written with hard violations, e.g. a current alignment kept as a plan: those recorded are
    no disagreement.)"""
    return status.has_plan and hard_now > recorded_hard


def read_assignment(scenario: Scenario, path: str | Path) -> np.ndarray:
    """Read an item -> territory table (a plan's or another tool's) as territory indices.

    The item column may be called ``item`` or the scenario's item id column; the territory
    column ``territory``, ``rep``, ``rep_id`` or the scenario's current-territory column. Items
    missing from the file are unassigned (the evaluator lists them as violations).

    Raises
    ------
    ScenarioError
        For an unreadable file, missing columns, unknown or duplicate ids.
    """
    return _read_assignment_rows(scenario, path)[0]


def _read_assignment_rows(scenario: Scenario, path: str | Path) -> tuple[np.ndarray, int]:
    """:func:`read_assignment`, and the number of data rows the file has."""
    path = Path(path)
    if not path.is_file():
        raise scenario_error(path, "(file)", "no such file", "an assignment CSV")
    try:
        frame = read_text_table(path)
    except Exception as exc:  # any parse failure is the user's file
        raise scenario_error(path, "(file)", f"unreadable: {exc}".splitlines()[0],
                             "a CSV with item and territory columns") from None
    spec = scenario.spec
    item_col = _pick(frame, ["item", spec.items.id], path, "item")
    terr_col = _pick(frame, ["territory", "rep", "rep_id", spec.territories.id,
                             spec.items.current or "territory"], path, "territory")
    position = {iid: i for i, iid in enumerate(scenario.item_ids)}
    index = {tid: k for k, tid in enumerate(scenario.territory_ids)}
    out = np.full(scenario.n_items, NO_TERRITORY, dtype=np.int64)
    problems: list[Problem] = []
    seen: set[str] = set()
    for row, (item, territory) in enumerate(zip(frame[item_col], frame[terr_col], strict=True)):
        item, territory = item.strip(), territory.strip()
        where = f"{path}, row {row + 1}"
        if item not in position:
            problems.append(Problem(where, item_col, f"item '{item}'", "an item of the scenario"))
        elif item in seen:
            problems.append(Problem(where, item_col, f"duplicate item '{item}'", "each item once"))
        elif territory and territory not in index:
            problems.append(Problem(where, terr_col, f"territory '{territory}'",
                                    "a territory of the scenario or an empty cell"))
        elif territory:
            out[position[item]] = index[territory]
        seen.add(item)
        if len(problems) >= 10:
            break
    if problems:
        raise ScenarioError(problems)
    return out, len(frame)


def _pick(frame: pd.DataFrame, names: list[str], path: Path, what: str) -> str:
    for name in names:
        if name in frame.columns:
            return name
    raise scenario_error(path, what, f"columns {list(frame.columns)}",
                         f"a column named one of {sorted(set(names))}")


def _finite(value: float) -> float | None:
    """JSON has no inf/NaN: write null."""
    return float(value) if value is not None and math.isfinite(value) else None


def _optional_number(value: Any) -> float | None:
    """A recorded time: None when absent (older plans), null or not a number."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _number(value: float | None, missing: float = math.nan) -> float:
    return missing if value is None else float(value)


def _hard_count(evaluation: Evaluation) -> int:
    """Hard violations of an evaluation (each :class:`Violation` says whether it is hard)."""
    return sum(v.hard for v in evaluation.violations)


def _recorded_hard(meta: dict[str, Any]) -> int:
    """Hard violations ``plan.json`` recorded: its ``kpis.hard_violations``, else its
    ``violations`` list without the soft ones (written ``rule (soft): ...``), else 0."""
    kpis = meta.get("kpis")
    value = kpis.get("hard_violations") if isinstance(kpis, dict) else None
    if isinstance(value, int | float) and math.isfinite(value):
        return int(value)
    violations = meta.get("violations")
    if isinstance(violations, list):
        return sum(" (soft): " not in str(v) for v in violations)
    return 0


def _same_objective(said: float, now: float) -> bool:
    """Equal within :data:`OBJECTIVE_TOLERANCE`; two non-finite values (``plan.json`` writes
    null for either infinity or NaN) count as equal."""
    if not math.isfinite(said) or not math.isfinite(now):
        return not math.isfinite(said) and not math.isfinite(now)
    return math.isclose(said, now, rel_tol=OBJECTIVE_TOLERANCE, abs_tol=OBJECTIVE_TOLERANCE)


def _telling_apart(a: float, b: float) -> tuple[str, str]:
    """Both numbers with the fewest decimals (one at least) that show them different."""
    for digits in range(1, 10):
        texts = fmt(a, digits), fmt(b, digits)
        if texts[0] != texts[1]:
            return texts
    return repr(a), repr(b)


def _count(n: int, noun: str) -> str:
    """``1 row``, ``1,000 items``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
