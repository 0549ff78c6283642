"""``objective.priorities``: criteria minimised level by level instead of a weighted sum.

The alignment MIP is built once (:func:`~territory_opt.alignment.formulation.build_alignment`,
every allowed pair; its pair costs are dropped). With ``balance`` among the criteria, it gains
two deviation columns per balance attribute and territory and one row each:
``load_k − d⁺_k + d⁻_k = target_k``, so balance ``= Σ (d⁺ + d⁻) / target`` is linear
(:mod:`territory_opt.kpi.priorities` defines every criterion). Level ``n`` minimises criterion
``n`` subject to every hard rule and, for each earlier level ``j``, one more row:
``criterion_j <= (1 + slack_j) × reached_j + tolerance``, where ``reached_j`` is the value
level ``j``'s plan reached (re-evaluated from its assignment; its proven bound is reported
beside it). Level ``j``'s plan meets all of those rows, so it is the next level's warm start
and no level can be infeasible once the first has a plan: a later level that finds nothing
better in its time keeps the plan before it.

Time (or work) is shared: each level gets an equal part of what the levels before it left.
The plan is optimal only when every level was proven optimal; its ``bound`` is the last
level's, valid for the last criterion under the earlier levels' limits.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from territory_opt.alignment.diagnose import solver_conflicts
from territory_opt.alignment.formulation import AlignmentModel, build_alignment
from territory_opt.alignment.heuristic import AlignmentBackend
from territory_opt.backends.contract import (
    Backend,
    Progress,
    SolveOptions,
    SolveResult,
    Status,
    relative_gap,
    stop_status,
)
from territory_opt.backends.linear import LinearModel, RowGroup
from territory_opt.backends.registry import get_backend
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.errors import InfeasibleError, NoPlanFoundError, TerritoryOptError
from territory_opt.kpi.priorities import (
    balance_attributes,
    balance_scale,
    criterion_value,
    pair_coefficients,
)
from territory_opt.plan import Plan
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.settings import SolveSettings

LIMIT_TOLERANCE = 1e-6
"""A level's limit on an earlier criterion adds this much, relative (absolute below 1): the
solver's feasibility tolerance must not cut off the earlier level's own plan."""


@dataclass(frozen=True, eq=False)
class LevelModels:
    """The alignment model with the deviation columns and rows, and each criterion as an
    objective vector over its columns (with a constant)."""

    model: AlignmentModel
    linear: LinearModel
    objectives: dict[str, tuple[np.ndarray, float]]
    deviation: slice  # the deviation columns (d⁺, d⁻ interleaved per attribute × territory)
    deviation_rows: slice

    def level(self, criterion: str, limits: list[tuple[str, float]]) -> LinearModel:
        """Minimise ``criterion`` with each ``(earlier criterion, limit)`` as a row."""
        base = self.linear
        c, offset = self.objectives[criterion]
        if not limits:
            return dataclasses.replace(base, c=c, offset=offset)
        rows = sp.csr_array(np.vstack([self.objectives[name][0] for name, _ in limits]))
        hi = np.array([limit - self.objectives[name][1] for name, limit in limits])
        groups = tuple(RowGroup(f"priority {name}", base.n_rows + j, base.n_rows + j + 1)
                       for j, (name, _) in enumerate(limits))
        return dataclasses.replace(
            base, c=c, offset=offset, a=sp.csr_array(sp.vstack([base.a, rows])),
            row_lo=np.concatenate([base.row_lo, np.full(len(limits), -np.inf)]),
            row_hi=np.concatenate([base.row_hi, hi]),
            row_groups=(*base.row_groups, *groups))

    def start(self, assignment: np.ndarray) -> np.ndarray:
        """The full column vector of ``assignment``: pairs, slacks and tight deviations."""
        x = np.zeros(self.linear.n_cols)
        x[: self.model.linear.n_cols] = self.model.start_vector(assignment)
        rows = self.deviation_rows
        if rows.stop > rows.start:
            activity = self.linear.a[rows] @ x
            gap = self.linear.row_lo[rows] - activity  # target − load
            x[self.deviation.start:self.deviation.stop:2] = np.maximum(-gap, 0.0)
            x[self.deviation.start + 1:self.deviation.stop:2] = np.maximum(gap, 0.0)
        return x


def level_models(scenario: Scenario) -> LevelModels:
    """The model every level shares (module docstring) and each criterion's objective."""
    model = build_alignment(scenario)
    base = model.linear
    item, territory = model.pair_item, model.pair_territory
    n_pairs, n_base = len(item), base.n_cols
    m = scenario.n_territories
    attributes = balance_attributes(scenario)
    n_dev = 2 * m * len(attributes)
    n_cols = n_base + n_dev
    rows, cols, vals, targets, scales = [], [], [], [], []
    for g, attribute in enumerate(attributes):
        rows.append(g * m + territory)
        cols.append(np.arange(n_pairs))
        vals.append(scenario.pair_load(attribute, item, territory))
        plus = n_base + 2 * (g * m + np.arange(m))
        rows += [g * m + np.arange(m), g * m + np.arange(m)]
        cols += [plus, plus + 1]
        vals += [-np.ones(m), np.ones(m)]
        targets.append(scenario.targets(attribute))
        scales.append(balance_scale(scenario, attribute))
    n_rows = m * len(attributes)
    if n_rows:
        extra = sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n_rows, n_cols))
        target = np.concatenate(targets)
    else:
        extra, target = sp.csr_array((0, n_cols)), np.zeros(0)
    widened = sp.csr_array(sp.hstack([base.a, sp.csr_array((base.n_rows, n_dev))]))
    linear = LinearModel(
        c=np.zeros(n_cols), offset=0.0,
        lb=np.concatenate([base.lb, np.zeros(n_dev)]),
        ub=np.concatenate([base.ub, np.full(n_dev, np.inf)]),
        integer=np.concatenate([base.integer, np.zeros(n_dev, dtype=bool)]),
        a=sp.csr_array(sp.vstack([widened, extra])),
        row_lo=np.concatenate([base.row_lo, target]),
        row_hi=np.concatenate([base.row_hi, target]),
        row_groups=(*base.row_groups,
                    *([RowGroup("priority balance deviation", base.n_rows, base.n_rows + n_rows)]
                      if n_rows else [])))
    objectives: dict[str, tuple[np.ndarray, float]] = {}
    for p in scenario.spec.objective.priorities or ():
        c = np.zeros(n_cols)
        if p.criterion == "balance":
            per_territory = 1.0 / np.concatenate(scales)
            c[n_base::2] = per_territory
            c[n_base + 1::2] = per_territory
            objectives["balance"] = (c, 0.0)
        else:
            coefficient, constant = pair_coefficients(scenario, p.criterion, item, territory)
            c[:n_pairs] = coefficient
            objectives[p.criterion] = (c, constant)
    return LevelModels(model, linear, objectives, slice(n_base, n_cols),
                       slice(base.n_rows, base.n_rows + n_rows))


