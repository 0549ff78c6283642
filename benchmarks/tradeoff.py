"""Trade-off curve of the demo's disruption cap: chained (warm-started) vs independent points.

Run: ``python benchmarks/tradeoff.py [--time-limit S]``. Solves the demo at each cap twice —
each point on its own, then each warm-started from the tighter point's plan — and writes the
"tradeoff" section of RESULTS.md: objective, bound and gap per point for both, and whether each
curve is monotone (a looser cap must never cost objective at the optimum).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from results import provenance, write_section  # noqa: E402

from territory_opt import load_scenario  # noqa: E402
from territory_opt.studies.tradeoff import TradeoffCurve, tradeoff  # noqa: E402

CAPS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, default=20.0, help="seconds per point")
    args = parser.parse_args()
    scenario = load_scenario(ROOT / "scenarios" / "demo" / "scenario.yaml")
    curves: dict[str, TradeoffCurve] = {}
    seconds: dict[str, float] = {}
    for name, chain in (("independent", False), ("chained", True)):
        started = time.perf_counter()
        curves[name] = tradeoff(scenario, "rules.disruption.max_share", CAPS,
                                time_limit=args.time_limit, chain=chain)
        seconds[name] = time.perf_counter() - started
        print(name, f"{seconds[name]:.0f} s", curves[name].monotone_violations(), flush=True)
    lines = ["## tradeoff (the demo's disruption cap, chained vs independent points)", "",
             provenance(f"python benchmarks/tradeoff.py --time-limit {args.time_limit:g}"),
             f"- the demo (1,000 accounts × 20 reps), HiGHS, {args.time_limit:g} s per point, "
             "gap target 0.5%; the cap is `rules.disruption.max_share` (share of accounts that "
             "may move). Bounds are shared from looser to tighter points in both runs.", "",
             "| cap | status | independent objective | chained objective | chained vs "
             "independent | bound | gap (chained) | moved | travel |",
             "|---|---|---|---|---|---|---|---|---|"]
    alone, chained = curves["independent"].points, curves["chained"].points
    for a, c in zip(alone, chained, strict=True):
        if c.plan is None:
            why = (c.message.splitlines()[1:2] or [""])[0].strip(" -")
            lines.append(f"| {c.value:g} | {c.status} | — | — | — | — | — | — | {why[:120]} |")
            continue
        metrics = c.plan.evaluation.metrics
        ratio = c.objective / a.objective - 1 if a.plan is not None else float("nan")
        lines.append(f"| {c.value:g} | {c.status} | {a.objective:,.0f} | {c.objective:,.0f} | "
                     f"{ratio:+.2%} | {c.bound:,.0f} | {c.gap:.2%} | "
                     f"{metrics['moved_items']:.0f} | {metrics['travel']:,.0f} |")
    lines += ["",
              f"- wall time: independent {seconds['independent']:.0f} s, chained "
              f"{seconds['chained']:.0f} s",
              "- monotone (a looser cap never has a worse objective): independent "
              + _verdict(curves["independent"]) + "; chained " + _verdict(curves["chained"])]
    write_section("tradeoff", "\n".join(lines))


def _verdict(curve: TradeoffCurve) -> str:
    problems = curve.monotone_violations()
    return "yes" if not problems else "no — " + "; ".join(problems)


if __name__ == "__main__":
    main()
