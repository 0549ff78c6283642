"""The manager's review loop: every move of a plan in ``review.csv``, a ``decision`` per move,
and a re-solve that keeps the accepted moves and undoes the rejected ones.

``territory-opt review PLAN_DIR`` writes ``review.csv`` (:func:`review_table`), one row per
item the plan moves away from its current territory, in a stable order (the losing territory
in the scenario's order, then the item in table order):

``item``, ``from``, ``from_name``, ``to``, ``to_name``
    The item, and the territory (with its rep's name) it leaves and the one it joins.
``reason``
    Why it moved: the hard rule that forced it, or what it improves (the report's wording).
``A``, ``A_from_dev_pct``, ``A_from_dev_pct_if_rejected``, ``A_to_dev_pct``, ``A_to_dev_pct_...``
    For each attribute ``A`` with a balance rule: the item's load (what the losing territory
    loses and the gaining one gains), and each territory's deviation from its target in % under the
    plan and if this move alone were rejected.
``km_from``, ``km_to``
    Distance (km) from the item to each territory's home; ``min_from``/``min_to`` or
    ``mi_from``/``mi_to`` when the pair table is in minutes or miles (``pairs.unit``).
``objective_change``
    What this move changes in the plan's objective (negative: it improves it; rejecting it
    alone costs about ``-objective_change``, before the re-solve finds a better answer).
``decision``
    Empty: ``accept`` or ``reject`` (any case; an empty cell accepts).

``territory-opt solve SCENARIO --review PLAN_DIR/review.csv`` (or :func:`apply_review`) reads
the decisions back (:func:`read_decisions`; forgiving of Excel's byte-order mark, ``;``
separator and the case of the words, strict on the content) and solves again with each
rejected item locked to its current territory and each accepted one (a row left empty or
deleted included) locked to the plan's; the other items are free. The reviewed plan is the
review file's folder unless named otherwise. The re-solve takes the reviewed plan's settings
(backend, time limit, gap target, seed) unless told otherwise, and starts from the reviewed
plan with the rejected moves undone. :class:`ReviewOutcome` holds both plans and what the
rejections cost, per objective term and per balance band (:func:`outcome_costs`).

The locked scenario keeps its files' digest (as :mod:`~territory_opt.studies.variants` does):
the new plan is of the same files, and its ``plan.json`` records the review under
``options.review`` (and ``review-outcome.json`` beside it the decisions and costs).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from territory_opt.atomic import write_file
from territory_opt.backends.contract import Progress
from territory_opt.backends.registry import registered_backends
from territory_opt.errors import Problem, ScenarioError, TerritoryOptError
from territory_opt.kpi.compare import move_reason, moves_between
from territory_opt.kpi.evaluate import attribute_loads, moved_mask
from territory_opt.plan import PLAN_FILE, Plan
from territory_opt.present.export import Cell, CsvStyle, check_target, render
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.scenario.tables import read_text_table, row_label
from territory_opt.settings import WarmStart
from territory_opt.solve import solve

REVIEW_FILE = "review.csv"
OUTCOME_FILE = "review-outcome.json"
DECISIONS = ("accept", "reject")
"""The words of the ``decision`` column (any case); an empty cell accepts."""
MAX_PROBLEMS = 20
"""Problems of a review file reported at once."""


class ReviewError(ScenarioError):
    """A review file (or decisions list) that cannot be applied: each :class:`Problem` names
    the file and row, the column, what was found and what was expected."""

    def __str__(self) -> str:
        head = "invalid review" if len(self.problems) == 1 else (
            f"invalid review ({len(self.problems)} problems)")
        return head + ":\n" + "\n".join(f"  - {p}" for p in self.problems)


# --- the review table -------------------------------------------------------------------------


def balance_attributes(scenario: Scenario) -> list[str]:
    """The attributes with a balance rule, once each, in the rules' order."""
    return list(dict.fromkeys(rule.attribute for rule in scenario.spec.rules.balance))


