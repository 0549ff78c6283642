"""Backends solving through PuLP: CBC (``cbc``) and any other solver PuLP reaches (``pulp:NAME``).

PuLP writes the model to a file and (for CBC) runs the solver as a subprocess, so every solve
gets a fresh temporary directory that is removed afterwards. PuLP exposes neither callbacks nor a
dual bound, hence:

* **progress**: none live; one report at the end;
* **bound**: for CBC it is read from the summary CBC prints at the end of its log ("Lower
  bound:", or the objective itself after "Optimal solution found" without a gap tolerance);
  other solvers give the objective when they prove optimality with a gap target within
  :data:`~territory_opt.backends.contract.OPTIMALITY_GAP`, else ``-inf``;
* **status**: PuLP reports ``status == 1`` ("Optimal") for a CBC run stopped by its time limit
  with a solution, so the mapping reads ``prob.sol_status`` (optimal / integer feasible / none);
* **stop** (CBC only): CBC traps SIGINT and, once branch-and-bound runs, stops and writes its
  best solution, which PuLP then reads as usual. The watcher finds this solve's CBC child by its
  temporary directory on the command line and repeats SIGINT until CBC exits (CBC ignores it
  while still setting up); after :data:`_STOP_GRACE` seconds it sends SIGTERM instead, and the
  solve returns NO_PLAN ("interrupted"). Finding the child needs ``/proc`` or ``pgrep``, so
  Windows cannot stop CBC early.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from territory_opt.backends.contract import (
    OPTIMALITY_GAP,
    Backend,
    Capabilities,
    Progress,
    SolveOptions,
    SolveResult,
    Status,
    final_status,
    module_available,
    watch_stop,
)
from territory_opt.backends.linear import LinearModel
from territory_opt.deadline import Deadline, Stopwatch

_CBC_SOLVERS = frozenset({"PULP_CBC_CMD", "COIN_CMD"})
"""PuLP solvers that run the CBC command line (log summary, MIP start, SIGINT)."""

_STOP_GRACE = 5.0
"""Seconds of SIGINT before a CBC that has not stopped is terminated."""

_TERMINATED = f"CBC ignored SIGINT for {_STOP_GRACE:g} s (still setting up) and was terminated"

_SEED_RANGE = 2**31 - 2
"""CBC's seeds run 0..2**31-1 where 0 means "time of day"; ours map to 1..2**31-2."""

_CBC_NOTES = (
    "CBC through PuLP (a subprocess); dual bound read from CBC's log summary; stop sends "
    "SIGINT, which keeps CBC's best plan once branch-and-bound runs (while CBC is still setting "
    f"up it is terminated after {_STOP_GRACE:g} s: no plan; not on Windows); threads > 1 use "
    "CBC's repeatable parallel mode; no live progress (one report at the end)"
)
_HIGHS_NOTES = (
    "HiGHS through PuLP: no warm start, no dual bound (only 'proven optimal'), stop not "
    "supported, no live progress; the native 'highs' backend does all of these"
)
_GENERIC_NOTES = (
    "through PuLP: options its PuLP wrapper does not take are not passed (the seed never is); "
    "no dual bound (only 'proven optimal'); stop not supported; no live progress"
)


class PulpBackend:
    """Any solver PuLP can reach, by its PuLP name (``PULP_CBC_CMD``, ``HiGHS``, ``GLPK_CMD`` ...).

    Parameters
    ----------
    solver_name
        The solver's name in PuLP (``pulp.listSolvers()``).
    name
        Backend name; defaults to ``pulp:<solver_name>``.
    """

    def __init__(self, solver_name: str, name: str | None = None) -> None:
        self.solver_name = solver_name
        self.name = name or f"pulp:{solver_name}"
        self.capabilities = _capabilities(solver_name)

    def __repr__(self) -> str:
        return f"PulpBackend({self.solver_name!r}, name={self.name!r})"

    def available(self) -> bool:
        """Whether PuLP is installed and reports this solver available.

        PuLP is imported here, and only when installed: asking PuLP is the only way to learn
        whether, say, a GLPK executable exists.
        """
        if not module_available("pulp"):
            return False
        pulp = _import_pulp()
        try:
            return bool(_new_solver(pulp, self.solver_name, {"msg": False}).available())
        except Exception:  # unknown name, or a wrapper failing to probe its solver
            return False

    def solve(self, model: LinearModel, options: SolveOptions) -> SolveResult:
        """Solve ``model`` through PuLP under ``options`` (see the module docstring).

        Parameters
        ----------
        model
            The minimisation problem to solve.
        options
            Limits, seed, threads, verbosity, warm start, stop flag and progress callback.

        Returns
        -------
        SolveResult
            Status from ``prob.sol_status``, solution, objective and the bound described above.
        """
        started = Stopwatch()
        if options.work_limit is not None:
            return _empty(Status.ERROR, started,
                          f"{self.name}: option work_limit: {self.name} has no deterministic "
                          "work limit; use highs or cpsat, or a time limit",
                          "work_limit not supported")
        pulp = _import_pulp()
        if options.stop is not None and options.stop.is_set():
            return _empty(Status.NO_PLAN, started, "stop was requested before the solve",
                          "interrupted")
        with tempfile.TemporaryDirectory(prefix="territory-opt-pulp-") as tmp:
            return _Run(pulp, self.solver_name, model, options, Path(tmp), started).result()


