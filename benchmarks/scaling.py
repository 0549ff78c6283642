"""Scaling suite: the default command, ``territory-opt solve``, run as a user runs it, by size.

Each run is the console script ``territory-opt solve DIR --out OUT --time-limit T --gap 0
--seed S`` in its own process: the wall time is the whole process (start-up, loading, solve,
writing the plan) and the peak memory is the child's own max RSS (``os.wait4``). The figures
of the plan (objective, bound, gap, status, backend, found_by, seconds, ``choice`` and the
``anytime`` record of the best objective at 25%, 50% and 100% of the limit) come from
``OUT/plan.json``; the gap is recomputed as (objective − bound) / objective and checked against
``plan.json``'s. Exit status 3 is "no plan found", a result, not a crash.

Instances, built once per run into a temporary folder (seed 2026):

- ``bench-*``: ``scenarios/build_bench.py`` (clustered accounts, workload ±5% and potential ±10%
  only, ``backend: auto``);
- ``scale-*``: ``scenarios/build_demo.py`` (ZIP centroids, eligibility, a current alignment
  with a disruption penalty).

Methods: ``default`` (no ``--backend``: the scenario decides), ``heuristic`` and ``highs`` (the
latter up to 5,000 accounts), each at the instance's two time limits and seeds 0, 1, 2; the
tables give the median over seeds of gap, objective and wall time and the max of peak memory,
then the issue's targets for the default method and a "more time never worse" check.

Run from the repository root (``--dry-run`` prints the commands without running them)::

    python benchmarks/scaling.py [--sizes 1k,5k,20k,100k] [--families bench,scale]
        [--seeds 0,1,2] [--methods default,heuristic,highs] [--dry-run]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results import provenance, write_section  # noqa: E402

BUILDERS = {"bench": "build_bench.py", "scale": "build_demo.py"}
"""The script in ``scenarios/`` that builds each family's presets."""
BUILD_SEED = 2026
LIMITS: dict[str, tuple[float, ...]] = {
    "bench-1k": (5.0, 30.0), "bench-5k": (10.0, 60.0), "bench-20k": (15.0, 60.0),
    "bench-100k": (60.0, 120.0),
    "scale-1k": (5.0, 30.0), "scale-5k": (10.0, 60.0), "scale-20k": (15.0, 60.0),
    "scale-100k": (120.0,),
}
SIZES = ("1k", "5k", "20k", "100k")
DEFAULT_SIZES = ("1k", "5k", "20k")
METHODS = ("default", "heuristic", "highs")
HIGHS_UP_TO = ("1k", "5k")
SHARES = (0.25, 0.5, 1.0)
"""The shares of the time limit of the ``anytime`` record."""
NO_PLAN = 3
"""The CLI's exit status for "no plan found within the limit"."""
GAP_AGREES = 1e-9
WATCHDOG = (2.0, 600.0)
"""A run is killed after ``a × limit + b`` seconds (a hung child must not stop the suite)."""


@dataclass(frozen=True)
class Job:
    """One solve: an instance, a method, a time limit and a seed."""

    family: str
    size: str
    method: str
    limit: float
    seed: int

    @property
    def instance(self) -> str:
        """The preset's name, e.g. ``bench-1k``."""
        return f"{self.family}-{self.size}"


@dataclass
class Run:
    """What one solve gave: exit status, wall time, peak memory and ``plan.json``."""

    job: Job
    code: int
    wall_s: float
    peak_mb: float
    plan: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def objective(self) -> float | None:
        """The plan's objective; None without a plan."""
        return _number(self.plan.get("objective")) if self.code == 0 else None

    @property
    def bound(self) -> float | None:
        """The plan's lower bound; None without one."""
        return _number(self.plan.get("bound"))

    @property
    def gap(self) -> float | None:
        """(objective − bound) / |objective|, recomputed from ``plan.json``."""
        return relative_gap(self.objective, self.bound)


