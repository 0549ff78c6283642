"""Sizing benchmark: the p-median solvers against the literature, spopt as the baseline, and
headcount sizing on the demo scenario.

    python benchmarks/sizing.py [--time-limit 300] [--spopt-limit 120] [--threads 1]
                                [--pmed pmed1 pmed6] [--cpmp pmedcap1_01] [--no-spopt]
                                [--capacity 1600] [--max-km 250] [--no-write]

* pmed1–20 (OR-Library, uncapacitated): ``solve_pmedian`` (radius formulation after the
  Lagrangian reduction) vs the proven optima of ``KNOWN.tsv``; and spopt's ``PMedian`` on the
  same distance matrix (its x_ij/y_j model built by PuLP, solved by PuLP's HiGHS interface
  with the same thread count), timed from model building to the solver's return.
* pmedcap1 1–20 (Osman–Christofides, capacitated): ``solve_capacitated`` with floored
  Euclidean distances vs the known optima, and the first five under all three conventions
  (real, floored, rounded) to show which one the known values use.
* Headcount on ``scenarios/demo``: the reps' homes plus the cities of ≥ 50,000 people in the
  accounts' bounding box as candidates.

Reads the instances from the shared folder (``$TERRITORY_OPT_INSTANCES`` or
``../shared/instances``; never copied in) and writes the section "distributed-sizing" of
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import ROOT, provenance, write_section

from territory_opt import load_scenario
from territory_opt.backends.contract import Status, package_version
from territory_opt.sizing import (
    city_candidates,
    combine,
    cpmp_instances,
    home_candidates,
    instances_root,
    pmed_instances,
    size_sales_force,
    solve_capacitated,
    solve_pmedian,
    write_sizing,
)
from territory_opt.sizing.instances import Convention
from territory_opt.sizing.pmedian import MedianResult

SECTION = "distributed-sizing"


@dataclass(frozen=True)
class Baseline:
    """spopt's run on one instance."""

    objective: float
    status: str
    seconds: float
    build_seconds: float


def run_spopt(distance: np.ndarray, p: int, time_limit: float, threads: int) -> Baseline:
    """spopt's PMedian on ``distance`` (unit weights) with PuLP's HiGHS interface."""
    import pulp
    from spopt.locate import PMedian

    started = time.perf_counter()
    model = PMedian.from_cost_matrix(np.asarray(distance), np.ones(len(distance)),
                                     p_facilities=p)
    built = time.perf_counter() - started
    try:
        model.solve(pulp.HiGHS(msg=False, timeLimit=time_limit, threads=threads),
                    results=False)
    except Exception as exc:  # spopt raises on a status it does not accept
        status = type(exc).__name__
    else:
        # PuLP reports a plan stopped by the time limit as status "Optimal"; its solution
        # status tells a proven optimum (1) from a plan found (2).
        status = {1: "optimal", 2: "time limit"}.get(model.problem.sol_status,
                                                      pulp.LpStatus[model.problem.status])
    value = pulp.value(model.problem.objective)
    return Baseline(float(value) if value is not None else math.nan, status,
                    time.perf_counter() - started, built)


def _gap(objective: float, known: float) -> str:
    if not math.isfinite(objective):
        return "—"
    return f"{100 * (objective - known) / known:.2f}%"


def _proven(res: MedianResult) -> str:
    return "yes" if res.status == Status.OPTIMAL else f"no ({res.stop_reason})"


