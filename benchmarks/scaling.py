"""Scaling suite: time to first plan, objective, gap to the LP bound and peak memory by size.

Seeded instances of the demo's kind (real ZIP centroids, reps in real cities, skewed potential
and workload, eligibility, a legacy current alignment with a disruption penalty; workload ±5%,
potential ±10%) at 1,000 × 20, 5,000 × 50, 20,000 × 100 and 100,000 × 500, built by
``scenarios/build_demo.py --preset scale-*``. Each run is its own process, so its peak memory
(``ru_maxrss``) is its own; it includes loading the scenario.

Methods: the ``heuristic`` backend at every size, with the issue's target time as its limit and
the target gap as its gap; ``highs`` (our full pipeline on the complete model) up to 5,000 × 50;
and, as the baseline in the same run, a hand-written PuLP + CBC model of the same balanced
problem (``benchmarks/handwritten_pulp.py``) up to 5,000 × 50. Ratios compare with the baseline.

Run from the repository root::

    python benchmarks/scaling.py [--sizes 1k,5k,20k,100k]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results import provenance, write_section  # noqa: E402

SIZES = {  # preset, heuristic time limit (the target), target gap
    "1k": ("scale-1k", 5.0, 0.003),
    "5k": ("scale-5k", 10.0, 0.003),
    "20k": ("scale-20k", 15.0, 0.0025),
    "100k": ("scale-100k", 120.0, 0.005),
}
LONGER = {"1k": 30.0, "5k": 60.0, "20k": 60.0, "100k": 300.0}
"""A second heuristic run with more time, to show where it goes after the target time."""
EXACT_UP_TO = ("1k", "5k")
EXACT_LIMIT = 60.0
BASELINE_LIMIT = 60.0


def run_one(scenario: str, method: str, limit: float, gap: float) -> dict[str, object]:
    """Solve in this process and return the figures (the parent measures memory)."""
    import numpy as np

    from territory_opt import load_scenario, solve
    from territory_opt.backends.contract import Progress

    started = time.perf_counter()
    s = load_scenario(scenario)
    loaded = time.perf_counter()
    if method == "baseline":
        return _baseline(s, limit, loaded - started)
    first: list[float] = []

    def progress(p: Progress) -> None:
        if not first and np.isfinite(p.objective):
            first.append(time.perf_counter() - loaded)

    try:
        plan = solve(s, backend=method, time_limit=limit, gap=gap, threads=2, seed=0,
                     progress=progress)
    except Exception as exc:  # a method that finds no plan is a result, not a crash
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
                "load_s": loaded - started, "total_s": time.perf_counter() - loaded}
    return {
        "objective": plan.objective, "bound": plan.bound, "gap": plan.gap,
        "first_plan_s": first[0] if first else None,
        "relax_s": plan.seconds.get("relax"), "build_s": plan.seconds.get("build"),
        "total_s": plan.seconds["total"], "load_s": loaded - started,
        "found_by": plan.found_by, "status": str(plan.status),
    }


def _baseline(s: object, limit: float, load_s: float) -> dict[str, object]:
    """The hand-written PuLP + CBC model of the same problem (dense costs: small sizes only)."""
    import numpy as np
    from benchmarks.handwritten_pulp import solve_by_hand

    from territory_opt import evaluate
    from territory_opt.alignment.pairs import cost_block
    from territory_opt.scenario.model import Scenario

    assert isinstance(s, Scenario)
    cost = cost_block(s, slice(None))
    loads, lower, upper = {}, {}, {}
    for rule in s.spec.rules.balance:
        target = s.targets(rule.attribute)
        loads[rule.attribute] = s.attributes[rule.attribute]
        lower[rule.attribute] = (1 - rule.tolerance) * target
        upper[rule.attribute] = (1 + rule.tolerance) * target
    result = solve_by_hand(cost, loads, lower, upper, time_limit=limit, threads=2)
    out: dict[str, object] = {"status": result.status, "total_s": result.seconds,
                              "build_s": result.build_seconds, "load_s": load_s}
    if result.assignment is not None:
        check = evaluate(s, np.asarray(result.assignment))
        out["objective"] = check.objective.total
        out["feasible"] = check.feasible
    return out


def measure(scenario: Path, method: str, limit: float, gap: float) -> dict[str, object]:
    """Run :func:`run_one` in a child process; add its wall time and peak memory."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--one", str(scenario), method,
                             str(limit), str(gap), str(out)], cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    figures: dict[str, object] = (json.loads(out.read_text()) if out.stat().st_size
                                  else {"error": f"exit status {status}"})
    out.unlink()
    figures.update({"wall_s": wall, "peak_gb": usage.ru_maxrss / 1e6, "method": method})
    return figures


