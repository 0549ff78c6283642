"""The pair table (``pairs:``): per item–territory distances and loads, and sparse eligibility.

* loading a CSV pair table into the :class:`Scenario` (sorted keys, overrides, defaults);
* bad pair tables are refused by the CLI with exit status 2, naming file, row and column;
* ``solve()`` reaches the brute-force optimum where pair distances and loads change the answer;
* ``only_listed`` restricts the assignment (a lock still overrides it);
* the KPI evaluator uses pair loads and distances;
* a Generalized Assignment Problem (jobs without coordinates, agent-dependent cost and resource,
  agent capacities) is solved to its brute-force optimum by ``highs`` and ``heuristic``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from cases import brute_force, write_scenario
from conftest import TinyScenario, assert_mentions, run_failing, write_csv
from territory_opt import evaluate, solve
from territory_opt.alignment.formulation import build_alignment, row_layout
from territory_opt.alignment.pairs import all_pairs, cost_block, nearest_pairs, pair_costs
from territory_opt.geo import haversine_km
from territory_opt.scenario.conflicts import quick_conflicts
from territory_opt.scenario.load import load_scenario
from territory_opt.scenario.model import NO_TERRITORY, Scenario

# --- the tiny scenario of conftest.py with a pair table -----------------------------------------

PAIRS: list[dict[str, Any]] = [
    {"account_id": "A3", "rep_id": "R1", "km": 5.0, "hours": 2.0},
    {"account_id": "A1", "rep_id": "R2", "km": 7.5, "hours": 30.0},
    {"account_id": "A1", "rep_id": "R1", "km": 1.0, "hours": 12.0},
    {"account_id": "A8", "rep_id": "R3", "km": 0.0, "hours": 0.0},
]


def with_pairs(tiny: TinyScenario, **section: Any) -> TinyScenario:
    """``tiny`` with a ``pairs:`` section: distance ``km``, loads ``workload: hours``."""
    tiny.spec["pairs"] = {"path": "pairs.csv", "item": "account_id", "territory": "rep_id",
                          "distance": "km", "loads": {"workload": "hours"}, **section}
    return tiny


def write_all(tiny: TinyScenario, rows: list[dict[str, Any]] = PAIRS) -> Path:
    """Write the scenario and ``rows`` as ``pairs.csv``; return the YAML path."""
    path = tiny.write()
    if rows:
        write_csv(tiny.folder / "pairs.csv", rows)
    else:
        (tiny.folder / "pairs.csv").write_text("account_id,rep_id,km,hours\n", encoding="utf-8")
    return path


def test_pair_table_loads_into_sorted_keys(tiny: TinyScenario) -> None:
    s = load_scenario(write_all(with_pairs(tiny)))
    m = s.n_territories
    # A1 is item 0, A3 item 2, A8 item 7; R1..R3 are 0..2. Sorted by item, then territory.
    assert s.pair_keys.tolist() == [0 * m + 0, 0 * m + 1, 2 * m + 0, 7 * m + 2]
    assert s.pair_km is not None
    assert s.pair_km.tolist() == [1.0, 7.5, 5.0, 0.0]
    assert s.pair_loads["workload"].tolist() == [12.0, 30.0, 2.0, 0.0]

    items, territories = np.array([0, 0, 2, 2, 7]), np.array([0, 1, 0, 1, 2])
    assert s.listed(items, territories).tolist() == [True, True, True, False, True]
    great_circle = haversine_km(s.lat[2], s.lon[2], s.home_lat[1], s.home_lon[1])
    np.testing.assert_allclose(s.distance(items, territories),
                               [1.0, 7.5, 5.0, great_circle, 0.0])
    np.testing.assert_allclose(s.pair_distance(items, territories),
                               [1.0, 7.5, 5.0, np.nan, 0.0])
    workload = s.attributes["workload"]
    np.testing.assert_allclose(s.pair_load("workload", items, territories),
                               [12.0, 30.0, 2.0, workload[2], 0.0])
    # Attributes the table does not name keep the item's value everywhere.
    np.testing.assert_allclose(s.pair_load("potential", items, territories),
                               s.attributes["potential"][items])

    block = s.distance_block(slice(None))
    assert block[0, 0] == 1.0 and block[0, 1] == 7.5 and block[2, 0] == 5.0
    assert block[7, 2] == 0.0
    assert block[2, 1] == pytest.approx(great_circle)
    np.testing.assert_allclose(block, s.distance(np.arange(8)[:, None], np.arange(3)[None, :]))
    loads = s.load_block("workload", np.array([7, 0, 2]))  # any order of rows
    np.testing.assert_allclose(loads, [[8, 8, 0], [12, 30, 12], [2, 12, 12]])
    assert s.allowed().all()  # not only_listed
    assert s.has_distance.all()


def test_parquet_pair_table(tiny: TinyScenario) -> None:
    pytest.importorskip("pyarrow")
    with_pairs(tiny, path="pairs.parquet")
    path = write_all(tiny)
    pd.DataFrame(PAIRS).to_parquet(tiny.folder / "pairs.parquet")
    s = load_scenario(path)
    assert s.pair_km is not None and s.pair_km.tolist() == [1.0, 7.5, 5.0, 0.0]


def test_digest_covers_the_pair_table(tiny: TinyScenario) -> None:
    path = write_all(with_pairs(tiny))
    before = load_scenario(path).digest
    rows = [dict(r) for r in PAIRS]
    rows[0]["km"] = 6.0
    write_csv(tiny.folder / "pairs.csv", rows)
    assert load_scenario(path).digest != before


# --- bad input --------------------------------------------------------------------------------


def _refused(tiny: TinyScenario, rows: list[dict[str, Any]] = PAIRS,
             subprocess: bool = False) -> str:
    write_all(tiny, rows)
    return run_failing(tiny, write=False, subprocess=subprocess).stderr


def test_unknown_item_id(tiny: TinyScenario) -> None:
    rows = [dict(r) for r in PAIRS]
    rows[1]["account_id"] = "A99"
    err = _refused(with_pairs(tiny), rows, subprocess=True)
    assert_mentions(err, "pairs.csv", "row 2 (line 3)", "account_id", "'A99'", "items table")


def test_unknown_territory_id(tiny: TinyScenario) -> None:
    rows = [dict(r) for r in PAIRS]
    rows[3]["rep_id"] = "R7"
    err = _refused(with_pairs(tiny), rows)
    assert_mentions(err, "pairs.csv", "row 4", "rep_id", "'R7'", "territories table")


def test_empty_id(tiny: TinyScenario) -> None:
    rows = [dict(r) for r in PAIRS]
    rows[2]["rep_id"] = ""
    err = _refused(with_pairs(tiny), rows)
    assert_mentions(err, "pairs.csv", "row 3", "rep_id", "an empty id")


def test_duplicate_pair(tiny: TinyScenario) -> None:
    rows = [dict(r) for r in PAIRS] + [dict(PAIRS[2], km=3.0)]
    err = _refused(with_pairs(tiny), rows, subprocess=True)
    assert_mentions(err, "pairs.csv", "row 5", "account_id/rep_id", "duplicate pair",
                    "('A1', 'R1')", "first at row 3", "one row per item and territory")


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("km", "far", "a number"),
    ("km", "-2", "a number >= 0"),
    ("km", "", "a number"),
    ("hours", "12h", "a number"),
    ("hours", "-1", "a number >= 0"),
])
def test_bad_number(tiny: TinyScenario, column: str, value: str, expected: str) -> None:
    rows = [dict(r) for r in PAIRS]
    rows[2][column] = value
    err = _refused(with_pairs(tiny), rows)
    assert_mentions(err, "pairs.csv", "row 3 (line 4)", column, expected)
    if value:
        assert_mentions(err, f"found '{value}'" if value[0] != "-" else f"found {value}")


@pytest.mark.parametrize(("key", "column"), [
    ("item", "account"), ("territory", "rep"), ("distance", "drive_km"),
])
def test_missing_column(tiny: TinyScenario, key: str, column: str) -> None:
    with_pairs(tiny, **{key: column})
    err = _refused(tiny)
    assert_mentions(err, "pairs.csv", f"'{column}'", f"pairs.{key}", "account_id, rep_id")


def test_missing_load_column(tiny: TinyScenario) -> None:
    err = _refused(with_pairs(tiny, loads={"workload": "effort"}))
    assert_mentions(err, "pairs.csv", "'effort'", "pairs.loads.workload")


def test_load_that_is_not_an_item_attribute(tiny: TinyScenario) -> None:
    err = _refused(with_pairs(tiny, loads={"effort": "hours"}), subprocess=True)
    assert_mentions(err, "scenario.yaml", "pairs.loads.effort", "'effort'",
                    "one of the item attributes ['potential', 'workload']")


def test_missing_pair_file(tiny: TinyScenario) -> None:
    err = _refused(with_pairs(tiny, path="nowhere/pairs.csv"))
    assert_mentions(err, "pairs.path", "nowhere/pairs.csv", "does not exist")


def test_empty_pair_table(tiny: TinyScenario) -> None:
    err = _refused(with_pairs(tiny), [])
    assert_mentions(err, "pairs.csv", "no rows", "pairs.path")


def test_unknown_key_in_pairs_section(tiny: TinyScenario) -> None:
    err = _refused(with_pairs(tiny, onlylisted=True))
    assert_mentions(err, "scenario.yaml", "pairs.onlylisted", "unknown key")


# --- items without coordinates ----------------------------------------------------------------


def test_item_without_coordinates_needs_listed_distances(tiny: TinyScenario) -> None:
    """A4 has no coordinates; the pair table gives its distance to R1 and R2 but not R3."""
    tiny.account("A4")["lat"] = tiny.account("A4")["lon"] = ""
    rows = [{"account_id": "A4", "rep_id": r, "km": 10.0, "hours": 8.0} for r in ("R1", "R2")]
    err = _refused(with_pairs(tiny), rows)
    assert_mentions(err, "accounts.csv", "row 4 (line 5)", "lat/lon", "no coordinates",
                    "pairs.csv", "'A4'", "'R3'", "only_listed")


def test_item_without_coordinates_and_every_distance_listed(tiny: TinyScenario) -> None:
    tiny.account("A4")["lat"] = tiny.account("A4")["lon"] = ""
    rows = [{"account_id": "A4", "rep_id": r, "km": km, "hours": 8.0}
            for r, km in (("R1", 200.0), ("R2", 10.0), ("R3", 90.0))]
    s = load_scenario(write_all(with_pairs(tiny), rows))
    assert not s.located[3] and s.located[[0, 1, 2, 4, 5, 6, 7]].all()
    np.testing.assert_allclose(s.distance_block(np.array([3]))[0], [200.0, 10.0, 90.0])
    plan = solve(s, time_limit=10)
    assert plan.assignment[3] == 1  # R2, 10 km


def test_item_without_coordinates_only_listed_pairs(tiny: TinyScenario) -> None:
    """With only_listed, the unlisted pair to R3 is not allowed, so needs no distance."""
    tiny.account("A4")["lat"] = tiny.account("A4")["lon"] = ""
    rows = [{"account_id": "A4", "rep_id": r, "km": 10.0, "hours": 8.0} for r in ("R1", "R2")]
    rows += [{"account_id": a["id"], "rep_id": r["rep_id"], "km": 50.0, "hours": a["workload"]}
             for a in tiny.accounts if a["id"] != "A4" for r in tiny.reps]
    s = load_scenario(write_all(with_pairs(tiny, only_listed=True), rows))
    assert s.allowed()[3].tolist() == [True, True, False]


def test_item_with_one_coordinate_is_refused(tiny: TinyScenario) -> None:
    tiny.account("A4")["lon"] = ""
    err = _refused(with_pairs(tiny))
    assert_mentions(err, "accounts.csv", "row 4", "only one of latitude/longitude")


def test_without_pair_table_coordinates_stay_required(tiny: TinyScenario) -> None:
    tiny.account("A4")["lat"] = tiny.account("A4")["lon"] = ""
    err = run_failing(tiny).stderr
    assert_mentions(err, "accounts.csv", "row 4", "an empty value")


def test_no_coordinate_columns_with_pair_table(tiny: TinyScenario) -> None:
    """No coordinate columns at all: every pair to a homed territory must be listed."""
    del tiny.spec["items"]["latitude"], tiny.spec["items"]["longitude"]
    err = _refused(with_pairs(tiny))
    assert_mentions(err, "accounts.csv", "rows 1, 2, 3, 4, 5 and 3 more", "latitude/longitude",
                    "no coordinates")


# --- solve() reaches the brute-force optimum --------------------------------------------------

CASE_PAIRS = pd.DataFrame({
    "acct": ["A1", "A4", "A4", "A6", "A7"],
    "rep": ["R3", "R1", "R3", "R1", "R1"],
    "km": [5.0, 300.0, 10.0, 20.0, 500.0],
    "h": [30.0, 9.0, 25.0, 8.0, 7.0],
})
CASE_SECTION = {"path": "pairs.csv", "item": "acct", "territory": "rep", "distance": "km",
                "loads": {"workload": "h"}}


def _case(folder: Path, variant: dict[str, Any], pairs: pd.DataFrame | None) -> Scenario:
    folder.mkdir()
    if pairs is not None:
        variant = {**variant, "pairs": {**CASE_SECTION, **variant.get("pairs", {})}}
        pairs.to_csv(folder / "pairs.csv", index=False)
    return load_scenario(write_scenario(folder, variant))


def test_solve_reaches_brute_force_optimum_with_pairs(tmp_path: Path) -> None:
    """Pair distances and loads change the optimum; solve() finds the new one."""
    variant = {"territories_capacity": {"workload": "max_hours"}}
    plain = _case(tmp_path / "plain", variant, None)
    paired = _case(tmp_path / "paired", variant, CASE_PAIRS)
    _, plain_assignment = brute_force(plain)
    best, assignment = brute_force(paired)
    assert not np.array_equal(plain_assignment, assignment)
    # The defaults' optimum is worse (or infeasible) once the pair values apply.
    e = evaluate(paired, plain_assignment)
    assert not e.feasible or e.objective.total > best + 1e-6
    for backend in ("highs", "heuristic"):
        plan = solve(paired, backend=backend, time_limit=20)
        assert plan.objective == pytest.approx(best, rel=1e-6, abs=1e-6), backend
        assert plan.evaluation.feasible
    plan = solve(paired, time_limit=20)
    assert plan.bound <= best + 1e-6
    assert plan.status == "optimal"


def test_model_rows_use_pair_loads(tmp_path: Path) -> None:
    """Band rows hold each pair's load; dual terms and costs agree with the pair columns."""
    s = _case(tmp_path / "s", {"territories_capacity": {"workload": "max_hours"}}, CASE_PAIRS)
    model = build_alignment(s)
    a = model.linear.a.toarray()
    layout = model.layout
    n_pairs = len(model.pair_item)
    expected = s.pair_load("workload", model.pair_item, model.pair_territory)
    for g, band in enumerate(layout.bands):
        rows = a[layout.band_rows(g), :n_pairs]
        np.testing.assert_allclose(rows[model.pair_territory, np.arange(n_pairs)], expected,
                                   err_msg=band.name)
    duals = np.random.default_rng(0).normal(size=layout.n_rows)
    terms = layout.dual_terms(duals, np.arange(s.n_items))
    column_terms = duals[s.n_items:] @ a[s.n_items:, :n_pairs]
    np.testing.assert_allclose(terms[model.pair_item, model.pair_territory], column_terms)
    costs = cost_block(s, slice(None))
    np.testing.assert_allclose(costs[model.pair_item, model.pair_territory],
                               pair_costs(s, model.pair_item, model.pair_territory))
    assert costs[0, 2] == pytest.approx(5.0 * s.attributes["visits"][0])  # A1-R3: 5 km × 4


