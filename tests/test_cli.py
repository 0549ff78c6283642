"""The CLI on the bundled demo: solve, then evaluate the current alignment beside the plan."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from territory_opt import Plan, evaluate, load_scenario

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scenarios" / "demo" / "scenario.yaml"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "territory_opt.cli", *args],
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def demo_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plans") / "demo"
    # --gap 0.015: the tests below need a plan within 2%, not the demo's 0.5%.
    result = run_cli("solve", str(DEMO), "--out", str(out), "--time-limit", "25", "--gap",
                     "0.015", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # stdout is pure JSON: no solver banner
    assert summary["plan_dir"] == str(out)
    return out


@pytest.mark.slow
def test_demo_plan_is_balanced_and_shorter(demo_plan: Path) -> None:
    plan = Plan.read(demo_plan)
    scenario = plan.scenario
    assert plan.evaluation.feasible
    meta = json.loads((demo_plan / "plan.json").read_text())
    assert meta["status"] in ("optimal", "feasible")
    assert meta["bound"] is not None and 0 <= meta["gap"] < 0.02
    assert meta["scenario"]["digest"] == scenario.digest
    current = evaluate(scenario, scenario.current)
    for rule in scenario.spec.rules.balance:
        key = f"{rule.attribute}_max_abs_dev_pct"
        assert plan.evaluation.metrics[key] <= 100 * rule.tolerance + 1e-6
        assert current.metrics[key] > 100 * rule.tolerance  # the demo starts unbalanced
    assert plan.evaluation.metrics["travel"] < current.metrics["travel"]


@pytest.mark.slow
def test_evaluate_shows_current_and_plan_side_by_side(demo_plan: Path) -> None:
    result = run_cli("evaluate", str(DEMO), "--assignment", str(demo_plan / "assignment.csv"))
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "┃ KPI" in line)
    assert "current" in header and "demo" in header
    assert "workload_h max |dev| %" in result.stdout
    assert "hard violations" in result.stdout


@pytest.mark.slow
def test_evaluate_json(demo_plan: Path) -> None:
    result = run_cli("evaluate", str(DEMO), "--assignment", str(demo_plan / "assignment.csv"),
                     "--json")
    data = json.loads(result.stdout)
    assert set(data) == {"current", "demo"}
    assert data["demo"]["metrics"]["hard_violations"] == 0
    assert len(data["demo"]["territories"]) == load_scenario(DEMO).n_territories


def test_validate_demo() -> None:
    result = run_cli("validate", str(DEMO))
    assert result.returncode == 0, result.stderr
    assert "1,000 items" in result.stdout and "valid" in result.stdout


def test_solve_refuses_existing_out(tmp_path: Path) -> None:
    result = run_cli("solve", str(DEMO), "--out", str(tmp_path))
    assert result.returncode == 2
    assert "already exists" in result.stderr


def test_no_plan_within_limit_exits_3_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    # Without the construction's start, CBC needs far more than 0.5 s for a first demo plan.
    result = run_cli("solve", str(DEMO), "--out", str(out), "--time-limit", "0.5",
                     "--backend", "cbc", "--warm-start", "none")
    assert result.returncode == 3, result.stderr
    assert "found no plan within 0.5 s" in result.stderr and "--time-limit" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["highs", "cpsat", "scip", "cbc"])
def test_ctrl_c_writes_the_best_plan_found(tmp_path: Path, backend: str) -> None:
    import signal
    import threading

    out = tmp_path / "plan"
    small = ROOT / "scenarios" / "small" / "scenario.yaml"
    proc = subprocess.Popen([sys.executable, "-m", "territory_opt.cli", "solve", str(small),
                             "--out", str(out), "--backend", backend, "--gap", "0",
                             "--time-limit", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Interrupt once the solver reports its first plan (a progress line on stderr), not after
    # a fixed sleep: sooner, and never before there is a plan to keep.
    lines: list[str] = []
    has_plan = threading.Event()

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if " plan " in line:
                has_plan.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    assert has_plan.wait(timeout=60), "".join(lines)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    reader.join(timeout=10)
    stderr = "".join(lines)
    assert proc.returncode == 0, stderr
    meta = json.loads((out / "plan.json").read_text())
    assert meta["status"] == "feasible" and "interrupted" in meta["stop_reason"], stderr
    assert meta["seconds"]["total"] < 40
    assert Plan.read(out).evaluation.feasible


def test_unknown_backend_exits_2_with_the_known_names(tmp_path: Path) -> None:
    result = run_cli("solve", str(DEMO), "--out", str(tmp_path / "p"), "--backend", "gurobi")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown backend 'gurobi'" in result.stderr
    assert "highs, cpsat, scip, cbc" in result.stderr
    assert not (tmp_path / "p").exists()


SMALL = ROOT / "scenarios" / "small" / "scenario.yaml"

REGIONS_HONOURS = {"backend", "time_limit", "gap", "seed", "threads", "candidates",
                   "warm_start", "verbose", "scheduler", "workers"}
"""Solve options ``solve --regions`` honours (each seen in plan.json's options or the log)."""
REGIONS_REFUSES = {"work_limit", "review_file", "review_plan"}  # and --warm-start current /
# PLAN_DIR (--review and its --plan: tests/test_review.py)
NOT_SOLVE_OPTIONS = {"scenario", "out_dir", "regions", "draw_map", "as_json"}


def test_regions_honours_or_refuses_every_solve_option(tmp_path: Path) -> None:
    # Every option of `solve` is accounted for: a new one must be added here, honoured by the
    # decomposition or refused by it, never dropped silently.
    from territory_opt.cli import solve_command

    names = {p.name for p in solve_command.params}
    assert names == REGIONS_HONOURS | REGIONS_REFUSES | NOT_SOLVE_OPTIONS

    base = ("solve", str(SMALL), "--regions", "2", "--scheduler", "serial", "--time-limit", "10")
    # Honoured: what was given is what the plan records.
    out = tmp_path / "honoured"
    result = run_cli(*base, "--out", str(out), "--backend", "highs", "--gap", "0.05",
                     "--seed", "3", "--threads", "2", "--candidates", "5", "--warm-start",
                     "none", "--workers", "3", "--verbose")
    assert result.returncode == 0, result.stderr
    meta = json.loads((out / "plan.json").read_text())
    assert meta["backend"] == "decomposed (highs)"
    assert {k: meta["options"][k] for k in ("time_limit", "gap", "seed", "threads",
                                            "candidates", "warm_start", "workers")} == {
        "time_limit": 10.0, "gap": 0.05, "seed": 3, "threads": 2, "candidates": 5,
        "warm_start": "none", "workers": 3}
    assert "HiGHS" in result.stdout + result.stderr  # --verbose: the regions' solver log
    # Refused, by name, with exit 2, before any solving.
    plan_dir = str(out)
    for extra, named in ((("--work-limit", "1000"), "--work-limit"),
                         (("--warm-start", "current"), "--warm-start current"),
                         (("--warm-start", plan_dir), "--warm-start")):
        result = run_cli(*base, "--out", str(tmp_path / "refused"), *extra)
        assert result.returncode == 2, (extra, result.stderr)
        assert named in result.stderr and "not supported with --regions" in result.stderr
        assert not (tmp_path / "refused").exists()
    # And the decomposition's own options without --regions: refused, not ignored.
    for extra in (("--scheduler", "serial"), ("--workers", "2")):
        result = run_cli("solve", str(SMALL), "--out", str(tmp_path / "refused"), *extra)
        assert result.returncode == 2 and extra[0] in result.stderr, result.stderr


def test_solve_reports_load_solve_and_write_seconds(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    result = run_cli("solve", str(SMALL), "--out", str(out), "--time-limit", "10")
    assert result.returncode == 0, result.stderr
    assert re.search(r"loaded in [\d.]+ s, solved in [\d.]+ s, written in [\d.]+ s",
                     result.stdout), result.stdout
    meta = json.loads((out / "plan.json").read_text())
    assert 0 < meta["load_seconds"] < 30 and 0 < meta["write_seconds"] < 30
    assert "load" not in meta["seconds"] and meta["seconds"]["total"] > 0  # the solve's own
    plan = Plan.read(out)
    assert plan.load_seconds == meta["load_seconds"]
    assert plan.write_seconds == meta["write_seconds"]
