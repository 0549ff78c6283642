"""Quick regression benchmark: the bundled demo with HiGHS.

Measures HiGHS on its own (no construction warm start): model build time, time to first plan,
final objective, HiGHS's bound and the LP relaxation bound of the same model (a baseline computed
in the same run), and writes the "demo" section of ``benchmarks/RESULTS.md``.

Run from the repository root::

    python benchmarks/demo_highs.py [--time-limit 30] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from results import ROOT, provenance, write_section

from territory_opt import load_scenario, solve
from territory_opt.alignment.formulation import build_alignment
from territory_opt.backends.contract import Progress, SolveOptions, relative_gap
from territory_opt.backends.highs import HighsBackend

DEMO = ROOT / "scenarios" / "demo" / "scenario.yaml"


def lp_bound(time_limit: float) -> tuple[float, float]:
    """LP relaxation value of the demo model and the seconds it took."""
    model = build_alignment(load_scenario(DEMO)).linear
    relaxed = dataclasses.replace(model, integer=np.zeros(model.n_cols, dtype=bool))
    result = HighsBackend().solve(relaxed, SolveOptions(time_limit=time_limit))
    return result.objective, result.seconds


def run_seed(seed: int, time_limit: float) -> dict[str, float | str]:
    """Solve the demo once; record first-plan time, objective, bound and times."""
    first: list[float] = []

    def on_progress(p: Progress) -> None:
        if np.isfinite(p.objective) and not first:
            first.append(p.seconds)

    scenario = load_scenario(DEMO)
    start = time.perf_counter()
    plan = solve(scenario, time_limit=time_limit, gap=0.0, seed=seed, warm_start="none",
                 progress=on_progress)
    return {
        "seed": seed,
        "status": f"{plan.status} ({plan.stop_reason})",
        "first_plan_s": first[0] if first else float("nan"),
        "objective": plan.objective,
        "bound": plan.bound,
        "build_s": plan.seconds["build"],
        "total_s": time.perf_counter() - start,
    }


def main() -> None:
    """Run the benchmark and write its section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()

    header = provenance(f"python benchmarks/demo_highs.py --time-limit {args.time_limit:g} "
                        f"--seeds {' '.join(map(str, args.seeds))}")
    lp, lp_s = lp_bound(args.time_limit)
    rows = [run_seed(seed, args.time_limit) for seed in args.seeds]
    lines = [
        "## demo (1,000 accounts × 20 reps, workload ±5%, potential ±10%, eligibility)",
        "",
        header,
        f"- LP relaxation bound (same model, HiGHS simplex): {lp:,.1f} in {lp_s:.2f} s",
        "",
        "| seed | status | build s | first plan s | objective | HiGHS bound | gap to HiGHS bound "
        "| gap to LP bound | total s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        objective, bound = float(r["objective"]), float(r["bound"])
        lines.append(
            f"| {r['seed']} | {r['status']} | {float(r['build_s']):.2f} | "
            f"{float(r['first_plan_s']):.1f} | {objective:,.1f} | {bound:,.1f} | "
            f"{relative_gap(objective, bound):.2%} | {relative_gap(objective, lp):.2%} | "
            f"{float(r['total_s']):.1f} |"
        )
    lines += ["", "Gaps are (objective − bound) / objective. Timings are wall-clock on a shared "
              "machine: compare ratios within one run, not across runs."]
    body = "\n".join(lines)
    write_section("demo", body)
    print(body)


if __name__ == "__main__":
    main()
