"""The service under attack, through a real server on loopback: it never reads its own files nor
fetches a URL, refuses YAML bombs before expanding them, times out slow clients, refuses a
keyless body unread, answers bad bodies with 422 (never 500) and keeps each key to its caps."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from territory_opt.service.store import JobStore
from test_hostile_tables import SECRET, listener, vrt  # noqa: F401 (listener is a fixture)
from test_service import KEY, Server, small_request, start_server, tiny_request

OTHER_KEY = "other-tenant-key-0123456789"
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 3.0
MAX_CONNECTIONS = 8


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A secret CSV outside anything the server is given, in the shape of a points table."""
    path = tmp_path_factory.mktemp("elsewhere") / "secret.csv"
    path.write_text(f"id,lat,lon,potential,workload\n{SECRET},35.2,-80.8,1,1\n"
                    f"{SECRET},35.3,-80.7,1,1\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("attacked")
    keys = folder / "keys.txt"
    keys.write_text(f"{KEY}\n{OTHER_KEY}\n", encoding="utf-8")
    running = start_server(folder, "--workers", "1", "--api-key-file", str(keys),
                           "--max-body-mb", "1", "--max-time-limit", "60",
                           "--max-active-jobs", "3", "--max-queued-seconds", "100",
                           "--max-connections", str(MAX_CONNECTIONS),
                           "--header-timeout", str(HEADER_TIMEOUT),
                           "--body-timeout", str(BODY_TIMEOUT), keys="")
    yield running
    running.stop()
    log = running.log.read_text(errors="replace")
    assert SECRET not in log and OTHER_KEY not in log  # nothing read shows in the log either


def post_raw(server: Server, path: str, body: str | bytes,
             key: str = KEY) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", content=body, timeout=30,
                      headers={"X-API-Key": key, "Content-Type": "application/json"})


def assert_422(response: httpx.Response, *needles: str) -> None:
    assert response.status_code == 422, response.text
    for needle in needles:
        assert needle in response.text, response.text
    assert SECRET not in response.text and OTHER_KEY not in response.text


# --- tables that point elsewhere ------------------------------------------------------------


@pytest.mark.parametrize("name", ["accounts.geojson", "accounts.json"])
def test_vrt_tables_in_a_json_body_are_refused_unread(server: Server, planted: Path,
                                                      name: str) -> None:
    request = tiny_request()
    request["tables"][name] = vrt(str(planted))
    request["scenario"]["items"]["path"] = name
    del request["tables"]["accounts.csv"]
    with server.client() as client:
        for path in ("/v1/jobs", "/v1/evaluate"):
            body = request if path == "/v1/jobs" else {
                "scenario": request["scenario"], "tables": request["tables"], "assignment": {}}
            assert_422(client.post(path, json=body), name)


@pytest.mark.parametrize("name", ["accounts.geojson", "accounts.gpkg", "accounts.shp"])
def test_vrt_tables_uploaded_are_refused_unread(server: Server, planted: Path,
                                                name: str) -> None:
    request = tiny_request()
    request["scenario"]["items"]["path"] = name
    files = [("scenario", ("scenario.yaml", json.dumps(request["scenario"]).encode())),
             ("tables", (name, vrt(str(planted)).encode())),
             ("tables", ("reps.csv", b"rep_id,home_lat,home_lon,fte,skills\n"
                                     b"R1,35.2,-80.8,1,smb\n"))]
    if name.endswith(".shp"):
        files += [("tables", ("accounts.shx", b"\0" * 100)),
                  ("tables", ("accounts.dbf", b"\0" * 100))]
    with server.client() as client:
        assert_422(client.post("/v1/jobs/upload", files=files), name)


def test_a_vsicurl_table_is_never_fetched(server: Server,
                                          listener: tuple[str, list[str]]) -> None:  # noqa: F811
    url, seen = listener
    request = tiny_request()
    request["tables"]["accounts.geojson"] = vrt(f"/vsicurl/{url}/secret.csv")
    request["scenario"]["items"]["path"] = "accounts.geojson"
    with server.client() as client:
        assert_422(client.post("/v1/jobs", json=request), "accounts.geojson")
    assert seen == []


# --- YAML and JSON bombs ------------------------------------------------------------------


