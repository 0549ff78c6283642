"""A sweep of the demo (disruption cap × workload tolerance): serial vs a 2-worker LocalCluster.

Run: ``python benchmarks/sweep.py [--time-limit S] [--workers N] [--target-gap G]``. Solves the
8 grid variants of ``scenarios/demo/sweep.yaml`` (4 caps × 2 tolerances) one after another in
this process, then on an embedded Dask LocalCluster (N single-threaded worker processes,
start-up included in its wall time), each into a fresh folder — twice:

1. time-bound, as the file says: gap target 0.5%, ``--time-limit`` seconds per variant (the
   demo does not reach 0.5% in 20 s, so every variant runs to its limit);
2. target-bound: gap target ``--target-gap`` with a generous time limit, reached by every
   variant, so the plans must be identical whichever runs them.

It writes the "distributed-sweep" section of RESULTS.md: wall times, speed-ups, and whether the
two runs found the same plans.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from results import provenance, write_section  # noqa: E402

from territory_opt.studies.sweep import SweepResult, run_sweep  # noqa: E402
from territory_opt.studies.sweep_schema import SolverOverrides, Sweep, load_sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, default=20.0,
                        help="seconds per variant of the time-bound run")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--target-gap", type=float, default=0.05,
                        help="gap target of the target-bound run")
    args = parser.parse_args()
    import dask
    import distributed

    demo = load_sweep(ROOT / "scenarios" / "demo" / "sweep.yaml")
    runs = [("time-bound", _grid_only(demo, time_limit=args.time_limit, gap=None)),
            ("target-bound", _grid_only(demo, time_limit=300.0, gap=args.target_gap))]
    lines = [
        f"## distributed-sweep (the demo's sweep, serial vs a {args.workers}-worker "
        "LocalCluster)", "",
        provenance(f"python benchmarks/sweep.py --time-limit {args.time_limit:g} "
                   f"--workers {args.workers} --target-gap {args.target_gap:g}"),
        f"- the demo (1,000 accounts × 20 reps), the 8 grid variants of "
        "`scenarios/demo/sweep.yaml` (`rules.disruption.max_share` 0.2/0.3/0.5/1 × "
        "`rules.balance.workload_h.tolerance` 0.05/0.10), HiGHS; Dask "
        f"{dask.__version__}, distributed {distributed.__version__}. Each run solves the 8 "
        f"variants serially in one process, then on a LocalCluster of {args.workers} "
        "single-threaded worker processes (its start-up included). The machine is shared: the "
        "load average is given for each run."]
    for title, sweep in runs:
        solver = sweep.spec.solver
        lines += ["", f"### {title}: gap target {solver.gap:g}, {solver.time_limit:g} s per "
                  "variant", ""]
        lines += _compare(sweep, args.workers)
    write_section("distributed-sweep", "\n".join(lines))
    print("\n".join(lines))


def _compare(sweep: Sweep, workers: int) -> list[str]:
    """Run ``sweep`` serially, then on a LocalCluster: the table and the verdict lines."""
    load = os.getloadavg()[0]
    runs: dict[str, SweepResult] = {}
    wall: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode, scheduler in (("serial", "serial"), ("cluster", None)):
            started = time.perf_counter()
            runs[mode] = run_sweep(sweep, out_dir=Path(tmp) / mode, scheduler=scheduler,
                                   workers=workers, progress=True)
            wall[mode] = time.perf_counter() - started
            print(f"{mode}: {wall[mode]:.1f} s", flush=True)
    serial, cluster = runs["serial"], runs["cluster"]
    pairs = list(zip(serial.records, cluster.records, strict=True))
    same = [a.assignment is not None and a.assignment == b.assignment for a, b in pairs]
    at_limit = [a.stop_reason == "time limit" or b.stop_reason == "time limit" for a, b in pairs]
    lines = ["| variant | objective serial | objective cluster | same plan | stopped by "
             "(serial / cluster) | solve s serial | solve s cluster |",
             "|---|---|---|---|---|---|---|"]
    for (a, b), s in zip(pairs, same, strict=True):
        lines.append(f"| {a.name} | {_num(a.objective)} | {_num(b.objective)} | "
                     f"{'yes' if s else 'no'} | {a.stop_reason or a.status} / "
                     f"{b.stop_reason or b.status} | {a.seconds:.1f} | {b.seconds:.1f} |")
    differ = [f"{a.name} {_rel(a.objective, b.objective)}" for (a, b), s in
              zip(pairs, same, strict=True) if not s]
    lines += [
        "",
        f"- load average {load:.2f} at the start; wall time: serial {wall['serial']:.1f} s, "
        f"cluster {wall['cluster']:.1f} s: speed-up **{wall['serial'] / wall['cluster']:.2f}×**",
        f"- same plans: {sum(same)} of {len(same)} variants identical"
        + (f"; the others' objectives, cluster vs serial: {', '.join(differ)}" if differ
           else "")
        + (f"; {sum(at_limit)} variant(s) stopped by the time limit in a run (the plan then "
           "depends on how much CPU the solve got)" if any(at_limit) else
           "; every variant reached its gap target in both runs"),
    ]
    return lines


def _grid_only(sweep: Sweep, *, time_limit: float, gap: float | None) -> Sweep:
    """The sweep's grid variants, at ``time_limit`` seconds each (and ``gap``, if given)."""
    update: dict[str, float] = {"time_limit": time_limit} | ({"gap": gap} if gap else {})
    solver = sweep.spec.solver.model_copy(update=update)
    assert isinstance(solver, SolverOverrides)
    spec = sweep.spec.model_copy(update={"solver": solver, "variants": []})
    return dataclasses.replace(sweep, spec=spec,
                               variants=sweep.variants[:len(sweep.variants)
                                                       - len(sweep.spec.variants)])


def _num(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else "—"


def _rel(a: float, b: float) -> str:
    return f"{b / a - 1:+.2%}" if math.isfinite(a) and math.isfinite(b) and a else "n/a"


if __name__ == "__main__":
    main()