def review_table(scenario: Scenario, assignment: np.ndarray) -> pd.DataFrame:
    """One row per item ``assignment`` moves away from its current territory (columns in the
    module docstring), ``decision`` empty.

    Raises
    ------
    TerritoryOptError
        A scenario without a current alignment (nothing moves, nothing to review).
    """

    if not scenario.has_current:
        raise TerritoryOptError(f"scenario '{scenario.name}' has no current alignment: a plan "
                                "of it moves nothing, so there is nothing to review")
    assignment = np.asarray(assignment, dtype=np.int64)
    moved = np.flatnonzero(moved_mask(scenario, assignment))
    position = {item: i for i, item in enumerate(scenario.item_ids)}
    frame = moves_between(scenario, scenario.current, assignment, "plan")
    frame = frame[frame["item"].map(position).isin(set(moved.tolist()))]
    items = frame["item"].map(position).to_numpy(dtype=np.int64)
    order = np.lexsort((items, scenario.current[items]))
    frame, items = frame.iloc[order].reset_index(drop=True), items[order]
    source, target = scenario.current[items], assignment[items]
    names = np.asarray([str(n) for n in scenario.territory_names], dtype=object)
    out = pd.DataFrame({
        "item": frame["item"].astype(str).to_numpy(),
        "from": scenario.territory_label(source),
        "from_name": _names(names, source),
        "to": scenario.territory_label(target),
        "to_name": _names(names, target),
        "reason": [move_reason(row) for row in frame.to_dict("records")],
    })
    table = _plan_loads(scenario, assignment)
    for attribute in balance_attributes(scenario):
        load, goal = table[attribute]
        leaves = scenario.pair_load(attribute, items, np.maximum(source, 0))
        joins = scenario.pair_load(attribute, items, np.maximum(target, 0))
        out[attribute] = np.round(leaves, 6)
        out[f"{attribute}_from_dev_pct"] = _dev(load, goal, source)
        out[f"{attribute}_from_dev_pct_if_rejected"] = _dev(load, goal, source, leaves)
        out[f"{attribute}_to_dev_pct"] = _dev(load, goal, target)
        out[f"{attribute}_to_dev_pct_if_rejected"] = _dev(load, goal, target, -joins)
    unit = scenario.distance_unit
    out[f"{unit}_from"] = np.round(scenario.distance(items, np.maximum(source, 0)), 1)
    out[f"{unit}_to"] = np.where(target >= 0, np.round(
        scenario.distance(items, np.maximum(target, 0)), 1), np.nan)
    out["objective_change"] = np.round(frame["delta_objective"].to_numpy(dtype=float), 2)
    out["decision"] = ""
    return out


def _names(names: np.ndarray, index: np.ndarray) -> np.ndarray:
    return np.asarray(np.where(index >= 0, names[np.maximum(index, 0)], ""), dtype=object)


def _plan_loads(scenario: Scenario, assignment: np.ndarray
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per balance attribute: each territory's load under ``assignment`` and its target."""
    return {name: (attribute_loads(scenario, assignment, name), scenario.targets(name))
            for name in balance_attributes(scenario)}


def _dev(load: np.ndarray, goal: np.ndarray, territory: np.ndarray,
         change: np.ndarray | None = None) -> np.ndarray:
    """Deviation (%) of each row's territory from its target, its load changed by ``change``;
    NaN without a territory or a target."""
    k = np.maximum(territory, 0)
    value = load[k] + (0.0 if change is None else change)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = 100.0 * (value - goal[k]) / goal[k]
    return np.asarray(np.round(np.where((territory >= 0) & (goal[k] > 0), pct, np.nan), 2))


def review(plan: Plan | str | Path) -> pd.DataFrame:
    """The review table of a plan (or a plan directory): one row per moved item, with the
    territories it leaves and joins, why it moved, what it does to balance and travel, and an
    empty ``decision`` column (see :mod:`territory_opt.studies.review`)."""
    if not isinstance(plan, Plan):
        plan = Plan.read(plan)
    return review_table(plan.scenario, plan.assignment)


def review_csv(table: pd.DataFrame, style: CsvStyle | None = None) -> bytes:
    """The review table as CSV bytes: every text cell made safe for spreadsheets, empty cells
    for missing numbers."""
    rows: list[list[Cell]] = []
    for record in table.itertuples(index=False):
        rows.append([_cell(value) for value in record])
    return render(list(table.columns), rows, style or CsvStyle(excel=True))


def _cell(value: Any) -> Cell:
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, int | np.integer):
        return int(value)
    return None if value is None else str(value)