def other_pulp_backends() -> list[Backend]:
    """One :class:`PulpBackend` per solver PuLP reports available, except its bundled CBC.

    CBC is registered as ``cbc`` already. Returns ``[]`` when PuLP is not installed.
    """
    if not module_available("pulp"):
        return []
    pulp = _import_pulp()
    try:
        names = pulp.listSolvers(onlyAvailable=True)
    except Exception:  # a broken solver wrapper must not hide the other backends
        return []
    return [PulpBackend(name) for name in names if name != "PULP_CBC_CMD"]


def _import_pulp() -> Any:
    """PuLP, imported on first use (it ships no type information, hence ``Any``)."""
    return importlib.import_module("pulp")


def _capabilities(solver_name: str) -> Capabilities:
    """Honest flags per solver family (known without importing PuLP)."""
    if solver_name in _CBC_SOLVERS:
        return Capabilities(live_progress=False, notes=_CBC_NOTES)
    if solver_name == "HiGHS":
        return Capabilities(warm_start=False, bound=False, live_progress=False, stop=False,
                            notes=_HIGHS_NOTES)
    return Capabilities(warm_start=False, bound=False, deterministic=False,
                        live_progress=False, stop=False, notes=_GENERIC_NOTES)


# --- one solve --------------------------------------------------------------------------------


