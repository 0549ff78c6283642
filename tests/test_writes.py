"""Outputs that survive interruptions, and plan directories that disagree with their plan.json.

A write in progress holds SIGINT and SIGTERM back until its folder is in place (whichever thread
the kernel hands the signal to); a writer killed outright leaves a temporary sibling named after
its owner, which the next write into the same folder removes once that owner is gone and never
while it lives. ``Plan.read`` compares the files with ``plan.json`` and the report shows what
differs.
"""

from __future__ import annotations

import html
import json
import math
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import TinyScenario, run_cli
from territory_opt import Plan, load_scenario, solve
from territory_opt.atomic import _owner_tag, write_file, write_folder
from territory_opt.backends.contract import Status
from territory_opt.present.report import write_report

HAS_PROC = Path("/proc/self/stat").is_file()

# A writer in a child process: it writes one file, says so, waits, then writes the second.
CHILD = """
import sys, threading, time
from pathlib import Path
from territory_opt.atomic import write_folder

def fill(folder):
    (folder / "assignment.csv").write_text("item,territory\\n")
    print("filling", flush=True)
    time.sleep(float(sys.argv[2]))
    (folder / "plan.json").write_text("{}")

if sys.argv[3] == "thread":  # a second thread the kernel may hand a process-wide signal to
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
write_folder(Path(sys.argv[1]), fill)
print("returned", flush=True)
"""