def write_review(plan: Plan, plan_dir: Path, *, out: Path | None = None, force: bool = False,
                 style: CsvStyle | None = None) -> tuple[Path, int]:
    """Write the review table of ``plan`` (read from ``plan_dir``) to ``out`` (default
    ``PLAN_DIR/review.csv``), atomically; the path and the number of moves.

    Raises
    ------
    TerritoryOptError
        An output that is a folder or one of the inputs, or a review file whose decisions
        were filled in (unless ``force``).
    """
    target = out if out is not None else plan_dir / REVIEW_FILE
    check_target(target, plan.scenario, plan_dir)
    if target.is_file() and not force:
        decided = _decided_rows(target)
        if decided:
            raise TerritoryOptError(f"{target} already holds {decided} decision(s); refusing "
                                    "to overwrite them (give --force, or another --out)")
    table = review_table(plan.scenario, plan.assignment)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_file(target, review_csv(table, style))
    return target, len(table)


def _decided_rows(path: Path) -> int:
    """Rows of an existing review file with a decision (any unreadable file counts as one:
    it may be the manager's work)."""
    try:
        frame = read_text_table(path)
    except Exception:  # a file we cannot read: do not replace it silently
        return 1
    columns = {str(c).strip().lower(): c for c in frame.columns}
    if "decision" not in columns:
        return 0
    return int((frame[columns["decision"]].astype(str).str.strip() != "").sum())


# --- decisions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decisions:
    """Item indices of a plan's moves, by decision: ``rejected``, ``accepted`` (an ``accept``
    or an empty cell) and ``unlisted`` (moves without a row: accepted too)."""

    rejected: np.ndarray
    accepted: np.ndarray
    unlisted: np.ndarray

    @property
    def kept(self) -> np.ndarray:
        """Every accepted move: ``accepted`` and ``unlisted``."""
        return np.sort(np.concatenate([self.accepted, self.unlisted]))


def decisions_from(scenario: Scenario, assignment: np.ndarray,
                   rows: list[tuple[str, str, dict[str, str]]], source: str) -> Decisions:
    """Decisions from ``(where, item, cells)`` rows: ``cells`` holds ``decision`` and may hold
    ``from`` and ``to``, checked against the scenario and the plan.

    Raises
    ------
    ReviewError
        An unknown item, one the plan does not move, an item twice, a decision other than
        accept/reject/empty, a from/to other than the plan's, or a rejected move of an item
        the scenario locks to the plan's territory.
    """
    position = {str(item): i for i, item in enumerate(scenario.item_ids)}
    moved = moved_mask(scenario, assignment)
    labels_from = scenario.territory_label(scenario.current)
    labels_to = scenario.territory_label(assignment)
    problems: list[Problem] = []
    seen: dict[int, str] = {}
    rejected, accepted = [], []
    for where, item, cells in rows:
        if len(problems) >= MAX_PROBLEMS:
            break
        i = position.get(item)
        if i is None:
            problems.append(Problem(where, "item", repr(item), f"an item id of scenario "
                                    f"'{scenario.name}'"))
            continue
        if not moved[i]:
            problems.append(Problem(where, "item", f"'{item}', which the plan leaves with "
                                    f"'{labels_from[i] or 'no territory'}'",
                                    "an item the plan moves (a row of territory-opt review)"))
            continue
        if i in seen:
            problems.append(Problem(where, "item", f"'{item}' again (first at {seen[i]})",
                                    "each item once"))
            continue
        seen[i] = where
        for column, expected in (("from", labels_from[i]), ("to", labels_to[i])):
            given = cells.get(column)
            if given is not None and given.strip() != str(expected):
                problems.append(Problem(where, column, repr(given.strip()),
                                        f"'{expected}', the {source}'s {column} territory of "
                                        f"'{item}' (is this the review of another plan?)"))
        raw = cells.get("decision", "")
        word = raw.strip().lower()
        if word not in ("", *DECISIONS):
            problems.append(Problem(where, "decision", repr(raw),
                                    "accept, reject or an empty cell (empty means accept)"))
        elif word == "reject":
            lock = scenario.lock[i]
            if lock != NO_TERRITORY and lock != scenario.current[i]:
                problems.append(Problem(where, "decision", "'reject'", f"accept: the scenario "
                                        f"locks '{item}' to '{labels_to[i]}'"))
            rejected.append(i)
        else:
            accepted.append(i)
    if problems:
        raise ReviewError(problems[:MAX_PROBLEMS])
    listed = np.zeros(scenario.n_items, dtype=bool)
    listed[list(seen)] = True
    return Decisions(rejected=np.sort(np.asarray(rejected, dtype=np.int64)),
                     accepted=np.sort(np.asarray(accepted, dtype=np.int64)),
                     unlisted=np.flatnonzero(moved & ~listed))


