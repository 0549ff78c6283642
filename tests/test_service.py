"""The HTTP service, tested through a real server on loopback (``territory-opt serve``)."""

from __future__ import annotations

import concurrent.futures
import copy
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import ACCOUNTS, REPS, SPEC, TinyScenario, run_cli
from leads_cases import lead_scenario
from territory_opt import evaluate, load_scenario
from territory_opt.plan import read_assignment

ROOT = Path(__file__).resolve().parents[1]
KEY = "test-key-0123456789abcdef"
FINAL = ("done", "failed", "cancelled")


@dataclass
class Server:
    """A running ``territory-opt serve`` and how to reach it."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self, key: str | None = KEY) -> httpx.Client:
        headers = {"X-API-Key": key} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(folder: Path, *extra: str, keys: str = KEY) -> Server:
    """Start a server on a free loopback port with its database in ``folder``."""
    port = _free_port()
    log = folder / f"server-{port}.log"
    env = {**os.environ, "TERRITORY_OPT_API_KEYS": keys, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "territory_opt.cli", "serve", "--port", str(port),
             "--database", f"sqlite:///{folder / 'jobs.db'}", *extra],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()}")
        try:
            health = httpx.get(f"{server.url}/v1/health", timeout=2)
            if health.status_code == 200 and health.json()["workers"] >= 1:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"server did not start: {log.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("service"), "--workers", "2",
                           "--max-body-mb", "1", "--max-time-limit", "60",
                           "--max-active-jobs", "25")
    yield running
    running.stop()


def tiny_request(tag: str = "", time_limit: float = 10) -> dict[str, Any]:
    """The tiny scenario as a request; ``tag`` prefixes its item ids and names it, so
    results of different jobs cannot be confused."""
    spec = copy.deepcopy(SPEC)
    spec["name"] = f"tiny{tag}"
    accounts = [dict(a, id=f"{tag}{a['id']}") for a in copy.deepcopy(ACCOUNTS)]
    return {"scenario": spec, "tables": {"accounts.csv": accounts, "reps.csv": REPS},
            "options": {"time_limit": time_limit}}


def small_request(time_limit: float) -> dict[str, Any]:
    folder = ROOT / "scenarios" / "small"
    return {"scenario": yaml.safe_load((folder / "scenario.yaml").read_text()),
            "tables": {n: (folder / n).read_text() for n in ("accounts.csv", "reps.csv")},
            "options": {"time_limit": time_limit, "gap": 0.0}}


def wait_for(client: httpx.Client, job_id: str, statuses: tuple[str, ...] = FINAL,
             timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return dict(job)
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def test_a_key_is_required_and_must_be_right(server: Server) -> None:
    assert httpx.get(f"{server.url}/v1/health").status_code == 200  # liveness needs no key
    for client in (server.client(None), server.client("wrong-key-0123456789")):
        with client:
            for response in (client.get("/v1/jobs"), client.post("/v1/jobs", json=tiny_request()),
                             client.get("/v1/jobs/abc/plan")):
                assert response.status_code == 401, response.text
                assert "API key" in response.json()["detail"]
    bearer = httpx.get(f"{server.url}/v1/jobs", headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 200


def test_openapi_and_docs_are_served(server: Server) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert {"/v1/jobs", "/v1/jobs/{job_id}/plan", "/v1/evaluate", "/v1/route"} <= set(spec["paths"])
    assert httpx.get(f"{server.url}/docs").status_code == 200


def test_an_oversize_body_is_refused(server: Server) -> None:
    big = tiny_request()
    big["tables"]["notes.csv"] = "x\n" + "y" * 2_000_000
    with server.client() as client:
        response = client.post("/v1/jobs", json=big)
        assert response.status_code == 413 and "limit" in response.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield b'{"scenario": {}, "tables": {"a.csv": "'
            for _ in range(40):
                yield b"z" * 65536
            yield b'"}}'

        streamed = client.post("/v1/jobs", content=chunks(),
                               headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413


def test_a_malformed_scenario_gets_422_naming_the_field(server: Server) -> None:
    bad = tiny_request()
    bad["scenario"]["rules"]["balance"][0]["tolerence"] = 0.1
    with server.client() as client:
        response = client.post("/v1/jobs", json=bad)
    assert response.status_code == 422
    problems = response.json()["detail"]["problems"]
    assert any(p["field"] == "tolerence" and "unknown key" in p["found"] for p in problems)
    bad_cell = tiny_request()
    bad_cell["tables"]["accounts.csv"][2]["workload"] = "lots"
    with server.client() as client:
        response = client.post("/v1/jobs", json=bad_cell)
    assert response.status_code == 422
    problem = response.json()["detail"]["problems"][0]
    assert problem["where"].startswith("accounts.csv, row 3") and "lots" in problem["found"]
    assert "territory-opt-job" not in response.text  # no server folder names leak out


@pytest.mark.parametrize("where", ["table name", "scenario path", "absolute path"])
def test_a_path_in_a_request_is_rejected(server: Server, where: str) -> None:
    request = tiny_request()
    if where == "table name":
        request["tables"]["../accounts.csv"] = request["tables"].pop("accounts.csv")
        request["scenario"]["items"]["path"] = "../accounts.csv"
    elif where == "scenario path":
        request["scenario"]["territories"]["path"] = "data/reps.csv"
    else:
        request["scenario"]["items"]["path"] = str(ROOT / "scenarios" / "small" / "accounts.csv")
    with server.client() as client:
        response = client.post("/v1/jobs", json=request)
    assert response.status_code == 422, response.text
    assert "not a path" in response.text


def test_twenty_concurrent_solves_complete_without_mix_ups(server: Server) -> None:
    requests = {f"J{i:02d}-": tiny_request(f"J{i:02d}-") for i in range(20)}
    # Vary the jobs so their results differ: job i locks its first account to R(i % 3 + 1).
    for i, request in enumerate(requests.values()):
        request["tables"]["accounts.csv"][0]["lock"] = f"R{i % 3 + 1}"
    with server.client() as client, concurrent.futures.ThreadPoolExecutor(20) as pool:
        submitted = dict(zip(requests, pool.map(
            lambda r: client.post("/v1/jobs", json=r), requests.values()), strict=True))
        assert all(r.status_code == 202 for r in submitted.values())
        ids = {tag: r.json()["id"] for tag, r in submitted.items()}
        assert len(set(ids.values())) == 20
        finished = {tag: wait_for(client, job_id) for tag, job_id in ids.items()}
        assert all(job["status"] == "done" for job in finished.values()), finished
        plans = {tag: client.get(f"/v1/jobs/{job_id}/plan").json()
                 for tag, job_id in ids.items()}
    for i, (tag, plan) in enumerate(plans.items()):
        assert plan["plan"]["scenario"]["name"] == f"tiny{tag}"
        rows = plan["assignment"]
        assert sorted(r["item"] for r in rows) == sorted(f"{tag}A{k}" for k in range(1, 9))
        first = next(r for r in rows if r["item"] == f"{tag}A1")
        assert first["territory"] == f"R{i % 3 + 1}" and first["locked"]
        # The KPIs are those of this assignment on this job's scenario, recomputed here.
        objective = _local_objective(requests[tag], rows)
        assert plan["plan"]["objective"] == pytest.approx(objective)


def _local_objective(request: dict[str, Any], rows: list[dict[str, Any]]) -> float:
    tiny = TinyScenario(Path(tempfile.mkdtemp()))
    tiny.spec = request["scenario"]
    tiny.accounts = request["tables"]["accounts.csv"]
    s = load_scenario(tiny.write())
    assignment_csv = tiny.folder / "assignment.csv"
    assignment_csv.write_text("item,territory\n" + "".join(
        f"{r['item']},{r['territory']}\n" for r in rows))
    return evaluate(s, read_assignment(s, assignment_csv)).objective.total


def test_time_and_queue_limits(server: Server) -> None:
    with server.client() as client:
        greedy = tiny_request()
        greedy["options"]["time_limit"] = 3600
        response = client.post("/v1/jobs", json=greedy)
        assert response.status_code == 422 and "at most 60 seconds" in response.text
        slow = small_request(time_limit=30)
        ids = []
        try:
            for _ in range(26):  # one more than the per-key limit
                response = client.post("/v1/jobs", json=slow)
                if response.status_code == 429:
                    break
                ids.append(response.json()["id"])
            assert response.status_code == 429 and "max-active-jobs" in response.text
        finally:
            for job_id in ids:
                client.delete(f"/v1/jobs/{job_id}")
            for job_id in ids:
                wait_for(client, job_id, timeout=60)


def test_a_job_can_be_cancelled_and_keeps_its_best_plan(server: Server) -> None:
    with server.client() as client:
        job = client.post("/v1/jobs", json=small_request(time_limit=60)).json()
        wait_for(client, job["id"], ("running",))
        time.sleep(3)  # let it find a plan
        assert client.delete(f"/v1/jobs/{job['id']}").status_code == 202
        final = wait_for(client, job["id"], timeout=60)
        assert final["status"] == "cancelled"
        plan = client.get(f"/v1/jobs/{job['id']}/plan")
        assert plan.status_code == 200 and plan.json()["plan"]["stop_reason"] == "interrupted"


def test_evaluate_and_route(server: Server) -> None:
    request = tiny_request()
    assignment = {f"A{k}": "R1" for k in range(1, 9)}
    with server.client() as client:
        kpis = client.post("/v1/evaluate", json={"scenario": request["scenario"],
                                                 "tables": request["tables"],
                                                 "assignment": assignment})
        assert kpis.status_code == 200
        body = kpis.json()
        assert body["metrics"]["items"] == 8 and body["territories"][0]["items"] == 8
        assert any("workload" in v for v in body["violations"])  # everything on R1
        unknown = client.post("/v1/evaluate", json={"scenario": request["scenario"],
                                                    "tables": request["tables"],
                                                    "assignment": {"A1": "R9"}})
        assert unknown.status_code == 422 and "R9" in unknown.text
        routed = client.post("/v1/route", json=_leads_request())
    assert routed.status_code == 200, routed.text
    decisions = routed.json()["decisions"]
    assert [d["lead"] for d in decisions] == ["L1", "L2"]
    assert all(d["rep"] and d["reason"] for d in decisions)


def _leads_request() -> dict[str, Any]:
    """A small leads scenario (tests/leads_cases.py) as a request, with two leads to route."""
    folder = Path(tempfile.mkdtemp())
    lead_scenario(folder, [{"language": "en"}, {"language": "fr"}],
                  [{"skills": "en"}, {"skills": "fr;en", "win_rate": 0.3}])
    tables = {n: (folder / n).read_text() for n in ("leads.csv", "reps.csv")}
    return {"scenario": yaml.safe_load((folder / "scenario.yaml").read_text()),
            "tables": tables,
            "leads": [{"id": "L1", "tags": {"language": "fr"}, "value": 1000},
                      {"id": "L2", "tags": {"language": "en"}, "value": 5000}]}


def test_bad_leads_backends_and_cancels_are_refused(server: Server) -> None:
    request = _leads_request()
    with server.client() as client:
        late = dict(request, leads=[{"id": "L4", "tags": {"language": "en"}, "value": 10,
                                     "created": "yesterday"}])
        response = client.post("/v1/route", json=late)
        assert response.status_code == 422 and "ISO 8601" in response.text
        negative = dict(request, loads={"R1": -1})
        assert client.post("/v1/route", json=negative).status_code == 422
        unknown = tiny_request()
        unknown["options"]["backend"] = "foo"
        response = client.post("/v1/jobs", json=unknown)
        assert response.status_code == 422 and "foo" in response.text
        job = client.post("/v1/jobs", json=tiny_request()).json()
        wait_for(client, job["id"])
        assert client.delete(f"/v1/jobs/{job['id']}").status_code == 409
        assert client.delete("/v1/jobs/nosuchjob").status_code == 404
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert "APIKeyHeader" in spec["components"]["securitySchemes"]


def test_upload_files(server: Server) -> None:
    folder = ROOT / "scenarios" / "small"
    files = [("scenario", ("scenario.yaml", (folder / "scenario.yaml").read_bytes())),
             ("tables", ("accounts.csv", (folder / "accounts.csv").read_bytes())),
             ("tables", ("reps.csv", (folder / "reps.csv").read_bytes()))]
    with server.client() as client:
        response = client.post("/v1/jobs/upload", files=files, data={"time_limit": "5"})
        assert response.status_code == 202, response.text
        assert wait_for(client, response.json()["id"])["status"] == "done"
        bad = [files[0], ("tables", ("../../etc/accounts.csv", b"id\n"))]
        assert client.post("/v1/jobs/upload", files=bad).status_code == 422


def test_a_job_survives_a_restart(tmp_path: Path) -> None:
    first = start_server(tmp_path, "--workers", "1")
    try:
        with first.client() as client:
            job = client.post("/v1/jobs", json=small_request(time_limit=15)).json()
            wait_for(client, job["id"], ("running",))
            time.sleep(1)
    finally:
        first.stop(signal.SIGKILL)  # the harshest end: no shutdown at all
    second = start_server(tmp_path, "--workers", "1")
    try:
        with second.client() as client:
            final = wait_for(client, job["id"], timeout=120)
            assert final["status"] == "done", final
            assert final["restarts"] == 1 and "server restart" in final["note"]
            plan = client.get(f"/v1/jobs/{job['id']}/plan").json()
            assert plan["plan"]["scenario"]["name"] == "small"
    finally:
        second.stop()


def test_a_bad_database_or_a_taken_port_exits_2(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TERRITORY_OPT_API_KEYS", raising=False)
    result = run_cli("serve", "--database", "notaurl", cwd=tmp_path)
    assert result.code == 2 and "cannot open the job database" in result.output
    assert "Traceback" not in result.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--database",
                         f"sqlite:///{tmp_path / 'jobs.db'}", cwd=tmp_path)
    assert result.code == 2 and "cannot listen" in result.output
    assert not (tmp_path / "jobs.db").exists()  # failed before touching the database


def test_no_key_binds_only_to_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TERRITORY_OPT_API_KEYS", raising=False)
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "1", cwd=tmp_path)
    assert result.code == 2 and "loopback" in result.output and "Traceback" not in result.output
    short = tmp_path / "keys.txt"
    short.write_text("# one key per line\nshort\n")
    result = run_cli("serve", "--api-key-file", short, cwd=tmp_path)
    assert result.code == 2 and "shorter than 16" in result.output