def test_nearest_pairs_include_the_cheapest_listed_pairs(tmp_path: Path) -> None:
    s = _case(tmp_path / "s", {}, CASE_PAIRS)
    pairs = nearest_pairs(s, 1)
    keys = set((pairs.item * s.n_territories + pairs.territory).tolist())
    m = s.n_territories
    assert 0 * m + 2 in keys  # A1-R3 is listed at 5 km
    assert 3 * m + 2 in keys  # A4: R3 (10 km) is its nearest listed pair


# --- only_listed ------------------------------------------------------------------------------


def test_only_listed_restricts_assignment(tmp_path: Path) -> None:
    listed = pd.DataFrame(
        [(f"A{i}", r) for i in range(1, 8) for r in ("R1", "R2", "R3")
         if (i + int(r[1])) % 3 != 0],
        columns=["acct", "rep"])
    variant = {"pairs": {"path": "pairs.csv", "item": "acct", "territory": "rep",
                         "only_listed": True, "distance": None, "loads": {}},
               "rules": {"balance": [{"attribute": "workload", "tolerance": 0.5}],
                         "locks": {"A2": "R1"}}}  # A2-R1 is not listed: the lock overrides
    s = _case(tmp_path / "s", variant, listed)
    allowed = s.allowed()
    m = s.n_territories
    for i in range(s.n_items):
        for k in range(m):
            if i == 1:
                assert allowed[i, k] == (k == 0)
            else:
                assert allowed[i, k] == ((i + 1 + k + 1) % 3 != 0), (i, k)
    assert set(all_pairs(s).territory[all_pairs(s).item == 1].tolist()) == {0}
    np.testing.assert_array_equal(
        s.is_allowed(np.repeat(np.arange(7), 3), np.tile(np.arange(3), 7)), allowed.reshape(-1))
    best, _ = brute_force(s)
    plan = solve(s, time_limit=20)
    assert plan.objective == pytest.approx(best, rel=1e-6, abs=1e-6)
    a = plan.assignment
    assert allowed[np.arange(s.n_items), a].all()
    assert a[1] == 0
    # The evaluator names an unlisted pair.
    bad = a.copy()
    bad[0] = next(k for k in range(m) if not allowed[0, k])
    e = evaluate(s, bad)
    assert not e.feasible
    assert any(v.rule == "pairs only_listed" and "A1" in v.where for v in e.violations)