@dataclass(frozen=True)
class Level:
    """What one level's solve reached: its plan's value, its valid bound, the limit later
    levels kept it within, and how its search ended."""

    criterion: str
    slack: float
    reached: float
    bound: float
    limit: float
    status: Status
    stop_reason: str
    seconds: float
    work: float | None

    @property
    def proven(self) -> bool:
        """Whether the level's value is proven optimal (within the optimality gap)."""
        return stop_status(self.reached, self.bound, gap_target=0.0)[0] == Status.OPTIMAL

    def as_dict(self, value: float) -> dict[str, Any]:
        """The level for ``plan.json`` (``value``: the final plan's)."""
        def finite(v: float) -> float | None:
            return round(v, 9) if math.isfinite(v) else None

        return {"criterion": self.criterion, "slack": self.slack, "reached": finite(self.reached),
                "bound": finite(self.bound), "gap": finite(relative_gap(self.reached, self.bound)),
                "limit": finite(self.limit), "value": finite(value),
                "status": "optimal" if self.proven else str(self.status),
                "stop_reason": self.stop_reason, "seconds": round(self.seconds, 3),
                "work": self.work}


def _level_deadline(deadline: Deadline, levels_left: int) -> Deadline:
    """An equal part, of ``levels_left``, of what ``deadline`` has left."""
    if deadline.work is not None:
        left = deadline.work_left() / deadline.work if deadline.work > 0 else 0.0
    else:
        whole = deadline.seconds - deadline.reserve
        left = deadline.remaining() / whole if whole > 0 and math.isfinite(whole) else 1.0
    return deadline.share(max(left, 0.0) / levels_left)


