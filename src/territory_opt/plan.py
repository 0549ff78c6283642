"""The :class:`Plan`: an assignment with its provenance, written and read as a plan directory.

A plan directory holds ``assignment.csv`` (item, territory, moved, locked), ``territories.csv``
(per-territory KPIs), ``accounts.csv`` where a districting scenario names accounts (account,
unit, territory, locked, moved), ``quotas.csv`` where the scenario sets quotas (territory,
basis load, quota, share, per FTE, floor or cap) and ``plan.json`` (scenario path and hash,
version, backend and options, seed, status, objective, bound, gap, times, plan-level KPIs). It
is written into a temporary sibling directory and renamed into place, so a reader never sees
half a plan.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from territory_opt import __version__
from territory_opt.atomic import write_folder
from territory_opt.backends.base import Status, relative_gap
from territory_opt.errors import Problem, ScenarioError, scenario_error
from territory_opt.kpi.evaluate import Evaluation, evaluate, moved_mask
from territory_opt.kpi.quotas import QUOTA_COLUMNS
from territory_opt.scenario.load import load_scenario
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.scenario.tables import read_text_table

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
    (``-inf`` when none is known).
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
        s, accounts = self.scenario, self.scenario.accounts
        if accounts is None:
            return None
        where = accounts.territory(self.assignment)
        current = accounts.current != NO_TERRITORY
        return pd.DataFrame({
            "account": accounts.ids,
            "unit": s.item_ids[accounts.unit],
            "territory": s.territory_label(where),
            "locked": accounts.locked,
            "moved": current & (where != accounts.current),
        })

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
            "kpis": {k: _finite(v) for k, v in self.evaluation.metrics.items()},
            "violations": [str(v) for v in self.evaluation.violations],
        }

    def write(self, directory: str | Path) -> Path:
        """Write the plan directory atomically; refuse to overwrite an existing path."""

        def fill(folder: Path) -> None:
            self.assignment_frame().to_csv(folder / ASSIGNMENT_FILE, index=False)
            self.evaluation.territories.to_csv(folder / TERRITORIES_FILE, index=False,
                                               float_format="%.6g")
            accounts = self.accounts_frame()
            if accounts is not None:
                accounts.to_csv(folder / ACCOUNTS_FILE, index=False)
            quotas = self.quotas_frame()
            if quotas is not None:
                quotas.to_csv(folder / QUOTAS_FILE, index=False, float_format="%.10g")
            (folder / PLAN_FILE).write_text(json.dumps(self.summary(), indent=2) + "\n",
                                            encoding="utf-8")

        return write_folder(directory, fill)

    @classmethod
    def read(cls, directory: str | Path, scenario: Scenario | None = None) -> Plan:
        """Read a plan directory; loads its scenario from ``plan.json`` unless one is given."""
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
        assignment = read_assignment(scenario, directory / ASSIGNMENT_FILE)
        return cls(
            scenario=scenario,
            assignment=assignment,
            status=Status(meta["status"]),
            bound=_number(meta.get("bound"), missing=-math.inf),
            backend=meta.get("backend", "unknown"),
            bound_source=meta.get("bound_source", "none"),
            options=meta.get("options", {}),
            seconds=meta.get("seconds", {}),
            solver_objective=_number(meta.get("solver_objective")),
            scenario_digest=meta["scenario"].get("digest"),
            stop_reason=meta.get("stop_reason", ""),
            found_by=meta.get("found_by", ""),
        )

    @property
    def scenario_changed(self) -> bool:
        """Whether the scenario's files differ from those the plan was made from."""
        return self.scenario_digest is not None and self.scenario_digest != self.scenario.digest

    def territories_frame(self) -> pd.DataFrame:
        """One-call DataFrame view of the per-territory KPIs: a copy of
        ``evaluation.territories`` (what ``territories.csv`` holds), one row per territory,
        so editing it leaves the plan's evaluation alone."""
        return self.evaluation.territories.copy()

    def _repr_html_(self) -> str:
        """Jupyter: scenario, status, backend, objective, bound, gap and seed, then the
        evaluation (KPIs, territories, violations)."""
        from territory_opt.display import plan_html

        return plan_html(self)


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
    return out


def _pick(frame: pd.DataFrame, names: list[str], path: Path, what: str) -> str:
    for name in names:
        if name in frame.columns:
            return name
    raise scenario_error(path, what, f"columns {list(frame.columns)}",
                         f"a column named one of {sorted(set(names))}")


def _finite(value: float) -> float | None:
    """JSON has no inf/NaN: write null."""
    return float(value) if value is not None and math.isfinite(value) else None


def _number(value: float | None, missing: float = math.nan) -> float:
    return missing if value is None else float(value)