def read_decisions(path: str | Path, scenario: Scenario, assignment: np.ndarray) -> Decisions:
    """The decisions of a review file (the CSV :func:`write_review` wrote, edited in a
    spreadsheet): a byte-order mark, ``;`` as separator, column names and words in any case and
    blank rows are fine; the content is checked (:func:`decisions_from`).

    Raises
    ------
    ReviewError
        A missing or unreadable file, no ``item`` or ``decision`` column, or a bad row.
    """
    path = Path(path)
    if not path.is_file():
        raise ReviewError([Problem(str(path), "(file)", "no such file",
                                   "a review CSV (territory-opt review PLAN_DIR writes one)")])
    try:
        frame = read_text_table(path)
    except ScenarioError as exc:
        raise ReviewError(exc.problems) from None
    except Exception as exc:  # any parse failure is the user's file
        raise ReviewError([Problem(str(path), "(file)", f"unreadable: {exc}".splitlines()[0],
                                   "a CSV with item and decision columns")]) from None
    columns = {str(c).strip().lower(): c for c in frame.columns}
    missing = [name for name in ("item", "decision") if name not in columns]
    if missing:
        raise ReviewError([Problem(str(path), name, f"columns {list(frame.columns)}",
                                   f"a column named '{name}'") for name in missing])
    rows = []
    for r, record in enumerate(frame.to_dict("records")):
        cells = {name: str(record[column]) for name, column in columns.items()
                 if name in ("from", "to", "decision")}
        item = str(record[columns["item"]]).strip()
        if not item and not any(str(v).strip() for v in record.values()):
            continue  # a blank row (";;;;" from a spreadsheet)
        rows.append((row_label(path, [r]), item, cells))
    return decisions_from(scenario, assignment, rows, "plan")


def decisions_of(scenario: Scenario, assignment: np.ndarray,
                 review: pd.DataFrame | Mapping[str, str] | str | Path,
                 where: str = "review") -> Decisions:
    """Decisions from a review file, a review table (a DataFrame with ``item`` and
    ``decision``) or a mapping item id → decision."""
    if isinstance(review, str | Path):
        return read_decisions(review, scenario, assignment)
    if isinstance(review, pd.DataFrame):
        frame = review.rename(columns=lambda c: str(c).strip().lower())
        missing = [name for name in ("item", "decision") if name not in frame.columns]
        if missing:
            raise ReviewError([Problem(where, name, f"columns {list(review.columns)}",
                                       f"a column named '{name}'") for name in missing])
        rows = [(f"{where}, row {r + 1}", str(rec["item"]).strip(),
                 {k: "" if _blank(rec.get(k)) else str(rec[k]) for k in ("from", "to",
                                                                         "decision")
                  if k in frame.columns})
                for r, rec in enumerate(frame.to_dict("records"))]
        return decisions_from(scenario, assignment, rows, "plan")
    rows = [(f"{where}.{item}", str(item), {"decision": str(value)})
            for item, value in review.items()]
    return decisions_from(scenario, assignment, rows, "plan")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def locks_of(scenario: Scenario, assignment: np.ndarray, decisions: Decisions) -> np.ndarray:
    """The scenario's locks, with each rejected item locked to its current territory and each
    accepted one to the plan's."""
    lock = scenario.lock.copy()
    lock[decisions.rejected] = scenario.current[decisions.rejected]
    kept = decisions.kept
    kept = kept[assignment[kept] != NO_TERRITORY]
    lock[kept] = assignment[kept]
    return lock


def locked_scenario(scenario: Scenario, assignment: np.ndarray, decisions: Decisions
                    ) -> Scenario:
    """``scenario`` with the review's locks (:func:`locks_of`), in its arrays and in
    ``spec.rules.locks``; its digest stays that of its files (module docstring)."""
    lock = locks_of(scenario, assignment, decisions)
    added = np.flatnonzero(lock != scenario.lock)
    labels = scenario.territory_label(lock)
    locks = dict(scenario.spec.rules.locks)
    locks.update({str(scenario.item_ids[i]): str(labels[i]) for i in added})
    rules = scenario.spec.rules.model_copy(update={"locks": locks})
    spec = scenario.spec.model_copy(update={"rules": rules})
    return dataclasses.replace(scenario, spec=spec, lock=lock)


