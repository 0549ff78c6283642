"""CP-SAT backend (OR-Tools): the model made integral, then solved by CP-SAT.

CP-SAT accepts integer variables and integer coefficients only, so the
:class:`~territory_opt.backends.linear.LinearModel` is translated (rules and a worked example in
``docs/backends-cpsat.md``, section "CP-SAT integer scaling"):

* integer columns stay integer (``[0, 1]`` ones become Booleans);
* every row is multiplied by the smallest ``10**d`` (``d`` in 0..6) that makes it integral to
  1e-9 relative. A row that no such ``d`` makes integral is *inexact*: its coefficients are
  rounded and its bounds tightened by the worst-case rounding error, so CP-SAT only finds points
  that are feasible in floats;
* a continuous column (a slack: bounded below, in exactly one row) becomes an integer count of
  its row's scaled units, with coefficient ±1; an infinite upper bound is replaced by the largest
  value a vertex can need;
* the objective is multiplied by one power of ten ``S`` and each cost rounded towards the side
  that can only understate the objective (down, for the non-negative columns of our models).

The plan is scored again in floats (``model.objective(x)``). The bound is CP-SAT's bound divided
by ``S`` (less a rounding allowance, zero for non-negative columns); it is valid for the whole
model only when every row was scaled exactly, and ``-inf`` otherwise.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from territory_opt.backends.contract import (
    Capabilities,
    Progress,
    SolveOptions,
    SolveResult,
    Status,
    final_status,
    module_available,
    watch_stop,
)
from territory_opt.backends.integer_scaling import (
    EmptyDomainError,
    Translation,
    UnsupportedModelError,
    translate,
)
from territory_opt.backends.linear import LinearModel
from territory_opt.deadline import Deadline, Stopwatch

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

DEFAULT_WORKERS = 2
"""CP-SAT workers when ``SolveOptions.threads`` is None (the machine this was tuned on has 2)."""


class CpSatBackend:
    """OR-Tools CP-SAT on an integer-scaled copy of the model; reports a bound when exact."""

    name = "cpsat"
    capabilities = Capabilities(
        work_unit="CP-SAT deterministic seconds (1 worker)",
        notes=(
            "integer-scaled copy of the model (docs/backends-cpsat.md); "
            f"{DEFAULT_WORKERS} workers unless threads is set (this machine has 2 cores); "
            "with more than one worker interleave_search is on (core worker left out), so the "
            "same seed and threads give the same plan when the solve ends on optimality or the "
            "gap target, not when cut by the clock or a stop; slower to a first plan than "
            "CP-SAT's racing portfolio; bound = -inf when some row cannot be scaled exactly; "
            "a work limit (max_deterministic_time) runs one worker and no time limit"
        ),
    )

    def available(self) -> bool:
        """Whether OR-Tools is installed."""
        return module_available("ortools")

    def solve(self, model: LinearModel, options: SolveOptions) -> SolveResult:
        """Solve ``model`` with CP-SAT under ``options`` (the contract:
        :mod:`territory_opt.backends.contract`).

        Parameters
        ----------
        model
            The model to minimise.
        options
            Limits, threads, seed, warm start, progress callback and stop flag.

        Returns
        -------
        SolveResult
            The plan re-scored in floats, and a bound that holds for the whole model (``-inf``
            when some row was scaled inexactly).
        """
        started = Stopwatch()
        # The limit counts from here (translation included); under a work limit the deadline
        # has no end in time, and CP-SAT gets no time limit.
        deadline = Deadline(options.time_limit,
                            stop=options.stop if options.stop is not None else threading.Event(),
                            work=options.work_limit)
        if options.stop is not None and options.stop.is_set():
            return _no_plan(started, "stop was set before the solve started", "interrupted")
        try:
            tr = translate(model)
        except UnsupportedModelError as exc:
            return SolveResult(Status.ERROR, None, float("inf"), float("-inf"),
                               started.seconds(), log=f"cpsat: {exc}",
                               stop_reason="model not supported by the CP-SAT translation")
        except EmptyDomainError as exc:
            return SolveResult(Status.INFEASIBLE, None, float("inf"), float("inf"),
                               started.seconds(), log=f"cpsat: {exc}",
                               stop_reason="proven infeasible",
                               bound_source="empty integer domain")
        try:
            from ortools.sat.python import cp_model
        except ImportError as exc:  # available() said yes, but the import failed
            return SolveResult(Status.ERROR, None, float("inf"), float("-inf"),
                               started.seconds(), log=f"cpsat: {exc}")
        return _Run(cp_model, model, tr, options, started, deadline).solve()


# --- solving ----------------------------------------------------------------------------------


class _Run:
    """One CP-SAT solve of a translated model."""

    def __init__(self, cp: Any, model: LinearModel, tr: Translation, options: SolveOptions,
                 started: Stopwatch, deadline: Deadline) -> None:
        self.cp = cp
        self.model = model
        self.tr = tr
        self.options = options
        self.started = started
        self.deadline = deadline
        self.log: list[str] = list(tr.notes)
        self.work = 0.0  # CP-SAT's deterministic time, once it has run

    def solve(self) -> SolveResult:
        """Build, solve, and map the outcome onto a :class:`SolveResult`."""
        cp_model_ = self._build()
        solver = self.cp.CpSolver()
        self._configure(solver)
        errors: list[Exception] = []
        reporter = _reporter(self.model, self.tr, self.options.progress, errors)
        end_watch = watch_stop(self.options.stop, solver.stop_search)
        try:
            status = solver.solve(cp_model_, reporter)
        except Exception as exc:  # a solver failure is a result, not a crash (the contract)
            self.log.append(f"cpsat: solve failed: {exc!r}")
            return self._result(Status.ERROR, None, float("-inf"), "solver failure")
        finally:
            end_watch()
        if errors:  # the caller's progress callback failed: that is the caller's error
            raise errors[0]
        return self._map(solver, status, cp_model_)

    def _build(self) -> cp_model.CpModel:
        """The CP-SAT model: one variable per kept column, one constraint per bounded row."""
        cp, tr = self.cp, self.tr
        m: cp_model.CpModel = cp.CpModel()
        variables: list[Any] = [
            m.new_bool_var(f"x{j}") if boolean else m.new_int_var(lo, hi, f"x{j}")
            for j, lo, hi, boolean in zip(tr.cols.tolist(), tr.lb.tolist(), tr.ub.tolist(),
                                          tr.boolean.tolist(), strict=True)
        ]
        weighted_sum = cp.LinearExpr.weighted_sum
        indptr, var, coef = tr.indptr.tolist(), tr.var.tolist(), tr.coef.tolist()
        for i, (lo, hi) in enumerate(zip(tr.row_lo.tolist(), tr.row_hi.tolist(), strict=True)):
            if lo == -math.inf and hi == math.inf:
                continue
            start, stop = indptr[i], indptr[i + 1]
            low = cp.INT_MIN if lo == -math.inf else int(lo)
            high = cp.INT_MAX if hi == math.inf else int(hi)
            if start == stop or low > high:
                if not low <= 0 <= high:  # an empty or contradictory row: infeasible
                    m.add_bool_or([])
                continue
            expr = weighted_sum([variables[k] for k in var[start:stop]], coef[start:stop])
            m.add_linear_constraint(expr, low, high)
        costly = np.flatnonzero(tr.cost).tolist()
        if costly:
            m.minimize(weighted_sum([variables[k] for k in costly], tr.cost[costly].tolist()))
        self._hint(m, variables)
        return m

    def _hint(self, m: cp_model.CpModel, variables: list[Any]) -> None:
        """The warm start as a hint: integers rounded, slacks in row units, all clipped."""
        start = self.options.warm_start
        if start is None:
            return
        start = np.asarray(start, dtype=float)
        if start.shape != (self.model.n_cols,):
            self.log.append(f"cpsat: warm start of shape {start.shape} ignored "
                            f"(expected ({self.model.n_cols},))")
            return
        values = start[self.tr.cols] * self.tr.unit
        ok = np.isfinite(values)
        hint = np.clip(np.rint(values[ok]), self.tr.lb[ok], self.tr.ub[ok]).astype(np.int64)
        for k, value in zip(np.flatnonzero(ok).tolist(), hint.tolist(), strict=True):
            m.add_hint(variables[k], value)
        self.log.append(f"cpsat: hint on {int(ok.sum())} of {len(values)} variables")

    def _configure(self, solver: cp_model.CpSolver) -> None:
        """Limits, threads, seed, determinism and logging."""
        options = self.options
        params = solver.parameters
        if options.work_limit is None:
            params.max_time_in_seconds = self.deadline.remaining()
        else:  # deterministic: no time limit, and one worker (a portfolio's split is not)
            params.max_deterministic_time = max(float(options.work_limit), 0.0)
        params.relative_gap_limit = float(options.gap)
        workers = DEFAULT_WORKERS if options.threads is None else int(options.threads)
        if options.work_limit is not None:
            if workers != 1:
                self.log.append(f"cpsat: work limit: 1 worker instead of {workers} "
                                "(the deterministic time of one worker is reproducible)")
            workers = 1
            self.log.append(f"cpsat: work limit {options.work_limit:g} deterministic "
                            "seconds, no time limit")
        params.num_workers = workers
        params.random_seed = int(options.seed)
        if workers != 1:
            # CP-SAT's parallel portfolio races its workers; interleaving runs them in fixed
            # batches so the same seed and worker count give the same search.
            params.interleave_search = True
            # A batch waits for its slowest task, and the core-based worker can overrun its
            # share many times over: on a 20-binary model with soft bands one batch took 10 s
            # (0.01 s without it). The LP-based workers give the bound on these models.
            params.ignore_subsolvers.append("core")
        params.log_search_progress = True
        params.log_to_stdout = bool(options.verbose)
        stop, stopped = options.stop, [False]

        def on_log(line: str) -> None:
            self.log.append(line.rstrip("\n"))
            # watch_stop may fire before CP-SAT is ready to be stopped; the first log lines
            # come from inside the solve, so a stop set in that window is caught here.
            if stop is not None and not stopped[0] and stop.is_set():
                stopped[0] = True
                solver.stop_search()

        solver.log_callback = on_log
        self.log.append(f"cpsat: {workers} workers, interleave_search={workers != 1}, "
                        f"seed {options.seed}")

    def _map(self, solver: cp_model.CpSolver, status: Any, m: cp_model.CpModel) -> SolveResult:
        """CP-SAT's status, solution and bound in the model's terms."""
        cp, tr = self.cp, self.tr
        interrupted = self.deadline.interrupted
        if interrupted:
            limit = "interrupted"
        else:
            limit = "time limit" if self.options.work_limit is None else "work limit"
        self.work = float(solver.deterministic_time)
        if status in (cp.OPTIMAL, cp.FEASIBLE):
            values = np.fromiter(solver.response_proto.solution, dtype=np.int64,
                                 count=len(tr.cols))
            x = tr.to_model(values.astype(float))
            self._check(x)
            bound = self._bound(solver)
            if status == cp.FEASIBLE:
                return self._result(Status.FEASIBLE, x, bound, limit)
            mapped, demoted = final_status(Status.OPTIMAL, self.model.objective(x), bound)
            if demoted and not tr.exact:
                demoted = "optimal for the integer-scaled model; no bound (inexact rows)"
            elif demoted and tr.allowance > 0:
                demoted = f"gap target reached (rounding allowance {tr.allowance:.3g})"
            return self._result(mapped, x, bound, demoted or "proven optimal")
        if status == cp.INFEASIBLE:
            if tr.exact:
                return self._result(Status.INFEASIBLE, None, float("inf"), "proven infeasible")
            self.log.append("cpsat: the integer-scaled model is infeasible, but inexact rows "
                            "were tightened, so the model itself may be feasible")
            return self._result(Status.NO_PLAN, None, float("-inf"),
                                "infeasible after inexact scaling (not a proof)")
        if status == cp.MODEL_INVALID:
            self.log.append(f"cpsat: model invalid: {m.validate()}")
            return self._result(Status.ERROR, None, float("-inf"), "model invalid")
        return self._result(Status.NO_PLAN, None, self._bound(solver), limit)

    def _bound(self, solver: cp_model.CpSolver) -> float:
        """CP-SAT's bound in model units, or -inf when it does not hold for the model."""
        return self.tr.to_bound(float(solver.best_objective_bound))

    def _check(self, x: np.ndarray) -> None:
        """Log how far the mapped solution is from feasible in floats (should be ~0)."""
        activity = self.model.a @ x
        lo, hi = self.model.row_lo, self.model.row_hi
        with np.errstate(invalid="ignore"):
            excess = np.maximum(np.nan_to_num(lo - activity, nan=0.0, neginf=0.0),
                                np.nan_to_num(activity - hi, nan=0.0, neginf=0.0))
            scale = np.maximum(1.0, np.abs(np.where(np.isfinite(lo), lo, 0.0)) +
                               np.abs(np.where(np.isfinite(hi), hi, 0.0)))
        worst = float((excess / scale).max(initial=0.0))
        if worst > 1e-7:
            self.log.append(f"cpsat: warning: solution violates a row by {worst:.3g} relative")

    def _result(self, status: Status, x: np.ndarray | None, bound: float,
                reason: str) -> SolveResult:
        has_plan = status.has_plan and x is not None
        if not self.tr.exact and status != Status.INFEASIBLE:
            source = "none: some rows scaled inexactly"
        elif status == Status.INFEASIBLE:
            source = "CP-SAT infeasibility proof (exact scaling)"
        else:
            source = "CP-SAT best objective bound / S − rounding allowance"
        return SolveResult(
            status=status,
            x=x if has_plan else None,
            objective=self.model.objective(x) if has_plan and x is not None else float("inf"),
            bound=bound,
            seconds=self.started.seconds(),
            log="\n".join(self.log),
            stop_reason=reason,
            bound_source=source,
            work=self.work,
        )


