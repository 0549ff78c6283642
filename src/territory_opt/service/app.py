"""The FastAPI application: jobs, plans, evaluation and lead routing over HTTP.

Every route but ``/v1/health`` needs an API key (``X-API-Key: KEY`` or ``Authorization: Bearer
KEY``) when keys are configured; a job belongs to the key that submitted it, and other keys
cannot see it. Bad scenarios get 422 with the command line's field-level messages; bodies over
the limit get 413 before they are read; a request without a good key is refused before its
body is read. JSON bodies are parsed strictly (:mod:`.bodies`).
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at run time, and
# `Owner` below is local to create_app.

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import Depends, FastAPI, File, Form, Request, Security, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from territory_opt.backends.registry import get_backend
from territory_opt.errors import Problem, ScenarioError, TerritoryOptError
from territory_opt.family import family_of
from territory_opt.kpi.evaluate import evaluate
from territory_opt.present.jsonable import evaluation_json
from territory_opt.scenario.load import read_yaml
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.scenario.tables import ReadingLimits
from territory_opt.service.auth import MISSING_KEY, WRONG_KEY
from territory_opt.service.auth import owner_of as auth_owner
from territory_opt.service.bodies import StrictJSONRoute, validation_error_response
from territory_opt.service.config import ServiceConfig
from territory_opt.service.docs import DOC_PATHS, add_offline_docs
from territory_opt.service.inputs import TableData, scenario_from, table_files
from territory_opt.service.limits import RequestGuard
from territory_opt.service.pool import WorkerPool
from territory_opt.service.review import review_bytes, review_outcome, review_request
from territory_opt.service.store import JobStore
from territory_opt.service.worker import scenario_error_json
from territory_opt.settings import SolveSettings
from territory_opt.version import __version__


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SolveOptionsIn(_Body):
    """Solve options of a job; missing ones take the scenario's ``solver:`` settings."""

    time_limit: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Seconds; at most the server's --max-time-limit.")
    gap: Annotated[float, Field(ge=0)] | None = None
    seed: Annotated[int, Field(ge=0)] | None = None
    backend: str | None = Field(None, description="highs, cpsat, scip, cbc, heuristic, auto.")
    work_limit: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Stop on this much deterministic effort instead of time (the "
        "backend's unit): the same plan on any load. The job's time limit still ends it.")


class ScenarioIn(_Body):
    """A scenario: the ``scenario.yaml`` document and its tables by file name."""

    scenario: dict[str, Any] = Field(description="The scenario.yaml document as a JSON object; "
                                     "each `path` names one of `tables`.")
    tables: dict[str, TableData] = Field(
        default_factory=dict, description="Table file name → CSV text, a list of row objects, "
        "or a GeoJSON object. Names are plain file names, never paths.")


class JobIn(ScenarioIn):
    """``POST /v1/jobs``."""

    options: SolveOptionsIn = Field(default_factory=SolveOptionsIn)


class EvaluateIn(ScenarioIn):
    """``POST /v1/evaluate``: an assignment (item id → territory id) to score."""

    assignment: dict[str, str] = Field(description="Item id → territory id; items left out "
                                       "are unassigned.")


class ReviewIn(_Body):
    """``POST /v1/jobs/{id}/review``: decisions on a finished job's moves."""

    decisions: dict[str, str] = Field(
        default_factory=dict, description="Item id → accept or reject (any case; empty "
        "accepts). Moves left out are accepted; GET /v1/jobs/{id}/review lists them.")
    options: SolveOptionsIn = Field(
        default_factory=SolveOptionsIn, description="Options of the re-solve; missing ones "
        "take the reviewed job's.")


class LeadIn(_Body):
    """A lead to route."""

    id: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    value: Annotated[float, Field(ge=0)]
    created: str | None = Field(None, description="ISO 8601 time; none means now.")
    score_factor: Annotated[float, Field(ge=0)] = 1.0
    account: str = ""


class RouteIn(ScenarioIn):
    """``POST /v1/route``: leads routed in order against a leads scenario's reps."""

    leads: list[LeadIn] = Field(min_length=1)
    policy: Literal["best-fit", "round-robin"] = "best-fit"
    loads: dict[str, Annotated[int, Field(ge=0)]] | None = Field(
        None, description="Leads each rep already has this period (rep id → count); missing "
        "reps have 0.")