# --- the re-solve -----------------------------------------------------------------------------


SETTINGS = ("backend", "time_limit", "gap", "seed", "threads", "work_limit")
"""Solve settings a review round takes from the reviewed plan unless given."""


def reviewed_settings(plan: Plan) -> dict[str, Any]:
    """The settings ``plan`` was solved with, as :func:`~territory_opt.solve` arguments: the
    backend asked for (``auto`` when auto chose), time and work limit, gap target, seed and
    threads; None where the plan does not record one (the scenario's then apply)."""
    options = plan.options
    asked = (plan.choice or {}).get("asked") or plan.backend
    known = {b.name for b in registered_backends()}
    return {
        "backend": asked if asked in known or asked.startswith("pulp:") else None,
        "time_limit": _positive(options.get("time_limit")),
        "gap": _number(options.get("gap")),
        "seed": int(options["seed"]) if isinstance(options.get("seed"), int) else None,
        "threads": options.get("threads") if isinstance(options.get("threads"), int) else None,
        "work_limit": _positive(options.get("work_limit")),
    }


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _positive(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


@dataclass(frozen=True, eq=False)
class ReviewRound:
    """A reviewed plan, its decisions and the scenario locked by them: what a re-solve needs."""

    reviewed: Plan
    decisions: Decisions
    scenario: Scenario
    source: str
    """Where the decisions came from (the review file, or ``review``)."""

    @classmethod
    def of(cls, plan: Plan, review: pd.DataFrame | Mapping[str, str] | str | Path,
           scenario: Scenario | None = None) -> ReviewRound:
        """The round of ``plan`` with ``review``'s decisions, on ``scenario`` (default: the
        plan's)."""
        base = scenario if scenario is not None else plan.scenario
        decisions = decisions_of(base, plan.assignment, review)
        source = str(review) if isinstance(review, str | Path) else "review"
        return cls(plan, decisions, locked_scenario(base, plan.assignment, decisions), source)

    @property
    def warm_start(self) -> np.ndarray:
        """The reviewed plan with the rejected moves undone."""
        start = self.reviewed.assignment.copy()
        start[self.decisions.rejected] = self.scenario.current[self.decisions.rejected]
        return start

    def settings(self, **given: Any) -> dict[str, Any]:
        """:data:`SETTINGS` as given, else the reviewed plan's (:func:`reviewed_settings`)."""
        recorded = reviewed_settings(self.reviewed)
        return {name: given[name] if given.get(name) is not None else recorded[name]
                for name in SETTINGS}

    def record(self) -> dict[str, Any]:
        """What the new plan's ``plan.json`` records under ``options.review``."""
        ids = self.scenario.item_ids
        return {"source": self.source, "rejected": [str(ids[i]) for i in
                                                    self.decisions.rejected],
                "accepted": len(self.decisions.kept),
                "reviewed_objective": _finite(self.reviewed.objective)}

    def finish(self, plan: Plan) -> ReviewOutcome:
        """The outcome of the re-solve ``plan``: the plan with the review in its options."""
        marked = dataclasses.replace(plan, options={**plan.options, "review": self.record()})
        if "evaluation" in vars(plan):
            vars(marked)["evaluation"] = vars(plan)["evaluation"]
        return ReviewOutcome(self.reviewed, marked, self.decisions, self.source)


@dataclass(frozen=True, eq=False)
class ReviewOutcome:
    """A review's re-solve: the ``reviewed`` plan, the new ``plan`` (rejected moves undone,
    accepted ones kept), the ``decisions`` and what the rejections cost (:meth:`costs`)."""

    reviewed: Plan
    plan: Plan
    decisions: Decisions
    source: str = "review"

    @property
    def rejected(self) -> list[str]:
        """Ids of the rejected items."""
        return [str(self.plan.scenario.item_ids[i]) for i in self.decisions.rejected]

    @property
    def accepted(self) -> list[str]:
        """Ids of the items whose moves were kept (accepted, left empty or unlisted)."""
        return [str(self.plan.scenario.item_ids[i]) for i in self.decisions.kept]

    @property
    def cost(self) -> float:
        """New objective minus the reviewed one: what the rejections cost (it may be a little
        negative when the reviewed plan was not optimal: at most its gap)."""
        return self.plan.objective - self.reviewed.objective

    @property
    def gap_target(self) -> float | None:
        """The gap target both plans were solved to (the new plan's)."""
        return _number(self.plan.options.get("gap"))

    def with_plan(self, plan: Plan) -> ReviewOutcome:
        """This outcome with ``plan`` as the new plan (e.g. as written, with its times)."""
        return dataclasses.replace(self, plan=plan)

    def costs(self) -> pd.DataFrame:
        """One row per rule: ``rule``, ``reviewed``, ``new``, ``change`` (new - reviewed) —
        the objective and each of its terms, each balance band's largest deviation (%), moved
        items and hard and soft violations (:func:`outcome_costs`)."""
        return pd.DataFrame(outcome_costs(self.reviewed.summary(), self.plan.summary(),
                                          balance_attributes(self.reviewed.scenario)))

    def as_dict(self) -> dict[str, Any]:
        """The content of ``review-outcome.json``."""
        return {
            "format": "territory-opt review outcome v1",
            "source": self.source,
            "rejected": self.rejected,
            "accepted": len(self.accepted),
            "unlisted": len(self.decisions.unlisted),
            "gap_target": self.gap_target,
            "reviewed": _plan_facts(self.reviewed),
            "new": _plan_facts(self.plan),
            "cost": _finite(self.cost),
            "costs": outcome_costs(self.reviewed.summary(), self.plan.summary(),
                                   balance_attributes(self.reviewed.scenario)),
        }

    def write(self, plan_dir: str | Path) -> Path:
        """Write ``review-outcome.json`` into the new plan's directory."""
        target = Path(plan_dir) / OUTCOME_FILE
        write_file(target, (json.dumps(self.as_dict(), indent=2) + "\n").encode())
        return target

    def lines(self) -> list[str]:
        """The outcome as text: both objectives at the gap target, then the cost per rule."""
        return outcome_lines(self.as_dict())

    def _repr_html_(self) -> str:
        """Jupyter: the cost table."""
        return str(self.costs().to_html(index=False))


def _plan_facts(plan: Plan) -> dict[str, Any]:
    return {"objective": _finite(plan.objective), "bound": _finite(plan.bound),
            "gap": _finite(plan.gap), "status": str(plan.status_now)}


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def outcome_costs(reviewed: Mapping[str, Any], new: Mapping[str, Any],
                  attributes: list[str]) -> list[dict[str, Any]]:
    """What the rejections cost, from the two plans' ``plan.json`` contents: rows ``rule``,
    ``reviewed``, ``new``, ``change`` for the objective, each objective term, each balance
    attribute's largest deviation from target (%), moved items and hard and soft violations."""
    def kpi(summary: Mapping[str, Any], name: str) -> float | None:
        return _number((summary.get("kpis") or {}).get(name))

    def soft(summary: Mapping[str, Any]) -> float:
        return float(sum(" (soft): " in str(v) for v in summary.get("violations") or ()))

    rows: list[tuple[str, float | None, float | None]] = [
        ("objective", _number(reviewed.get("objective")), _number(new.get("objective")))]
    terms_a = reviewed.get("objective_terms") or {}
    terms_b = new.get("objective_terms") or {}
    for term in dict.fromkeys([*terms_a, *terms_b]):
        rows.append((f"objective: {term}", _number(terms_a.get(term, 0.0)),
                     _number(terms_b.get(term, 0.0))))
    for attribute in attributes:
        name = f"{attribute}_max_abs_dev_pct"
        rows.append((f"balance {attribute}: largest deviation %", kpi(reviewed, name),
                     kpi(new, name)))
    rows.append(("moved items", kpi(reviewed, "moved_items"), kpi(new, "moved_items")))
    rows.append(("hard violations", kpi(reviewed, "hard_violations"),
                 kpi(new, "hard_violations")))
    rows.append(("soft violations", soft(reviewed), soft(new)))
    return [{"rule": rule, "reviewed": a, "new": b,
             "change": None if a is None or b is None else b - a} for rule, a, b in rows]


def outcome_lines(outcome: Mapping[str, Any]) -> list[str]:
    """``review-outcome.json`` as the lines the CLI prints."""
    def show(value: float | None) -> str:
        return "n/a" if value is None else f"{value:,.2f}"

    gap = outcome.get("gap_target")
    reviewed, new = outcome["reviewed"], outcome["new"]
    lines = [f"review: {len(outcome['rejected'])} move(s) rejected, {outcome['accepted']} "
             f"kept" + (f" ({outcome['unlisted']} without a row)" if outcome["unlisted"] else ""),
             f"gap target {'n/a' if gap is None else f'{100 * gap:g}%'}: reviewed plan "
             f"{show(reviewed['objective'])} (gap {_pct(reviewed['gap'])}), new plan "
             f"{show(new['objective'])} (gap {_pct(new['gap'])}); the rejections cost "
             f"{show(outcome['cost'])}"]
    width = max(len(row["rule"]) for row in outcome["costs"])
    lines.append(f"  {'rule':<{width}}  {'reviewed':>14}  {'new':>14}  {'change':>14}")
    for row in outcome["costs"]:
        lines.append(f"  {row['rule']:<{width}}  {show(row['reviewed']):>14}  "
                     f"{show(row['new']):>14}  {show(row['change']):>14}")
    return lines


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.3g}%"


