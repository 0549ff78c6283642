"""A decomposed solve of 200,000 accounts × 1,000 reps against the monolithic heuristic.

Run: ``python benchmarks/decomposed.py [--time-limit S] [--workers N]``. Builds the
``scale-200k`` scenario (scenarios/build_demo.py, seed 2026) into a temporary folder, then
solves it twice, each in a process of its own so time and memory are its own: decomposed into
regions on a local Dask cluster, and whole by the heuristic backend with the same time limit
(the baseline). Writes the "distributed-decomposed" section of RESULTS.md.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--run", choices=["decomposed", "whole"], help=argparse.SUPPRESS)
    parser.add_argument("--scenario", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(_run(args.run, args.scenario, args.time_limit, args.workers)))
        return
    with tempfile.TemporaryDirectory() as folder:
        scenario = Path(folder) / PRESET
        subprocess.run([sys.executable, str(ROOT / "scenarios" / "build_demo.py"), "--preset",
                        PRESET, "--out", str(scenario)], check=True, capture_output=True)
        rows = {}
        for method in ("decomposed", "whole"):
            done = subprocess.run([sys.executable, __file__, "--run", method, "--scenario",
                                   str(scenario), "--time-limit", str(args.time_limit),
                                   "--workers", str(args.workers)],
                                  stdout=subprocess.PIPE, text=True, check=False)
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
            rows[method] = (json.loads(lines[-1]) if lines else
                            {"error": f"the run failed (exit {done.returncode}); see stderr"})
            print(method, rows[method], flush=True)
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
                    "stitched": parts.stitched_objective}
        else:
            plan = solve(scenario, backend="heuristic", time_limit=time_limit, gap=0.005)
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

    lines = ["## distributed: a decomposed solve at 200,000 accounts", "",
             provenance(f"python benchmarks/decomposed.py --time-limit {args.time_limit:g} "
                        f"--workers {args.workers}"),
             f"- scenario: `scenarios/build_demo.py --preset {PRESET}` (200,000 accounts at US "
             "ZIP centroids, 1,000 reps; workload ±5%, potential ±10%, eligibility, disruption "
             "weight 50 per moved account, visit-weighted travel); the same time limit for "
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
        lines.append(f"| {method} | {cell(row, 'total_s', ',.0f')} | "
                     f"{cell(row, 'objective', ',.0f')} | {cell(row, 'bound', ',.0f')} | "
                     f"{cell(row, 'gap', '.2%')} | {cell(row, 'hard_violations', '.0f')} | "
                     f"{cell(row, 'peak_gb', '.2f')} | {cell(row, 'worker_peak_gb', '.2f')} | "
                     f"{notes} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
