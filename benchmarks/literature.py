"""Literature suite: OR-Library GAP instances and the Pfizer 22 × 4 sales case, through the same
scenario files, loader and model a user gets.

* GAP (``gap_orlib``): jobs are items without a location, agents are territories without a home,
  capacity is ``territories.capacity``, and a pair table gives each job-agent pair its cost (as
  the travel distance, weight 1) and its resource use (a pair load). gap1-gap12 as minimisation
  (60 problems, proven optima) and gapa-gapd (24 problems; d20200 only has a best known value).
  Our default pipeline (``auto``) with a 30 s limit per instance, against the hand-written
  PuLP + CBC model (``benchmarks/handwritten_pulp.py``) with the same limit as the baseline in
  the same run.
* Pfizer (``territory_pfizer``): 22 bricks × 4 reps, brick-to-office distances from the case's
  spreadsheet as a pair table, workload index as the balance attribute (target 1 per rep, ±20%
  = [0.8, 1.2]). First the current assignment's total distance (published 187.41), then the
  minimum distance (published optimum 154.60), solved to proven optimality.

The instances are read from ``../shared/instances`` (or ``$TERRITORY_OPT_INSTANCES``), never
copied into the project. Run from the repository root::

    python benchmarks/literature.py [--limit 30] [--only gap1,gapd]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.handwritten_pulp import solve_by_hand  # noqa: E402
from benchmarks.instances import GapInstance, gap_instances, read_pfizer22  # noqa: E402
from benchmarks.results import provenance, write_section  # noqa: E402

from territory_opt import evaluate, load_scenario, solve  # noqa: E402

GAP_YAML = """\
version: 1
model: alignment
items: {path: jobs.csv, id: job, attributes: [resource]}
territories: {path: agents.csv, id: agent, capacity: {resource: capacity}}
pairs: {path: pairs.csv, item: job, territory: agent, distance: cost, loads: {resource: use}}
objective: {travel: {weight: 1.0}}
"""

FAMILIES = ("gapa", "gapb", "gapc", "gapd")

PFIZER_YAML = """\
version: 1
model: alignment
items: {path: bricks.csv, id: brick, attributes: [workload], current: current}
territories: {path: reps.csv, id: rep}
pairs: {path: distances.csv, item: brick, territory: rep, distance: km}
rules:
  balance: [{attribute: workload, tolerance: 0.2}]