class _Run:
    """Build, configure, run and read back one PuLP solve inside the directory ``tmp``."""

    def __init__(self, pulp: Any, solver_name: str, model: LinearModel, options: SolveOptions,
                 tmp: Path, started: Stopwatch) -> None:
        self.pulp = pulp
        self.solver_name = solver_name
        self.model = model
        self.options = options
        self.tmp = tmp
        self.started = started
        self.log_path = tmp / "solver.log"
        self.notes: list[str] = []

    @property
    def is_cbc(self) -> bool:
        """Whether the solver is the CBC command line."""
        return self.solver_name in _CBC_SOLVERS

    @property
    def stopped(self) -> bool:
        """Whether the caller asked to stop."""
        return self.options.stop is not None and self.options.stop.is_set()

    def result(self) -> SolveResult:
        """Run the solve and map its outcome; never raises for a solver's failure."""
        try:
            prob, variables = _build(self.pulp, self.model)
            if self.options.warm_start is not None:
                _set_start(variables, self.model, self.options.warm_start)
            solver = self._solver()
        except Exception as exc:  # PuLP rejects the model (NaN, ...) or the options
            return _empty(Status.ERROR, self.started, f"PuLP could not set up the solve: {exc}",
                          "error")
        failure = self._run(prob, solver)
        log = self._log()
        if failure is not None:
            status = Status.NO_PLAN if self.stopped else Status.ERROR
            reason = "interrupted" if self.stopped else "error"
            return _empty(status, self.started, f"{log}\n{failure}".strip(), reason)
        return self._read(prob, variables, log)

    def _solver(self) -> Any:
        """The PuLP solver object, configured from the options (see :func:`_solver_kwargs`)."""
        kwargs, native = _solver_kwargs(self.pulp, self.solver_name, self.options,
                                        self.log_path, self.notes)
        solver = _new_solver(self.pulp, self.solver_name, kwargs, native)
        if hasattr(solver, "tmpDir"):
            # Command-line wrappers write .mps/.sol/.mst files into tmpDir (default /tmp).
            solver.tmpDir = str(self.tmp)
        return solver

    def _run(self, prob: Any, solver: Any) -> str | None:
        """``prob.solve(solver)`` with the stop watcher and log echo; the error text if any."""
        if self.options.stop is not None and not self.is_cbc:
            self.notes.append(f"stop is not supported for {self.solver_name} through PuLP")
        end_stop = (_stop_cbc_on(self.options.stop, str(self.tmp), self.notes) if self.is_cbc
                    else _nothing)
        end_echo = _echo(self.log_path) if self.options.verbose else _nothing
        try:
            if self.solver_name == "HiGHS":
                _prepare_highs(self.options)
            prob.solve(solver)
        except Exception as exc:  # PulpSolverError: the solver crashed, or was terminated
            return f"{type(exc).__name__}: {exc}"
        finally:
            end_stop()
            end_echo()
        return None

    def _log(self) -> str:
        """The solver's log file (if the wrapper wrote one) and our notes."""
        text = ""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace")
        return "\n".join([text.rstrip("\n"), *self.notes]).strip("\n")

    def _read(self, prob: Any, variables: list[Any], log: str) -> SolveResult:
        """Status, solution and bound of a finished solve."""
        mapped, reason = _map_status(self.pulp, prob.status, prob.sol_status, self.stopped)
        x = _solution(prob, variables, self.model) if mapped.has_plan else None
        objective = self.model.objective(x) if x is not None else float("inf")
        if mapped.has_plan and not np.isfinite(objective):  # no values, or NaN in the model
            mapped, reason, x = Status.ERROR, "solver returned no usable solution", None
        bound, source = self._bound(mapped, objective, log)
        mapped, demoted = final_status(mapped, objective, bound)
        seconds = self.started.seconds()
        if mapped.has_plan and self.options.progress is not None:
            self.options.progress(Progress(objective, bound, seconds,
                                           phase="CBC" if self.is_cbc else self.solver_name))
        return SolveResult(
            status=mapped,
            x=x if mapped.has_plan else None,
            objective=objective if mapped.has_plan else float("inf"),
            bound=bound,
            seconds=seconds,
            log=log,
            stop_reason=demoted or reason,
            bound_source=source,
        )

    def _bound(self, status: Status, objective: float, log: str) -> tuple[float, str]:
        """A valid lower bound and where it comes from (``-inf, ""`` when there is none)."""
        if self.is_cbc and np.isfinite(objective):
            bound, source = _cbc_bound(log, objective)
            if source:
                return bound, source
        if status == Status.OPTIMAL and self.options.gap <= OPTIMALITY_GAP:
            # The solver proved the plan within its gap target, which is within ours.
            family = "CBC" if self.is_cbc else self.solver_name
            return objective, f"proven optimal ({family})"
        return float("-inf"), ""


# --- model translation ------------------------------------------------------------------------


def _build(pulp: Any, model: LinearModel) -> tuple[Any, list[Any]]:
    """The PuLP problem of ``model`` and its variables in column order.

    Each row's expression is made in one go from (variable, coefficient) pairs: PuLP's ``+=``
    copies expressions and is orders of magnitude slower on models of this size.
    """
    prob = pulp.LpProblem("territory", pulp.LpMinimize)
    variables = _variables(pulp, prob, model)
    a = model.a.tocsr()
    indptr, indices, data = a.indptr.tolist(), a.indices.tolist(), a.data.tolist()
    for i, (lo, hi) in enumerate(zip(model.row_lo.tolist(), model.row_hi.tolist(), strict=True)):
        terms = [(variables[j], v) for j, v in
                 zip(indices[indptr[i]:indptr[i + 1]], data[indptr[i]:indptr[i + 1]], strict=True)]
        for constraint in _row_constraints(pulp, terms, lo, hi, f"r{i}"):
            prob.addConstraint(constraint)
    cost = [(variables[j], float(model.c[j])) for j in np.flatnonzero(model.c).tolist()]
    prob.setObjective(pulp.LpAffineExpression(cost, constant=float(model.offset)))
    return prob, variables


def _variables(pulp: Any, prob: Any, model: LinearModel) -> list[Any]:
    """One LpVariable per column: Binary, Integer or Continuous, infinite bounds as None."""
    # PuLP 3.3 deprecates constructing LpVariable directly in favour of prob.add_variable.
    make = getattr(prob, "add_variable", None) or pulp.LpVariable
    out = []
    for j, (lo, hi, is_int) in enumerate(zip(model.lb.tolist(), model.ub.tolist(),
                                             model.integer.tolist(), strict=True)):
        if is_int and lo == 0 and hi == 1:
            cat = pulp.LpBinary
        else:
            cat = pulp.LpInteger if is_int else pulp.LpContinuous
        out.append(make(f"x{j}", _finite(lo), _finite(hi), cat))
    return out