def alias_bomb() -> str:
    """Nine levels of nine aliases each: 9⁹ strings once expanded, in 1.4 KB."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_upload_is_refused_at_once(server: Server) -> None:
    bomb = alias_bomb()
    assert len(bomb) < 1500
    started = time.monotonic()
    with server.client() as client:
        response = client.post("/v1/jobs/upload", files=[
            ("scenario", ("scenario.yaml", bomb.encode())),
            ("tables", ("accounts.csv", b"id\n1\n"))])
        assert_422(response, "aliases")
        assert time.monotonic() - started < 10
        assert client.get("/v1/health", timeout=2).status_code == 200  # nothing still busy


@pytest.mark.parametrize(("body", "needle"), [
    ('{"scenario": {}, "tables": {}, "options": {"time_limit": NaN}}', "NaN"),
    ('{"scenario": {}, "tables": {}, "options": {"gap": Infinity}}', "Infinity"),
    ('{"scenario": {}, "tables": {}, "options": {"time_limit": 1e999}}', "finite"),
    ('{"scenario": {}, "tables": {}, "options": {"seed": 1' + "0" * 5000 + "}}", "digits"),
    ("[" * 500 + "]" * 500, "levels"),
    ('{"scenario": {}, "tables": {}, "tables": {"a.csv": "x"}}', "twice"),
])
def test_bodies_json_cannot_read_are_422_naming_the_problem(server: Server, body: str,
                                                            needle: str) -> None:
    for path in ("/v1/jobs", "/v1/evaluate", "/v1/route"):
        assert_422(post_raw(server, path, body), needle)


def test_deep_nesting_inside_the_scenario_is_422(server: Server) -> None:
    request = tiny_request()
    nested: object = 1
    for _ in range(60):
        nested = [nested]
    request["scenario"]["description"] = nested
    with server.client() as client:
        response = client.post("/v1/jobs", json=request)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(("yaml_text", "needle"), [
    ("name: tiny\nversion: 1\nversion: 1\n", "duplicate key"),
    ("name: 2024-13-45\nversion: 1\n", "scenario"),  # a date-like name is text, not a crash
    ("name: tiny\nversion: 1" + "0" * 5000 + "\n", "digits"),
    ("name: !!python/object/apply:os.system ['id']\n", "tag"),
])
def test_bad_yaml_uploads_are_422_not_500(server: Server, yaml_text: str, needle: str) -> None:
    with server.client() as client:
        response = client.post("/v1/jobs/upload", files=[
            ("scenario", ("scenario.yaml", yaml_text.encode())),
            ("tables", ("accounts.csv", b"id\n1\n"))])
    assert_422(response, needle)


def test_infinite_numbers_in_a_scenario_are_422_naming_the_field(server: Server) -> None:
    request = tiny_request()
    request["scenario"]["quotas"] = {"target": 1.0, "basis": "potential"}
    text = json.dumps(request).replace('"target": 1.0', '"target": 1e999')
    assert_422(post_raw(server, "/v1/jobs", text), "finite")
    yaml_text = (yaml.safe_dump(tiny_request()["scenario"])
                 + "quotas:\n  target: .inf\n  basis: potential\n")
    with server.client() as client:
        response = client.post("/v1/jobs/upload", files=[
            ("scenario", ("scenario.yaml", yaml_text.encode())),
            ("tables", ("accounts.csv", b"id\n1\n")), ("tables", ("reps.csv", b"id\n1\n"))])
    assert_422(response, "quotas", "finite")


def test_nan_in_an_upload_form_is_422(server: Server) -> None:
    folder = Path(__file__).resolve().parents[1] / "scenarios" / "small"
    files = [("scenario", ("scenario.yaml", (folder / "scenario.yaml").read_bytes())),
             ("tables", ("accounts.csv", (folder / "accounts.csv").read_bytes())),
             ("tables", ("reps.csv", (folder / "reps.csv").read_bytes()))]
    with server.client() as client:
        for field in ("time_limit", "gap"):
            response = client.post("/v1/jobs/upload", files=files, data={field: "nan"})
            assert_422(response, field)


def test_duplicate_upload_names_are_refused(server: Server) -> None:
    folder = Path(__file__).resolve().parents[1] / "scenarios" / "small"
    accounts = (folder / "accounts.csv").read_bytes()
    files = [("scenario", ("scenario.yaml", (folder / "scenario.yaml").read_bytes())),
             ("tables", ("accounts.csv", accounts)), ("tables", ("accounts.csv", b"id\nX\n")),
             ("tables", ("reps.csv", (folder / "reps.csv").read_bytes()))]
    with server.client() as client:
        assert_422(client.post("/v1/jobs/upload", files=files), "accounts.csv", "2 times")


# --- slow and keyless clients ---------------------------------------------------------------


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def read_all(sock: socket.socket, within: float) -> bytes:
    """What the server sends until it closes, or until ``within`` seconds have passed."""
    sock.settimeout(within)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pass
    return data


def test_slow_headers_are_cut_off(server: Server) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\n")
        closed = False
        for _ in range(30):  # one header byte every 0.3 s: never finishes
            try:
                sock.sendall(b"X")
            except OSError:
                closed = True
                break
            time.sleep(0.3)
            sock.settimeout(0.01)
            try:
                if sock.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
            except OSError:
                closed = True
                break
        assert closed and time.monotonic() - started < HEADER_TIMEOUT + 3


def test_a_keyless_body_is_refused_before_it_is_read(server: Server) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 900000\r\n\r\n")  # and no body at all
        reply = read_all(sock, 5)
    assert reply.startswith(b"HTTP/1.1 401") and b"missing API key" in reply
    assert time.monotonic() - started < 2


def test_a_slow_body_times_out(server: Server) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\n"
                     "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode())
        reply = read_all(sock, BODY_TIMEOUT + 5)
    assert reply.startswith(b"HTTP/1.1 408") and b"body-timeout" in reply
    assert time.monotonic() - started < BODY_TIMEOUT + 3


def test_connections_past_the_limit_get_503(server: Server) -> None:
    idle = [connect(server) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)
        assert httpx.get(f"{server.url}/v1/health", timeout=5).status_code == 503
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.5)
    assert httpx.get(f"{server.url}/v1/health", timeout=5).status_code == 200


# --- per-key caps ---------------------------------------------------------------------------


def test_queued_seconds_are_capped_per_key(server: Server) -> None:
    with server.client() as client, server.client(OTHER_KEY) as other:
        first = client.post("/v1/jobs", json=small_request(time_limit=60))
        assert first.status_code == 202, first.text
        try:
            second = client.post("/v1/jobs", json=small_request(time_limit=60))
            assert second.status_code == 429 and "--max-queued-seconds 100" in second.text
            small = client.post("/v1/jobs", json=tiny_request(time_limit=5))
            assert small.status_code == 202, small.text  # 65 s in all: within the cap
            # Another key's budget is its own.
            theirs = other.post("/v1/jobs", json=tiny_request(time_limit=60))
            assert theirs.status_code == 202, theirs.text
            assert other.get(f"/v1/jobs/{first.json()['id']}").status_code == 404
        finally:
            for c in (client, other):
                for job in c.get("/v1/jobs").json():
                    if job["status"] in ("queued", "running"):
                        c.delete(f"/v1/jobs/{job['id']}")


def test_docs_are_served_offline_without_a_key(server: Server) -> None:
    for path in ("/docs", "/redoc"):
        page = httpx.get(f"{server.url}{path}", timeout=10)
        assert page.status_code == 200
        for cdn in ("cdn.jsdelivr", "unpkg", "googleapis", "https://cdn"):
            assert cdn not in page.text


# --- job notes ------------------------------------------------------------------------------


def test_a_job_cancelled_when_its_server_died_ends_cancelled(tmp_path: Path) -> None:
    """Its note says so, not "queued again" (the server restarted with the cancel pending)."""
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    job = store.submit("owner", "tiny", {}, {}, {"time_limit": 5})
    assert store.claim("deadserver-1") is not None
    store.cancel(job.id, "owner")  # asked while running; then the server dies
    assert store.recover() == (0, 0)
    final = store.get(job.id)
    assert final is not None and final.status == "cancelled"
    assert final.note is not None and "cancelled" in final.note and "queued" not in final.note


def test_a_requeued_job_cancelled_later_says_cancelled(tmp_path: Path) -> None:
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    job = store.submit("owner", "tiny", {}, {}, {"time_limit": 5})
    store.claim("deadserver-1")
    assert store.recover() == (1, 0)  # queued again, with a note saying so
    store.claim("liveserver-1")
    store.cancel(job.id, "owner")
    assert store.finish(job.id, "liveserver-1", "cancelled", None, None)
    final = store.get(job.id)
    assert final is not None and final.note == "cancelled before a plan was found"