def _start(models: LevelModels, settings: SolveSettings) -> np.ndarray | None:
    scenario = models.model.scenario
    warm = settings.warm_start
    if isinstance(warm, np.ndarray):
        return models.start(warm)
    if scenario.has_current and not (scenario.current == NO_TERRITORY).any():
        return models.start(scenario.current)
    return None


def solve_priorities(scenario: Scenario, settings: SolveSettings, deadline: Deadline,
                     backend: Backend, choice: dict[str, str] | None) -> Plan:
    """The plan of a scenario with ``objective.priorities`` (module docstring).

    Raises
    ------
    InfeasibleError
        The first level has no plan: no assignment meets every hard rule.
    NoPlanFoundError
        The first level found no plan in its time.
    """
    if isinstance(backend, AlignmentBackend):  # the support matrix refuses it first
        raise TerritoryOptError(f"objective.priorities: the {backend.name} path cannot solve "
                                "the level models; use an exact backend (highs, cpsat, scip, cbc)")
    priorities = scenario.spec.objective.priorities or []
    if backend.name == "cpsat" and any(p.criterion == "balance" for p in priorities[:-1]):
        # Its deviation columns sit in the balance rows and in the later levels' cap row; the
        # CP-SAT translation takes a continuous column in one row only. Refuse before solving.
        raise TerritoryOptError(
            "objective.priorities: cpsat cannot solve a level after a balance level (the "
            "balance deviations would be continuous columns in two rows); use --backend highs, "
            "scip or cbc, or put balance last")
    watch = Stopwatch()
    models = level_models(scenario)
    built = watch.seconds()
    options = SolveOptions(time_limit=deadline.seconds, gap=settings.gap,
                           threads=settings.threads, seed=settings.seed,
                           verbose=settings.verbose, stop=deadline.stop, work_limit=deadline.work)
    limits: list[tuple[str, float]] = []
    levels: list[Level] = []
    x = _start(models, settings)
    assignment: np.ndarray | None = None
    last = SolveResult(Status.NO_PLAN, None, math.inf, -math.inf, 0.0)
    for n, priority in enumerate(priorities):
        name = f"level {n + 1}/{len(priorities)}: {priority.criterion}"
        share = _level_deadline(deadline, len(priorities) - n)
        linear = models.level(priority.criterion, limits)
        sub = dataclasses.replace(options.within(share), warm_start=x,
                                  progress=_forward(settings, name, deadline))
        result = (backend.solve(linear, sub) if not share.over(0.05)
                  else SolveResult(Status.NO_PLAN, None, math.inf, -math.inf, 0.0,
                                   stop_reason=deadline.limit_reason()))
        share.spend(result.work)
        if result.status == Status.ERROR:
            raise TerritoryOptError(f"{backend.name} failed on {name}.\n{result.log[-2000:]}")
        found = _assignment(models, result)
        if n == 0 and found is None:
            _no_first_plan(scenario, backend, options, result, deadline)
        if found is not None:
            assignment, x = found, models.start(found)
        assert assignment is not None
        reached = criterion_value(scenario, priority.criterion, assignment)
        bound = result.bound if math.isfinite(result.bound) else -math.inf
        kept = "" if found is not None else f"; kept level {n}'s plan"
        limit = (1 + priority.slack) * reached + LIMIT_TOLERANCE * max(1.0, abs(reached))
        levels.append(Level(priority.criterion, priority.slack, reached, min(bound, reached),
                            limit, result.status, (result.stop_reason or "") + kept,
                            result.seconds, result.work))
        limits.append((priority.criterion, limit))
        last = result
    assert assignment is not None
    status, reason = _final_status(scenario, assignment, levels, options, deadline, last)
    final = levels[-1]
    return Plan(
        scenario=scenario, assignment=assignment, status=status, bound=final.bound,
        bound_source=f"{backend.name}, last priority level ({final.criterion})",
        backend=backend.name,
        options={"time_limit": settings.time_limit, "work_limit": deadline.work,
                 "gap": options.gap, "threads": options.threads, "seed": options.seed,
                 "warm_start": settings.warm_start_name},
        seconds={"build": built, "solve": sum(level.seconds for level in levels),
                 "total": watch.seconds()},
        solver_objective=last.objective, scenario_digest=scenario.digest, stop_reason=reason,
        found_by=backend.name, work=deadline.spent, choice=choice,
        priorities=tuple(level.as_dict(criterion_value(scenario, level.criterion, assignment))
                         for level in levels),
    )