def _row_constraints(pulp: Any, terms: list[tuple[Any, float]], lo: float, hi: float,
                     name: str) -> list[Any]:
    """A row ``lo <= terms <= hi`` as PuLP constraints: PuLP has no ranged rows, so two."""
    if lo == hi:
        return [pulp.LpConstraint(pulp.LpAffineExpression(terms), pulp.LpConstraintEQ, name, lo)]
    out = []
    if math.isfinite(lo):
        out.append(pulp.LpConstraint(pulp.LpAffineExpression(terms), pulp.LpConstraintGE,
                                     f"{name}_lo", lo))
    if math.isfinite(hi):
        out.append(pulp.LpConstraint(pulp.LpAffineExpression(terms), pulp.LpConstraintLE,
                                     f"{name}_hi", hi))
    return out  # a free row (both bounds infinite) constrains nothing


def _finite(value: float) -> float | None:
    """PuLP spells an infinite bound as None."""
    return value if math.isfinite(value) else None


def _integral_bounds(model: LinearModel) -> tuple[np.ndarray, np.ndarray]:
    """Column bounds, rounded inwards for integer columns."""
    lb = np.where(model.integer, np.ceil(model.lb), model.lb)
    ub = np.where(model.integer, np.floor(model.ub), model.ub)
    return lb, ub


def _set_start(variables: list[Any], model: LinearModel, start: np.ndarray) -> None:
    """Initial values for the solver's MIP start: integer columns rounded, all clipped to bounds.

    A start may be infeasible (the contract allows it); CBC then reports so and goes on.
    """
    values = np.asarray(start, dtype=float)
    if values.shape != (model.n_cols,):
        return
    lb, ub = _integral_bounds(model)
    values = np.clip(np.where(model.integer, np.round(values), values), lb, ub)
    for var, value in zip(variables, values.tolist(), strict=True):
        if math.isfinite(value):
            var.setInitialValue(value, check=False)


def _solution(prob: Any, variables: list[Any], model: LinearModel) -> np.ndarray | None:
    """The solution vector, or None if the solver left a variable of the problem without value.

    Columns in no row and without cost never reach the solver (PuLP writes only the variables
    its constraints and objective use); any value within bounds is optimal for them, so they
    take the one nearest zero.
    """
    used = {v.name for v in prob.variables()}
    lb, ub = _integral_bounds(model)
    idle = np.clip(0.0, lb, ub).tolist()
    x = np.empty(model.n_cols)
    for j, var in enumerate(variables):
        if var.name not in used:
            x[j] = idle[j]
        elif var.varValue is None:
            return None
        else:
            x[j] = float(var.varValue)
    return x if np.isfinite(x).all() else None


# --- solver options ---------------------------------------------------------------------------


def _new_solver(pulp: Any, solver_name: str, kwargs: dict[str, Any],
                native: dict[str, Any] | None = None) -> Any:
    """``pulp.getSolver(solver_name, ...)`` with those ``kwargs`` its wrapper names, and
    ``native`` (solver-specific parameters for a wrapper's catch-all ``**kwargs``) as they are.

    PuLP's own ``_skip_v4_deprecation`` is set where accepted: PuLP 3.3 warns on every
    PULP_CBC_CMD it constructs (it suggests COIN_CMD, which needs a separate CBC install).
    """
    accepted = _accepted(pulp, solver_name)
    named = {k: v for k, v in {**kwargs, "_skip_v4_deprecation": True}.items() if k in accepted}
    return pulp.getSolver(solver_name, **named, **(native or {}))