def build(preset: str, folder: Path) -> float:
    """Write the preset's scenario into ``folder``; returns seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "scenarios" / "build_demo.py"), "--preset",
                    preset, "--out", str(folder)], check=True, capture_output=True)
    return time.perf_counter() - started


def _fmt(value: object, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) else "—"


def report(rows: list[tuple[str, dict[str, object]]], command: str) -> str:
    """The RESULTS.md section."""
    lines = [
        "## Scaling (issue 4)", "", provenance(command), "",
        "Instances: `scenarios/build_demo.py --preset scale-*` (seed 2026): workload ±5%, "
        "potential ±10%, eligibility, legacy alignment, disruption penalty 50 per moved "
        "account, visit-weighted travel. Gap = (objective − bound) / objective, the bound valid "
        "for every pair (LP relaxation by column generation, priced over all pairs). Each run "
        "is one process; peak = its max RSS (scenario loading included); load = reading the "
        "CSVs; relax = the LP relaxation (column generation); build = pairs + model.",
        "",
        "| size | method | limit s | first plan s | total s | load s | relax s | objective "
        "| gap | peak GB | vs baseline (objective, time) | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    baseline = {size: r for size, r in rows if r["method"] == "baseline"}
    for size, r in rows:
        base = baseline.get(size)
        ratio = "—"
        if base is not None and r is not base and isinstance(r.get("objective"), float) and (
                isinstance(base.get("objective"), float)):
            ratio = (f"{r['objective'] / base['objective']:.3f}×, "  # type: ignore[operator]
                     f"{r['total_s'] / base['total_s']:.2f}×")  # type: ignore[operator]
        note = str(r.get("error") or r.get("found_by") or r.get("status") or "")
        lines.append(
            f"| {size} | {r['method']} | {_fmt(r.get('limit'), '.0f')} "
            f"| {_fmt(r.get('first_plan_s'), '.1f')} | {_fmt(r.get('total_s'), '.1f')} "
            f"| {_fmt(r.get('load_s'), '.1f')} | {_fmt(r.get('relax_s'), '.1f')} "
            f"| {_fmt(r.get('objective'), ',.0f')} | {_fmt(r.get('gap'), '.3%')} "
            f"| {_fmt(r.get('peak_gb'), '.2f')} | {ratio} | {note[:90]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the suite and write its section of RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        scenario, method, limit, gap, out = args.one
        figures = run_one(scenario, method, float(limit), float(gap))
        Path(out).write_text(json.dumps(figures, default=float))
        return
    rows: list[tuple[str, dict[str, object]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            preset, limit, gap = SIZES[size]
            folder = Path(tmp) / preset
            print(f"{size}: building {preset}", flush=True)
            build(preset, folder)
            scenario = folder / "scenario.yaml"
            runs = [("heuristic", limit)]
            if size in LONGER:
                runs.append(("heuristic", LONGER[size]))
            if size in EXACT_UP_TO:
                runs += [("highs", EXACT_LIMIT), ("baseline", BASELINE_LIMIT)]
            for method, method_limit in runs:
                figures = measure(scenario, method, method_limit, gap)
                figures["limit"] = method_limit
                print(f"  {method}: {figures}", flush=True)
                rows.append((size, figures))
    command = "python benchmarks/scaling.py" + (f" --sizes {args.sizes}"
                                                if args.sizes != ",".join(SIZES) else "")
    write_section("scaling", report(rows, command))
    print(report(rows, command))


if __name__ == "__main__":
    main()