def _forward(settings: SolveSettings, name: str, deadline: Deadline
             ) -> Callable[[Progress], None] | None:
    forward = settings.progress
    if forward is None:
        return None

    def record(event: Progress) -> None:
        forward(dataclasses.replace(event, phase=name, seconds=deadline.elapsed()))

    return record


def _assignment(models: LevelModels, result: SolveResult) -> np.ndarray | None:
    if not result.status.has_plan or result.x is None:
        return None
    a = models.model.assignment(result.x)
    return a if (a != NO_TERRITORY).all() else None


def _no_first_plan(scenario: Scenario, backend: Backend, options: SolveOptions,
                   result: SolveResult, deadline: Deadline) -> None:
    """Raise why the first level has no plan: infeasible (confirmed and explained by HiGHS),
    or none found in time."""
    if result.status == Status.INFEASIBLE:
        highs = get_backend("highs")
        probe = Deadline(max(deadline.remaining() if deadline.work is None else 0.0, 5.0),
                         stop=deadline.stop)
        raise InfeasibleError(solver_conflicts(
            scenario, highs, dataclasses.replace(options, work_limit=None).within(probe)))
    first = (scenario.spec.objective.priorities or [])[0].criterion
    raise NoPlanFoundError(
        f"{backend.name} found no plan for the first priority level ({first}) in its share "
        "of the limit. Try a longer --time-limit or another --backend.")


def _final_status(scenario: Scenario, assignment: np.ndarray, levels: list[Level],
                  options: SolveOptions, deadline: Deadline, last: SolveResult
                  ) -> tuple[Status, str]:
    """Optimal only when every level was proven; else feasible, naming the first level that
    was not."""
    final = levels[-1]
    value = criterion_value(scenario, final.criterion, assignment)
    status, reason = stop_status(value, final.bound, gap_target=options.gap,
                                 interrupted=deadline.interrupted,
                                 solver_optimal=last.status == Status.OPTIMAL,
                                 solver_reason=last.stop_reason or deadline.limit_reason())
    unproven = [(n, level) for n, level in enumerate(levels[:-1]) if not level.proven]
    if status == Status.OPTIMAL and unproven:
        n, level = unproven[0]
        gap = relative_gap(level.reached, level.bound)
        return Status.FEASIBLE, (f"priority level {n + 1} ({level.criterion}) not proven "
                                 f"optimal (gap {gap:.3%}); the last level is")
    return status, reason
