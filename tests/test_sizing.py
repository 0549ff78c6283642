"""Headcount sizing and the p-median solvers behind it.

The solvers are checked against brute force (every subset of sites) on small random instances,
and against the literature's optima on pmed1 and pmedcap1_01 (read from the shared instances
folder: skipped on a machine without it, a failure in CI). Headcount runs on a synthetic case
whose answer can be worked out by hand.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from conftest import REPS, TinyScenario, run_cli
from territory_opt import load_scenario
from territory_opt.backends.contract import Status
from territory_opt.errors import ScenarioError, TerritoryOptError
from territory_opt.geo import haversine_km
from territory_opt.sizing import (
    Candidates,
    cpmp_instances,
    euclidean,
    lagrangian_bound,
    pmed_instances,
    read_candidates,
    read_cpmp,
    read_pmed,
    size_sales_force,
    solve_capacitated,
    solve_pmedian,
    write_sizing,
)
from territory_opt.sizing.instances import INSTANCES_ENV, instances_root

FloatArray = npt.NDArray[np.float64]

# --- brute force ------------------------------------------------------------------------------


def brute_pmedian(cost: FloatArray, p: int) -> float:
    """Optimum over every p-subset of sites, each client to its cheapest open site."""
    return min(float(cost[:, list(s)].min(axis=1).sum())
               for s in itertools.combinations(range(cost.shape[1]), p))


def brute_capacitated(cost: FloatArray, demand: FloatArray, capacity: float, p: int,
                      allowed: npt.NDArray[np.bool_] | None = None) -> float:
    """Optimum over every p-subset and every single-sourcing assignment to it (inf: none)."""
    n, m = cost.shape
    ok = np.ones((n, m), dtype=bool) if allowed is None else allowed
    best = math.inf
    for sites in itertools.combinations(range(m), p):
        for choice in itertools.product(sites, repeat=n):
            a = np.asarray(choice)
            if not ok[np.arange(n), a].all():
                continue
            if (np.bincount(a, weights=demand, minlength=m) > capacity + 1e-9).any():
                continue
            best = min(best, float(cost[np.arange(n), a].sum()))
    return best


def random_cost(rng: np.random.Generator, n: int, m: int, integral: bool) -> FloatArray:
    pts = rng.uniform(0, 100, size=(n + m, 2))
    d = np.sqrt(((pts[:n, None, :] - pts[None, n:, :]) ** 2).sum(axis=2))
    return np.floor(d) if integral else d


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("variant", ["radius", "radius-unreduced", "classic"])
def test_pmedian_equals_brute_force(seed: int, variant: str) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(8, 15)), int(rng.integers(6, 10))
    if seed >= 4:
        # Costs with no geometry: the Lagrangian bound leaves a gap, so HiGHS must branch.
        cost = rng.integers(0, 60, size=(n, m)).astype(float)
    else:
        cost = random_cost(rng, n, m, integral=seed % 2 == 0)
    if seed % 3 == 0:  # repeated costs: ties on the radius ladders
        cost = np.round(cost / 20) * 20
    weights = rng.integers(1, 5, size=n).astype(float)
    formulation = "classic" if variant == "classic" else "radius"
    for p in range(1, min(m, 4) + 1):
        res = solve_pmedian(cost, p, weights=weights, time_limit=30, seed=0,
                            formulation=formulation,  # type: ignore[arg-type]
                            reduce=variant != "radius-unreduced")
        expected = brute_pmedian(cost * weights[:, None], p)
        assert res.status == Status.OPTIMAL
        assert res.objective == pytest.approx(expected)
        assert res.bound == pytest.approx(expected)
        assert len(res.sites) == p
        # The assignment is to the nearest open site and costs the objective.
        wc = cost * weights[:, None]
        assert set(res.assignment.tolist()) <= set(res.sites.tolist())
        assert wc[np.arange(n), res.assignment].sum() == pytest.approx(res.objective)


def test_the_reduced_radius_model_is_solved_when_the_bound_leaves_a_gap() -> None:
    # Random costs without geometry: the Lagrangian bound alone proves nothing here, so the
    # reduction and the MIP over the pairs that survive it run (and must find the optimum).
    rng = np.random.default_rng(11)
    methods = []
    for _ in range(6):
        cost = rng.integers(0, 100, size=(16, 16)).astype(float)
        res = solve_pmedian(cost, 4, time_limit=30)
        assert res.status == Status.OPTIMAL
        assert res.objective == pytest.approx(brute_pmedian(cost, 4))
        methods.append(res.method)
    assert sum(m.startswith("radius on") for m in methods) >= 3, methods


def test_lagrangian_bound_is_below_the_optimum() -> None:
    rng = np.random.default_rng(7)
    cost = random_cost(rng, 12, 12, integral=False)
    optimum = brute_pmedian(cost, 3)
    lag = lagrangian_bound(cost, 3, optimum * 1.1, cost.min(axis=1) + 5)
    assert lag.value <= optimum + 1e-9
    assert lag.value > 0.8 * optimum  # and not a trivial bound


@pytest.mark.parametrize("seed", range(5))
def test_capacitated_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n, m, p = 7, 5, 2
    cost = random_cost(rng, n, m, integral=seed % 2 == 0)
    demand = rng.integers(1, 6, size=n).astype(float)
    capacity = float(np.ceil(demand.sum() / p * 1.15))
    allowed = cost <= np.quantile(cost, 0.8) if seed >= 3 else None
    expected = brute_capacitated(cost, demand, capacity, p, allowed)
    res = solve_capacitated(cost, demand, capacity, p, allowed=allowed, time_limit=30)
    if math.isinf(expected):
        assert res.status == Status.INFEASIBLE
        return
    assert res.status == Status.OPTIMAL
    assert res.objective == pytest.approx(expected)
    loads = np.bincount(res.assignment, weights=demand, minlength=m)
    assert (loads <= capacity + 1e-9).all()
    assert set(res.assignment.tolist()) <= set(res.sites.tolist())


def test_capacitated_reports_infeasible() -> None:
    cost = np.array([[1.0, 2.0], [2.0, 1.0], [1.0, 1.0]])
    res = solve_capacitated(cost, [2.0, 2.0, 2.0], 3.0, 2, time_limit=10)
    assert res.status == Status.INFEASIBLE  # 6 units, two sites of 3, no item fits with another
    assert not res.has_plan
    assert (res.assignment == -1).all()


def test_bad_solver_inputs() -> None:
    with pytest.raises(ValueError, match="p must be"):
        solve_pmedian(np.ones((3, 2)), 3)
    with pytest.raises(ValueError, match="formulation"):
        solve_pmedian(np.ones((3, 2)), 1, formulation="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="demand"):
        solve_capacitated(np.ones((3, 2)), [1.0, -1.0, 1.0], 5.0, 1)


# --- instance readers -------------------------------------------------------------------------


def test_read_pmed_last_repeat_wins_then_shortest_paths(tmp_path: Path) -> None:
    # 1-2 listed twice: the last cost (5) wins; 1-3 goes through 2 (5 + 1 < 9).
    (tmp_path / "pmedx.txt").write_text(" 3 4 1\n 1 2 2\n 2 3 1\n 1 3 9\n 2 1 5\n")
    inst = read_pmed(tmp_path / "pmedx.txt")
    assert (inst.name, inst.n, inst.p) == ("pmedx", 3, 1)
    np.testing.assert_array_equal(inst.distance, [[0, 5, 6], [5, 0, 1], [6, 1, 0]])


def test_read_pmed_rejects_a_disconnected_graph(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_text("3 1 1\n1 2 4\n")
    with pytest.raises(ValueError, match="not connected"):
        read_pmed(tmp_path / "bad.txt")


def test_read_cpmp_and_distance_conventions(tmp_path: Path) -> None:
    (tmp_path / "cap.txt").write_text(" 1 7\n 3 1 10\n 1 0 0 2\n 2 3 4 5\n 3 1 1 3\n")
    inst = read_cpmp(tmp_path / "cap.txt")
    assert (inst.n, inst.p, inst.capacity, inst.header_value) == (3, 1, 10.0, 7.0)
    np.testing.assert_array_equal(inst.demand, [2, 5, 3])
    assert inst.distance("exact")[0, 1] == 5.0
    # sqrt(2) = 1.414, sqrt(13) = 3.606: floor 1, 3; rounded 1, 4.
    np.testing.assert_array_equal(euclidean(inst.xy, "floor")[[0, 1], [2, 2]], [1, 3])
    np.testing.assert_array_equal(euclidean(inst.xy, "round")[[0, 1], [2, 2]], [1, 4])
    with pytest.raises(ValueError, match="convention"):
        euclidean(inst.xy, "ceil")  # type: ignore[arg-type]


def _instances() -> Path:
    """The shared instances folder; skipped where it is absent, but never in CI."""
    root = instances_root()
    if not root.is_dir():
        message = f"public instances folder {root} not found (set {INSTANCES_ENV})"
        if os.environ.get("CI") or os.environ.get(INSTANCES_ENV):
            pytest.fail(message)
        pytest.skip(message)
    return root


def test_pmed1_matches_its_known_optimum() -> None:
    [(inst, known, proven)] = pmed_instances(_instances(), names=["pmed1"])
    assert (inst.n, inst.p, known, proven) == (100, 5, 5819.0, True)
    res = solve_pmedian(inst.distance, inst.p, time_limit=60, seed=0)
    assert res.status == Status.OPTIMAL
    assert res.objective == known
    assert res.bound == pytest.approx(known)


def test_pmedcap1_01_matches_its_known_optimum_with_floored_distances() -> None:
    [(inst, known, _)] = cpmp_instances(_instances(), names=["pmedcap1_01"])
    assert (inst.n, inst.p, inst.capacity, known) == (50, 5, 120.0, 713.0)
    res = solve_capacitated(inst.distance("floor"), inst.demand, inst.capacity, inst.p,
                            time_limit=60, seed=0)
    assert res.status == Status.OPTIMAL
    assert res.objective == known
    loads = np.bincount(res.assignment, weights=inst.demand, minlength=inst.n)
    assert loads.max() <= inst.capacity


# --- headcount ---------------------------------------------------------------------------------

# Three clusters of accounts hundreds of km apart: Charlotte (4 × 10 h), Atlanta (2 × 10 h),
# Nashville (2 × 10 h); two candidate bases in Charlotte, one in each other city.
CLUSTERS = {"CLT": (35.23, -80.84, 4), "ATL": (33.75, -84.39, 2), "BNA": (36.16, -86.78, 2)}
CANDIDATES = [("clt-a", "Charlotte A", 35.24, -80.83), ("clt-b", "Charlotte B", 35.22, -80.86),
              ("atl", "Atlanta", 33.76, -84.40), ("bna", "Nashville", 36.17, -86.77)]


def _accounts() -> list[dict[str, Any]]:
    rows = []
    for city, (lat, lon, count) in CLUSTERS.items():
        for k in range(count):
            rows.append({"id": f"{city}{k + 1}", "lat": lat + 0.02 * k, "lon": lon - 0.01 * k,
                         "potential": 10, "workload": 10, "segment": "smb",
                         "current_rep": "R1", "lock": ""})
    return rows


@pytest.fixture
def clusters(tmp_path: Path) -> Any:
    case = TinyScenario(tmp_path, accounts=_accounts(), reps=[dict(r) for r in REPS])
    case.spec["rules"] = {}
    case.write()
    return load_scenario(case.yaml_path)


def _candidates(tmp_path: Path) -> Path:
    path = tmp_path / "candidates.csv"
    path.write_text("id,name,lat,lon\n" + "".join(f"{i},{n},{a},{o}\n"
                                                  for i, n, a, o in CANDIDATES))
    return path


def test_headcount_distance_forces_three_bases(clusters: Any, tmp_path: Path) -> None:
    result = size_sales_force(clusters, _candidates(tmp_path), workload="workload",
                              capacity=40, max_km=50, time_limit=30, seed=0)
    # Capacity alone would allow 2 reps (80 h / 40 h); 50 km forces one base per city.
    assert result.lower_bounds == {"capacity": 2, "coverage": 3}
    assert result.reps == 3 and result.proven_minimum
    frame = result.frame()
    assert frame["p"].tolist() == [1, 2, 3]
    assert frame["status"].tolist() == ["infeasible", "infeasible", "feasible"]
    assert "coverage" in frame["reason"][1] and "capacity" in frame["reason"][0]
    bases = result.bases()
    atl, bna, clt = sorted(bases["base"])
    assert (atl, bna, clt[:4]) == ("atl", "bna", "clt-")
    assert bases["accounts"].sum() == 8
    assert result.plan is not None and result.plan.status == Status.OPTIMAL


def test_headcount_capacity_forces_a_fourth(clusters: Any, tmp_path: Path) -> None:
    result = size_sales_force(clusters, _candidates(tmp_path), workload="workload",
                              capacity=30, max_km=50, time_limit=30, seed=0)
    frame = result.frame()
    assert frame["status"].tolist() == ["infeasible", "infeasible", "infeasible", "feasible"]
    assert "proven by HiGHS" in frame["reason"][2]  # p = 3 passes both bounds, fails together
    assert result.reps == 4 and result.proven_minimum
    assert sorted(result.bases()["base"]) == ["atl", "bna", "clt-a", "clt-b"]
    # Charlotte's 40 h split 20/20 or 30/10 between its two bases; the best travel by hand:
    s = clusters
    km = haversine_km(s.lat[:, None], s.lon[:, None],
                      np.array([c[2] for c in CANDIDATES])[None, :],
                      np.array([c[3] for c in CANDIDATES])[None, :])
    best = math.inf
    clt = np.flatnonzero(np.char.startswith(s.item_ids.astype(str), "CLT"))
    for choice in itertools.product([0, 1], repeat=len(clt)):
        if max(choice.count(0), choice.count(1)) * 10 > 30:
            continue
        best = min(best, float(km[clt, list(choice)].sum()))
    others = km[4:6, 2].sum() + km[6:8, 3].sum()
    assert result.plan is not None
    assert result.plan.objective == pytest.approx(best + others)


def test_headcount_names_unreachable_accounts_and_writes_a_folder(clusters: Any,
                                                                    tmp_path: Path) -> None:
    cands = read_candidates(_candidates(tmp_path))
    no_nashville = Candidates(cands.ids[:3], cands.names[:3], cands.lat[:3], cands.lon[:3])
    result = size_sales_force(clusters, no_nashville, workload="workload", capacity=40,
                              max_km=50, time_limit=10)
    assert result.reps is None
    assert result.unreachable == ["BNA1", "BNA2"]
    assert "BNA1, BNA2" in result.frame()["reason"][0]

    ok = size_sales_force(clusters, cands, workload="workload", capacity=40, max_km=50,
                          weight="potential", time_limit=10, extra=1)
    assert ok.frame()["p"].tolist() == [1, 2, 3, 4]  # one more than needed, as asked
    out = write_sizing(ok, tmp_path / "sizing")
    summary = json.loads((out / "sizing.json").read_text())
    assert summary["reps"] == 3 and summary["proven_minimum"] is True
    assert len(summary["bases"]) == 3
    assignment = (out / "assignment.csv").read_text().splitlines()
    assert assignment[0] == "item,base,km,workload,potential" and len(assignment) == 9
    assert (out / "bases.csv").is_file() and (out / "attempts.csv").is_file()
    with pytest.raises(TerritoryOptError, match="already exists"):
        write_sizing(ok, out)


def test_headcount_bad_inputs_are_named(clusters: Any, tmp_path: Path) -> None:
    path = _candidates(tmp_path)
    with pytest.raises(ScenarioError) as err:
        size_sales_force(clusters, path, workload="hours", capacity=40, max_km=50)
    problem = err.value.problems[0]
    assert problem.field == "workload" and "'hours'" in problem.found
    assert "potential, workload" in problem.expected
    assert str(clusters.path) in problem.where

    with pytest.raises(ScenarioError, match="capacity"):
        size_sales_force(clusters, path, workload="workload", capacity=0, max_km=50)

    bad = tmp_path / "bad.csv"
    bad.write_text("id,latitude,lon\nx,35,-80\n")
    with pytest.raises(ScenarioError) as err:
        read_candidates(bad)
    [problem] = err.value.problems
    assert (problem.where, problem.field) == (str(bad), "lat")
    assert "latitude" in problem.found  # the columns it has

    bad.write_text("id,lat,lon\nx,95,-80\nx,35,-80\n")
    with pytest.raises(ScenarioError) as err:
        read_candidates(bad)
    found = {(p.where, p.field) for p in err.value.problems}
    assert found == {(f"{bad}, row 2", "lat"), (f"{bad}, row 3", "id")}


def test_cli_size_writes_the_answer_and_names_bad_input(tmp_path: Path) -> None:


    small = Path(__file__).resolve().parents[1] / "scenarios" / "small"
    reps = pd.read_csv(small / "reps.csv")
    candidates = tmp_path / "candidates.csv"
    pd.DataFrame({"id": reps.rep_id, "lat": reps.home_lat, "lon": reps.home_lon,
                  "name": reps.name}).to_csv(candidates, index=False)
    out = tmp_path / "sizing"
    args = ["size", small / "scenario.yaml", "--candidates", candidates, "--workload",
            "workload_h", "--capacity", "1000", "--max-km", "300", "--time-limit", "20"]
    result = run_cli(*args, "--out", out, cwd=tmp_path)
    assert result.code == 0, result.output
    assert "8 reps (proven minimum)" in result.output
    assert {"bases.csv", "assignment.csv", "attempts.csv", "sizing.json"} <= {
        p.name for p in out.iterdir()}
    bad = run_cli(*args[:5], "nope", *args[6:], cwd=tmp_path)
    assert bad.code == 2 and "nope" in bad.output and "Traceback" not in bad.output
