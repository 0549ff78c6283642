"""Scenario sweeps: many variants of one scenario solved in parallel on Dask, resumable.

A sweep (:mod:`territory_opt.studies.sweep_schema`) names a base scenario and its variants. Each
variant is one task: a worker loads the base scenario from its path (a small message, not the
arrays), applies the variant's settings (:func:`territory_opt.studies.variants.with_settings`),
solves, and returns a small :class:`VariantRecord` — status, objective, bound, KPIs and the
assignment. The client writes each record as it arrives to ``OUT/results/HASH.json``; the hash
covers the base scenario's digest, the settings, the solver options and the territory-opt
version, so a rerun into the same folder skips what is done and a changed input is solved again.

Tasks carry keys made from that hash: a task whose worker dies is run again elsewhere (the
scheduler's ``allowed-failures``) and a task that raises is retried (``retries``); two clients
submitting the same variant share one task.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import socket
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from territory_opt.cluster import Scheduler, dask_client
from territory_opt.deadline import Stopwatch
from territory_opt.errors import (
    BackendError,
    InfeasibleError,
    NoPlanFoundError,
    ScenarioError,
    TerritoryOptError,
)
from territory_opt.present.jsonable import clean, records
from territory_opt.scenario.load import load_scenario
from territory_opt.scenario.model import Scenario
from territory_opt.solve import solve
from territory_opt.studies.sweep_schema import Sweep, Value, Variant, load_sweep, short_names
from territory_opt.studies.tradeoff import chart
from territory_opt.studies.variants import with_settings
from territory_opt.text import fmt
from territory_opt.version import __version__

RESULTS_DIR = "results"
CSV_FILE = "sweep.csv"
JSON_FILE = "sweep.json"
PNG_FILE = "sweep.png"

RETRIES = 2
"""Extra runs of a task that raised an unexpected error (a worker that dies is covered by the
scheduler's ``distributed.scheduler.allowed-failures``, 3 by default)."""

KEPT = frozenset({"optimal", "feasible", "infeasible"})
"""Statuses written to ``results/`` and so skipped on a rerun: what a solve settled. ``no plan``
(the clock ran out first), ``invalid`` (refused before solving), ``error`` (a crash, a
worker that could not read the files) and ``interrupted`` (the sweep was stopped before the
variant's solve ended) are tried again."""

INTERRUPTED = "interrupted"
"""Status of a variant whose solve the sweep's shutdown (Ctrl-C) cut short, or never began."""

"""``None`` (an embedded LocalCluster), ``"serial"`` (in this process, no Dask) or the
address of a running scheduler, ``"tcp://HOST:PORT"``."""


@dataclass(frozen=True)
class VariantTask:
    """What a worker needs to solve one variant (small, so cheap to send)."""

    name: str
    hash: str
    scenario_path: str
    digest: str
    settings: dict[str, Value]
    """The variant's own settings."""
    solver: dict[str, Value]
    """The sweep's ``solver:`` overrides as ``solver.*`` settings (the variant's win)."""

    @property
    def key(self) -> str:
        """The Dask key: the same variant gets the same key in every run."""
        return f"territory-opt-variant-{self.hash}"

    @property
    def merged(self) -> dict[str, Value]:
        """Every setting the worker applies: the sweep's solver options, then the variant's."""
        return {**self.solver, **self.settings}


@dataclass(frozen=True)
class VariantRecord:
    """What solving one variant gave (JSON-able; ``assignment`` is the territory id of each
    item, in the scenario's item order, or None without a plan)."""

    name: str
    hash: str
    settings: dict[str, Value]
    status: str
    objective: float = math.nan
    bound: float = math.nan
    gap: float = math.nan
    seconds: float = math.nan
    stop_reason: str = ""
    backend: str = ""
    solver: dict[str, Any] = field(default_factory=dict)
    kpis: dict[str, float] = field(default_factory=dict)
    assignment: list[str] | None = None
    error: str = ""
    worker: str = ""

    @property
    def solved(self) -> bool:
        """Whether the variant has a plan."""
        return self.assignment is not None

    def to_json(self) -> dict[str, Any]:
        """The record as ``results/HASH.json`` holds it (non-finite numbers as null)."""
        data = asdict(self)
        for name in ("objective", "bound", "gap", "seconds"):
            data[name] = clean(data[name])
        data["kpis"] = {k: clean(v) for k, v in self.kpis.items()}
        return {"format": "territory-opt sweep result v1", "territory_opt_version": __version__,
                **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VariantRecord:
        """Read :meth:`to_json`'s output back."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("objective", "bound", "gap", "seconds"):
            values[name] = math.nan if values.get(name) is None else float(values[name])
        values["kpis"] = {k: math.nan if v is None else float(v)
                          for k, v in values.get("kpis", {}).items()}
        return cls(**values)


def variant_hash(digest: str, settings: dict[str, Value]) -> str:
    """sha256 of what decides a variant's result: the base scenario's digest, every setting
    (sweep solver options included) and the territory-opt version. Numbers are compared as
    floats, so ``1`` and ``1.0`` are the same setting."""
    canonical = {p: float(v) if isinstance(v, int | float) else v for p, v in settings.items()}
    text = json.dumps({"digest": digest, "settings": canonical, "version": __version__},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# --- on the worker ----------------------------------------------------------------------------


def solve_variant(task: VariantTask, stop: threading.Event | None = None) -> VariantRecord:
    """Load the base scenario, apply the settings, solve: the record (a failure included).

    The ``solver.*`` settings (the sweep's, then the variant's) are passed to
    :func:`territory_opt.solve` as given, which merges them once with the base scenario's
    ``solver:`` block. ``stop``: the sweep's shutdown signal (in this process; a Dask worker
    is stopped with its cluster); a solve it cuts short is recorded as
    :data:`INTERRUPTED`, not as a result.

    Runs on a Dask worker (or in this process for ``scheduler="serial"``). Errors a user can
    act on become a record with its ``error``; anything else raises, so Dask retries it.
    """
    watch = Stopwatch()
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def failed(status: str, exc: BaseException) -> VariantRecord:
        return VariantRecord(task.name, task.hash, task.settings, status,
                             seconds=watch.seconds(), error=str(exc).strip(), worker=worker)

    try:
        base = _base_scenario(task.scenario_path, task.digest)
    except TerritoryOptError as exc:  # this worker does not see the client's files
        return failed("error", exc)
    try:
        variant = with_settings(base, task.merged)  # checks and types every value
        given = {key: getattr(variant.spec.solver, key)
                 for key in (path.removeprefix("solver.") for path in task.merged
                             if path.startswith("solver."))}
        plan = solve(variant, stop=stop, **given)
    except InfeasibleError as exc:
        return failed("infeasible", exc)
    except NoPlanFoundError as exc:
        return failed("no plan", exc)
    except (ScenarioError, BackendError) as exc:
        return failed("invalid", exc)
    options = variant.spec.solver.model_dump(exclude_none=True)
    status = INTERRUPTED if stop is not None and stop.is_set() else str(plan.status)
    return VariantRecord(
        task.name, task.hash, task.settings, status,
        objective=float(plan.objective), bound=float(plan.bound), gap=float(plan.gap),
        seconds=float(plan.seconds.get("total", watch.seconds())),
        stop_reason=plan.stop_reason, backend=plan.backend, solver=options,
        kpis={k: float(v) for k, v in plan.evaluation.metrics.items()},
        assignment=[str(t) for t in plan.scenario.territory_label(plan.assignment)],
        worker=worker)


@functools.lru_cache(maxsize=4)
def _base_scenario(path: str, digest: str) -> Scenario:
    """The base scenario, loaded once per worker process and checked against the client's
    digest (a worker on another machine must see the same files)."""
    scenario = load_scenario(path)
    if scenario.digest != digest:
        raise TerritoryOptError(
            f"{path} on worker {socket.gethostname()} differs from the client's copy (digest "
            f"{scenario.digest[:19]}…, expected {digest[:19]}…): workers must see the same "
            "scenario files")
    return scenario


# --- on the client ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SweepResult:
    """The records of a sweep, in variant order, and where they were written.

    ``skipped`` counts the variants whose result was already in ``out_dir/results`` (a resumed
    sweep); ``item_ids`` give the order of every record's ``assignment``.
    """

    sweep: Sweep
    scenario_name: str
    digest: str
    item_ids: list[str]
    records: list[VariantRecord]
    skipped: int
    out_dir: Path
    seconds: float = math.nan

    @property
    def failed(self) -> list[VariantRecord]:
        """The variants without a plan."""
        return [r for r in self.records if not r.solved]

    def setting_paths(self) -> list[str]:
        """Every setting path some variant sets, in order of first appearance."""
        return list(dict.fromkeys(p for r in self.records for p in r.settings))

    def frame(self) -> pd.DataFrame:
        """One row per variant: name, each setting, status, objective, bound, gap, seconds,
        every plan KPI, stop reason, error, hash and worker."""
        paths = self.setting_paths()
        rows = []
        for r in self.records:
            row: dict[str, Any] = {"variant": r.name}
            row.update({p: r.settings.get(p) for p in paths})
            row.update({"status": r.status, "objective": r.objective, "bound": r.bound,
                        "gap": r.gap, "seconds": r.seconds})
            row.update(r.kpis)
            row.update({"stop_reason": r.stop_reason, "error": _first_line(r.error),
                        "hash": r.hash, "worker": r.worker})
            rows.append(row)
        # The KPIs hold an ``objective`` too: the same number as the record's.
        return pd.DataFrame(rows)

    def summary(self) -> dict[str, Any]:
        """What ``sweep.json`` holds (assignments stay in ``results/HASH.json``)."""
        return {"format": "territory-opt sweep v1", "territory_opt_version": __version__,
                "sweep": self.sweep.name, "sweep_path": str(self.sweep.path),
                "scenario": self.scenario_name, "scenario_path": str(self.sweep.base),
                "scenario_digest": self.digest, "skipped": self.skipped,
                "seconds": clean(self.seconds),
                "results": {r.name: f"{RESULTS_DIR}/{r.hash}.json" for r in self.records
                            if r.status in KEPT},
                "variants": records(self.frame())}

    def png(self) -> bytes:
        """The trade-off chart: objective, travel, balance, disruption per value of the first
        varying setting, one line per value of the others (per variant when no number
        varies)."""
        frame = self.frame()
        varying = [p for p in self.setting_paths() if frame[p].nunique(dropna=True) > 1]
        numeric = [p for p in varying if frame[p].dropna().map(_is_number).all()]
        title = f"{self.sweep.name}: sweep of {self.scenario_name}"
        if not numeric:
            return chart(frame, x="variant", title=title, xlabel="variant")
        x, others = numeric[0], [p for p in varying if p != numeric[0]]
        frame = frame[frame[x].notna()].sort_values(x, kind="stable")
        by = None
        if others:
            by = ", ".join(o.rsplit(".", 1)[-1] for o in others)
            frame = frame.assign(**{by: [", ".join(_show(v) for v in values) for values in
                                         zip(*(frame[o] for o in others), strict=True)]})
        return chart(frame, x=x, title=title, xlabel=x, by=by)

    def write(self) -> Path:
        """Write ``sweep.csv``, ``sweep.json`` and ``sweep.png`` into :attr:`out_dir` (each
        replaced whole: a reader never sees half a file)."""
        _write_atomic(self.out_dir / CSV_FILE,
                      self.frame().to_csv(index=False, float_format="%.10g").encode())
        _write_atomic(self.out_dir / JSON_FILE,
                      (json.dumps(self.summary(), indent=2) + "\n").encode())
        _write_atomic(self.out_dir / PNG_FILE, self.png())
        return self.out_dir

    def table(self) -> Table:
        """The comparison table the CLI prints: one row per variant."""
        frame = self.frame()
        paths = self.setting_paths()
        columns = [str(c) for c in frame.columns]
        kpis = [k for k in ("travel", *(c for c in columns if c.endswith("_max_abs_dev_pct")),
                            "moved_items", "cut_edges", "expected_revenue") if k in columns]
        table = Table(title=f"sweep {self.sweep.name} of {self.scenario_name}",
                      title_justify="left")
        table.add_column("variant")
        short = short_names(paths)
        for p in paths:
            table.add_column(short[p], justify="right")
        for label in ("status", "objective", "bound", "gap %", *(k.removesuffix(
                "_max_abs_dev_pct") + (" |dev| %" if k.endswith("_pct") else "")
                for k in kpis), "s"):
            table.add_column(label, justify="right")
        notes = bool(self.failed)
        if notes:
            table.add_column("why no plan", overflow="fold")
        for rec in frame.to_dict(orient="records"):
            solved = math.isfinite(rec["objective"])
            cells = [str(rec["variant"])] + [_show(rec[p]) for p in paths]
            status = str(rec["status"])
            cells.append(status if solved else f"[red]{status}[/]")
            cells += [fmt(rec["objective"]), fmt(rec["bound"]),
                      f"{100 * rec['gap']:.2f}" if solved and math.isfinite(rec["gap"]) else ""]
            cells += [fmt(rec[k], 0 if k in ("travel", "moved_items", "cut_edges") else 2)
                      if solved else "" for k in kpis]
            cells.append(fmt(rec["seconds"]))
            if notes:
                cells.append("" if solved else escape(_first_line(str(rec["error"]), 60)))
            table.add_row(*cells)
        return table


def run_sweep(
    sweep: Sweep | str | Path,
    *,
    out_dir: str | Path,
    scheduler: Scheduler = None,
    workers: int | None = None,
    progress: bool = True,
) -> SweepResult:
    """Solve every variant of ``sweep``, in parallel, skipping those already in ``out_dir``.

    Parameters
    ----------
    sweep
        A loaded sweep, or the path of its ``sweep.yaml``.
    out_dir
        Folder of the results (created; reused when it exists — that is how a sweep resumes).
    scheduler
        ``None``: an embedded ``distributed.LocalCluster`` (one single-threaded worker process
        per variant, at most one per CPU). ``"serial"``: one variant after another in this
        process, without Dask. ``"tcp://HOST:PORT"``: the scheduler of a running cluster,
        whose workers must see the scenario files at the same path.
    workers
        Worker processes of the embedded cluster (default: min(variants, CPUs)).
    progress
        Show a progress bar on stderr.

    Raises
    ------
    ScenarioError
        The sweep file or its base scenario is malformed (a bad value in one variant fails
        that variant only).
    TerritoryOptError
        The scheduler cannot be reached.
    """
    watch = Stopwatch()
    sweep = sweep if isinstance(sweep, Sweep) else load_sweep(sweep)
    out = Path(out_dir)
    base = load_scenario(sweep.base)
    every = [variant_task(sweep, base, variant) for variant in sweep.variants]
    done: dict[str, VariantRecord] = {}
    tasks: list[VariantTask] = []
    for task in every:
        record = _refused(base, task) or _stored(out, task)
        if record is not None:
            done[task.hash] = record
        else:
            tasks.append(task)
    skipped = sum(r.status in KEPT for r in done.values())

    def finished(record: VariantRecord) -> None:
        done[record.hash] = record
        if record.status in KEPT:  # at once: a sweep stopped here resumes from this point
            _write_atomic(out / RESULTS_DIR / f"{record.hash}.json",
                          (json.dumps(record.to_json()) + "\n").encode())

    if skipped and progress:
        Console(stderr=True, highlight=False).print(
            f"skipped {skipped} variant(s) already solved in {out / RESULTS_DIR}", markup=False)
    if tasks:
        with contextlib.ExitStack() as stack:
            # The cluster first: a scheduler that cannot be reached fails before the bar shows.
            client = None if scheduler == "serial" else stack.enter_context(
                dask_client(scheduler, workers or min(len(tasks), _cpus())))
            advance = stack.enter_context(_progress_bar(progress, len(tasks), sweep.name))

            def report(record: VariantRecord) -> None:
                finished(record)
                advance(record)

            if client is None:
                _run_serial(tasks, report)
            else:
                _run_dask(client, tasks, report)
    result = SweepResult(sweep, base.name, base.digest, [str(i) for i in base.item_ids],
                         [done[task.hash] for task in every], skipped,
                         out, watch.seconds())
    result.write()
    return result


def variant_task(sweep: Sweep, base: Scenario, variant: Variant) -> VariantTask:
    """The task of one variant of ``sweep`` on its loaded ``base`` scenario (its hash, its
    Dask key)."""
    solver = sweep.solver_settings()
    return VariantTask(variant.name, variant_hash(base.digest, {**solver, **variant.settings}),
                       str(sweep.base), base.digest, dict(variant.settings), solver)


def _refused(base: Scenario, task: VariantTask) -> VariantRecord | None:
    """A variant whose settings the scenario refuses: failed before anything is sent."""
    try:
        with_settings(base, task.merged)
    except ScenarioError as exc:
        return VariantRecord(task.name, task.hash, task.settings, "invalid",
                             error=str(exc).strip())
    return None


def _stored(out: Path, task: VariantTask) -> VariantRecord | None:
    """The variant's record from an earlier run into the same folder (renamed to the name it
    has now); None when there is none or it cannot be read."""
    path = out / RESULTS_DIR / f"{task.hash}.json"
    try:
        record = VariantRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if record.hash != task.hash:
        return None
    return VariantRecord(**{**asdict(record), "name": task.name, "settings": task.settings})


def _run_serial(tasks: list[VariantTask], report: Callable[[VariantRecord], None]) -> None:
    """One variant after another, with one stop signal for the sweep: the first Ctrl-C ends
    the solve under way (recorded as :data:`INTERRUPTED`) and the sweep with it; the variants
    not begun are recorded as interrupted too, so a rerun solves them."""
    stop = threading.Event()
    for task in tasks:
        if stop.is_set():
            report(VariantRecord(task.name, task.hash, task.settings, INTERRUPTED,
                                 error="the sweep was stopped before this variant began"))
            continue
        try:
            record = solve_variant(task, stop)
        except Exception as exc:  # a bug in one variant must not lose the others
            record = _crashed(task, exc)
        report(record)


def _run_dask(client: Any, tasks: list[VariantTask],
              report: Callable[[VariantRecord], None]) -> None:
    from distributed import as_completed

    by_key = {task.key: task for task in tasks}
    futures = [client.submit(solve_variant, task, key=task.key, pure=True, retries=RETRIES)
               for task in tasks]
    for future in as_completed(futures):
        task = by_key[future.key]
        try:
            record = future.result()
        except Exception as exc:  # retries spent, or KilledWorker: workers died on it
            record = _crashed(task, exc)
        future.release()
        report(record)


def _crashed(task: VariantTask, exc: BaseException) -> VariantRecord:
    what = "".join(traceback.format_exception_only(exc)).strip()
    return VariantRecord(task.name, task.hash, task.settings, "error", error=what)


@contextlib.contextmanager
def _progress_bar(show: bool, total: int, name: str
                  ) -> Iterator[Callable[[VariantRecord], None]]:
    """A rich progress bar on stderr, advanced with each finished variant (and a line for
    it); a no-op when ``show`` is false."""
    if not show:
        yield lambda record: None
        return
    console = Console(stderr=True, highlight=False)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        job = bar.add_task(f"solving {name}", total=total)

        def advance(record: VariantRecord) -> None:
            line = (f"objective {fmt(record.objective)}   gap {100 * record.gap:.2f}%"
                    if record.solved else _first_line(record.error, 100))
            bar.console.print(f"{record.name}: {record.status}   {line}   "
                              f"{fmt(record.seconds)} s", markup=False)
            bar.advance(job)

        yield advance


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary sibling and :func:`os.replace` (all or nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def _first_line(text: str, width: int | None = None) -> str:
    """The gist of an error message on one line (cut to ``width`` characters)."""
    lines = [line.strip(" -") for line in text.splitlines() if line.strip()]
    # "invalid scenario:" / "the scenario is infeasible…" headings: the reason is below them.
    if len(lines) > 1 and lines[0].endswith((":", ".")):
        lines = lines[1:]
    line = lines[0] if lines else ""
    return line if width is None or len(line) <= width else line[:width - 1] + "…"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def _show(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:g}" if _is_number(value) else str(value)


__all__ = ["SweepResult", "VariantRecord", "VariantTask", "load_sweep", "run_sweep",
           "solve_variant", "variant_hash", "variant_task"]