objective: {travel: {weight: 1.0}}
"""


def write_gap(instance: GapInstance, folder: Path) -> Path:
    """The GAP instance as a scenario folder; returns its YAML path."""
    folder.mkdir(parents=True, exist_ok=True)
    n, m = instance.n_jobs, instance.m_agents
    jobs = [f"j{j + 1}" for j in range(n)]
    agents = [f"a{k + 1}" for k in range(m)]
    pd.DataFrame({"job": jobs, "resource": 0}).to_csv(folder / "jobs.csv", index=False)
    pd.DataFrame({"agent": agents, "capacity": instance.capacity}).to_csv(
        folder / "agents.csv", index=False)
    pd.DataFrame({
        "job": np.repeat(jobs, m), "agent": np.tile(agents, n),
        "cost": instance.cost.reshape(-1), "use": instance.resource.reshape(-1),
    }).to_csv(folder / "pairs.csv", index=False)
    (folder / "scenario.yaml").write_text(GAP_YAML)
    return folder / "scenario.yaml"


def gap_row(instance: GapInstance, known: float, proven: bool, folder: Path,
            limit: float) -> dict[str, object]:
    """Solve one GAP instance with our pipeline and with the hand-written baseline."""
    started = time.perf_counter()
    scenario = load_scenario(write_gap(instance, folder))
    family = instance.file.removesuffix(".txt")
    row: dict[str, object] = {
        "instance": instance.name, "family": family if family in FAMILIES else "gap1-12",
        "size": f"{instance.m_agents}×{instance.n_jobs}", "known": known, "proven": proven}
    try:
        # The default backend (auto: the scenario files name none), as a user gets it.
        plan = solve(scenario, time_limit=limit, gap=0.0, threads=2, seed=0)
        seconds = time.perf_counter() - started
        assignment = np.asarray(plan.assignment)
        ours = float(instance.objective(assignment))
        assert instance.is_feasible(assignment), "plan breaks a capacity"
        assert abs(ours - plan.objective) <= 1e-6 * max(1.0, ours), "objective mismatch"
        row.update(ours=ours, ours_s=seconds, bound=plan.bound, status=str(plan.status),
                   method=plan.backend)
    except Exception as exc:  # no plan in the limit is a result
        row.update(ours=None, ours_s=time.perf_counter() - started, error=str(exc)[:80])
    loads = {f"r{k}": instance.resource[:, k].astype(float) for k in range(instance.m_agents)}
    upper = {f"r{k}": np.where(np.arange(instance.m_agents) == k, instance.capacity[k], np.inf)
             for k in range(instance.m_agents)}
    hand = solve_by_hand(instance.cost.astype(float), loads, {}, upper, time_limit=limit,
                         threads=2)
    row.update(hand=hand.objective if hand.assignment is not None else None,
               hand_s=hand.seconds, hand_status=hand.status)
    return row


def gap_section(rows: list[dict[str, object]], limit: float) -> str:
    """Markdown: per-family summary, then every instance."""
    frame = pd.DataFrame(rows)
    frame["gap_pct"] = 100 * (frame["ours"] - frame["known"]) / frame["known"]
    frame["hand_gap_pct"] = 100 * (frame["hand"] - frame["known"]) / frame["known"]
    lines = [f"### GAP (OR-Library), {limit:g} s per instance, 2 threads", "",
             "Gap = (objective − known) / known. `ours` = `territory_opt.solve(gap=0)` with the "
             "default backend (`auto`) on the scenario files; `hand` = hand-written PuLP + CBC, "
             "same limit.", "",
             "| family | instances | ours at known value | ours mean gap | ours max gap "
             "| ours mean s | ours max s | hand at known value | hand mean gap | hand mean s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for family, part in frame.groupby("family", sort=False):
        lines.append(
            f"| {family} | {len(part)} | {int((part['gap_pct'].abs() < 1e-9).sum())} "
            f"| {part['gap_pct'].mean():.3f}% | {part['gap_pct'].max():.3f}% "
            f"| {part['ours_s'].mean():.1f} | {part['ours_s'].max():.1f} "
            f"| {int((part['hand_gap_pct'].abs() < 1e-9).sum())} "
            f"| {part['hand_gap_pct'].mean():.3f}% | {part['hand_s'].mean():.1f} |")
    lines += ["", "<details><summary>every instance</summary>", "",
              "| instance | size | known | proven | ours | s | bound | hand | s |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['instance']} | {r['size']} | {r['known']:g} | "
                     f"{'yes' if r['proven'] else 'no'} | {_num(r.get('ours'))} | "
                     f"{_num(r.get('ours_s'), '.1f')} | {_num(r.get('bound'), '.1f')} | "
                     f"{_num(r.get('hand'))} | {_num(r.get('hand_s'), '.1f')} |")
    lines += ["", "</details>"]
    return "\n".join(lines)


def _num(value: object, spec: str = "g") -> str:
    return format(value, spec) if isinstance(value, int | float) and np.isfinite(value) else "—"


def pfizer_section(folder: Path) -> str:
    """Reproduce the current distance and solve the min-distance case."""
    case = read_pfizer22()
    folder.mkdir(parents=True, exist_ok=True)
    bricks = [str(b) for b in case.bricks]
    pd.DataFrame({"brick": bricks, "workload": case.workload,
                  "current": [case.reps[k] for k in case.current]}).to_csv(
        folder / "bricks.csv", index=False)
    pd.DataFrame({"rep": case.reps}).to_csv(folder / "reps.csv", index=False)
    pd.DataFrame({"brick": np.repeat(bricks, len(case.reps)),
                  "rep": np.tile(case.reps, len(bricks)),
                  "km": case.distance.reshape(-1)}).to_csv(folder / "distances.csv", index=False)
    (folder / "scenario.yaml").write_text(PFIZER_YAML)
    scenario = load_scenario(folder / "scenario.yaml")
    current = evaluate(scenario, scenario.current)
    started = time.perf_counter()
    plan = solve(scenario, backend="highs", gap=0.0, time_limit=60, threads=2, seed=0)
    seconds = time.perf_counter() - started
    loads = np.bincount(plan.assignment, weights=case.workload, minlength=4)
    holds = abs(plan.objective - 154.60) < 0.005
    return "\n".join([
        "### Pfizer 22 bricks × 4 reps (the case's spreadsheets, territory_pfizer)", "",
        "| what | published | ours |", "|---|---|---|",
        f"| current assignment, total distance | 187.41 | {current.objective.total:.2f} "
        f"(workloads {', '.join(f'{w:.4f}' for w in case.workloads())}) |",
        f"| min distance, workload in [0.8, 1.2] | 154.60 | {plan.objective:.2f}, "
        f"{plan.status} (bound {plan.bound:.2f}, {seconds:.1f} s; workloads "
        f"{', '.join(f'{w:.4f}' for w in loads)}) |", "",
        f"The published optimum {'holds' if holds else 'does NOT hold'}: our plan is proven "
        f"optimal at {plan.objective:.2f}. (The same report's other figure, 165.96, is "
        "not an optimum of this problem.)",
    ])


def main(argv: list[str] | None = None) -> None:
    """Run the suite and write its section of RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=30.0, help="seconds per GAP instance")
    parser.add_argument("--only", default="", help="GAP files to run, e.g. gap1,gapd")
    args = parser.parse_args(argv)
    only = {f"{name}.txt" for name in args.only.split(",") if name}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for instance, known, proven in gap_instances("min"):
            if only and instance.file not in only:
                continue
            row = gap_row(instance, known, proven, Path(tmp) / instance.name, args.limit)
            print(row, flush=True)
            rows.append(row)
        pfizer = pfizer_section(Path(tmp) / "pfizer")
    command = "python benchmarks/literature.py" + (f" --limit {args.limit:g}"
                                                   if args.limit != 30 else "") + (
        f" --only {args.only}" if args.only else "")
    body = "\n".join(["## Literature (issue 4)", "", provenance(command), "",
                      gap_section(rows, args.limit), "", pfizer])
    write_section("literature", body)
    print(body)


if __name__ == "__main__":
    main()