def create_app(config: ServiceConfig, *, start_workers: bool = True) -> FastAPI:
    """The application for ``config`` (its workers start and stop with it)."""
    store = JobStore(config.database_url)
    pool = WorkerPool(config.database_url, config.workers, store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_workers:
            pool.start()
        try:
            yield
        finally:
            pool.stop()

    app = FastAPI(title="territory-opt", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # served from packaged assets, below
                  description="Sales territory optimization as a service: submit a scenario as "
                  "a job, poll it, fetch the plan and KPIs; evaluate assignments; route leads.")
    app.router.route_class = StrictJSONRoute
    add_offline_docs(app)
    app.add_middleware(RequestGuard, max_bytes=config.max_body_bytes,
                       body_timeout=config.body_timeout, keys=config.api_keys,
                       public=("/v1/health", *DOC_PATHS))
    app.add_exception_handler(RequestValidationError, validation_error_response)
    limits = ReadingLimits(max_rows=config.max_table_rows,
                           max_decoded_bytes=config.max_decoded_bytes)
    owner_of = _authenticator(config)
    Owner = Annotated[str, Depends(owner_of)]

    @app.exception_handler(ScenarioError)
    async def _invalid(_request: Request, exc: ScenarioError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": scenario_error_json(exc)})

    @app.exception_handler(TerritoryOptError)
    async def _refused(_request: Request, exc: TerritoryOptError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": {"kind": "error",
                                                                 "message": str(exc)}})

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        """Liveness: the version and the number of live solver processes (no key needed)."""
        return {"status": "ok", "version": __version__, "workers": pool.alive()}

    @app.post("/v1/jobs", status_code=202)
    def submit(body: JobIn, owner: Owner) -> dict[str, Any]:
        """Queue a solve. The scenario is validated first: a bad one gets 422 at once."""
        return _submit(store, config, owner, body.scenario, table_files(body.tables),
                       body.options)

    @app.post("/v1/jobs/upload", status_code=202)
    def upload(owner: Owner,
               scenario: Annotated[UploadFile, File(description="scenario.yaml (or .json)")],
               tables: Annotated[list[UploadFile], File(description="the table files")],
               time_limit: Annotated[float | None, Form(gt=0, allow_inf_nan=False)] = None,
               gap: Annotated[float | None, Form(ge=0, allow_inf_nan=False)] = None,
               seed: Annotated[int | None, Form(ge=0)] = None,
               backend: Annotated[str | None, Form()] = None,
               work_limit: Annotated[float | None, Form(gt=0, allow_inf_nan=False)] = None,
               ) -> dict[str, Any]:
        """Queue a solve from uploaded files: the scenario document and its tables."""
        document = _document(scenario)
        names = [t.filename or "" for t in tables]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ScenarioError([Problem("request", f"tables.{n}", f"'{n}' uploaded "
                                         f"{names.count(n)} times", "each table file once")
                                 for n in twice])
        files = table_files({t.filename or "": t.file.read() for t in tables})
        options = SolveOptionsIn(time_limit=time_limit, gap=gap, seed=seed, backend=backend,
                                 work_limit=work_limit)
        return _submit(store, config, owner, document, files, options)

    @app.get("/v1/jobs")
    def list_jobs(owner: Owner, limit: Annotated[int, Field(ge=1, le=1000)] = 100
                  ) -> list[dict[str, Any]]:
        """Your latest jobs, newest first."""
        return [job.public() for job in store.list(owner, limit)]

    @app.get("/v1/jobs/{job_id}")
    def job_status(job_id: str, owner: Owner) -> dict[str, Any]:
        """A job's status, progress (phase, seconds, limit, objective, bound, gap) and error,
        if any."""
        job = store.get(job_id, owner)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        return job.public()

    @app.get("/v1/jobs/{job_id}/plan")
    def job_plan(job_id: str, owner: Owner) -> dict[str, Any]:
        """The plan: plan.json's content, the assignment, the territory table, the quotas."""
        job = store.get(job_id, owner)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        if job.result is None:
            raise HTTPException(409, f"job {job_id} is {job.status} and has no plan"
                                + (f": {job.error['message']}" if job.error else ""))
        return {"job": job.public()} | job.result

    @app.get("/v1/jobs/{job_id}/review", response_class=Response,
             responses={200: {"content": {"text/csv": {}}}})
    def job_review(job_id: str, owner: Owner) -> Response:
        """A finished job's review table as CSV (``territory-opt review``): one row per moved
        item, with why it moved, its effect on balance and travel, and an empty decision."""
        data = review_bytes(store, job_id, owner, limits)
        return Response(data, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="review.csv"'})

    @app.post("/v1/jobs/{job_id}/review", status_code=202)
    def submit_review(job_id: str, body: ReviewIn, owner: Owner) -> dict[str, Any]:
        """Queue a re-solve of a finished job with decisions on its moves: rejected items go
        back to their current territory, the other moves are kept (as locks)."""
        document, files, options, record = review_request(
            store, job_id, owner, body.decisions,
            body.options.model_dump(exclude_none=True), limits)
        return _submit(store, config, owner, document, files, SolveOptionsIn(**options),
                       review=record)

    @app.get("/v1/jobs/{job_id}/review-outcome")
    def job_review_outcome(job_id: str, owner: Owner) -> dict[str, Any]:
        """A finished review job against the plan it reviewed: both objectives at the same
        gap target, and what the rejections cost per objective term and balance band."""
        return review_outcome(store, job_id, owner)

    @app.delete("/v1/jobs/{job_id}", status_code=202)
    def cancel(job_id: str, owner: Owner) -> dict[str, Any]:
        """Cancel a job: a queued one at once; a running one stops and keeps its best plan."""
        job = store.get(job_id, owner)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        if job.status not in ("queued", "running"):
            raise HTTPException(409, f"job {job_id} is already {job.status}")
        cancelled = store.cancel(job_id, owner)
        assert cancelled is not None
        return cancelled.public()

    @app.post("/v1/evaluate")
    def evaluate_assignment(body: EvaluateIn, owner: Owner) -> dict[str, Any]:
        """KPIs of an assignment on a scenario: plan KPIs, objective terms, violations and the
        territory table, as ``territory-opt evaluate --json`` gives them."""
        del owner  # authenticated; evaluation keeps nothing
        with scenario_from(body.scenario, table_files(body.tables), limits) as s:
            return evaluation_json(evaluate(s, _assignment(s, body.assignment)))

    @app.post("/v1/route")
    def route(body: RouteIn, owner: Owner) -> dict[str, Any]:
        """Route leads one by one (ownership → eligibility → capacity → best fit)."""
        del owner
        from territory_opt.leads.router import Lead, NoEligibleRepError, Router

        with scenario_from(body.scenario, table_files(body.tables), limits) as s:
            router = Router(s, body.policy)
            if body.loads:
                router.reset(_loads(s, body.loads))
            decisions = []
            for n, lead in enumerate(body.leads):
                where = f"request, leads.{n}" + (f" ({lead.id})" if lead.id else "")
                try:
                    d = router.route(Lead(tags=lead.tags, value=lead.value,
                                          created=lead.created, score_factor=lead.score_factor,
                                          account=lead.account, id=lead.id))
                except NoEligibleRepError as exc:
                    raise ScenarioError([Problem(where, "tags", json.dumps(lead.tags),
                                                 f"tags some rep has the skills for ({exc})")]
                                        ) from None
                except ValueError as exc:  # the router's word on a bad time or value
                    raise ScenarioError([Problem(where, "created", repr(lead.created),
                                                 f"an ISO 8601 time ({exc})")]) from None
                decisions.append({"lead": lead.id, "rep": d.rep_id, "reason": d.reason,
                                  "expected_value": d.expected_value})
            return {"policy": body.policy, "decisions": decisions}

    return app


API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="An API key of the server (or send it as a bearer "
                              "token).")
