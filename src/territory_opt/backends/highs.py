"""HiGHS backend (``highspy``): the default MIP solver."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from territory_opt.backends.contract import (
    Capabilities,
    Progress,
    SolveOptions,
    SolveResult,
    Status,
    final_status,
    module_available,
)
from territory_opt.backends.linear import LinearModel
from territory_opt.deadline import Stopwatch

_FEASIBLE_SOLUTION = 2  # HiGHS's kSolutionStatusFeasible


class HighsBackend:
    """Branch-and-cut by HiGHS; reports its proven dual bound."""

    name = "highs"
    capabilities = Capabilities(
        incremental_lp=True,
        work_unit="branch-and-bound nodes (MIP), simplex iterations (LP)",
        notes="default; deterministic for a given seed and thread count",
    )

    def available(self) -> bool:
        """Whether highspy is installed."""
        return module_available("highspy")

    def lp_session(self, model: LinearModel,
                   settings: Mapping[str, bool | int | float | str] | None = None) -> Any:
        """A ``highspy.Highs`` holding ``model``, its ``settings`` (HiGHS options) set first;
        the caller adds columns, changes bounds and re-runs it (column generation)."""
        import highspy

        h = new_highs(highspy)
        for key, value in (settings or {}).items():
            h.setOptionValue(key, value)
        h.passModel(to_highs_lp(highspy, model))
        return h

    def solve(self, model: LinearModel, options: SolveOptions) -> SolveResult:
        """Solve ``model`` with HiGHS under ``options``."""
        import highspy

        watch = Stopwatch()
        is_mip = bool(model.integer.any())
        h = new_highs(highspy)
        log: list[str] = []
        h.setOptionValue("log_to_console", bool(options.verbose))
        work_limit = _set_limit(h, options, is_mip, log)
        h.setOptionValue("mip_rel_gap", float(options.gap))
        if options.abs_gap > 0:
            h.setOptionValue("mip_abs_gap", float(options.abs_gap))
        h.setOptionValue("random_seed", int(options.seed))
        if options.solution_limit is not None:
            h.setOptionValue("mip_max_improving_sols", int(options.solution_limit))
        if options.threads is not None:
            # HiGHS keeps one thread scheduler per process; a different thread count needs a
            # fresh one, or the solve fails with "scheduler has already been initialized".
            highspy.Highs.resetGlobalScheduler(True)
            h.setOptionValue("threads", int(options.threads))
        h.cbLogging.subscribe(lambda event: log.append(str(event.message).rstrip("\n")))
        _subscribe(highspy, h, options)
        h.passModel(to_highs_lp(highspy, model))
        if options.warm_start is not None:
            start = highspy.HighsSolution()
            start.col_value = list(map(float, options.warm_start))
            start.value_valid = True
            h.setSolution(start)
        h.run()

        status = h.getModelStatus()
        info = h.getInfo()
        work = float(info.mip_node_count if is_mip else info.simplex_iteration_count)
        has_solution = info.primal_solution_status == _FEASIBLE_SOLUTION
        solution = h.getSolution()
        x = np.asarray(solution.col_value, dtype=float) if has_solution else None
        reduced = (np.asarray(solution.col_dual, dtype=float)
                   if not is_mip and solution.dual_valid else None)
        objective = float(info.objective_function_value) if has_solution else float("inf")
        mapped = _map_status(highspy, status, has_solution)
        if mapped == Status.OPTIMAL and not is_mip:
            bound = objective
        elif is_mip and np.isfinite(info.mip_dual_bound):
            bound = float(info.mip_dual_bound)
        else:
            bound = float("-inf")
        mapped, demoted = final_status(mapped, objective, bound)
        reason = demoted or _stop_reason(highspy, status)
        if (work_limit is not None and not demoted and mapped != Status.OPTIMAL
                and status in (highspy.HighsModelStatus.kSolutionLimit,
                               highspy.HighsModelStatus.kIterationLimit)
                and work >= work_limit):
            reason = "work limit"  # the node or iteration limit (HiGHS says "solution limit")
        return SolveResult(
            status=mapped,
            x=x,
            objective=objective if mapped.has_plan else float("inf"),
            bound=bound,
            seconds=watch.seconds(),
            log="\n".join(log),
            stop_reason=reason,
            bound_source="HiGHS MIP dual bound" if is_mip else "HiGHS LP optimum",
            reduced_costs=reduced,
            work=work,
        )


_MAX_INT_OPTION = 2**31 - 1
"""HiGHS's integer options are 32-bit."""