def test_only_listed_orphan_is_named(tmp_path: Path) -> None:
    listed = pd.DataFrame({"acct": [f"A{i}" for i in range(2, 8)], "rep": "R1"})
    variant = {"pairs": {"path": "pairs.csv", "item": "acct", "territory": "rep",
                         "only_listed": True, "distance": None, "loads": {}}}
    s = _case(tmp_path / "s", variant, listed)
    conflicts = quick_conflicts(s)
    assert any("pairs (only_listed)" in c.rules and "A1" in c.explanation
               and "no pair in the pairs table" in c.explanation for c in conflicts), conflicts


# --- KPIs -------------------------------------------------------------------------------------


def test_evaluate_uses_pair_loads_and_distances(tmp_path: Path) -> None:
    s = _case(tmp_path / "s", {"territories_capacity": {"workload": "max_hours"}}, CASE_PAIRS)
    # A1->R3 (listed: 5 km, 30 h), A4->R1 (listed: 300 km, 9 h), others unlisted.
    assignment = np.array([2, 1, 1, 0, 2, 1, 0])
    e = evaluate(s, assignment)
    hours = s.attributes["workload"]
    expected = np.zeros(3)
    overrides = {(0, 2): 30.0, (3, 0): 9.0, (6, 0): 7.0, (5, 0): 8.0, (3, 2): 25.0}
    for i, k in enumerate(assignment):
        expected[k] += overrides.get((i, int(k)), hours[i])
    np.testing.assert_allclose(e.territories["workload"], expected)
    target = s.targets("workload")
    np.testing.assert_allclose(target, hours.sum() * s.fte / s.fte.sum())  # item totals
    np.testing.assert_allclose(e.territories["workload_dev_pct"], 100 * (expected / target - 1))
    np.testing.assert_allclose(e.territories["workload_capacity_use_pct"],
                               100 * expected / 60.0)
    km = np.array([s.distance(np.array([i]), np.array([k]))[0]
                   for i, k in enumerate(assignment)])
    assert km[0] == 5.0 and km[3] == 300.0 and km[6] == 500.0
    visits = s.attributes["visits"]
    assert e.objective.travel == pytest.approx(float(km @ visits))
    np.testing.assert_allclose(e.territories["km_max"], [500.0, km[[1, 2, 5]].max(),
                                                          km[[0, 4]].max()])
    # R3 holds 30 + 12 = 42 h against a target of 120 × 0.5 / 2.5 = 24 (+15% = 27.6).
    assert any(v.rule.startswith("balance workload") and "R3" in v.where and v.hard
               for v in e.violations)
    over = next(v for v in e.violations if "R3" in v.where)
    assert over.amount == pytest.approx(42.0 - 1.15 * target[2])


