"""Time you can trust: one deadline per solve, limits kept from outside the call, and work
limits that give the same plan on a busy machine.

The timing tests measure wall time around ``solve()`` and the command, alone and beside two
processes that keep both cores busy; they are slow (10 s solves) and run in CI.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from territory_opt import load_scenario, solve
from territory_opt.backends.contract import Capabilities, SolveOptions, SolveResult, Status
from territory_opt.backends.linear import LinearModel
from territory_opt.deadline import Deadline
from territory_opt.errors import NoPlanFoundError
from territory_opt.solve import finish_reserve

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "territory_opt"
BUNDLED = sorted(p.parent.name for p in (ROOT / "scenarios").glob("*/scenario.yaml"))
LIMIT = 10.0
ALLOWED = LIMIT + 1.0 + 0.02 * LIMIT
"""What the issue promises: the limit, plus one second, plus 2%."""

CLOCK_READS = re.compile(r"\b(perf_counter|monotonic)\s*\(|\btime\.time\s*\(")


def test_no_code_reads_the_clock_but_the_deadline_module() -> None:
    found = [f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*.py")) if path.name != "deadline.py"
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if CLOCK_READS.search(line)]
    assert not found, "use territory_opt.deadline (Deadline, Stopwatch):\n" + "\n".join(found)


def test_the_clock_pattern_catches_every_spelling() -> None:
    for line in ("t = time.perf_counter()", "time.monotonic ()", "stamp = time.time()",
                 "from time import perf_counter; perf_counter()"):
        assert CLOCK_READS.search(line), line
    assert not CLOCK_READS.search("watch = Stopwatch(); watch.seconds()")


def test_a_share_never_runs_past_its_parent() -> None:
    whole = Deadline(2.0, reserve=0.5)
    assert whole.seconds == 2.0
    half = whole.share(0.5)
    assert half.seconds == pytest.approx(0.75)  # half of what the phases may use
    child = whole.share(5.0)  # more than is left: it ends with its parent
    assert child.remaining() <= whole.remaining() + 1e-3 and whole.remaining() <= 1.5
    assert whole.share(1.0, at_most=0.1).seconds == pytest.approx(0.1)
    whole.stop.set()
    assert half.expired() and half.interrupted  # one stop signal for every share


def test_work_is_counted_in_every_enclosing_deadline() -> None:
    whole = Deadline(1.0, work=100)
    phase = whole.share(0.3)
    step = phase.share(1.0, at_most_work=10)
    step.spend(4)
    assert (step.work_left(), phase.work_left(), whole.work_left()) == (6, 26, 96)
    assert whole.remaining() == float("inf")  # the clock decides nothing under a work limit
    step.spend(6)
    assert step.expired() and not phase.expired()


def test_the_finish_reserve_is_small_and_bounded() -> None:
    assert finish_reserve(10) == 0.5 and finish_reserve(600) == 1.0
    assert finish_reserve(1) == pytest.approx(0.1)


@contextlib.contextmanager
def busy_cores(count: int = 2) -> Iterator[None]:
    """``count`` processes spinning on the CPU while the block runs."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(count)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def _timed_solve(path: Path) -> float:
    """Seconds of the default solve with a 10 s limit: the best plan by then, or no plan
    (``NoPlanFoundError``) — either way on time."""
    scenario = load_scenario(path)
    began = time.perf_counter()
    try:
        plan = solve(scenario, time_limit=LIMIT)
        assert plan.status.has_plan or str(plan.status) == "violates"
    except NoPlanFoundError:
        pass
    return time.perf_counter() - began


@pytest.mark.slow
@pytest.mark.parametrize("busy", [False, True], ids=["alone", "busy"])
@pytest.mark.parametrize("name", BUNDLED)
def test_solve_returns_within_its_limit(name: str, busy: bool) -> None:
    path = ROOT / "scenarios" / name / "scenario.yaml"
    with busy_cores() if busy else contextlib.nullcontext():
        seconds = _timed_solve(path)
    assert seconds <= ALLOWED, f"{name}: {seconds:.2f} s for a {LIMIT:g} s limit"


@pytest.fixture(scope="module")
def scale_20k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scale") / "scale-20k"
    subprocess.run([sys.executable, str(ROOT / "scenarios" / "build_demo.py"), "--preset",
                    "scale-20k", "--out", str(out)], check=True, capture_output=True)
    return out / "scenario.yaml"


@pytest.mark.slow
@pytest.mark.parametrize("busy", [False, True], ids=["alone", "busy"])
def test_a_large_solve_returns_within_its_limit(scale_20k: Path, busy: bool) -> None:
    with busy_cores() if busy else contextlib.nullcontext():
        seconds = _timed_solve(scale_20k)
    assert seconds <= ALLOWED, f"scale-20k: {seconds:.2f} s for a {LIMIT:g} s limit"