def pmed_section(names: list[str] | None, time_limit: float, spopt_limit: float | None,
                 threads: int) -> tuple[list[str], dict[str, float]]:
    """Markdown lines of the pmed table, and the figures the summary quotes."""
    lines = ["| instance | n | p | objective | optimum | gap | proven | s | method | "
             "spopt objective | spopt status | spopt s (build) | ours / spopt |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ratios: list[float] = []
    capped = 0
    ours_total = spopt_total = 0.0
    at_known = proven = count = 0
    for inst, known, _ in pmed_instances(names=names):
        res = solve_pmedian(inst.distance, inst.p, time_limit=time_limit, seed=0,
                            threads=threads)
        count += 1
        at_known += res.objective == known
        proven += res.status == Status.OPTIMAL
        ours_total += res.seconds
        base_cells = ["—", "not run", "—", "—"]
        if spopt_limit is not None:
            base = run_spopt(inst.distance, inst.p, spopt_limit, threads)
            spopt_total += base.seconds
            hit_limit = base.status != "optimal"
            capped += hit_limit
            ratio = res.seconds / base.seconds
            ratios.append(ratio)
            base_cells = [f"{base.objective:g}", base.status,
                          f"{base.seconds:.1f} ({base.build_seconds:.1f})",
                          f"{'≤ ' if hit_limit else ''}{ratio:.3f}"]
        print(f"{inst.name}: {res.objective:g} (optimum {known:g}) {res.status} "
              f"{res.seconds:.2f} s; spopt {' '.join(base_cells[1:3])}", flush=True)
        lines.append(f"| {inst.name} | {inst.n} | {inst.p} | {res.objective:g} | {known:g} | "
                     f"{_gap(res.objective, known)} | {_proven(res)} | {res.seconds:.2f} | "
                     f"{res.method} | " + " | ".join(base_cells) + " |")
    figures = {"count": count, "at_known": at_known, "proven": proven,
               "ours_total": ours_total, "spopt_total": spopt_total, "capped": capped,
               "geomean": float(np.exp(np.mean(np.log(ratios)))) if ratios else math.nan}
    return lines, figures


def cpmp_section(names: list[str] | None,
                 time_limit: float, threads: int) -> tuple[list[str], dict[str, float]]:
    """Markdown lines of the capacitated table (floored distances) and its figures."""
    lines = ["| instance | n | p | Q | objective | known | gap | proven | s |",
             "|---|---|---|---|---|---|---|---|---|"]
    at_known = proven = count = 0
    total = 0.0
    for inst, known, _ in cpmp_instances(names=names):
        res = solve_capacitated(inst.distance("floor"), inst.demand, inst.capacity, inst.p,
                                time_limit=time_limit, seed=0, threads=threads)
        count += 1
        at_known += res.objective == known
        proven += res.status == Status.OPTIMAL
        total += res.seconds
        print(f"{inst.name}: {res.objective:g} (known {known:g}) {res.status} "
              f"{res.seconds:.2f} s", flush=True)
        lines.append(f"| {inst.name} | {inst.n} | {inst.p} | {inst.capacity:g} | "
                     f"{res.objective:g} | {known:g} | {_gap(res.objective, known)} | "
                     f"{_proven(res)} | {res.seconds:.2f} |")
    return lines, {"count": count, "at_known": at_known, "proven": proven, "total": total}


def convention_section(names: list[str], time_limit: float,
                       threads: int) -> tuple[list[str], dict[str, int]]:
    """The optimum of a few capacitated instances under each distance convention, and how
    many of them each convention reproduces."""
    conventions: tuple[Convention, ...] = ("exact", "floor", "round")
    lines = ["| instance | known | real Euclidean | floored | rounded (half up) |",
             "|---|---|---|---|---|"]
    matches = dict.fromkeys(conventions, 0)
    for inst, known, _ in cpmp_instances(names=names):
        cells = []
        for convention in conventions:
            res = solve_capacitated(inst.distance(convention), inst.demand, inst.capacity,
                                    inst.p, time_limit=time_limit, seed=0, threads=threads)
            mark = "" if res.status == Status.OPTIMAL else " (not proven)"
            matches[convention] += abs(res.objective - known) < 1e-6
            cells.append(f"{res.objective:.2f}{mark}" if convention == "exact"
                         else f"{res.objective:g}{mark}")
        print(f"{inst.name}: known {known:g}; exact/floor/round {cells}", flush=True)
        lines.append(f"| {inst.name} | {known:g} | " + " | ".join(cells) + " |")
    return lines, matches


def headcount_section(capacity: float, max_km: float, min_population: int,
                      time_limit: float, threads: int) -> list[str]:
    """Headcount on the demo scenario: the answer, the attempts and the time."""
    scenario = load_scenario(ROOT / "scenarios" / "demo")
    candidates = combine(home_candidates(scenario),
                         city_candidates(scenario, min_population=min_population))
    with tempfile.TemporaryDirectory() as tmp:
        # Through the CSV reader, as the command line would.
        path = Path(tmp) / "candidates.csv"
        candidates.frame().to_csv(path, index=False)
        result = size_sales_force(scenario, path, workload="workload_h", capacity=capacity,
                                  max_km=max_km, weight="visits", time_limit=time_limit,
                                  seed=0, threads=threads, extra=1)
        write_sizing(result, Path(tmp) / "out")  # the writer runs on the real answer too
    total = float(scenario.attributes["workload_h"].sum())
    print(result.frame().to_string(), flush=True)
    lines = [
        f"- {scenario.n_items:,} accounts, total workload_h {total:,.1f}; capacity "
        f"{capacity:,g} h per rep, every account within {max_km:g} km of its rep's base "
        f"(great-circle), travel = Σ visits × km; {len(candidates)} candidates "
        f"({candidates.source}); {time_limit:g} s per solve, one more p than needed.",
        f"- Lower bounds: capacity {result.lower_bounds.get('capacity')}, coverage (set "
        f"cover) {result.lower_bounds.get('coverage')}.",
        f"- **Answer: {result.reps} reps** "
        f"({'proven minimum' if result.proven_minimum else 'minimum not proven'}); whole "
        f"sizing {result.seconds:.1f} s.",
        "",
        "| p | status | travel (visit-km) | bound | s | reason |",
        "|---|---|---|---|---|---|",
    ]
    for a in result.attempts:
        if a.status == "infeasible" and a.p < min(result.lower_bounds.values(), default=0) - 1:
            continue  # the bound rows below the last one say the same thing
        travel = f"{a.travel:,.0f}" if math.isfinite(a.travel) else "—"
        bound = f"{a.bound:,.0f}" if math.isfinite(a.bound) else "—"
        lines.append(f"| {a.p} | {a.status} | {travel} | {bound} | {a.seconds:.1f} | "
                     f"{a.reason} |")
    bases = result.bases()
    if len(bases):
        lines += ["", f"Bases for {result.reps} reps: " + ", ".join(
            f"{r.name} ({r.accounts} accounts, {100 * r.utilisation:.0f}%)"
            for r in bases.itertuples()) + "."]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=300.0, help="s per solve (ours)")
    parser.add_argument("--spopt-limit", type=float, default=120.0, help="s per spopt solve")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pmed", nargs="*", help="e.g. pmed1 pmed6 (default: all 20)")
    parser.add_argument("--cpmp", nargs="*", help="e.g. pmedcap1_01 (default: all 20)")
    parser.add_argument("--no-spopt", action="store_true", help="skip the spopt baseline")
    parser.add_argument("--capacity", type=float, default=1600.0, help="headcount: h per rep")
    parser.add_argument("--max-km", type=float, default=250.0, help="headcount: max km")
    parser.add_argument("--min-population", type=int, default=50_000,
                        help="headcount: smallest candidate city")
    parser.add_argument("--headcount-limit", type=float, default=120.0,
                        help="headcount: s per solve")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    command = "python benchmarks/sizing.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    stamp = provenance(command)  # the commit that runs, before others land during the run
    if not instances_root().is_dir():
        print(f"instances folder {instances_root()} not found", file=sys.stderr)
        return 2
    started = time.perf_counter()
    spopt_limit = None if args.no_spopt else args.spopt_limit
    pmed_lines, pm = pmed_section(args.pmed, args.time_limit, spopt_limit, args.threads)
    cpmp_lines, cp = cpmp_section(args.cpmp, args.time_limit, args.threads)
    firsts = [f"pmedcap1_0{k}" for k in range(1, 6)]
    convention_lines, matches = convention_section(firsts, args.time_limit, args.threads)
    head_lines = headcount_section(args.capacity, args.max_km, args.min_population,
                                   args.headcount_limit, args.threads)
    spopt_note = ("not run" if spopt_limit is None else
                  f"spopt {package_version('spopt')} `PMedian.from_cost_matrix` (binary "
                  f"x_ij, y_j; PuLP {package_version('pulp')} → `pulp.HiGHS`, highspy "
                  f"{package_version('highspy')}, {args.threads} thread(s), "
                  f"{args.spopt_limit:g} s limit); time = model building + solve")
    geomean = pm["geomean"]
    body = "\n".join([
        "## sizing: p-median solvers on the literature, and headcount on the demo",
        "",
        stamp,
        f"- ours: `territory_opt.sizing` on HiGHS {package_version('highspy')}, "
        f"{args.threads} thread(s), seed 0, {args.time_limit:g} s limit per instance; whole "
        f"run {time.perf_counter() - started:.0f} s on 2 shared cores (compare ratios "
        "within the run, not across runs).",
        f"- baseline: {spopt_note}.",
        "",
        "### pmed1–20 (uncapacitated, OR-Library)",
        "",
        f"Ours: {int(pm['proven'])} of {int(pm['count'])} proven optimal, "
        f"{int(pm['at_known'])} equal to the known optimum, {pm['ours_total']:.1f} s in all. "
        + (f"spopt: {pm['spopt_total']:.0f} s in all, {int(pm['capped'])} stopped by its "
           f"time limit (their ratio is an upper bound). Time ratio ours / spopt, geometric "
           f"mean over the {int(pm['count'])} instances: **{geomean:.4f}** "
           f"(≈ {1 / geomean:,.0f}× faster{', at least' if pm['capped'] else ''})."
           if spopt_limit is not None else ""),
        "",
        *pmed_lines,
        "",
        "### Osman–Christofides capacitated p-median (pmedcap1, single sourcing)",
        "",
        f"Floored Euclidean distances: {int(cp['proven'])} of {int(cp['count'])} proven "
        f"optimal, {int(cp['at_known'])} equal to the known value, {cp['total']:.0f} s in "
        "all.",
        "",
        *cpmp_lines,
        "",
        "Distance convention: the optimum under each convention (same solver, same limit); "
        "known values reproduced: " + ", ".join(
            f"{name} {count} of {len(firsts)}" for name, count in matches.items())
        + " (floored = `floor(sqrt(dx² + dy²))` per pair, as in the table above).",
        "",
        *convention_lines,
        "",
        "### Headcount on scenarios/demo",
        "",
        *head_lines,
    ])
    print(body)
    if not args.no_write:
        write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