@dataclass(frozen=True)
class Target:
    """One of the issue's targets for the default method on one instance."""

    instance: str
    text: str
    limit: float | None = None
    gap: float | None = None
    mb: float | None = None
    plan_by: float | None = None


TARGETS = (
    Target("bench-1k", "≤ 0.3% in 5 s", limit=5.0, gap=0.003),
    Target("bench-1k", "≤ 0.25% in 30 s", limit=30.0, gap=0.0025),
    Target("bench-5k", "≤ 0.4% in 10 s", limit=10.0, gap=0.004),
    Target("bench-5k", "≤ 0.3% in 60 s", limit=60.0, gap=0.003),
    Target("bench-20k", "≤ 0.25% in 15 s", limit=15.0, gap=0.0025),
    Target("bench-20k", "≤ 1,000 MB", mb=1000.0),
    Target("scale-100k", "a plan by 60 s", plan_by=60.0),
    Target("scale-100k", "≤ 0.5% in 120 s", limit=120.0, gap=0.005),
    Target("scale-100k", "≤ 4,000 MB", mb=4000.0),
)


# --- numbers -------------------------------------------------------------------------------


def _number(value: object) -> float | None:
    """A finite float, or None (null, missing, inf, text)."""
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """(objective − bound) / |objective|; None when either is missing or objective is 0."""
    if objective is None or bound is None or objective == 0:
        return None
    return (objective - bound) / abs(objective)


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are not None; None if there are none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _fmt(value: float | None, spec: str, none: str = "—") -> str:
    """``value`` formatted, or ``none``."""
    return none if value is None else format(value, spec)


# --- running -------------------------------------------------------------------------------


def executable() -> str:
    """The ``territory-opt`` console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "territory-opt"
    return str(beside) if beside.exists() else shutil.which("territory-opt") or "territory-opt"


def build_command(family: str, size: str, folder: Path) -> list[str]:
    """The command that writes the instance into ``folder``."""
    return [sys.executable, str(ROOT / "scenarios" / BUILDERS[family]), "--preset",
            f"{family}-{size}", "--seed", str(BUILD_SEED), "--out", str(folder)]


def solve_command(job: Job, folder: Path, out: Path) -> list[str]:
    """The user's command for ``job``: ``territory-opt solve`` (``--backend`` unless default)."""
    command = [executable(), "solve", str(folder), "--out", str(out), "--time-limit",
               f"{job.limit:g}", "--gap", "0", "--seed", str(job.seed)]
    return command if job.method == "default" else [*command, "--backend", job.method]


def jobs_of(family: str, size: str, methods: Sequence[str], seeds: Sequence[int]) -> list[Job]:
    """The solves of one instance: every method, limit and seed (highs only up to 5k)."""
    return [Job(family, size, method, limit, seed)
            for method in methods if method != "highs" or size in HIGHS_UP_TO
            for limit in LIMITS[f"{family}-{size}"] for seed in seeds]


def build(family: str, size: str, folder: Path) -> tuple[int, int]:
    """Write the instance into ``folder``; returns (accounts, reps)."""
    subprocess.run(build_command(family, size, folder), check=True, capture_output=True,
                   cwd=ROOT)
    return _rows(folder / "accounts.csv"), _rows(folder / "reps.csv")


def _rows(csv: Path) -> int:
    """Data rows of a CSV written by the builders (one line each, a header line)."""
    with csv.open("rb") as handle:
        return sum(1 for _ in handle) - 1


def measure(job: Job, folder: Path, work: Path) -> Run:
    """Run ``job``'s command in a child process; its wall time, own peak RSS and plan."""
    out = work / f"{job.instance}-{job.method}-{job.limit:g}s-seed{job.seed}"
    log = out.parent / f"{out.name}.log"
    with log.open("wb") as sink:
        started = time.perf_counter()
        proc = subprocess.Popen(solve_command(job, folder, out), stdout=sink,
                                stderr=subprocess.STDOUT, cwd=work)
        watchdog = threading.Timer(WATCHDOG[0] * job.limit + WATCHDOG[1], proc.kill)
        watchdog.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        watchdog.cancel()
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    plan = _read_plan(out / "plan.json")
    error = "" if code in (0, NO_PLAN) else _last_line(log)
    return Run(job, code, wall, usage.ru_maxrss / 1024, plan, error)  # ru_maxrss: KiB


