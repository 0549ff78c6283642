"""Progress a user can read (issue 23): every family names its phases, the clock shown never
steps back, a log gets plain lines with the phase, a terminal a live display that is gone
before the plan prints, the service's job progress has phase, limit and gap; and the terminal
tables show reps' names beside the territory ids.

No assertion here depends on how fast the machine is."""

from __future__ import annotations

import io
import math
import os
import re
from pathlib import Path

import pytest
from rich.console import Console

from conftest import run_cli
from territory_opt import evaluate, load_scenario, solve
from territory_opt.backends.contract import Progress, timed_from
from territory_opt.deadline import Deadline
from territory_opt.districting import heuristic
from territory_opt.present.progress import ProgressTracker, progress_display, progress_text
from territory_opt.present.terminal import moves_table, territory_table

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small" / "scenario.yaml"
COUNTIES = ROOT / "scenarios" / "nc-counties" / "scenario.yaml"
LEADS = ROOT / "scenarios" / "leads" / "scenario.yaml"

LINE = re.compile(r"^\s+(\d+\.\d) (?:/ (\S+) )?s\s{3}(.*?)(?:\s{3}\((.+)\))?$")
"""A plain progress line: clock, limit, what is known, (phase)."""


def _rendered(renderable: object) -> str:
    file = io.StringIO()
    Console(file=file, width=200, color_system=None).print(renderable)
    return file.getvalue()


# --- events: phases and limits from every family ------------------------------------------------


def test_an_alignment_solve_names_its_phases_and_its_limit() -> None:
    seen: list[Progress] = []
    plan = solve(load_scenario(SMALL), backend="highs", time_limit=20, gap=0.05,
                 progress=seen.append)
    phases = [p.phase for p in seen]
    assert plan.assignment is not None and seen
    assert all(phases), phases  # every event says which phase sent it
    assert {"LP bound", "start plan"} <= set(phases), phases
    assert phases[0] == "LP bound"
    assert all(p.limit == 20 for p in seen)


def test_a_work_limited_solve_has_no_time_limit_to_show() -> None:
    seen: list[Progress] = []
    solve(load_scenario(SMALL), backend="highs", work_limit=50, gap=0.05,
          progress=seen.append)
    assert seen and all(p.limit is None for p in seen)


def test_a_districting_solve_names_its_phases() -> None:
    seen: list[Progress] = []
    plan = solve(load_scenario(COUNTIES), backend="highs", time_limit=3, progress=seen.append)
    phases = {p.phase for p in seen}
    assert {"districting search", "exact districting", "done"} <= phases, phases
    assert all(p.phase for p in seen) and all(p.limit == 3 for p in seen)
    # The exact model's incumbents may split a district until its separators are in: only
    # its bound is reported, and the best plan shown is one that keeps every rule.
    exact = [p.objective for p in seen if p.phase == "exact districting"]
    searched = [p.objective for p in seen if p.phase == "districting search"]
    assert exact[0] == pytest.approx(searched[-1])  # the start it hands to the exact model
    assert all(math.isinf(objective) for objective in exact[1:])
    assert seen[-1].phase == "done" and seen[-1].objective == pytest.approx(plan.objective)


def test_a_lead_allocation_names_its_phases() -> None:
    seen: list[Progress] = []
    solve(load_scenario(LEADS), time_limit=3, progress=seen.append)
    phases = [p.phase for p in seen]
    assert phases[0] == "lead allocation" and phases[-1] == "done" and all(phases), phases
    assert all(p.limit == 3 for p in seen)


def test_the_districting_search_is_never_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    """The search reports at each clock check once the heartbeat is due, better plan or not
    (here due at once, so the test needs no waiting)."""
    from test_districting import grid_problem

    monkeypatch.setattr(heuristic, "HEARTBEAT_EVERY", 0.0)
    problem = grid_problem(6, 6, 4, "cut_edges", [1.0 + (u * 7) % 5 for u in range(36)],
                           0.1)
    seen: list[Progress] = []
    deadline = Deadline(60)
    heuristic.solve_heuristic(problem, deadline=deadline, seed=0, iterations=5_000,
                              progress=seen.append)
    searching = [p for p in seen if p.phase == heuristic.SEARCH_PHASE]
    better = sorted({p.objective for p in searching if math.isfinite(p.objective)})
    assert len(searching) > len(better) + 2  # heartbeats beside the better plans
    assert seen[0].phase == heuristic.BOUND_PHASE


