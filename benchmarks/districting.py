"""Districting benchmark: the 12 county instances of Validi & Buchanan (minimum cut edges,
contiguous districts, population within [L, U]) against their proven minima.

    python benchmarks/districting.py [--time-limit 120] [--threads 2] [--states ME NM] [--no-write]

Reads ``districting_validi_buchanan/`` from the shared instances folder (``instances_root()``;
GPL data, never copied into the repository) and writes the section "districting" of
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from instances import instances_root
from results import provenance, write_section

from territory_opt.backends.contract import Status
from territory_opt.districting.exact import solve_exact
from territory_opt.districting.problem import (
    DistrictBand,
    DistrictingProblem,
    DistrictingResult,
)

FOLDER = "districting_validi_buchanan"


@dataclass(frozen=True)
class County:
    """One instance: the problem and the reference values of ``KNOWN.tsv``."""

    name: str
    problem: DistrictingProblem
    known: int
    proven: bool


def read_county(path: Path, k: int, lo: int, hi: int) -> DistrictingProblem:
    """A networkx adjacency JSON (node attribute TOTPOP) as a cut-edge districting problem."""
    data = json.loads(path.read_text())
    ids = [node["id"] for node in data["nodes"]]
    where = {node_id: i for i, node_id in enumerate(ids)}
    pop = np.asarray([float(node["TOTPOP"]) for node in data["nodes"]])
    pairs = {tuple(sorted((where[ids[i]], where[nb["id"]])))
             for i, adjacent in enumerate(data["adjacency"]) for nb in adjacent
             if nb["id"] != ids[i]}
    edges = np.asarray(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    band = DistrictBand("population", pop, np.full(k, float(lo)), np.full(k, float(hi)))
    return DistrictingProblem(n_units=len(ids), k=k, edges=edges, bands=(band,),
                              objective="cut_edges")


def counties(root: Path, states: list[str] | None = None) -> list[County]:
    """The instances of ``KNOWN.tsv`` (all, or those of ``states``), in its order."""
    folder = root / FOLDER
    table = pd.read_csv(folder / "KNOWN.tsv", sep="\t", keep_default_na=False)
    out = []
    for row in table.itertuples(index=False):
        name = str(row.instance)
        if states and name.split("_")[0] not in states:
            continue
        problem = read_county(folder / str(row.file), int(str(row.k_districts)),
                              int(str(row.L_pop)), int(str(row.U_pop)))
        out.append(County(name, problem, int(str(row.min_cut_edges_contiguous)),
                          str(row.proven_optimal).strip() == "yes"))
    return out


def run(county: County, time_limit: float, threads: int) -> DistrictingResult:
    """Solve one instance with the exact solver."""
    return solve_exact(county.problem, time_limit=time_limit, threads=threads, seed=0)


def _fmt(value: float) -> str:
    return "—" if not np.isfinite(value) else f"{value:g}"


def table(rows: list[tuple[County, DistrictingResult]]) -> str:
    """The Markdown table of the results."""
    lines = ["| state | units | k | best found | proven minimum | bound | gap | time s | status "
             "| method |", "|---|---|---|---|---|---|---|---|---|---|"]
    for county, res in rows:
        gap = ((res.objective - res.bound) / res.objective
               if np.isfinite(res.objective) and np.isfinite(res.bound) and res.objective
               else float("nan"))
        gap_text = "—" if not np.isfinite(gap) else f"{100 * gap:.1f}%"
        lines.append(f"| {county.name} | {county.problem.n_units} | {county.problem.k} | "
                     f"{_fmt(res.objective)} | {county.known} | {_fmt(res.bound)} | {gap_text} | "
                     f"{res.seconds:.1f} | {res.status} | {res.method} |")
    return "\n".join(lines)


def reading(rows: list[tuple[County, DistrictingResult]]) -> str:
    """What the run reached, counted from the rows, and what would close the rest."""
    proven = [c.name for c, r in rows if r.status == Status.OPTIMAL]
    at_known = [c.name for c, r in rows if r.objective <= c.known + 1e-9]
    below = [c.name for c, r in rows if r.objective < c.known - 1e-9]
    open_ = [f"{c.name} {r.objective:g}/{c.known} (bound {r.bound:g})" for c, r in rows
             if r.status != Status.OPTIMAL]
    return "\n".join([
        f"Reading: {len(proven)} of {len(rows)} states proven optimal within the limit "
        f"({', '.join(proven) or 'none'}); the best plan equals the published minimum on "
        f"{len(at_known)} of {len(rows)}. Open: {'; '.join(open_) or 'none'}.",
        "",
        "Every plan is checked (contiguity, bands) before it is reported; "
        f"{'no' if not below else ', '.join(below)} published minimum undercut. On the "
        "proven states much of the time is the warm-start heuristic (at most 15% of the "
        "limit, ended after half of that without a better plan), which cannot know its plan "
        "is optimal; the MIP then proves it. On the others the "
        "plans are good (the heuristic and HiGHS reach the minimum or come within a few "
        "edges) but the bound is the weak side: HiGHS explores some tens of nodes per "
        "second on these 2,000–3,000-column models, while the published runs (Gurobi, 10 "
        "cores) needed 10^4–10^6 nodes (AL 1,000 s, LA 400 s). What would close the rest: "
        "a stronger relaxation rather than more branching — set partitioning over connected "
        "districts by column generation (branch-and-price), or a,b-separator cuts added "
        "inside the tree (HiGHS 1.16's Python callbacks cannot add rows, so separators "
        "would mean re-solving from scratch); the exact max-B ordering and the full "
        "orbitope extended formulation of Validi & Buchanan; and simply more time.",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--states", nargs="*", help="e.g. ME NM (default: all 12)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--log", action="store_true", help="print each solve's log")
    args = parser.parse_args(argv)
    command = "python benchmarks/districting.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    stamp = provenance(command)  # the commit that runs, before others land during the run
    rows = []
    started = time.perf_counter()
    for county in counties(instances_root(), args.states):
        res = run(county, args.time_limit, args.threads)
        rows.append((county, res))
        print(f"{county.name}: {res.status} {_fmt(res.objective)} (known {county.known}) "
              f"bound {_fmt(res.bound)} in {res.seconds:.1f} s", flush=True)
        if args.log:
            print(res.log, flush=True)
    body = "\n".join([
        "## districting (Validi & Buchanan county instances: minimum cut edges)",
        "",
        stamp,
        f"- {args.time_limit:g} s per state, {args.threads} threads, seed 0; contiguous "
        "districts, population in [L, U] of KNOWN.tsv (±0.5% of the mean) for every district; "
        f"whole run {time.perf_counter() - started:.0f} s.",
        "",
        table(rows),
        "",
        reading(rows),
    ])
    print(body)
    if not args.no_write:
        write_section("districting", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