def _cli(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "territory_opt.cli", *args], cwd=cwd,
                         capture_output=True, text=True, timeout=600)
    return run, time.perf_counter() - began


@pytest.mark.slow
def test_the_command_ends_within_its_limit_plus_load_and_write(tmp_path: Path) -> None:
    run, wall = _cli("solve", str(ROOT / "scenarios" / "demo" / "scenario.yaml"),
                     "--time-limit", str(LIMIT), "--out", str(tmp_path / "plan"), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    meta = json.loads((tmp_path / "plan" / "plan.json").read_text())
    reported = LIMIT + meta["load_seconds"] + meta["write_seconds"]
    # The wall time also holds the interpreter's exit after the last line: 50 ms allowed.
    assert wall <= reported + 0.05, f"{wall:.2f} s against {reported:.2f} s reported"


WORK = {"highs": 1, "heuristic": 3}
"""Work limits of a few seconds here whose demo plans are within 1% of the best possible
(so of any longer solve's): HiGHS's root node alone, and three restricted or neighbourhood MIPs
(gap 0.58% here)."""


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted(WORK))
def test_a_work_limit_gives_the_same_plan_on_a_busy_machine(backend: str,
                                                            tmp_path: Path) -> None:
    demo = str(ROOT / "scenarios" / "demo" / "scenario.yaml")
    files = []
    for busy in (False, True):
        out = tmp_path / ("busy" if busy else "alone")
        with busy_cores() if busy else contextlib.nullcontext():
            run, _ = _cli("solve", demo, "--backend", backend, "--work-limit",
                          str(WORK[backend]), "--threads", "1", "--out", str(out), cwd=tmp_path)
        assert run.returncode == 0, run.stdout + run.stderr
        meta = json.loads((out / "plan.json").read_text())
        assert meta["gap"] <= 0.01, meta["gap"]  # within 1% of the bound, so of any plan
        assert meta["options"]["work_limit"] == WORK[backend]
        files.append((out / "assignment.csv").read_bytes())
    assert files[0] == files[1]


def test_a_backend_without_a_work_limit_refuses_it(tmp_path: Path) -> None:
    run, _ = _cli("solve", str(ROOT / "scenarios" / "small" / "scenario.yaml"), "--backend",
                  "cbc", "--work-limit", "5", "--out", str(tmp_path / "plan"), cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "work_limit" in run.stdout + run.stderr and "cbc" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert not (tmp_path / "plan").exists()


def test_a_stop_from_another_thread_ends_the_solve_with_its_best_plan() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "demo" / "scenario.yaml")
    stop = threading.Event()
    timer = threading.Timer(3.0, stop.set)
    timer.start()
    began = time.perf_counter()
    try:
        plan = solve(scenario, backend="heuristic", time_limit=60, stop=stop)
    finally:
        timer.cancel()
    assert time.perf_counter() - began < 8
    assert plan.status.has_plan and plan.stop_reason == "interrupted"


class _SlowDoubter:
    """A backend that says "infeasible" when the limit runs out (as CBC did on the demo)."""

    name = "doubter"
    capabilities = Capabilities()

    def available(self) -> bool:
        return True

    def solve(self, model: LinearModel, options: SolveOptions) -> SolveResult:
        if options.stop is not None:
            options.stop.wait(options.time_limit)
        return SolveResult(Status.INFEASIBLE, None, float("inf"), float("inf"), 0.0)


def test_an_infeasible_claim_with_no_time_left_to_confirm_it_is_no_plan() -> None:
    """A backend's "infeasible" on a small model is checked by HiGHS in the time left; with
    none left it is reported as no plan found (exit 3), never as the user's infeasibility."""
    scenario = load_scenario(ROOT / "scenarios" / "small" / "scenario.yaml")
    with pytest.raises(NoPlanFoundError, match="found no plan within 1 s"):
        solve(scenario, backend=_SlowDoubter(), time_limit=1.0, warm_start="none")


def test_progress_is_timed_from_the_start_of_the_solve() -> None:
    """Every phase reports on one clock: the seconds never step back (the backend's own clock
    used to restart after the construction's reports)."""
    scenario = load_scenario(ROOT / "scenarios" / "small" / "scenario.yaml")
    seconds: list[float] = []
    began = time.perf_counter()
    solve(scenario, time_limit=3, progress=lambda p: seconds.append(p.seconds))
    assert len(seconds) >= 2
    assert seconds == sorted(seconds)
    assert seconds[-1] <= time.perf_counter() - began
