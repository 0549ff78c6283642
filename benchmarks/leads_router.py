"""Online lead router: decisions per second, in process.

Routes a scenario's leads in created order through :class:`territory_opt.leads.router.Router`,
pass after pass (``reset()`` between passes) until the time is up, for each policy and both
entry points: the scenario lead's index (the replay fast path) and a :class:`Lead` object as a
CRM would send it (tags, value, ISO 8601 time text, score factor, account). The ``Lead``
objects are built before the clock starts: only ``route`` is timed. The target is 20,000
decisions per second.

Run from the repository root::

    python benchmarks/leads_router.py [--scenario scenarios/leads/scenario.yaml] [--seconds 3]

Without the scenario file (e.g. before ``scenarios/leads/build.py`` has run), it builds a
synthetic one of the same size (40,000 leads, 60 reps) in a temporary folder. This script
only prints; the leads section of ``benchmarks/RESULTS.md`` is written by the script that
calls :func:`measure_router`.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from territory_opt import load_scenario  # noqa: E402
from territory_opt.leads.router import (  # noqa: E402
    NO_REP,
    Lead,
    NoEligibleRepError,
    Policy,
    Router,
    scenario_lead,
)
from territory_opt.scenario.model import Scenario  # noqa: E402

DEFAULT_SCENARIO = ROOT / "scenarios" / "leads" / "scenario.yaml"
TARGET = 20_000.0
"""Decisions per second the issue asks for."""


def measure_router(scenario: Scenario, policy: str, seconds: float = 3.0) -> dict[str, float]:
    """Decisions per second of a :class:`Router` over ``scenario``'s leads in created order.

    Each entry point (lead index, :class:`Lead` object) routes whole passes over the leads,
    with ``reset()`` between passes, until ``seconds`` have passed (at least one pass).

    Returns
    -------
    dict[str, float]
        ``decisions_per_second_index`` and ``decisions_per_second_lead``; ``leads``, ``reps``;
        ``passes_index``/``passes_lead``; ``build_seconds`` (the router's construction);
        ``owner_share``, ``unrouted_share`` (NO_REP: eligible reps all full) and
        ``no_eligible_share`` (NoEligibleRepError) of one pass.
    """
    leads = scenario.leads
    if leads is None:
        raise ValueError(f"scenario '{scenario.name}' is not a leads scenario")
    order = np.argsort(leads.created, kind="stable").tolist()
    started = time.perf_counter()
    router = Router(scenario, cast(Policy, policy))  # Router checks the name
    build_seconds = time.perf_counter() - started

    # What a CRM would send: ISO 8601 text times, plain Python values.
    times = [t + "Z" for t in np.datetime_as_string(leads.created, unit="s").tolist()]
    objects = []
    for i in order:
        lead = scenario_lead(scenario, i)
        objects.append(Lead(tags=lead.tags, value=lead.value, created=times[i],
                            score_factor=lead.score_factor, account=lead.account, id=lead.id))

    def one_pass(items: list[int] | list[Lead]) -> tuple[int, int, int]:
        """Route every item; count decisions to owners, NO_REP and no-eligible errors."""
        router.reset()
        owned = unrouted = errors = 0
        for item in items:
            try:
                decision = router.route(item)
            except NoEligibleRepError:
                errors += 1
                continue
            if decision.rep == NO_REP:
                unrouted += 1
            elif decision.reason.startswith("owner of"):
                owned += 1
        return owned, unrouted, errors

    def timed(items: list[int] | list[Lead]) -> tuple[float, int]:
        route = router.route
        passes = decisions = errors = 0
        clock = time.perf_counter()
        while True:
            router.reset()
            for item in items:
                # try/except rather than contextlib.suppress: no context manager per decision.
                try:
                    route(item)
                except NoEligibleRepError:  # a decision too (the caller is told why)
                    errors += 1
            passes += 1
            decisions += len(items)
            elapsed = time.perf_counter() - clock
            if elapsed >= seconds:
                return decisions / elapsed, passes

    owned, unrouted, errors = one_pass(order)
    if one_pass(objects) != (owned, unrouted, errors):
        raise AssertionError("Lead objects and lead indices routed differently")
    per_index, passes_index = timed(order)
    per_lead, passes_lead = timed(objects)
    n = max(len(order), 1)
    return {
        "decisions_per_second_index": per_index, "decisions_per_second_lead": per_lead,
        "leads": float(len(order)), "reps": float(scenario.n_territories),
        "passes_index": float(passes_index), "passes_lead": float(passes_lead),
        "build_seconds": build_seconds, "owner_share": owned / n,
        "unrouted_share": unrouted / n, "no_eligible_share": errors / n,
    }


def synthetic_scenario(folder: Path, n_leads: int = 40_000, n_reps: int = 60,
                       seed: int = 0) -> Path:
    """A seeded stand-in for ``scenarios/leads`` of the same size: a quarter of leads with
    segment, language and product, 20% from owned accounts; reps with languages and products
    as skills, weekly capacity with ~20% slack, win rates per segment (some tied). Returns the
    YAML's path."""
    rng = np.random.default_rng(seed)
    segments, languages, products = ["SMB", "Mid", "Ent"], ["en", "es", "fr"], ["Core", "Pay"]
    start = np.datetime64("2026-07-01T00:00:00")
    created = start + np.sort(rng.integers(0, 92 * 86_400, n_leads)).astype("timedelta64[s]")
    accounts = np.where(rng.random(n_leads) < 0.2,
                        [f"A{k:05d}" for k in rng.integers(0, n_leads // 10, n_leads)], "")
    leads = pd.DataFrame({
        "id": [f"L{k:06d}" for k in range(n_leads)],
        "created": [f"{t}Z" for t in created.astype(str)],
        "value": np.round(rng.lognormal(9, 0.8, n_leads)),
        "score": np.round(rng.beta(2.5, 3, n_leads), 3),
        "segment": rng.choice(segments, n_leads, p=[0.65, 0.27, 0.08]),
        "language": rng.choice(languages, n_leads, p=[0.8, 0.15, 0.05]),
        "product": rng.choice(products, n_leads, p=[0.7, 0.3]),
        "account": accounts,
    })
    spoken = [["en"] + (["es"] if k % 3 == 0 else []) + (["fr"] if k % 10 == 0 else [])
              for k in range(n_reps)]
    sold = [["Core"] + (["Pay"] if k % 2 == 0 else []) for k in range(n_reps)]
    weeks = 92 / 7
    reps = pd.DataFrame({
        "id": [f"R{k + 1:03d}" for k in range(n_reps)],
        "skills": [";".join(a + b) for a, b in zip(spoken, sold, strict=True)],
        "capacity": np.ceil(1.2 * n_leads / weeks / n_reps * rng.uniform(0.8, 1.2, n_reps)),
        "win_rate": np.round(rng.uniform(0.1, 0.3, n_reps), 2),
    })
    rates = pd.DataFrame([{"rep": r, "segment": s, "win_rate": round(float(rng.uniform(0.1, 0.4)),
                                                                       2)}
                          for r in reps["id"] for s in segments])
    owned = sorted({a for a in accounts if a})
    owners = pd.DataFrame({"account": owned,
                           "rep": [reps["id"][3 * (k % (n_reps // 3))] for k in range(len(owned))]})
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in {"leads": leads, "reps": reps, "win_rates": rates,
                        "owners": owners}.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    spec = {"name": "synthetic-leads", "model": "leads",
            "items": {"path": "leads.csv", "id": "id",
                      "tags": ["segment", "language", "product"]},
            "territories": {"path": "reps.csv", "id": "id", "skills": "skills"},
            "rules": {"eligibility": ["language", "product"]},
            "leads": {"columns": {"created": "created", "value": "value", "score": "score",
                                  "account": "account"},
                      "reps": {"capacity": "capacity", "win_rate": "win_rate"},
                      "win_rates": {"path": "win_rates.csv", "by": ["segment"]},
                      "owners": {"path": "owners.csv"}, "period": "week"}}
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def main(argv: list[str] | None = None) -> None:
    """Print decisions per second for both policies and both entry points."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="timing per policy and entry point (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.scenario
        if not path.is_file():
            print(f"{path} not found: using a synthetic scenario (40,000 leads, 60 reps)")
            path = synthetic_scenario(Path(tmp))
        scenario = load_scenario(path)
        print(f"{scenario.name}: {scenario.n_items:,} leads, {scenario.n_territories} reps; "
              f"Python {platform.python_version()} on {platform.machine()}")
        for policy in ("best-fit", "round-robin"):  # in the folder: the router reads owners
            f = measure_router(scenario, policy, args.seconds)
            verdict = "ok" if min(f["decisions_per_second_index"],
                                  f["decisions_per_second_lead"]) >= TARGET else "BELOW TARGET"
            print(f"  {policy}: {f['decisions_per_second_index']:,.0f}/s by index, "
                  f"{f['decisions_per_second_lead']:,.0f}/s as Lead objects ({verdict}, "
                  f"target {TARGET:,.0f}/s); router built in {f['build_seconds']:.2f} s;\n"
                  f"    one pass: {f['owner_share']:.1%} to owners, {f['unrouted_share']:.1%} "
                  f"unrouted (all eligible reps full), {f['no_eligible_share']:.1%} with "
                  "nobody eligible")


if __name__ == "__main__":
    main()