BEARER = HTTPBearer(auto_error=False)


def _authenticator(config: ServiceConfig) -> Any:
    keys = sorted(config.api_keys)

    def owner_of(header_key: Annotated[str | None, Security(API_KEY_HEADER)] = None,
                 bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None
                 ) -> str:
        """The caller's owner id: a hash of its key (``local`` when no keys are set). Declared
        as security schemes, so /docs has an Authorize button. (The request guard refused a
        missing or wrong key already; this check stays for routes mounted without it.)"""
        if not keys:
            return "local"
        given = header_key or (bearer.credentials if bearer is not None else "")
        if not given:
            raise HTTPException(401, MISSING_KEY, headers={"WWW-Authenticate": "Bearer"})
        owner = auth_owner(keys, given)
        if owner is None:
            raise HTTPException(401, WRONG_KEY, headers={"WWW-Authenticate": "Bearer"})
        return owner

    return owner_of


def _submit(store: JobStore, config: ServiceConfig, owner: str, document: dict[str, Any],
            files: dict[str, bytes], options: SolveOptionsIn,
            review: dict[str, Any] | None = None) -> dict[str, Any]:
    if store.active(owner) >= config.max_active_jobs:
        raise HTTPException(429, f"{config.max_active_jobs} of your jobs are already queued or "
                            "running (this server's --max-active-jobs); wait for some to finish")
    limit = config.max_time_limit
    if options.time_limit is not None and options.time_limit > limit:
        raise ScenarioError([Problem("request", "options.time_limit", f"{options.time_limit:g}",
                                     f"at most {limit:g} seconds (this server's limit)")])
    if options.backend is not None:
        get_backend(options.backend)  # an unknown or missing solver: 422 now
    limits = ReadingLimits(max_rows=config.max_table_rows,
                           max_decoded_bytes=config.max_decoded_bytes)
    with scenario_from(document, files, limits) as s:  # 422 now rather than a failed job later
        name = s.name
        # The time limit the solve will have (the one merge: given > scenario > default),
        # capped at the server's: it is what the queue's accounting counts.
        settings = SolveSettings.merged(s, backend=options.backend,
                                        time_limit=options.time_limit,
                                        work_limit=options.work_limit)
        # A rule the chosen path would ignore: 422 now rather than a failed job later.
        family_of(s).support.require(s, settings.backend_name)
    chosen = options.model_dump(exclude_none=True)
    chosen["time_limit"] = min(settings.time_limit, limit)
    if review is not None:
        chosen["review"] = review  # the reviewed job and decisions (the worker ignores it)
    queued = store.active_seconds(owner)
    if queued + chosen["time_limit"] > config.max_queued_seconds:
        raise HTTPException(429, f"your queued and running jobs already ask for {queued:g} s of "
                            f"solving; this one's {chosen['time_limit']:g} s would pass this "
                            f"server's --max-queued-seconds {config.max_queued_seconds:g}; "
                            "wait for some to finish or ask for less time")
    return store.submit(owner, name, document, files, chosen).public()