def read_review_round(scenario: Scenario, review_file: Path, plan_dir: Path | None = None
                      ) -> ReviewRound:
    """``solve SCENARIO --review FILE [--plan PLAN_DIR]``: the reviewed plan (``plan_dir``,
    default the review file's folder) read on ``scenario``, and the file's decisions.

    Raises
    ------
    TerritoryOptError
        No plan directory there, or one of another scenario.
    ReviewError
        The review file's problems.
    """
    folder = plan_dir if plan_dir is not None else review_file.parent
    if not (folder / PLAN_FILE).is_file():
        raise TerritoryOptError(f"{folder} is not a plan directory (no {PLAN_FILE}): keep "
                                f"{review_file.name} in the folder of the plan it reviews, or "
                                "name the plan with --plan PLAN_DIR")
    meta = json.loads((folder / PLAN_FILE).read_text(encoding="utf-8"))
    path = (meta.get("scenario") or {}).get("path")
    if path and scenario.path is not None and Path(path).resolve() != scenario.path.resolve():
        raise TerritoryOptError(f"{folder} is a plan of {path}, not of {scenario.path}: review "
                                "and re-solve one scenario")
    plan = Plan.read(folder, scenario=scenario)
    return ReviewRound.of(plan, review_file)


def apply_review(plan: Plan | str | Path,
                 review: pd.DataFrame | Mapping[str, str] | str | Path, *,
                 backend: str | None = None, time_limit: float | None = None,
                 gap: float | None = None, seed: int | None = None,
                 threads: int | None = None, work_limit: float | None = None,
                 warm_start: WarmStart | None = None,
                 progress: Callable[[Progress], None] | None = None) -> ReviewOutcome:
    """Solve ``plan``'s scenario again with the review's decisions: each rejected item locked to
    its current territory, each accepted one (or left empty, or without a row) to the plan's.

    ``plan`` is a :class:`Plan` or a plan directory; ``review`` a review file (what
    :func:`write_review` wrote, edited), a review table (:func:`review` with ``decision``
    filled in) or a mapping item id → ``accept``/``reject``. Settings left as None take the
    reviewed plan's; the solve starts from the reviewed plan with the rejected moves undone
    unless ``warm_start`` says otherwise.

    Raises
    ------
    ReviewError
        A decision that is not accept/reject/empty, an unknown item or one the plan does not
        move (each named with its row and column).
    InfeasibleError, NoPlanFoundError
        As :func:`~territory_opt.solve`: the locks may leave no plan that meets every rule.
    """
    if not isinstance(plan, Plan):
        plan = Plan.read(plan)
    round_ = ReviewRound.of(plan, review)
    chosen = round_.settings(backend=backend, time_limit=time_limit, gap=gap, seed=seed,
                             threads=threads, work_limit=work_limit)
    start = round_.warm_start if warm_start is None else warm_start
    new = solve(round_.scenario, warm_start=start, progress=progress, **chosen)
    return round_.finish(new)