def start_writer(target: Path, seconds: float, threads: str = "single") -> subprocess.Popen[str]:
    """A child running :data:`CHILD`, returned once it is inside its ``fill``."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(target), str(seconds), threads],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline() == "filling\n", child.communicate(timeout=30)
    return child


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def slow_fill(reached: threading.Event, resume: threading.Event) -> Callable[[Path], None]:
    """A fill that writes a file, signals ``reached``, waits for ``resume``, writes another."""

    def fill(folder: Path) -> None:
        (folder / "first.txt").write_text("1", encoding="utf-8")
        reached.set()
        resume.wait(10)
        (folder / "second.txt").write_text("2", encoding="utf-8")

    return fill


# --- signals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("receiver", ["any thread", "main thread"])
def test_sigint_during_fill_waits_for_the_folder(tmp_path: Path, receiver: str) -> None:
    """``os.kill`` of the process may land on the sending thread (the main thread blocks it);
    ``pthread_kill`` aims at the main thread, where it waits in the signal mask."""
    target, main = tmp_path / "out", threading.get_ident()
    reached, resume = threading.Event(), threading.Event()
    handler = signal.getsignal(signal.SIGINT)

    def interrupt() -> None:
        reached.wait(10)
        if receiver == "any thread":
            os.kill(os.getpid(), signal.SIGINT)
        else:
            signal.pthread_kill(main, signal.SIGINT)
        # Let the fill go on only after the signal had every chance to be acted on.
        threading.Timer(0.3, resume.set).start()

    sender = threading.Thread(target=interrupt)
    sender.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            write_folder(target, slow_fill(reached, resume))
    finally:
        resume.set()
        sender.join()
    assert names(target) == ["first.txt", "second.txt"]
    assert names(tmp_path) == ["out"]  # no temporary folder left
    assert signal.getsignal(signal.SIGINT) is handler
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_failing_fill_removes_its_folder_and_still_delivers_the_signal(tmp_path: Path) -> None:
    def fill(folder: Path) -> None:
        (folder / "part.txt").write_text("x", encoding="utf-8")
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # held back
        raise OSError("disk full")

    with pytest.raises(KeyboardInterrupt) as caught:
        write_folder(tmp_path / "out", fill)
    assert isinstance(caught.value.__context__, OSError)
    assert names(tmp_path) == []


def test_write_file_holds_signals_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target, real_open = tmp_path / "report.html", open

    def interrupted_open(*args: Any, **kwargs: Any) -> Any:
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # held back until replaced
        return real_open(*args, **kwargs)

    monkeypatch.setattr("builtins.open", interrupted_open)
    with pytest.raises(KeyboardInterrupt):
        write_file(target, b"<html></html>")
    monkeypatch.undo()
    assert target.read_bytes() == b"<html></html>" and names(tmp_path) == ["report.html"]


@pytest.mark.parametrize("threads", ["single", "thread"])
def test_sigterm_during_a_write_ends_the_process_after_it(tmp_path: Path, threads: str) -> None:
    target = tmp_path / "plans" / "plan"
    child = start_writer(target, 1.0, threads)
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGTERM, stderr
    assert "returned" not in stdout  # the signal ended it, once the folder was in place
    assert names(target) == ["assignment.csv", "plan.json"]
    assert names(target.parent) == ["plan"]


# --- orphans of killed writers ----------------------------------------------------------------


@pytest.mark.skipif(not HAS_PROC, reason="owners are judged from /proc")
def test_orphans_of_dead_writers_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    plans = tmp_path / "plans"
    child = start_writer(plans / "x", 60)
    child.kill()
    child.communicate(timeout=30)
    (orphan,) = plans.glob(f".x.tmp-{child.pid}-*")
    assert orphan.is_dir() and names(orphan) == ["assignment.csv"]
    assert not (plans / "x").exists()

    pid, start, host = _owner_tag().split("-")
    dead_tag = orphan.name.removeprefix(".x.tmp-").rsplit("-", 1)[0]
    mine = plans / f".y.tmp-{pid}-{start}-{host}-handmade"
    reused = plans / f".z.tmp-{pid}-{int(start) + 1}-{host}-handmade"  # live pid, not its start
    elsewhere = plans / f".w.tmp-{dead_tag.rsplit('-', 1)[0]}-{'0' * 8}-handmade"
    dead_file = plans / f".r.html.tmp-{dead_tag}-ab12cd34"
    for folder in (mine, reused, elsewhere):
        folder.mkdir()
    dead_file.write_bytes(b"half a page")
    if host == "0" * 8:  # the other host's tag must differ from this one's
        elsewhere = elsewhere.rename(plans / elsewhere.name.replace("0" * 8, "1" * 8))

    write_folder(plans / "next", lambda folder: (folder / "a.txt").write_text("a"))
    assert names(plans) == sorted(["next", mine.name, elsewhere.name])

    # A file write cleans beside its target in the same way.
    dead_file.write_bytes(b"half a page")
    write_file(plans / "r.html", b"page")
    assert names(plans) == sorted(["next", "r.html", mine.name, elsewhere.name])


# --- plan directories that disagree with plan.json --------------------------------------------


def current_plan_dir(tiny: TinyScenario, assignment: str = "current") -> Path:
    """The tiny scenario's current alignment (it meets every rule) written as a plan; with
    ``assignment="one rep"`` every account goes to R1, breaking the hard balance band."""
    s = load_scenario(tiny.write())
    chosen = s.current if assignment == "current" else s.current * 0
    plan = Plan(scenario=s, assignment=chosen, status=Status.FEASIBLE, bound=-math.inf,
                backend="current")
    return plan.write(tiny.out_dir)


def test_intact_plans_agree(tiny: TinyScenario) -> None:
    plan = Plan.read(current_plan_dir(tiny))
    assert plan.disagreements == () and plan.status_now == "feasible"
    # hard violations recorded in plan.json are no disagreement
    infeasible = Plan.read(current_plan_dir(TinyScenario(tiny.root / "other"), "one rep"))
    assert not infeasible.evaluation.feasible
    assert infeasible.disagreements == () and infeasible.status_now == "feasible"
    assert "disagreements" not in json.loads((tiny.out_dir / "plan.json").read_text())


def test_plan_json_records_load_and_write_seconds_apart_from_the_solves(
        tiny: TinyScenario) -> None:
    s = load_scenario(tiny.write())
    plan = Plan(scenario=s, assignment=s.current, status=Status.FEASIBLE, bound=-math.inf,
                backend="current", seconds={"total": 1.5}).timed(load_seconds=0.25)
    evaluation = plan.evaluation
    recorded, path = plan.written(tiny.out_dir)
    meta = json.loads((path / "plan.json").read_text())
    assert meta["seconds"] == {"total": 1.5}  # the solve's own
    assert meta["load_seconds"] == 0.25
    assert meta["write_seconds"] == recorded.write_seconds and 0 <= meta["write_seconds"] < 30
    assert recorded.evaluation is evaluation  # not evaluated again
    again = Plan.read(path)
    assert (again.load_seconds, again.write_seconds) == (0.25, meta["write_seconds"])
    # Made in memory and never timed: null, and a plan.json without them reads as None.
    assert Plan(scenario=s, assignment=s.current, status=Status.FEASIBLE, bound=-math.inf,
                backend="current").summary()["load_seconds"] is None
    del meta["load_seconds"], meta["write_seconds"]
    (path / "plan.json").write_text(json.dumps(meta))
    assert Plan.read(path).load_seconds is None


def test_cut_assignment_is_flagged(tiny: TinyScenario) -> None:
    plan_dir = current_plan_dir(tiny)
    csv = plan_dir / "assignment.csv"
    lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    csv.write_text("".join(lines[:-3]), encoding="utf-8")  # header and 5 of 8 rows

    plan = Plan.read(plan_dir)
    hard = sum(v.hard for v in plan.evaluation.violations)
    said = json.loads((plan_dir / "plan.json").read_text())["objective"]
    assert hard >= 3  # the three accounts without a row, and the bands they leave short
    assert plan.disagreements == (
        "assignment.csv has 5 rows for 8 items: 3 items are unassigned",
        f"plan.json says objective {said:,.1f}; the files give {plan.objective:,.1f}",
        f"plan.json says 'feasible' but the assignment breaks {hard} hard rules",
    )
    assert plan.status_now == "violates" and plan.status == Status.FEASIBLE

    page = html.unescape(write_report(plan, plan_dir).read_text(encoding="utf-8"))
    box = page[page.index('id="plan-disagreements"'):]
    box = box[:box.index("</div>")]
    assert all(sentence in box for sentence in plan.disagreements)
    assert page.index('id="plan-disagreements"') < page.index('id="plan-facts"')
    status = page[page.index("<th scope=\"row\">status</th>"):]
    assert status.startswith("<th scope=\"row\">status</th><td>violates (plan.json says "
                             "'feasible', which the assignment contradicts)</td>")

    # the command reads the plan the same way
    (plan_dir / "report.html").unlink()
    result = run_cli("report", plan_dir, cwd=tiny.root, subprocess=False)
    assert result.code == 0, result.output
    assert "plan-disagreements" in (plan_dir / "report.html").read_text(encoding="utf-8")


def test_tampered_objective_is_named(tiny: TinyScenario) -> None:
    plan_dir = current_plan_dir(tiny)
    meta_path = plan_dir / "plan.json"
    meta = json.loads(meta_path.read_text())
    now = meta["objective"]
    meta["objective"] = now - 0.04  # shown apart only with two decimals
    meta_path.write_text(json.dumps(meta))
    plan = Plan.read(plan_dir)
    assert plan.disagreements == (f"plan.json says objective {now - 0.04:,.2f}; the files "
                                  f"give {now:,.2f}",)
    assert plan.status_now == "feasible"  # the objective alone says nothing of the rules

    meta["objective"] = now * (1 + 1e-9)  # within the tolerance
    meta_path.write_text(json.dumps(meta))
    assert Plan.read(plan_dir).disagreements == ()


def test_territories_csv_keeps_every_digit(tmp_path: Path) -> None:
    """A spreadsheet reads the figures as computed: no 1.05146e+07 for 10,514,604."""
    scenario = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "small"
                             / "scenario.yaml")
    plan = solve(scenario, time_limit=2)
    plan.write(tmp_path / "plan")
    text = (tmp_path / "plan" / "territories.csv").read_text(encoding="utf-8")
    assert "e+0" not in text
    written = pd.read_csv(tmp_path / "plan" / "territories.csv")
    expected = plan.evaluation.territories
    assert np.allclose(written["potential_target"], expected["potential_target"], rtol=1e-14,
                       atol=0)
