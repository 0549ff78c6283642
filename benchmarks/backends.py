"""Backend comparison: every installed backend, alone and with the construction warm start.

Scenarios: ``scenarios/small`` (200 × 10), ``scenarios/demo`` (1,000 × 20) and two larger sizes
generated on the fly by ``scenarios/build_demo.py`` (2,000 × 40 and 5,000 × 50; workload ±5%,
potential ±10%, eligibility). For each run: status, objective, the plan's bound and its source,
gap, time to first plan and time to a 1% gap (measured against the best valid bound known in the
same run: the backend's own or the LP relaxation's). Writes the "backends" section of
``benchmarks/RESULTS.md``.

Run from the repository root (about 30 minutes with the defaults)::

    python benchmarks/backends.py [--time-limit 60] [--sizes small demo zip-2k zip-5k]
        [--backends highs cpsat scip cbc]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from results import ROOT, provenance, write_section

from territory_opt import load_scenario, solve
from territory_opt.backends.contract import Progress, relative_gap
from territory_opt.backends.registry import get_backend
from territory_opt.errors import TerritoryOptError
from territory_opt.scenario.model import Scenario

TARGET_GAP = 0.01
MODES = {"alone": "none", "+construction": "construct"}


@dataclass
class Run:
    """One backend on one scenario in one mode."""

    size: str
    backend: str
    mode: str
    status: str = "error"
    objective: float = math.inf
    bound: float = -math.inf
    bound_source: str = ""
    first_plan_s: float = math.nan
    target_gap_s: float = math.nan
    total_s: float = math.nan

    def row(self) -> str:
        """A Markdown table row."""
        gap = relative_gap(self.objective, self.bound)
        return (f"| {self.size} | {self.backend} | {self.mode} | {self.status} | "
                f"{_num(self.objective)} | {_num(self.bound)} | {self.bound_source} | "
                f"{_pct(gap)} | {_sec(self.first_plan_s)} | {_sec(self.target_gap_s)} | "
                f"{_sec(self.total_s)} |")


def _num(v: float) -> str:
    return f"{v:,.0f}" if math.isfinite(v) else "—"


def _pct(v: float) -> str:
    return f"{v:.2%}" if math.isfinite(v) else "—"


def _sec(v: float) -> str:
    return f"{v:.1f}" if math.isfinite(v) else "—"


def scenario_path(size: str, workdir: Path) -> Path:
    """The committed scenario, or a benchmark size generated into ``workdir``."""
    committed = ROOT / "scenarios" / size / "scenario.yaml"
    if committed.is_file():
        return committed
    out = workdir / size
    subprocess.run([sys.executable, str(ROOT / "scenarios" / "build_demo.py"), "--preset", size,
                    "--out", str(out)], check=True, capture_output=True)
    return out / "scenario.yaml"


def run(scenario: Scenario, size: str, backend: str, mode: str, time_limit: float) -> Run:
    """Solve once and record the figures of :class:`Run`."""
    result = Run(size, backend, mode)
    start = time.perf_counter()
    best_bound = [-math.inf]

    def on_progress(p: Progress) -> None:
        elapsed = time.perf_counter() - start
        best_bound[0] = max(best_bound[0], p.bound)
        if math.isfinite(p.objective) and math.isnan(result.first_plan_s):
            result.first_plan_s = elapsed
        if (math.isnan(result.target_gap_s)
                and relative_gap(p.objective, best_bound[0]) <= TARGET_GAP):
            result.target_gap_s = elapsed

    try:
        plan = solve(scenario, backend=backend, warm_start=MODES[mode], time_limit=time_limit,
                     gap=1e-4, seed=0, progress=on_progress)
    except TerritoryOptError as exc:
        result.status = type(exc).__name__
        result.total_s = time.perf_counter() - start
        return result
    result.total_s = time.perf_counter() - start
    result.status = f"{plan.status} ({plan.stop_reason})"
    result.objective, result.bound = plan.objective, plan.bound
    result.bound_source = plan.bound_source
    # Backends without live progress report their plan only at the end.
    if math.isnan(result.first_plan_s):
        result.first_plan_s = result.total_s
    if math.isnan(result.target_gap_s) and plan.gap <= TARGET_GAP:
        result.target_gap_s = result.total_s
    return result


def main() -> None:
    """Run the comparison and write its section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--sizes", nargs="+", default=["small", "demo", "zip-2k", "zip-5k"])
    parser.add_argument("--backends", nargs="+", default=["highs", "cpsat", "scip", "cbc"])
    args = parser.parse_args()

    # Provenance first: the commit and time the run started with.
    header = provenance(f"python benchmarks/backends.py --time-limit {args.time_limit:g} --sizes "
                        f"{' '.join(args.sizes)} --backends {' '.join(args.backends)}")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for size in args.sizes:
            scenario = load_scenario(scenario_path(size, Path(workdir)))
            for name in args.backends:
                get_backend(name)  # fail early if not installed
                for mode in MODES:
                    r = run(scenario, size, name, mode, args.time_limit)
                    print(r.row(), flush=True)
                    rows.append(r.row())

    body = "\n".join([
        "## backends (alone vs with the construction warm start)",
        "",
        header,
        f"- {args.time_limit:g} s per run, seed 0, default threads, gap target 0.01%; "
        f"'time to {TARGET_GAP:.0%}' is measured against the best valid bound known in the run.",
        "- 'alone': the backend with no warm start (plus the LP bound when it reports none); "
        "'+construction': LP relaxation → restricted MIP plan as the warm start (the default).",
        "",
        "| size | backend | mode | status | objective | bound | bound source | gap | "
        f"first plan s | {TARGET_GAP:.0%} gap s | total s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    write_section("backends", body)
    print(body)


if __name__ == "__main__":
    main()