def test_locked_load_check_uses_pair_load(tmp_path: Path) -> None:
    """A7 locked to R1 weighs 7 h by default but 70 h there by the pair table: over capacity."""
    pairs = pd.DataFrame({"acct": ["A7"], "rep": ["R1"], "km": [1.0], "h": [70.0]})
    variant = {"territories_capacity": {"workload": "max_hours"},
               "rules": {"balance": [{"attribute": "workload", "tolerance": 2.0}],
                         "locks": {"A7": "R1"}}}
    s = _case(tmp_path / "s", variant, pairs)
    conflicts = quick_conflicts(s)
    assert any(c.rules == "locks + capacity workload" and "70.00" in c.explanation
               for c in conflicts), conflicts


def test_capacity_total_check_uses_least_pair_loads(tmp_path: Path) -> None:
    """Every pair of A1 weighs 100 h: no plan fits 3 × 60 h (the item value, 30 h, would)."""
    pairs = pd.DataFrame({"acct": "A1", "rep": ["R1", "R2", "R3"], "km": 1.0,
                          "h": [100.0, 110.0, 120.0]})
    variant = {"territories_capacity": {"workload": "max_hours"},
               "rules": {"balance": [{"attribute": "workload", "tolerance": 2.0}]}}
    s = _case(tmp_path / "s", variant, pairs)
    conflicts = quick_conflicts(s)
    least = 100.0 + s.attributes["workload"][1:].sum()
    assert any(c.rules == "capacity workload" and f"{least:,.2f}" in c.explanation
               and "least possible total" in c.explanation for c in conflicts), conflicts
    # A single cheap pair makes the totals fit again: the check stays conservative.
    pairs.loc[0, "h"] = 1.0
    s = _case(tmp_path / "s2", variant, pairs)
    assert not any(c.rules == "capacity workload" for c in quick_conflicts(s))


