"""Decomposed solves on a local Dask cluster of 1 and 2 workers against the whole model.

Run: ``python benchmarks/decomposed.py [--preset scale-200k] [--time-limit S]
[--workers 1,2]``. Builds the preset (scenarios/build_demo.py, seed 2026) into a temporary
folder, then solves it once per worker count, decomposed into regions on a local Dask cluster,
and once whole by the default command's engine (the baseline), each in a process of its own so
time and memory are its own, all with the same time limit. Writes the
"distributed-decomposed" section of RESULTS.md.

The projection for more workers is arithmetic on the measured run, not a measurement: the
phases that run on one process (bound, partition, coordination) stay as measured, and the
regions' measured compute seconds (each region's own solve time, summed) spread over ``N``
workers — never below the longest region. It is the wall time of the same plan with ``N``
workers, since every region would get the same seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from results import provenance, write_section  # noqa: E402

PRESET = "scale-200k"
PROJECTED_WORKERS = (4, 8, 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default=PRESET, help="a build_demo.py scale-* preset")
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--workers", default="1,2",
                        help="comma-separated worker counts, one decomposed run each")
    parser.add_argument("--run", choices=["decomposed", "whole"], help=argparse.SUPPRESS)
    parser.add_argument("--scenario", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(_run(args.run, args.scenario, args.time_limit, int(args.workers))))
        return
    counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        scenario = Path(folder) / args.preset
        subprocess.run([sys.executable, str(ROOT / "scenarios" / "build_demo.py"), "--preset",
                        args.preset, "--out", str(scenario)], check=True, capture_output=True)
        rows = {}
        runs = [(f"decomposed, {w} worker{'s' if w > 1 else ''}", "decomposed", w)
                for w in counts] + [("whole (default engine)", "whole", 1)]
        for label, method, workers in runs:
            done = subprocess.run([sys.executable, __file__, "--run", method, "--scenario",
                                   str(scenario), "--time-limit", str(args.time_limit),
                                   "--workers", str(workers)],
                                  stdout=subprocess.PIPE, text=True, check=False)
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
            rows[label] = (json.loads(lines[-1]) if lines else
                           {"error": f"the run failed (exit {done.returncode}); see stderr"})
            print(label, rows[label], flush=True)
    write_section("distributed-decomposed", _section(rows, args))


def _run(method: str, scenario_path: Path, time_limit: float, workers: int) -> dict[str, Any]:
    """One solve in this process: its figures as a JSON-ready dict."""
    from territory_opt import load_scenario, solve
    from territory_opt.errors import TerritoryOptError

    started = time.perf_counter()
    scenario = load_scenario(scenario_path / "scenario.yaml")
    loaded = time.perf_counter() - started
    out: dict[str, Any] = {"load_s": loaded}
    try:
        if method == "decomposed":
            from territory_opt.alignment.decompose import solve_decomposed

            plan, parts = solve_decomposed(scenario, time_limit=time_limit, workers=workers,
                                           gap=0.005, progress=_log)
            out |= {"regions": len(parts.names), "phases": parts.seconds,
                    "region_status": sorted({r.status for r in parts.results}),
                    # The regions' own optimality (their bounds hold for their parts only)
                    # and what coordination across borders gained.
                    "regions_objective": sum(r.objective for r in parts.results),
                    "regions_bound": sum(r.bound for r in parts.results),
                    "region_seconds": [r.seconds for r in parts.results],
                    "workers": workers,
                    "stitched": parts.stitched_objective}
        else:
            plan = solve(scenario, time_limit=time_limit, gap=0.005)
            out["backend"] = plan.backend
        out |= {"objective": plan.objective, "bound": plan.bound, "gap": plan.gap,
                "hard_violations": plan.evaluation.metrics["hard_violations"],
                "status": str(plan.status)}
    except TerritoryOptError as exc:
        out["error"] = str(exc).splitlines()[0]
    out["total_s"] = time.perf_counter() - started
    # ru_maxrss is in KiB on Linux; children: the largest Dask worker (not a sum).
    out["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    out["worker_peak_gb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return out


def _log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _section(rows: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    def cell(row: dict[str, Any], key: str, fmt: str) -> str:
        value = row.get(key)
        return "—" if value is None else format(value, fmt)

    lines = [f"## distributed: decomposed solves of {args.preset} on {args.workers} Dask workers",
             "",
             provenance(f"python benchmarks/decomposed.py --preset {args.preset} --time-limit "
                        f"{args.time_limit:g} --workers {args.workers}"),
             f"- scenario: `scenarios/build_demo.py --preset {args.preset}` (accounts at US "
             "ZIP centroids, reps in real cities; workload ±5%, potential ±10%, eligibility, "
             "disruption weight 50 per moved account, visit-weighted travel); the same time "
             "limit for every run, gap target 0.5%; the whole model by the default engine "
             "(`auto`). Each decomposed run is a local Dask cluster of that many single-thread "
             "worker processes on this 2-core machine; the same time limit for "
             "both, gap target 0.5%. Gap = (objective − bound) / objective, both bounds valid "
             "for the whole model. Peak = the main process; worker peak = the largest Dask "
             "worker (per process, not summed).", "",
             "| method | total s | objective | bound | gap | hard violations | peak GB | "
             "worker peak GB | notes |", "|---|---|---|---|---|---|---|---|---|"]
    for method, row in rows.items():
        notes = row.get("error", "")
        if "phases" in row:
            phases = ", ".join(f"{k} {v:.0f} s" for k, v in row["phases"].items())
            notes = (f"{row['regions']} regions; {phases}; region status "
                     f"{row['region_status']}; regions' objectives sum to "
                     f"{row['regions_objective']:,.0f}, their own bounds to "
                     f"{row['regions_bound']:,.0f}; stitched plan {row['stitched']:,.0f}, "
                     "coordinated: the objective column")
        if "region_seconds" in row:
            notes += "; " + _projection(row)
        elif "backend" in row:
            notes = f"auto chose {row['backend']}" + (f"; {notes}" if notes else "")
        lines.append(f"| {method} | {cell(row, 'total_s', ',.0f')} | "
                     f"{cell(row, 'objective', ',.0f')} | {cell(row, 'bound', ',.0f')} | "
                     f"{cell(row, 'gap', '.2%')} | {cell(row, 'hard_violations', '.0f')} | "
                     f"{cell(row, 'peak_gb', '.2f')} | {cell(row, 'worker_peak_gb', '.2f')} | "
                     f"{notes} |")
    return "\n".join(lines)


def _projection(row: dict[str, Any]) -> str:
    """Wall time of the same plan on more workers (module docstring): a projection."""
    work = row["region_seconds"]
    serial = row["total_s"] - row["phases"]["regions"]
    parallel = sum(work)
    spans = ", ".join(f"{n} workers ≈ {serial + max(parallel / n, max(work)):,.0f} s"
                      for n in PROJECTED_WORKERS)
    return (f"regions' compute {parallel:,.0f} s in {row['phases']['regions']:,.0f} s of wall "
            f"time on {row['workers']}; projected for the same plan: {spans} (one-process "
            f"phases {serial:,.0f} s stay)")


if __name__ == "__main__":
    main()
