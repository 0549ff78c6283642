"""The solver processes of one server: started with it, watched, replaced if one dies."""

from __future__ import annotations

import multiprocessing
import os
import threading
import uuid
from multiprocessing.process import BaseProcess

from territory_opt.service.store import JobStore
from territory_opt.service.worker import run_worker

WATCH_SECONDS = 1.0


class WorkerPool:
    """``size`` worker processes (spawned, so they share nothing with the server's threads)
    claiming jobs from the database at ``database_url``."""

    def __init__(self, database_url: str, size: int, store: JobStore) -> None:
        self.database_url, self.size, self.store = database_url, size, store
        self.instance = uuid.uuid4().hex[:8]
        self._context = multiprocessing.get_context("spawn")
        self._processes: dict[str, BaseProcess] = {}
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        """Start the workers and a thread that beats, replaces workers that die, and
        re-queues the jobs of servers that stopped beating."""
        self.store.heartbeat(self.instance)
        self.store.recover()
        for i in range(self.size):
            self._spawn(f"{self.instance}-{i}")
        self._watcher = threading.Thread(target=self._watch, name="worker-watch", daemon=True)
        self._watcher.start()

    def alive(self) -> int:
        """How many workers are running."""
        return sum(p.is_alive() for p in self._processes.values())

    def stop(self) -> None:
        """Stop the workers (their running jobs are queued again at the next start)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        for process in self._processes.values():
            if process.is_alive():
                process.terminate()
        for process in self._processes.values():
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)

    def _spawn(self, name: str) -> None:
        process = self._context.Process(target=run_worker, name=f"territory-opt-{name}",
                                        args=(self.database_url, name, os.getpid()),
                                        daemon=True)
        process.start()
        self._processes[name] = process

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_SECONDS):
            self.store.heartbeat(self.instance)
            self.store.recover()
            for name, process in list(self._processes.items()):
                if process.is_alive() or self._stop.is_set():
                    continue
                self._fail_jobs_of(name, process.exitcode)
                self._spawn(name)

    def _fail_jobs_of(self, worker: str, exitcode: int | None) -> None:
        """A worker died mid-solve (a crash in a solver library): fail its job, saying so."""
        error = {"kind": "internal error",
                 "message": f"the solver process died (exit code {exitcode}); the job was "
                            "not retried"}
        self.store.fail_running(worker, error)