# --- a Generalized Assignment Problem ---------------------------------------------------------


def _gap_instance(n_jobs: int = 9, n_agents: int = 3, seed: int = 2
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OR-Library type-C-like data: cost 15..50, resource 5..25, capacity 80% of the mean
    resource per agent."""
    rng = np.random.default_rng(seed)
    cost = rng.integers(15, 51, size=(n_jobs, n_agents)).astype(float)
    resource = rng.integers(5, 26, size=(n_jobs, n_agents)).astype(float)
    capacity = np.floor(0.8 * resource.sum(axis=0) / n_agents)
    return cost, resource, capacity


def _gap_brute_force(cost: np.ndarray, resource: np.ndarray, capacity: np.ndarray
                     ) -> tuple[float, np.ndarray]:
    n, m = cost.shape
    every = np.array(list(itertools.product(range(m), repeat=n)))
    jobs = np.arange(n)
    total = cost[jobs, every].sum(axis=1)
    loads = np.stack([(resource[jobs, every] * (every == k)).sum(axis=1) for k in range(m)],
                     axis=1)
    feasible = (loads <= capacity + 1e-9).all(axis=1)
    assert feasible.any()
    best = int(np.argmin(np.where(feasible, total, np.inf)))
    return float(total[best]), every[best]


def _gap_scenario(folder: Path, cost: np.ndarray, resource: np.ndarray,
                  capacity: np.ndarray) -> Path:
    n, m = cost.shape
    folder.mkdir(parents=True)
    jobs = [f"J{j + 1}" for j in range(n)]
    agents = [f"G{i + 1}" for i in range(m)]
    # The item's own resource is a default no pair uses (every pair is listed): 0, so that any
    # code reading it instead of the pair's load would under-count the agents' loads.
    pd.DataFrame({"job": jobs, "resource": 0.0}).to_csv(folder / "jobs.csv", index=False)
    pd.DataFrame({"agent": agents, "cap": capacity}).to_csv(folder / "agents.csv", index=False)
    pd.DataFrame({"job": np.repeat(jobs, m), "agent": np.tile(agents, n),
                  "cost": cost.reshape(-1), "res": resource.reshape(-1)}).sample(
        frac=1.0, random_state=1).to_csv(folder / "pairs.csv", index=False)  # any row order
    spec = {
        "model": "alignment",
        "items": {"path": "jobs.csv", "id": "job", "attributes": ["resource"]},
        "territories": {"path": "agents.csv", "id": "agent", "capacity": {"resource": "cap"}},
        "pairs": {"path": "pairs.csv", "item": "job", "territory": "agent",
                  "distance": "cost", "loads": {"resource": "res"}},
        "objective": {"travel": {"weight": 1}},
        "solver": {"time_limit": 20, "gap": 0.0},
    }
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("backend", ["highs", "heuristic"])
def test_gap_instance_reaches_brute_force_optimum(tmp_path: Path, backend: str) -> None:
    cost, resource, capacity = _gap_instance()
    best, best_assignment = _gap_brute_force(cost, resource, capacity)
    # The capacities bind: each job at its cheapest agent would not fit.
    cheapest = cost.argmin(axis=1)
    assert any(resource[cheapest == k, k].sum() > capacity[k] for k in range(3))
    s = load_scenario(_gap_scenario(tmp_path / "gap", cost, resource, capacity))
    assert not s.located.any() and not s.has_home.any() and s.has_distance.all()
    plan = solve(s, backend=backend, time_limit=20)
    assert plan.objective == pytest.approx(best, abs=1e-6)
    a = plan.assignment
    assert (a != NO_TERRITORY).all()
    assert cost[np.arange(len(a)), a].sum() == pytest.approx(best)
    loads = np.bincount(a, weights=resource[np.arange(len(a)), a], minlength=3)
    assert (loads <= capacity + 1e-9).all()
    e = plan.evaluation
    assert e.feasible
    np.testing.assert_allclose(e.territories["resource"], loads)
    np.testing.assert_allclose(e.territories["travel"],
                               np.bincount(a, weights=cost[np.arange(len(a)), a], minlength=3))
    assert plan.bound <= best + 1e-6
    # The brute force's best plan scores the same through the evaluator.
    assert evaluate(s, best_assignment).objective.total == pytest.approx(best)


def test_gap_layout_has_per_pair_resource(tmp_path: Path) -> None:
    cost, resource, capacity = _gap_instance()
    s = load_scenario(_gap_scenario(tmp_path / "gap", cost, resource, capacity))
    layout = row_layout(s)
    (band,) = layout.bands
    items = np.arange(s.n_items)
    np.testing.assert_allclose(layout.band_block(band, items), resource)
    np.testing.assert_allclose(s.distance_block(slice(None)), cost)


def test_gap_pair_left_out_uses_the_defaults(tmp_path: Path) -> None:
    """A pair missing from the table (not only_listed) falls back to the defaults: no travel
    (the agents have no home) and the job's own resource."""
    cost, resource, capacity = _gap_instance()
    path = _gap_scenario(tmp_path / "gap", cost, resource, capacity)
    table = pd.read_csv(path.parent / "pairs.csv")
    table = table[~((table["job"] == "J2") & (table["agent"] == "G3"))]
    table.to_csv(path.parent / "pairs.csv", index=False)
    s = load_scenario(path)
    assert np.isnan(s.distance(np.array([1]), np.array([2]))[0])
    assert pair_costs(s, np.array([1]), np.array([2]))[0] == 0.0
    assert s.pair_load("resource", np.array([1]), np.array([2]))[0] == 0.0