def test_timed_from_sets_the_clock_and_the_limit() -> None:
    seen: list[Progress] = []
    tell = timed_from(Deadline(42), seen.append)
    assert tell is not None
    tell(Progress(1.0, 0.5, 999.0, phase="HiGHS"))
    assert seen[0].seconds < 999 and seen[0].limit == 42 and seen[0].phase == "HiGHS"
    worked: list[Progress] = []
    tell = timed_from(Deadline(math.inf, work=100), worked.append)
    assert tell is not None
    tell(Progress(1.0, 0.5, 0.0))
    assert worked[0].limit is None


# --- what the user sees: a forward clock, the best plan and bound -------------------------------


EVENTS = [  # raw seconds step back, as a sub-phase timing itself would send them
    Progress(math.inf, -math.inf, 0.4, "LP bound", 10.0),
    Progress(math.inf, 90.0, 0.9, "start plan", 10.0),
    Progress(120.0, 90.0, 1.5, "start plan", 10.0),
    Progress(110.0, -math.inf, 0.2, "HiGHS", 10.0),  # a backend's own clock and no bound yet
    Progress(115.0, 95.0, 3.0, "HiGHS", 10.0),  # its own incumbent, worse than the best
    Progress(105.0, 96.0, 2.5, "HiGHS", 10.0),
    Progress(105.0, 96.0, float("nan"), "HiGHS", 10.0),
    Progress(104.0, 97.0, 14.0, "local search", 10.0),
    Progress(100.0, 97.0, 25.0, "local search", 10.0),
]


def test_the_tracker_keeps_the_clock_forward_and_the_best_plan_and_bound() -> None:
    tracker = ProgressTracker()
    shown = [tracker.see(event) for event in EVENTS]
    clock = [p.seconds for p in shown]
    assert clock == sorted(clock) and clock[-1] == 25.0
    assert [p.objective for p in shown] == [math.inf, math.inf, 120, 110, 110, 105, 105, 104,
                                            100]
    bounds = [p.bound for p in shown]
    assert bounds == sorted(bounds) and bounds[-1] == 97.0
    assert shown[4].phase == "HiGHS" and shown[-1].phase == "local search"
    state = tracker.as_json()
    assert state == {"phase": "local search", "seconds": 25.0, "limit": 10.0,
                     "objective": 100.0, "bound": 97.0, "gap": 0.03}
    assert ProgressTracker().as_json() == {"phase": "", "seconds": 0.0, "limit": None,
                                           "objective": None, "bound": None, "gap": None}


def test_progress_text_shows_clock_limit_plan_bound_gap_and_phase() -> None:
    assert progress_text(Progress(108156.77, 107261.88, 12.34, "local search", 60)) == (
        "    12.3 / 60 s   plan 108,156.8   bound 107,261.9   gap 0.83%   (local search)")
    assert progress_text(Progress(math.inf, -math.inf, 3.0)) == (
        "     3.0 s   no plan yet   bound n/a")


def test_log_lines_are_throttled_with_the_phase_and_a_forward_clock() -> None:
    file = io.StringIO()
    with progress_display(Console(file=file, width=200, color_system=None),
                          live=False) as show:
        for event in EVENTS:
            show(event)
    lines = file.getvalue().splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    clock = [float(m.group(1)) for m in parsed if m]
    assert clock == sorted(clock)
    # Each better plan, and a line after 10 s without one; none before the first plan.
    assert [m.group(4) for m in parsed if m] == ["start plan", "HiGHS", "HiGHS",
                                                "local search", "local search"]
    assert "no plan yet" not in "".join(lines)


def test_the_live_display_is_gone_after_the_block_even_on_an_error() -> None:
    file = io.StringIO()
    console = Console(file=file, width=120, force_terminal=True, color_system=None)
    with pytest.raises(KeyboardInterrupt), progress_display(console, live=True) as show:
        for event in EVENTS:
            show(event)
        raise KeyboardInterrupt
    text = file.getvalue()
    assert text.endswith("\x1b[2K") or "\x1b[?25h" in text  # erased, cursor shown again
    console.print("plan summary")
    assert file.getvalue().endswith("plan summary\n")