def _accepted(pulp: Any, solver_name: str) -> set[str]:
    """Keyword parameters the solver wrapper's ``__init__`` names explicitly.

    Catch-all ``**kwargs`` are not counted: several wrappers hand those straight to the solver
    as native parameters, where PuLP's generic names (``gapRel`` ...) would be rejected.
    """
    cls = getattr(pulp, solver_name, None)
    if not (isinstance(cls, type) and getattr(cls, "name", None) == solver_name):
        cls = type(pulp.getSolver(solver_name, msg=False))
    parameters = inspect.signature(cls).parameters.values()
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _solver_kwargs(pulp: Any, solver_name: str, options: SolveOptions, log_path: Path,
                   notes: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """PuLP's generic keywords for the options, and solver-native parameters (HiGHS only).

    CBC gets its seed and thread mode as command-line options; keywords a wrapper does not
    take are dropped with a note in the log.
    """
    accepted = _accepted(pulp, solver_name)
    kwargs: dict[str, Any] = {
        "msg": bool(options.verbose),
        "timeLimit": float(options.time_limit),
        "gapRel": float(options.gap),
    }
    native: dict[str, Any] = {}
    if options.threads is not None:
        kwargs["threads"] = int(options.threads)
    if options.warm_start is not None:
        kwargs["warmStart"] = True
    if "logPath" in accepted:
        # The log goes to the file (echoed live when verbose); msg would only add a warning.
        kwargs.update(logPath=str(log_path), msg=False)
    if solver_name in _CBC_SOLVERS:
        kwargs["options"] = _cbc_options(options)
        kwargs.pop("threads", None)  # passed as "threads 100+n" in the options instead
    elif solver_name == "HiGHS":
        # Logging on (msg) but to the file only; HiGHS parameters go through **solverParams.
        kwargs["msg"] = True
        native = {"log_to_console": bool(options.verbose), "log_file": str(log_path),
                  "random_seed": int(options.seed) % 2**31}
    else:
        notes.append(f"seed not passed: PuLP's {solver_name} wrapper has no seed option")
    for key in sorted(set(kwargs) - accepted):
        notes.append(f"{key} not passed: PuLP's {solver_name} wrapper does not take it")
    return kwargs, native


def _cbc_options(options: SolveOptions) -> list[str]:
    """CBC command-line options PuLP has no keyword for.

    ``randomCbcSeed`` seeds CBC's heuristics, ``randomSeed`` CLP's tie-breaking; 0 would mean
    "time of day" to both, hence the shift. ``threads 100+n`` is CBC's repeatable parallel mode.
    """
    seed = 1 + int(options.seed) % _SEED_RANGE
    out = [f"randomCbcSeed {seed}", f"randomSeed {seed}"]
    if options.threads is not None and options.threads > 1:
        out.append(f"threads {100 + int(options.threads)}")
    return out


def _prepare_highs(options: SolveOptions) -> None:
    """Swallow HiGHS's once-per-process stdout banner; reset its scheduler for a thread count.

    PuLP's HiGHS wrapper makes a ``highspy.Highs()`` whose first construction prints a banner
    to file descriptor 1 (it would corrupt ``--json`` output); the native backend's helper makes
    that first instance with the descriptor pointed at /dev/null.
    """
    from territory_opt.backends.highs import new_highs

    highspy = importlib.import_module("highspy")

    new_highs(highspy)
    if options.threads is not None:
        highspy.Highs.resetGlobalScheduler(True)


# --- reading the outcome ----------------------------------------------------------------------


def _map_status(pulp: Any, status: int, sol_status: int, stopped: bool) -> tuple[Status, str]:
    """Our status from PuLP's ``status`` and ``sol_status`` (the latter tells optimal from found).

    PuLP says ``status == LpStatusOptimal`` for a run cut by the time limit with a solution;
    only ``sol_status == LpSolutionOptimal`` means proven.
    """
    c = pulp.constants
    limit = "interrupted" if stopped else "time limit"
    if status == c.LpStatusInfeasible or sol_status == c.LpSolutionInfeasible:
        return Status.INFEASIBLE, "proven infeasible"
    if status == c.LpStatusUnbounded or sol_status == c.LpSolutionUnbounded:
        return Status.ERROR, "unbounded"
    if sol_status == c.LpSolutionOptimal:
        return Status.OPTIMAL, "proven optimal"
    if sol_status == c.LpSolutionIntegerFeasible:
        return Status.FEASIBLE, limit
    if sol_status == c.LpSolutionNoSolutionFound and status in (c.LpStatusNotSolved,
                                                                c.LpStatusOptimal):
        return Status.NO_PLAN, limit
    return Status.ERROR, f"PuLP status {c.LpStatus.get(status, status)}"


_CBC_RESULT = re.compile(r"^Result - (.*)$", re.MULTILINE)
_CBC_LOWER = re.compile(r"^Lower bound:\s*(\S+)", re.MULTILINE)
_CBC_OBJECTIVE = re.compile(r"^Objective value:\s*(\S+)", re.MULTILINE)


def _cbc_bound(log: str, objective: float) -> tuple[float, str]:
    """CBC's dual bound from the summary at the end of its log, shifted to our objective.

    "Optimal solution found" (without "within gap tolerance") is a proof: the bound is the
    objective. Otherwise "Lower bound:" is CBC's dual bound. CBC's numbers leave out the
    objective's constant (PuLP's MPS file drops it), so the bound is moved by our objective
    minus CBC's "Objective value:"; both are rounded outwards by half a printed digit to stay
    valid. Returns ``(-inf, "")`` when the summary is missing.
    """
    results = list(_CBC_RESULT.finditer(log))
    if not results:
        return float("-inf"), ""
    summary = log[results[-1].start():]
    if re.match(r"Optimal solution found\s*$", results[-1].group(1)):
        return objective, "proven optimal (CBC)"
    lower, cbc_objective = _CBC_LOWER.search(summary), _CBC_OBJECTIVE.search(summary)
    if lower is None or cbc_objective is None:
        return float("-inf"), ""
    try:
        low, low_step = _printed(lower.group(1))
        obj, obj_step = _printed(cbc_objective.group(1))
    except ValueError:
        return float("-inf"), ""
    bound = (low - low_step) + objective - (obj + obj_step)
    if not math.isfinite(bound) or low <= -1e30:
        return float("-inf"), ""
    return min(bound, objective), "CBC dual bound (from its log)"


def _printed(text: str) -> tuple[float, float]:
    """A number as printed, and half a unit of its last printed digit."""
    digits = text.split(".")[1] if "." in text and "e" not in text.lower() else ""
    return float(text), 0.5 * 10.0 ** -len(digits)


def _empty(status: Status, started: Stopwatch, log: str, reason: str) -> SolveResult:
    """A result without a plan."""
    return SolveResult(status, None, float("inf"), float("-inf"),
                       started.seconds(), log=log, stop_reason=reason)


# --- threads around the solve -----------------------------------------------------------------


def _nothing() -> None:
    """Ends a watcher that was never started."""


def _stop_cbc_on(stop: threading.Event | None, marker: str,
                 notes: list[str]) -> Callable[[], None]:
    """Once ``stop`` is set, SIGINT (after the grace, SIGTERM) the CBC child whose command line
    holds ``marker`` until the solve ends; returns the function that ends the watch.

    A terminated CBC loses its buffered log, so a note in ``notes`` says what happened.
    """
    finished = threading.Event()

    def interrupt() -> None:
        grace = Deadline(_STOP_GRACE)  # from the stop on (its own stop event: not the set one)
        while not finished.is_set():
            graceful = not grace.expired()
            if not graceful and _TERMINATED not in notes:
                notes.append(_TERMINATED)
            for pid in _child_pids(marker):
                with contextlib.suppress(OSError):  # exited in the meantime
                    os.kill(pid, signal.SIGINT if graceful else signal.SIGTERM)
            finished.wait(0.25)

    end_watch = watch_stop(stop, interrupt)

    def end() -> None:
        finished.set()
        end_watch()

    return end


def _child_pids(marker: str) -> list[int]:
    """Our child processes whose command line contains ``marker`` (empty where unsupported)."""
    if os.name == "nt":
        return []
    me = os.getpid()
    proc = Path("/proc")
    if not proc.is_dir():  # macOS and the BSDs
        found = subprocess.run(["pgrep", "-P", str(me), "-f", marker], capture_output=True,
                               text=True, check=False)
        return [int(pid) for pid in found.stdout.split()]
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        # The command name in stat is parenthesised and may hold spaces; the ppid follows it.
        if int(stat.rsplit(")", 1)[1].split()[1]) == me and marker.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def _echo(path: Path) -> Callable[[], None]:
    """Copy what the solver appends to ``path`` onto stdout as it comes (verbose runs)."""
    done = threading.Event()

    def run() -> None:
        position = 0
        while True:
            finishing = done.wait(0.2)
            with contextlib.suppress(OSError), path.open(errors="replace") as f:
                f.seek(position)
                chunk = f.read()
                position = f.tell()
                sys.stdout.write(chunk)
                sys.stdout.flush()
            if finishing:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def end() -> None:
        done.set()
        thread.join()

    return end
