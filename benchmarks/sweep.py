"""A sweep of the demo (disruption cap × workload tolerance): serial vs a 2-worker LocalCluster.

Run: ``python benchmarks/sweep.py [--time-limit S] [--workers N]``. Solves the 8 grid variants
of ``scenarios/demo/sweep.yaml`` (4 caps × 2 tolerances) one after another in this process,
then on an embedded Dask LocalCluster (N single-threaded worker processes, start-up included in
its wall time), each into a fresh folder, and writes the "distributed-sweep" section of
RESULTS.md: wall times, the speed-up, and whether the two runs found the same plans (a variant
stopped by its time limit may differ: where the clock cuts a solve depends on the machine's
load).
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

from territory_opt.sweep import SweepResult, run_sweep  # noqa: E402
from territory_opt.sweep_schema import SolverOverrides, Sweep, load_sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, default=20.0, help="seconds per variant")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    args = parser.parse_args()
    sweep = _grid_only(load_sweep(ROOT / "scenarios" / "demo" / "sweep.yaml"), args.time_limit)
    import dask
    import distributed

    load = os.getloadavg()[0]
    runs: dict[str, SweepResult] = {}
    wall: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode, scheduler in (("serial", "serial"), ("cluster", None)):
            started = time.perf_counter()
            runs[mode] = run_sweep(sweep, out_dir=Path(tmp) / mode, scheduler=scheduler,
                                   workers=args.workers, progress=True)
            wall[mode] = time.perf_counter() - started
            print(f"{mode}: {wall[mode]:.1f} s", flush=True)
    serial, cluster = runs["serial"], runs["cluster"]
    same = [a.assignment == b.assignment and a.assignment is not None
            for a, b in zip(serial.records, cluster.records, strict=True)]
    at_limit = [a.stop_reason == "time limit" or b.stop_reason == "time limit"
                for a, b in zip(serial.records, cluster.records, strict=True)]
    lines = [
        f"## distributed-sweep (the demo's sweep, serial vs a {args.workers}-worker "
        "LocalCluster)", "",
        provenance(f"python benchmarks/sweep.py --time-limit {args.time_limit:g} "
                   f"--workers {args.workers}"),
        f"- the demo (1,000 accounts × 20 reps), the {len(sweep.variants)} grid variants of "
        "`scenarios/demo/sweep.yaml` (`rules.disruption.max_share` 0.2/0.3/0.5/1 × "
        "`rules.balance.workload_h.tolerance` 0.05/0.10), HiGHS, gap target 0.5%, "
        f"{args.time_limit:g} s per variant; Dask {dask.__version__}, distributed "
        f"{distributed.__version__}; load average {load:.2f} when it started (the machine is "
        "shared)",
        "",
        "| variant | status (serial / cluster) | objective serial | objective cluster | same "
        "plan | stopped by | solve s serial | solve s cluster |",
        "|---|---|---|---|---|---|---|---|"]
    for a, b, s in zip(serial.records, cluster.records, same, strict=True):
        reasons = sorted({a.stop_reason or a.status, b.stop_reason or b.status})
        lines.append(f"| {a.name} | {a.status} / {b.status} | {_num(a.objective)} | "
                     f"{_num(b.objective)} | {'yes' if s else 'no'} | {' / '.join(reasons)} | "
                     f"{a.seconds:.1f} | {b.seconds:.1f} |")
    differ = [f"{a.name} ({_rel(a.objective, b.objective)})" for a, b, s in
              zip(serial.records, cluster.records, same, strict=True) if not s]
    lines += [
        "",
        f"- wall time: serial {wall['serial']:.1f} s, cluster {wall['cluster']:.1f} s "
        f"(its start-up included): speed-up **{wall['serial'] / wall['cluster']:.2f}×** on "
        f"{os.cpu_count()} cores",
        f"- solve seconds summed over the variants: serial {_total(serial):.0f} s, cluster "
        f"{_total(cluster):.0f} s (two solves share two cores with whatever else runs)",
        f"- same plans: {sum(same)} of {len(same)} variants identical"
        + (f"; the others differ by {', '.join(differ)} in objective (cluster vs serial)"
           if differ else "")
        + (f"; {sum(at_limit)} variant(s) were stopped by the time limit in at least one run, "
           "where the plan depends on how far the solver got" if any(at_limit) else
           "; every variant reached its gap target in both runs"),
    ]
    write_section("distributed-sweep", "\n".join(lines))
    print("\n".join(lines))


def _grid_only(sweep: Sweep, time_limit: float) -> Sweep:
    """The sweep's grid variants, at ``time_limit`` seconds each."""
    solver = sweep.spec.solver.model_copy(update={"time_limit": time_limit})
    assert isinstance(solver, SolverOverrides)
    spec = sweep.spec.model_copy(update={"solver": solver, "variants": []})
    return dataclasses.replace(sweep, spec=spec,
                               variants=sweep.variants[:len(sweep.variants)
                                                       - len(sweep.spec.variants)])


def _num(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else "—"


def _rel(a: float, b: float) -> str:
    return f"{b / a - 1:+.2%}" if math.isfinite(a) and math.isfinite(b) and a else "n/a"


def _total(result: SweepResult) -> float:
    return sum(r.seconds for r in result.records if math.isfinite(r.seconds))


if __name__ == "__main__":
    main()