def _reporter(
    model: LinearModel,
    tr: Translation,
    progress: Callable[[Progress], None] | None,
    errors: list[Exception],
) -> cp_model.CpSolverSolutionCallback | None:
    """A solution callback that reports each incumbent in model units, or None.

    An exception raised by ``progress`` stops the search and is kept in ``errors`` to be raised
    once CP-SAT has returned (raising inside CP-SAT's thread would lose it).
    """
    if progress is None:
        return None
    report = progress  # narrowed, for the class body
    from ortools.sat.python import cp_model

    class Reporter(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self) -> None:
            if errors:
                return
            # The objective is re-scored in floats, like the final plan; the callback's own
            # objective is the rounded integer one.
            values = np.fromiter(self.response_proto.solution, dtype=np.int64,
                                 count=len(tr.cols))
            objective = model.objective(tr.to_model(values.astype(float)))
            bound = tr.to_bound(float(self.best_objective_bound))
            try:
                report(Progress(objective, bound, float(self.wall_time), phase="CP-SAT"))
            except Exception as exc:
                errors.append(exc)
                self.stop_search()

    return Reporter()


def _no_plan(started: Stopwatch, message: str, reason: str) -> SolveResult:
    return SolveResult(Status.NO_PLAN, None, float("inf"), float("-inf"),
                       started.seconds(), log=f"cpsat: {message}",
                       stop_reason=reason)