def _document(upload: UploadFile) -> dict[str, Any]:
    """The scenario document of an upload: YAML or JSON."""
    name = upload.filename or "scenario"
    try:
        document = read_yaml(upload.file.read().decode("utf-8"), name)
    except UnicodeDecodeError as exc:
        raise ScenarioError([Problem(name, "(file)", str(exc).splitlines()[0],
                                     "a YAML or JSON scenario document in UTF-8")]) from None
    if not isinstance(document, dict):
        raise ScenarioError([Problem(upload.filename or "scenario", "(document)",
                                     type(document).__name__, "a mapping of scenario keys")])
    return document


def _assignment(s: Scenario, mapping: dict[str, str]) -> np.ndarray:
    """Item id → territory id as territory indices, every unknown id named."""
    items = {iid: i for i, iid in enumerate(s.item_ids)}
    territories = {tid: k for k, tid in enumerate(s.territory_ids)}
    out = np.full(s.n_items, NO_TERRITORY, dtype=np.int64)
    problems = []
    for item, territory in mapping.items():
        if item not in items:
            problems.append(Problem("request", f"assignment.{item}", repr(item),
                                    "an item id of the scenario"))
        elif territory not in territories:
            problems.append(Problem("request", f"assignment.{item}", repr(territory),
                                    "a territory id of the scenario"))
        else:
            out[items[item]] = territories[territory]
    if problems:
        raise ScenarioError(problems[:20])
    return out


def _loads(s: Scenario, loads: dict[str, int]) -> list[int]:
    index = {tid: k for k, tid in enumerate(s.territory_ids)}
    unknown = [rep for rep in loads if rep not in index]
    if unknown:
        raise ScenarioError([Problem("request", "loads", repr(unknown[:5]),
                                     "rep ids of the scenario")])
    out = [0] * s.n_territories
    for rep, count in loads.items():
        out[index[rep]] = int(count)
    return out