def _read_plan(path: Path) -> dict[str, Any]:
    """``plan.json`` as a dict; empty if it is missing or garbled (no plan, a crash)."""
    try:
        plan = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return plan if isinstance(plan, dict) else {}


def _last_line(log: Path) -> str:
    """The last non-empty line of a child's output (its error message)."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    return next((line for line in reversed(lines) if line), "no output")


def run_instance(family: str, size: str, jobs: list[Job], work: Path) -> tuple[
        tuple[int, int], list[Run]]:
    """Build the instance, run its jobs (printing each) and delete the instance."""
    folder = work / f"{family}-{size}"
    print(f"{family}-{size}: building", flush=True)
    shape = build(family, size, folder)
    runs = []
    for job in jobs:
        run = measure(job, folder, work)
        print(f"  {summary(run)}", flush=True)
        runs.append(run)
    shutil.rmtree(folder)
    return shape, runs


def summary(run: Run) -> str:
    """One progress line for a run."""
    job = run.job
    head = f"{job.method} {job.limit:g} s seed {job.seed}: exit {run.code}, "
    return (head + f"wall {run.wall_s:.1f} s, peak {run.peak_mb:,.0f} MB, objective "
            f"{_fmt(run.objective, ',.1f')}, gap {_fmt(run.gap, '.3%')}, backend "
            f"{run.plan.get('backend', '—')}, choice {_choice(run) or '—'}"
            + (f", error: {run.error}" if run.error else ""))


# --- the tables ----------------------------------------------------------------------------


def groups(runs: list[Run]) -> dict[tuple[str, str, float], list[Run]]:
    """The runs by (instance, method, limit), in the order they ran."""
    out: dict[tuple[str, str, float], list[Run]] = {}
    for run in runs:
        out.setdefault((run.job.instance, run.job.method, run.job.limit), []).append(run)
    return out


def _choice(run: Run) -> str:
    """The method ``auto`` chose (``choice.method``), or ''."""
    choice = run.plan.get("choice")
    return str(choice.get("method", "")) if isinstance(choice, dict) else ""


def anytime_value(run: Run, share: float, as_gap: bool) -> float | None:
    """The ``anytime`` objective at ``share``, as a gap to the run's bound if ``as_gap``; inf
    while there is no plan yet; None without the record."""
    entry = _anytime_entry(run, share)
    if entry is None:
        return None
    objective = _number(entry.get("objective"))
    if objective is None:
        return math.inf
    gap = relative_gap(objective, run.bound)
    return gap if as_gap and gap is not None else objective


def _anytime_entry(run: Run, share: float) -> dict[str, Any] | None:
    """The ``anytime`` entry of ``share`` (nearest share within 1%), or None."""
    for entry in run.plan.get("anytime") or []:
        if isinstance(entry, dict) and abs(float(entry.get("share", -1)) - share) < 0.01:
            return entry
    return None


def anytime_cell(runs: list[Run]) -> str:
    """Median over seeds at 25/50/100% of the limit: gap % if every run with the record has
    a bound, else the objective."""
    as_gap = all(run.bound is not None for run in runs if run.plan.get("anytime"))
    parts = []
    for share in SHARES:
        value = median(anytime_value(run, share, as_gap) for run in runs)
        if value is None:
            parts.append("—")
        elif math.isinf(value):
            parts.append("no plan")
        else:
            parts.append(f"{value:.3%}" if as_gap else f"{value:,.0f}")
    return " / ".join(parts)


def median_run(runs: list[Run]) -> Run | None:
    """The run with the median objective (the lower middle one), None without a plan."""
    planned = sorted((r for r in runs if r.objective is not None),
                     key=lambda r: r.objective or 0.0)
    return planned[(len(planned) - 1) // 2] if planned else None


def plans_cell(runs: list[Run]) -> str:
    """How many runs gave a plan, and why the others did not."""
    planned = sum(run.objective is not None for run in runs)
    text = f"{planned}/{len(runs)}"
    no_plan = sum(run.code == NO_PLAN for run in runs)
    errors = sum(run.code not in (0, NO_PLAN) for run in runs)
    extra = ([f"no plan (exit 3) ×{no_plan}"] if no_plan else []) + (
        [f"error ×{errors}"] if errors else [])
    return text + (f" ({', '.join(extra)})" if extra else "")


def row(key: tuple[str, str, float], runs: list[Run], shape: tuple[int, int]) -> str:
    """One row of a family's table: medians over the seeds of one instance/method/limit."""
    instance, method, limit = key
    middle = median_run(runs)
    found_by = str(middle.plan.get("found_by", "")) if middle else ""
    chosen = ", ".join(sorted({_choice(r) for r in runs if _choice(r)})) or "—"
    cells = [
        instance, f"{shape[0]:,} × {shape[1]}", f"{limit:g}", method, plans_cell(runs),
        _fmt(_pct(median(r.gap for r in runs)), ".3f"),
        _fmt(median(r.objective for r in runs), ",.0f"),
        _fmt(median(r.wall_s for r in runs), ".1f"),
        f"{max(r.peak_mb for r in runs):,.0f}", anytime_cell(runs),
        found_by[:60].replace("|", "/") or "—", chosen,
    ]
    return "| " + " | ".join(cells) + " |"


