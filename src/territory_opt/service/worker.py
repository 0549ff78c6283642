"""Solver processes: each claims queued jobs from the store, solves them and records the plan.

A worker runs in its own process group, so a Ctrl-C meant for the server does not reach it; the
server stops workers when it shuts down, and the jobs they were running are queued again at the
next start (:meth:`JobStore.recover`). A cancel request is noticed in the solver's progress
callback, which then sets the solve's stop signal (the one Ctrl-C sets on the command line,
:class:`~territory_opt.deadline.Deadline`): the solver stops and the best plan found so far is
kept. A worker whose server died exits without recording anything, so the job is queued again
rather than passed off as done.

A job's options go to :func:`territory_opt.solve` as the client gave them (None when not
given: the scenario's ``solver:`` settings apply, merged once there), except ``threads``: a
server solves ``--workers`` jobs side by side, so a job gets :data:`JOB_THREADS` unless its
options say otherwise.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

from territory_opt.backends.contract import Progress
from territory_opt.deadline import Stopwatch
from territory_opt.errors import (
    InfeasibleError,
    NoPlanFoundError,
    ScenarioError,
    TerritoryOptError,
)
from territory_opt.plan import Plan
from territory_opt.present.jsonable import records
from territory_opt.present.progress import ProgressTracker
from territory_opt.service.inputs import scenario_from
from territory_opt.service.store import Job, JobStore
from territory_opt.solve import solve

POLL_SECONDS = 0.2
"""How often an idle worker looks for a queued job."""

PROGRESS_SECONDS = 0.5
"""Least time between two progress writes (and cancel checks) of one job."""

JOB_THREADS = 1
"""Solver threads of a job: the server's workers solve their jobs side by side."""


def run_worker(database_url: str, name: str, parent_pid: int) -> None:
    """Claim and solve jobs until the parent process (the server) goes away."""
    with contextlib.suppress(OSError):
        os.setpgrp()  # a terminal's Ctrl-C goes to the server, not to its solves
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # no Ctrl-C: a cancel sets the solve's stop
    store = JobStore(database_url)
    while os.getppid() == parent_pid:
        job = store.claim(name)
        if job is None:
            time.sleep(POLL_SECONDS)
            continue
        run_job(store, job, name, parent_pid)


def run_job(store: JobStore, job: Job, worker: str, parent_pid: int) -> None:
    """Solve one claimed job and record its plan or its error."""
    options = job.options
    stop = threading.Event()  # the solve's stop signal: a cancel sets it
    cancelled = False
    clock = Stopwatch()
    last = -PROGRESS_SECONDS
    shown = ProgressTracker()  # forward clock, best plan and bound, phase, limit
    # A work-limited solve does not watch the clock; the server's time limit still holds.
    cap = options.get("time_limit") if options.get("work_limit") is not None else None

    def progress(p: Progress) -> None:
        nonlocal last, cancelled
        shown.see(p)
        now = clock.seconds()
        if cap is not None and now > cap:
            stop.set()
        if now - last < PROGRESS_SECONDS:
            return
        last = now
        store.set_progress(job.id, worker, shown.as_json())
        _exit_if_orphaned(parent_pid)
        if not cancelled and store.cancel_requested(job.id):
            cancelled = True
            stop.set()  # solve() stops and keeps its best plan

    try:
        if store.cancel_requested(job.id):
            store.finish(job.id, worker, "cancelled", None, None)
            return
        loading = Stopwatch()
        with scenario_from(job.scenario, store.files(job.id)) as scenario:
            load_seconds = loading.seconds()
            plan = solve(scenario, backend=options.get("backend"),
                         time_limit=options.get("time_limit"), gap=options.get("gap"),
                         seed=options.get("seed"), threads=options.get("threads", JOB_THREADS),
                         work_limit=options.get("work_limit"), progress=progress, stop=stop)
            result = plan_result(plan.timed(load_seconds=load_seconds))
        _exit_if_orphaned(parent_pid)
        if shown.events:  # the last events may have come within the write interval
            store.set_progress(job.id, worker, shown.as_json())
        status = "cancelled" if cancelled else "done"
        store.finish(job.id, worker, status, result, None)
    except ScenarioError as exc:
        store.finish(job.id, worker, "failed", None, scenario_error_json(exc))
    except InfeasibleError as exc:
        store.finish(job.id, worker, "failed", None, {
            "kind": "infeasible", "message": str(exc),
            "conflicts": [{"rules": c.rules, "explanation": c.explanation}
                          for c in exc.conflicts]})
    except NoPlanFoundError as exc:
        status = "cancelled" if cancelled else "failed"
        store.finish(job.id, worker, status, None, {"kind": "no plan", "message": str(exc)})
    except TerritoryOptError as exc:
        store.finish(job.id, worker, "failed", None, {"kind": "error", "message": str(exc)})
    except Exception as exc:  # a bug: keep the worker alive, record it, log the traceback
        traceback.print_exc(file=sys.stderr)
        store.finish(job.id, worker, "failed", None, {
            "kind": "internal error", "message": f"{type(exc).__name__}: {exc}"})


def _exit_if_orphaned(parent_pid: int) -> None:
    """The server died: leave at once, recording nothing, so the job stays "running" and the
    next server queues it again (a plan cut short by the death would pass for a finished one)."""
    if os.getppid() != parent_pid:
        os._exit(1)


def plan_result(plan: Plan) -> dict[str, Any]:
    """What ``GET /v1/jobs/{id}/plan`` returns: ``plan.json``'s content, the assignment, the
    territory table, the quotas where set."""
    summary = plan.summary()
    summary["scenario"]["path"] = None  # a private temporary folder: meaningless to a client
    quotas = plan.quotas_frame()
    return {"plan": summary,
            "assignment": records(plan.assignment_frame()),
            "territories": records(plan.evaluation.territories),
            "quotas": records(quotas) if quotas is not None else None}


def scenario_error_json(exc: ScenarioError) -> dict[str, Any]:
    """A scenario error as the service reports it (status 422, or a failed job)."""
    return {"kind": "invalid scenario", "message": str(exc),
            "problems": [{"where": p.where, "field": p.field, "found": p.found,
                          "expected": p.expected, "message": str(p)} for p in exc.problems]}
