"""The review loop over HTTP (:mod:`territory_opt.studies.review`).

``GET /v1/jobs/{id}/review`` gives a finished job's review table as CSV (what ``territory-opt
review`` writes). ``POST /v1/jobs/{id}/review`` with ``{"decisions": {item: "accept" |
"reject"}, "options"}`` queues a new job: the reviewed job's scenario and tables, its
``rules.locks`` extended with each rejected item's current territory and each accepted (or
unlisted) item's planned one, and the reviewed job's options unless given. The new job's
``options.review`` records the reviewed job and the rejected items; ``GET
/v1/jobs/{id}/review-outcome`` compares the two plans as ``review-outcome.json`` does.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
from starlette.exceptions import HTTPException

from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.scenario.tables import ReadingLimits
from territory_opt.service.inputs import scenario_from
from territory_opt.service.store import Job, JobStore
from territory_opt.studies.review import (
    decisions_from,
    locks_of,
    outcome_costs,
    outcome_lines,
    review_csv,
    review_table,
)

SOLVE_OPTIONS = ("time_limit", "gap", "seed", "backend", "work_limit")
"""Options a review job takes from the reviewed job unless the request gives them."""


def finished(store: JobStore, job_id: str, owner: str) -> tuple[Job, dict[str, Any]]:
    """The job and its result; 404 for no such job (of this owner), 409 without a plan."""
    job = store.get(job_id, owner)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    if job.result is None:
        raise HTTPException(409, f"job {job_id} is {job.status} and has no plan"
                            + (f": {job.error['message']}" if job.error else ""))
    return job, job.result


def job_assignment(scenario: Scenario, result: Mapping[str, Any]) -> np.ndarray:
    """The territory index per item of a job's stored plan (``result["assignment"]``)."""
    items = {str(item): i for i, item in enumerate(scenario.item_ids)}
    territories = {str(t): k for k, t in enumerate(scenario.territory_ids)}
    out = np.full(scenario.n_items, NO_TERRITORY, dtype=np.int64)
    for row in result.get("assignment") or ():
        i, k = items.get(str(row.get("item"))), territories.get(str(row.get("territory")))
        if i is not None and k is not None:
            out[i] = k
    return out


def review_bytes(store: JobStore, job_id: str, owner: str, limits: ReadingLimits) -> bytes:
    """``GET /v1/jobs/{id}/review``: the review table of a finished job, as CSV."""
    job, result = finished(store, job_id, owner)
    with scenario_from(job.scenario, store.files(job.id), limits) as scenario:
        return review_csv(review_table(scenario, job_assignment(scenario, result)))


def review_request(store: JobStore, job_id: str, owner: str, decisions: Mapping[str, str],
                   options: Mapping[str, Any], limits: ReadingLimits
                   ) -> tuple[dict[str, Any], dict[str, bytes], dict[str, Any], dict[str, Any]]:
    """``POST /v1/jobs/{id}/review``: the new job's scenario document (with the review's
    locks), table files, options (the reviewed job's, then ``options``) and review record.

    Raises
    ------
    ReviewError
        An unknown item, one the plan does not move, or a decision other than accept, reject
        or empty (422).
    """
    job, result = finished(store, job_id, owner)
    files = store.files(job.id)
    with scenario_from(job.scenario, files, limits) as scenario:
        assignment = job_assignment(scenario, result)
        rows = [(f"request, decisions.{item}", str(item), {"decision": str(value)})
                for item, value in decisions.items()]
        chosen = decisions_from(scenario, assignment, rows, "job's plan")
        lock = locks_of(scenario, assignment, chosen)
        added = np.flatnonzero(lock != scenario.lock)
        labels = scenario.territory_label(lock)
        locks = {str(scenario.item_ids[i]): str(labels[i]) for i in added}
        rejected = [str(scenario.item_ids[i]) for i in chosen.rejected]
        kept, unlisted = len(chosen.kept), len(chosen.unlisted)
    document = copy.deepcopy(job.scenario)
    rules = document.setdefault("rules", {})
    rules["locks"] = {**(rules.get("locks") or {}), **locks}
    merged = {k: job.options[k] for k in SOLVE_OPTIONS if job.options.get(k) is not None}
    merged.update({k: v for k, v in options.items() if v is not None})
    record = {"of": job.id, "rejected": rejected, "accepted": kept, "unlisted": unlisted}
    return document, files, merged, record


def review_outcome(store: JobStore, job_id: str, owner: str) -> dict[str, Any]:
    """``GET /v1/jobs/{id}/review-outcome``: a finished review job's plan against the plan it
    reviewed — both objectives, the gap target, and what the rejections cost per rule."""
    job, result = finished(store, job_id, owner)
    record = job.options.get("review")
    if not isinstance(record, dict):
        raise HTTPException(409, f"job {job_id} is not a review (submit one with POST "
                            "/v1/jobs/{id}/review)")
    _, reviewed = finished(store, str(record.get("of")), owner)
    old, new = reviewed["plan"], result["plan"]
    balance = (job.scenario.get("rules") or {}).get("balance") or []
    attributes = list(dict.fromkeys(str(rule.get("attribute")) for rule in balance
                                    if isinstance(rule, dict)))
    cost = (None if old.get("objective") is None or new.get("objective") is None
            else new["objective"] - old["objective"])
    outcome = {"format": "territory-opt review outcome v1", "source": f"job {record['of']}",
               "rejected": record.get("rejected", []), "accepted": record.get("accepted", 0),
               "unlisted": record.get("unlisted", 0),
               "gap_target": (new.get("options") or {}).get("gap"),
               "reviewed": _facts(old), "new": _facts(new), "cost": cost,
               "costs": outcome_costs(old, new, attributes)}
    return outcome | {"text": outcome_lines(outcome)}


def _facts(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {name: summary.get(name) for name in ("objective", "bound", "gap", "status")}