def _set_limit(h: Any, options: SolveOptions, is_mip: bool, log: list[str]) -> int | None:
    """The time limit, or with ``options.work_limit`` a node (MIP) or simplex iteration (LP)
    limit and no time limit at all, so nothing depends on the clock; the work limit set."""
    if options.work_limit is None:
        h.setOptionValue("time_limit", float(options.time_limit))
        return None
    limit = min(max(math.ceil(options.work_limit), 0), _MAX_INT_OPTION)
    h.setOptionValue("time_limit", math.inf)
    if is_mip:
        h.setOptionValue("mip_max_nodes", limit)
        log.append(f"highs: work limit {limit} branch-and-bound nodes, no time limit")
    else:
        # The simplex explicitly: "choose" might take the interior point method, whose
        # iterations are another unit.
        h.setOptionValue("solver", "simplex")
        h.setOptionValue("simplex_iteration_limit", limit)
        log.append(f"highs: work limit {limit} simplex iterations, no time limit")
    return limit


def _subscribe(highspy: Any, h: Any, options: SolveOptions) -> None:
    """Progress reports (at most once a second, and on each new incumbent) and the stop flag."""
    report, stop, last = options.progress, options.stop, [-1.0]
    if report is None and stop is None:
        return

    def on_event(event: Any) -> None:
        out = event.data_out
        if stop is not None and stop.is_set():
            event.data_in.user_interrupt = True
        if report is None:
            return
        improving = event.callback_type == highspy.cb.kCallbackMipImprovingSolution
        if improving or out.running_time - last[0] >= 1.0:
            last[0] = out.running_time
            report(Progress(out.mip_primal_bound, out.mip_dual_bound, out.running_time,
                            phase="HiGHS"))

    h.cbMipImprovingSolution.subscribe(on_event)
    h.cbMipInterrupt.subscribe(on_event)
    h.cbSimplexInterrupt.subscribe(on_event)


def new_highs(highspy: Any) -> Any:
    """A Highs instance, without the banner HiGHS prints on stdout the first time.

    The banner is written by C++ straight to file descriptor 1, where it would corrupt
    ``--json`` output, so the descriptor is pointed at /dev/null while the instance is made.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def to_highs_lp(highspy: Any, model: LinearModel) -> Any:
    """``model`` as a ``highspy.HighsLp`` (column-wise matrix)."""
    csc = model.a.tocsc()
    lp = highspy.HighsLp()
    lp.num_col_ = model.n_cols
    lp.num_row_ = model.n_rows
    lp.offset_ = float(model.offset)
    lp.col_cost_ = model.c
    lp.col_lower_ = model.lb
    lp.col_upper_ = model.ub
    lp.row_lower_ = model.row_lo
    lp.row_upper_ = model.row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr
    lp.a_matrix_.index_ = csc.indices
    lp.a_matrix_.value_ = csc.data
    if model.integer.any():
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
            for flag in model.integer
        ]
    return lp


def _stop_reason(highspy: Any, status: Any) -> str:
    s = highspy.HighsModelStatus
    reasons = {s.kOptimal: "proven optimal", s.kTimeLimit: "time limit",
               s.kSolutionLimit: "solution limit", s.kIterationLimit: "iteration limit",
               s.kInterrupt: "interrupted", s.kInfeasible: "proven infeasible",
               s.kMemoryLimit: "memory limit"}
    return reasons.get(status, str(status).rsplit(".", 1)[-1])


def _map_status(highspy: Any, status: Any, has_solution: bool) -> Status:
    s = highspy.HighsModelStatus
    if status == s.kOptimal:
        return Status.OPTIMAL
    if status in (s.kInfeasible, s.kUnboundedOrInfeasible):
        return Status.INFEASIBLE
    if status in (s.kTimeLimit, s.kIterationLimit, s.kInterrupt, s.kSolutionLimit,
                  s.kMemoryLimit, s.kHighsInterrupt, s.kUnknown, s.kObjectiveBound,
                  s.kObjectiveTarget):
        return Status.FEASIBLE if has_solution else Status.NO_PLAN
    if status == s.kModelEmpty:
        return Status.OPTIMAL
    return Status.ERROR