def _pct(value: float | None) -> float | None:
    """A fraction as a percentage."""
    return None if value is None else 100 * value


def family_table(family: str, runs: list[Run], shapes: dict[str, tuple[int, int]]) -> list[str]:
    """The markdown table of one family."""
    lines = [
        f"### {family}-*", "",
        "| instance | size (accounts × reps) | limit s | method | plans | median gap % "
        "| median objective | median wall s | peak MB | anytime at 25/50/100% of the limit "
        "| found_by (median run) | chosen method |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, cell in groups([r for r in runs if r.job.family == family]).items():
        lines.append(row(key, cell, shapes[key[0]]))
    return lines


# --- the checks ----------------------------------------------------------------------------


def target_row(target: Target, runs: list[Run]) -> str | None:
    """A row of the targets table, None if the instance did not run."""
    mine = [r for r in runs if r.job.instance == target.instance and r.job.method == "default"]
    if not mine:
        return None
    if target.mb is not None:
        peak = max(r.peak_mb for r in mine)
        measured, met = f"{peak:,.0f} MB (max over runs)", _yes(peak <= target.mb)
    elif target.plan_by is not None:
        measured, met = plan_by(mine, target.plan_by)
    else:
        measured, met = gap_at(mine, target)
    return f"| {target.instance} | {target.text} | {measured} | {met} |"


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def gap_at(runs: list[Run], target: Target) -> tuple[str, str]:
    """The median gap at the target's limit, and whether it meets the target."""
    at = [r for r in runs if r.job.limit == target.limit]
    gap = median(r.gap for r in at)
    if not at or gap is None or target.gap is None:
        return ("not run" if not at else "no plan"), "**no**" if at else "—"
    wall = median(r.wall_s for r in at)
    planned = sum(r.gap is not None for r in at)
    return (f"{gap:.3%} (median of {planned}/{len(at)}; wall {_fmt(wall, '.1f')} s)",
            _yes(gap <= target.gap and planned == len(at)))


def plan_by(runs: list[Run], seconds: float) -> tuple[str, str]:
    """Whether every seed had a plan by ``seconds``: from a run with that limit or less, else
    from the ``anytime`` record of a longer one (the engine's clock)."""
    seeds = sorted({r.job.seed for r in runs})
    verdicts = [_plan_by_seed([r for r in runs if r.job.seed == s], seconds) for s in seeds]
    yes = sum(v is True for v in verdicts)
    unknown = sum(v is None for v in verdicts)
    text = f"{yes}/{len(seeds)} seeds" + (f" ({unknown} without a record)" if unknown else "")
    return text, "unknown" if unknown and yes + unknown == len(seeds) else _yes(yes == len(seeds))


def _plan_by_seed(runs: list[Run], seconds: float) -> bool | None:
    """True/False if some run of one seed tells, else None."""
    verdicts = [v for v in (_plan_by_run(run, seconds) for run in runs) if v is not None]
    return True if any(verdicts) else (False if verdicts else None)


def _plan_by_run(run: Run, seconds: float) -> bool | None:
    """Whether ``run`` shows a plan by ``seconds``; None if it cannot tell (a crash, a longer
    limit without the ``anytime`` record)."""
    if run.code == NO_PLAN:  # none within the whole limit, so none by ``seconds`` either
        return False
    if run.code != 0:
        return None
    if run.job.limit <= seconds:
        return run.objective is not None
    early = [e for e in run.plan.get("anytime") or []
             if isinstance(e, dict) and (_number(e.get("seconds")) or math.inf) <= seconds]
    if not early:
        return None
    last = max(early, key=lambda e: float(e["seconds"]))
    return _number(last.get("objective")) is not None


def more_time_rows(runs: list[Run]) -> list[str]:
    """"More time never worse": the median objective at each longer limit ≤ at the shorter."""
    by_pair: dict[tuple[str, str], list[tuple[float, float | None]]] = {}
    for (instance, method, limit), cell in groups(runs).items():
        by_pair.setdefault((instance, method), []).append(
            (limit, median(r.objective for r in cell)))
    lines = []
    for (instance, method), points in by_pair.items():
        points.sort()
        for (short, before), (long, after) in itertools.pairwise(points):
            ok = "—" if before is None or after is None else _yes(
                after <= before * (1 + GAP_AGREES))
            lines.append(f"| {instance} | {method} | {short:g} → {long:g} "
                         f"| {_fmt(before, ',.0f')} → {_fmt(after, ',.0f')} | {ok} |")
    return lines


def gap_mismatches(runs: list[Run]) -> list[str]:
    """Runs whose recomputed gap differs from ``plan.json``'s."""
    out = []
    for run in runs:
        said, mine = _number(run.plan.get("gap")), run.gap
        if run.objective is None or (said is None and mine is None):
            continue
        if said is None or mine is None or abs(said - mine) > GAP_AGREES:
            job = run.job
            out.append(f"{job.instance} {job.method} {job.limit:g} s seed {job.seed}: "
                       f"plan.json {_fmt(said, '.6%')}, recomputed {_fmt(mine, '.6%')}")
    return out


def notes(runs: list[Run]) -> list[str]:
    """Bullets: the gap check, failed runs, and why ``auto`` chose what it chose."""
    mismatches = gap_mismatches(runs)
    lines = ["- gap check (recomputed vs plan.json): "
             + ("all agree" if not mismatches else "; ".join(mismatches))]
    for run in runs:
        if run.error:
            job = run.job
            lines.append(f"- {job.instance} {job.method} {job.limit:g} s seed {job.seed}: "
                         f"exit {run.code}: {run.error[:200]}")
    whys: dict[tuple[str, str, str], str] = {}
    for run in (r for r in runs if r.job.method == "default"):
        choice = run.plan.get("choice")
        if isinstance(choice, dict) and choice.get("why"):
            whys.setdefault((run.job.instance, f"{run.job.limit:g}", str(choice.get("method"))),
                            str(choice["why"]))
    lines += [f"- {inst} {limit} s: auto chose {method}: {why[:200]}"
              for (inst, limit, method), why in whys.items()]
    return lines


# --- the section ---------------------------------------------------------------------------


def report(runs: list[Run], shapes: dict[str, tuple[int, int]], command: str) -> str:
    """The RESULTS.md section."""
    each = "territory-opt solve DIR --out OUT --time-limit T --gap 0 --seed S"
    lines = [
        "## Scaling: the default command (issue 21)", "", provenance(command),
        f"- each run: `{each} [--backend heuristic|highs]`, T the limit, S the seed", "",
        "Instances built once per run (seed 2026): `bench-*` by `scenarios/build_bench.py` "
        "(clustered accounts, workload ±5%, potential ±10%, workload-weighted travel, "
        "`backend: auto`), `scale-*` by `scenarios/build_demo.py` (ZIP centroids, eligibility, "
        "current alignment, disruption penalty). Medians over the seeds (gap and objective over "
        "the runs with a plan); peak MB = the largest max RSS of a child (MiB, `os.wait4`); "
        "wall = the whole process (start-up, load, solve, write). Gap = (objective − bound) / "
        "objective. Anytime = the best objective at 25/50/100% of the limit from plan.json's "
        "`anytime`, as a gap to the run's bound (— without the record). `default` = no "
        "`--backend`: the scenario's (`auto` for bench-*); chosen method = plan.json's "
        "`choice.method`.",
    ]
    for family in BUILDERS:
        if any(r.job.family == family for r in runs):
            lines += ["", *family_table(family, runs, shapes)]
    targets = [line for t in TARGETS if (line := target_row(t, runs))]
    if targets:
        lines += ["", "### Targets (default method)", "", "| instance | target | measured "
                  "| met? |", "|---|---|---|---|", *targets]
    if more := more_time_rows(runs):
        lines += ["", "### More time never worse (median objective)", "",
                  "| instance | method | limits s | objective | ok? |", "|---|---|---|---|---|",
                  *more]
    lines += ["", *notes(runs)]
    return "\n".join(lines)


# --- the command line ----------------------------------------------------------------------


def _list(text: str, allowed: Sequence[str]) -> list[str]:
    """A comma-separated list, each item one of ``allowed``."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    bad = [item for item in items if item not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"{text!r}: expected some of {', '.join(allowed)}")
    return items


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The options (see the module's docstring)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=lambda t: _list(t, SIZES), default=list(DEFAULT_SIZES))
    parser.add_argument("--families", type=lambda t: _list(t, tuple(BUILDERS)),
                        default=list(BUILDERS))
    parser.add_argument("--seeds", type=lambda t: [int(s) for s in t.split(",")],
                        default=[0, 1, 2])
    parser.add_argument("--methods", type=lambda t: _list(t, METHODS), default=list(METHODS))
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    return parser.parse_args(argv)


def dry_run(plan: list[tuple[str, str, list[Job]]]) -> None:
    """Print every command the suite would run (``TMP`` stands for the run's temporary folder)."""
    work = Path("TMP")
    for family, size, jobs in plan:
        folder = work / f"{family}-{size}"
        print(shlex.join(build_command(family, size, folder)))
        for job in jobs:
            out = work / f"{job.instance}-{job.method}-{job.limit:g}s-seed{job.seed}"
            print("  " + shlex.join(solve_command(job, folder, out)))


def main(argv: Sequence[str] | None = None) -> None:
    """Run the suite and write its section of RESULTS.md."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    plan = [(family, size, jobs_of(family, size, args.methods, args.seeds))
            for family in args.families for size in args.sizes]
    if args.dry_run:
        dry_run(plan)
        return
    runs: list[Run] = []
    shapes: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        for family, size, jobs in plan:
            shapes[f"{family}-{size}"], done = run_instance(family, size, jobs, Path(tmp))
            runs += done
    body = report(runs, shapes, shlex.join(["python", "benchmarks/scaling.py", *argv]))
    write_section("scaling", body)
    print(body)


if __name__ == "__main__":
    main()
