"""Jobs and their results in a SQL database (SQLite by default, any SQLAlchemy URL).

Everything a job needs to run again is stored with it — the scenario, its tables and the solve
options — so a job survives a server restart: one that was running is queued again (or failed
after :data:`MAX_RESTARTS`), never lost. Workers claim a queued job with a conditional update,
so two workers never run the same job, and write progress and results under their own name, so
a stale worker cannot overwrite a job that was re-queued.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from territory_opt.deadline import wall_clock
from territory_opt.errors import TerritoryOptError

MAX_RESTARTS = 3
"""A job interrupted by this many restarts is failed rather than queued again."""

ACTIVE = ("queued", "running")
FINAL = ("done", "failed", "cancelled")

metadata = sa.MetaData()

jobs = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("started", sa.Float),
    sa.Column("finished", sa.Float),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("scenario", sa.Text, nullable=False),  # the scenario.yaml document, as JSON
    sa.Column("options", sa.Text, nullable=False),  # solve options, as JSON
    sa.Column("progress", sa.Text),
    sa.Column("result", sa.Text),  # the plan, as JSON
    sa.Column("error", sa.Text),  # {"kind", "message", "problems"|"conflicts"}, as JSON
    sa.Column("worker", sa.String(64)),
    sa.Column("restarts", sa.Integer, nullable=False, default=0),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("note", sa.Text),
)

servers = sa.Table(
    "servers", metadata,
    sa.Column("instance", sa.String(32), primary_key=True),
    sa.Column("heartbeat", sa.Float, nullable=False),
)
"""Live servers: each writes a heartbeat; a running job whose server stopped beating is
re-queued by whichever server notices (so two servers on one database leave each other's jobs
alone)."""

HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 10.0
"""A server silent this long is dead: its running jobs are queued again."""

job_files = sa.Table(
    "job_files", metadata,
    sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)


@dataclass(frozen=True)
class Job:
    """One job as stored."""

    id: str
    owner: str
    status: str
    created: float
    started: float | None
    finished: float | None
    name: str
    scenario: dict[str, Any]
    options: dict[str, Any]
    progress: dict[str, Any] | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    restarts: int
    cancel_requested: bool
    note: str | None

    def public(self) -> dict[str, Any]:
        """What ``GET /v1/jobs/{id}`` shows (no scenario, no plan)."""
        return {
            "id": self.id, "status": self.status, "name": self.name,
            "created": _iso(self.created), "started": _iso(self.started),
            "finished": _iso(self.finished), "options": self.options,
            "progress": self.progress, "error": self.error, "restarts": self.restarts,
            "cancel_requested": self.cancel_requested, "note": self.note,
            "has_plan": self.result is not None,
        }


class JobStore:
    """Jobs in the database at ``url``; one per process (engines are not shared across
    processes)."""

    def __init__(self, url: str) -> None:
        try:
            self.engine = _engine(url)
            metadata.create_all(self.engine)
        except (sa.exc.ArgumentError, sa.exc.OperationalError, ImportError) as exc:
            raise TerritoryOptError(f"cannot open the job database {url!r}: "
                                    f"{str(exc).splitlines()[0]} (an SQLAlchemy URL such as "
                                    "sqlite:///jobs.db; other databases need their driver "
                                    "installed, e.g. pip install psycopg)") from None

    def submit(self, owner: str, name: str, scenario: dict[str, Any], files: dict[str, bytes],
               options: dict[str, Any]) -> Job:
        """Queue a new job with its scenario document, table files and options."""
        job_id = uuid.uuid4().hex
        with self.engine.begin() as db:
            db.execute(jobs.insert().values(
                id=job_id, owner=owner, status="queued", created=wall_clock(), name=name,
                scenario=json.dumps(scenario), options=json.dumps(options), restarts=0,
                cancel_requested=False))
            if files:
                db.execute(job_files.insert(), [{"job_id": job_id, "name": n, "data": d}
                                                for n, d in files.items()])
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job, or None when there is none with that id (for that owner)."""
        query = sa.select(jobs).where(jobs.c.id == job_id)
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        with self.engine.connect() as db:
            row = db.execute(query).mappings().first()
        return _job(row) if row is not None else None

    def list(self, owner: str, limit: int = 100) -> list[Job]:
        """The owner's latest jobs, newest first."""
        query = (sa.select(jobs).where(jobs.c.owner == owner)
                 .order_by(jobs.c.created.desc()).limit(limit))
        with self.engine.connect() as db:
            return [_job(row) for row in db.execute(query).mappings()]

    def active(self, owner: str) -> int:
        """How many of the owner's jobs are queued or running."""
        with self.engine.connect() as db:
            return int(db.execute(sa.select(sa.func.count()).select_from(jobs)
                                  .where(jobs.c.owner == owner,
                                         jobs.c.status.in_(ACTIVE))).scalar() or 0)

    def active_seconds(self, owner: str) -> float:
        """The time limits of the owner's queued and running jobs, summed (seconds)."""
        with self.engine.connect() as db:
            rows = db.execute(sa.select(jobs.c.options).where(jobs.c.owner == owner,
                                                             jobs.c.status.in_(ACTIVE)))
            return float(sum(json.loads(options).get("time_limit") or 0.0
                             for (options,) in rows))

    def files(self, job_id: str) -> dict[str, bytes]:
        """The job's table files by name."""
        with self.engine.connect() as db:
            rows = db.execute(sa.select(job_files.c.name, job_files.c.data)
                              .where(job_files.c.job_id == job_id))
            return {name: bytes(data) for name, data in rows}

    def claim(self, worker: str) -> Job | None:
        """Take the oldest queued job for ``worker`` (None when the queue is empty)."""
        while True:
            with self.engine.connect() as db:
                job_id = db.execute(sa.select(jobs.c.id).where(jobs.c.status == "queued")
                                    .order_by(jobs.c.created, jobs.c.id).limit(1)).scalar()
            if job_id is None:
                return None
            with self.engine.begin() as db:
                taken = db.execute(jobs.update()
                                   .where(jobs.c.id == job_id, jobs.c.status == "queued")
                                   .values(status="running", worker=worker,
                                           started=wall_clock())).rowcount
            if taken == 1:
                return self.get(job_id)
            # Another worker took it first: try the next one.

    def set_progress(self, job_id: str, worker: str, progress: dict[str, Any]) -> bool:
        """Record progress; False when the job is no longer this worker's."""
        with self.engine.begin() as db:
            return db.execute(jobs.update()
                              .where(jobs.c.id == job_id, jobs.c.worker == worker,
                                     jobs.c.status == "running")
                              .values(progress=json.dumps(progress))).rowcount == 1

    def finish(self, job_id: str, worker: str, status: str, result: dict[str, Any] | None,
               error: dict[str, Any] | None) -> bool:
        """Record the outcome; False (and nothing written) when the job is no longer this
        worker's (it was re-queued after a restart)."""
        assert status in FINAL
        values: dict[str, Any] = {}
        if status == "cancelled":  # replaces an earlier note such as "queued again"
            values["note"] = ("cancelled while running; the best plan found is kept"
                              if result is not None else "cancelled before a plan was found")
        with self.engine.begin() as db:
            return db.execute(jobs.update()
                              .where(jobs.c.id == job_id, jobs.c.worker == worker,
                                     jobs.c.status == "running")
                              .values(status=status, finished=wall_clock(),
                                      result=json.dumps(result) if result is not None else None,
                                      error=json.dumps(error) if error is not None else None,
                                      **values)
                              ).rowcount == 1

    def cancel(self, job_id: str, owner: str) -> Job | None:
        """Cancel: a queued job at once; a running one is asked to stop (its worker keeps the
        best plan found so far). None when there is no such job."""
        with self.engine.begin() as db:
            db.execute(jobs.update()
                       .where(jobs.c.id == job_id, jobs.c.owner == owner,
                              jobs.c.status == "queued")
                       .values(status="cancelled", finished=wall_clock(),
                               note="cancelled before it started"))
            db.execute(jobs.update()
                       .where(jobs.c.id == job_id, jobs.c.owner == owner,
                              jobs.c.status == "running")
                       .values(cancel_requested=True))
        return self.get(job_id, owner)

    def cancel_requested(self, job_id: str) -> bool:
        """Whether someone asked the running job to stop."""
        with self.engine.connect() as db:
            return bool(db.execute(sa.select(jobs.c.cancel_requested)
                                   .where(jobs.c.id == job_id)).scalar())

    def fail_running(self, worker: str, error: dict[str, Any]) -> int:
        """Fail the job ``worker`` was running (its process died); returns how many."""
        with self.engine.begin() as db:
            return db.execute(jobs.update()
                              .where(jobs.c.worker == worker, jobs.c.status == "running")
                              .values(status="failed", finished=wall_clock(),
                                      error=json.dumps(error))).rowcount

    def heartbeat(self, instance: str) -> None:
        """Say that server ``instance`` is alive."""
        now = wall_clock()
        with self.engine.begin() as db:
            if not db.execute(servers.update().where(servers.c.instance == instance)
                              .values(heartbeat=now)).rowcount:
                db.execute(servers.insert().values(instance=instance, heartbeat=now))

    def recover(self) -> tuple[int, int]:
        """Queue again the running jobs of servers that stopped beating (their workers died
        with them), or fail those restarted :data:`MAX_RESTARTS` times. Returns the numbers
        re-queued and failed. Workers are named ``INSTANCE-N``."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(wall_clock()))
        alive = sa.select(servers.c.instance).where(
            servers.c.heartbeat >= wall_clock() - STALE_SECONDS)
        with self.engine.begin() as db:
            live = {row[0] for row in db.execute(alive)}
            running = db.execute(sa.select(jobs.c.id, jobs.c.worker, jobs.c.restarts,
                                           jobs.c.cancel_requested)
                                 .where(jobs.c.status == "running")).all()
            orphans = [(job_id, restarts, cancel) for job_id, worker, restarts, cancel in running
                       if (worker or "").split("-")[0] not in live]
            failed = requeued = 0
            for job_id, restarts, cancel in orphans:
                if cancel:  # its owner asked it to stop: it ends here, not in the queue
                    db.execute(jobs.update().where(jobs.c.id == job_id,
                                                   jobs.c.status == "running")
                               .values(status="cancelled", finished=wall_clock(), worker=None,
                                       note=f"cancelled; its server stopped at {stamp} "
                                            "before the solve had stopped, so it has no plan"))
                elif restarts >= MAX_RESTARTS - 1:
                    failed += db.execute(jobs.update().where(jobs.c.id == job_id,
                                                             jobs.c.status == "running")
                                         .values(status="failed", finished=wall_clock(),
                                                 worker=None, error=json.dumps({
                                                     "kind": "interrupted",
                                                     "message": f"interrupted by {MAX_RESTARTS} "
                                                                "server restarts; not queued "
                                                                "again"}))).rowcount
                else:
                    requeued += db.execute(jobs.update().where(jobs.c.id == job_id,
                                                               jobs.c.status == "running")
                                           .values(status="queued", worker=None, started=None,
                                                   progress=None, restarts=restarts + 1,
                                                   note=f"interrupted by a server restart at "
                                                        f"{stamp}; queued again")).rowcount
            db.execute(servers.delete().where(servers.c.heartbeat < wall_clock() - 3600))
        return requeued, failed


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            # WAL lets the API read while a worker writes; NORMAL sync is safe with WAL.
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _job(row: Any) -> Job:
    def load(text: str | None) -> Any:
        return json.loads(text) if text else None

    return Job(id=row["id"], owner=row["owner"], status=row["status"], created=row["created"],
               started=row["started"], finished=row["finished"], name=row["name"],
               scenario=load(row["scenario"]), options=load(row["options"]) or {},
               progress=load(row["progress"]), result=load(row["result"]),
               error=load(row["error"]), restarts=int(row["restarts"] or 0),
               cancel_requested=bool(row["cancel_requested"]), note=row["note"])


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