# --- the command line ---------------------------------------------------------------------------


def test_the_cli_log_shows_phases_and_a_clock_that_never_steps_back(tmp_path: Path) -> None:
    result = run_cli("solve", SMALL, "--out", tmp_path / "plan", "--backend", "highs",
                     "--time-limit", "20", "--gap", "0.05", cwd=tmp_path, subprocess=False)
    assert result.code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if LINE.match(line)]
    assert lines, result.stderr
    matches = [LINE.match(line) for line in lines]
    clock = [float(m.group(1)) for m in matches if m]
    assert clock == sorted(clock)
    assert all(m.group(2) == "20" and m.group(4) for m in matches if m), lines
    assert "start plan" in {m.group(4) for m in matches if m}
    assert "Rowan Mercer" in result.stdout  # the territory table names the reps


def test_json_prints_no_progress(tmp_path: Path) -> None:
    result = run_cli("solve", SMALL, "--out", tmp_path / "plan", "--backend", "highs",
                     "--time-limit", "20", "--gap", "0.05", "--json", cwd=tmp_path,
                     subprocess=False)
    assert result.code == 0, result.output
    assert not [line for line in result.stderr.splitlines() if LINE.match(line)]


# --- the service --------------------------------------------------------------------------------


def test_job_progress_has_phase_limit_and_gap(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from territory_opt.service import worker
    from territory_opt.service.store import JobStore

    monkeypatch.setattr(worker, "PROGRESS_SECONDS", 0.0)  # every event written
    folder = SMALL.parent
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    store.submit("me", "small", yaml.safe_load(SMALL.read_text()),
                 {n: (folder / n).read_bytes() for n in ("accounts.csv", "reps.csv")},
                 {"time_limit": 20, "gap": 0.05, "backend": "highs"})
    written: list[dict[str, object]] = []
    record = store.set_progress

    def keep(job_id: str, name: str, progress: dict[str, object]) -> bool:
        written.append(progress)
        return record(job_id, name, progress)

    monkeypatch.setattr(store, "set_progress", keep)
    job = store.claim("w1")
    assert job is not None
    worker.run_job(store, job, "w1", os.getppid())
    final = store.get(job.id)
    assert final is not None and final.status == "done", final
    assert written and all(set(p) == {"phase", "seconds", "limit", "objective", "bound", "gap"}
                           for p in written)
    clock = [float(p["seconds"]) for p in written]  # type: ignore[arg-type]
    assert clock == sorted(clock)
    assert all(p["limit"] == 20 and p["phase"] for p in written)
    last = final.progress
    assert last is not None and last == written[-1]
    assert last["objective"] is not None and last["gap"] is not None and last["gap"] >= 0


# --- names beside ids ---------------------------------------------------------------------------


def test_terminal_tables_name_the_reps() -> None:
    s = load_scenario(SMALL)
    text = _rendered(territory_table(s, evaluate(s, s.current), title="current"))
    assert "R01 Rowan Mercer (Charlotte, NC)" in text
    import pandas as pd

    moves = pd.DataFrame([{"item": "A1", "from": "R01", "to": "R02", "forced_by": "",
                           "delta_objective": -1.5}])
    text = _rendered(moves_table(moves, s))
    assert "R01 Rowan Mercer" in text and "R02 Dakota Prescott" in text
    assert "Rowan" not in _rendered(moves_table(moves))


def test_names_with_markup_are_escaped(tmp_path: Path) -> None:
    from conftest import TinyScenario

    tiny = TinyScenario(tmp_path)
    for rep, name in zip(tiny.reps, ("[bold]Anna[/] Müller", "Ben", "R3"), strict=True):
        rep["name"] = name
    tiny.spec["territories"]["name"] = "name"
    s = load_scenario(tiny.write())
    text = _rendered(territory_table(s, evaluate(s, s.current), title="current"))
    assert "R1 [bold]Anna[/] Müller" in text and "R2 Ben" in text
    assert "R3 R3" not in text  # a name that is the id is not repeated
