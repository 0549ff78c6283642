"""Districting scenarios end to end: YAML → units and adjacency → solve → plan and KPIs."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import yaml
from shapely.geometry import box

from territory_opt import evaluate, load_scenario, solve
from territory_opt.backends.contract import Status
from territory_opt.districting.kpis import best_centres, cut_edges
from territory_opt.errors import ScenarioError

ROOT = Path(__file__).resolve().parents[1]


def grid_scenario(folder: Path, objective: dict[str, object], *, rows: int = 3, cols: int = 3,
                  k: int = 3, tolerance: float = 0.0, points: bool = False) -> Path:
    """A ``rows × cols`` grid of 0.1° squares in North Carolina, one load unit each."""
    shapes = [box(-80 + 0.1 * c, 35 + 0.1 * r, -80 + 0.1 * (c + 1), 35 + 0.1 * (r + 1))
              for r in range(rows) for c in range(cols)]
    if points:
        shapes = [s.centroid for s in shapes]
    units = gpd.GeoDataFrame({"unit": [f"U{i}" for i in range(len(shapes))],
                              "load": np.ones(len(shapes), dtype=int)},
                             geometry=shapes, crs="EPSG:4326")
    units.to_file(folder / "units.geojson", driver="GeoJSON")
    spec = {"model": "districting",
            "items": {"path": "units.geojson", "id": "unit", "attributes": ["load"]},
            "territories": {"count": k},
            "adjacency": {"method": "rook"},
            "rules": {"balance": [{"attribute": "load", "tolerance": tolerance}]},
            "objective": objective, "solver": {"time_limit": 30}}
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def connected(scenario_edges: np.ndarray, labels: np.ndarray, k: int) -> bool:
    graph = nx.Graph()
    graph.add_edges_from(scenario_edges.tolist())
    return all(nx.is_connected(graph.subgraph(np.flatnonzero(labels == j).tolist()))
               for j in range(k))


def test_grid_cut_edges_solves_to_the_known_optimum(tmp_path: Path) -> None:
    # 3 × 3 rook grid into 3 equal parts: three straight strips cut 6 of the 12 edges, and
    # nothing cuts fewer (each part has 3 cells; a connected triple keeps at most 2 edges).
    scenario = load_scenario(grid_scenario(tmp_path, {"cut_edges": {}}))
    assert scenario.adjacency is not None and len(scenario.adjacency) == 12
    plan = solve(scenario, backend="highs", time_limit=30)
    assert plan.status == Status.OPTIMAL
    assert plan.objective == pytest.approx(6.0)
    assert np.bincount(plan.assignment, minlength=3).tolist() == [3, 3, 3]
    assert connected(scenario.adjacency, plan.assignment, 3)


def test_grid_dispersion_objective_is_the_evaluators(tmp_path: Path) -> None:
    scenario = load_scenario(grid_scenario(tmp_path, {"dispersion": {"attribute": "load"}}))
    plan = solve(scenario, backend="highs", time_limit=30)
    centres, totals = best_centres(scenario.lat, scenario.lon, np.ones(9), plan.assignment, 3)
    assert plan.objective == pytest.approx(float(totals.sum()))
    assert (centres >= 0).all()
    assert plan.evaluation.objective.travel == 0.0  # districting counts one term only
    assert plan.bound <= plan.objective * (1 + 1e-9)


def test_cut_edges_counts_only_edges_between_territories() -> None:
    edges = np.array([[0, 1], [1, 2], [2, 3]])
    assert cut_edges(edges, np.array([0, 0, 1, 1])) == 1
    assert cut_edges(edges, np.array([0, -1, 1, 1])) == 2  # unassigned cuts its edges


def test_points_cannot_have_polygon_adjacency(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as error:
        load_scenario(grid_scenario(tmp_path, {"cut_edges": {}}, points=True))
    problem = error.value.problems[0]
    assert "adjacency.method" in problem.where and "polygons" in problem.found


def test_territory_count_is_only_for_districting(tmp_path: Path) -> None:
    path = grid_scenario(tmp_path, {"cut_edges": {}})
    spec = yaml.safe_load(path.read_text())
    spec["model"] = "alignment"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    assert "only apply to model: districting" in str(error.value)


@pytest.mark.slow
def test_nc_counties_is_proven_optimal_with_connected_territories() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "nc-counties" / "scenario.yaml")
    assert scenario.n_items == 100 and scenario.n_territories == 8
    assert scenario.adjacency is not None
    plan = solve(scenario, time_limit=120)
    assert plan.status == Status.OPTIMAL
    assert connected(scenario.adjacency, plan.assignment, 8)
    assert evaluate(scenario, plan.assignment).feasible  # births within ±5%


@pytest.mark.slow
def test_zip_units_heuristic_keeps_every_territory_connected() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "zip-units" / "scenario.yaml")
    assert scenario.n_items > 2000
    # Connectivity, not the gap, is checked: 20 s gave connected, feasible territories at a
    # 5% gap here; 30 s leaves room for a slower CI machine.
    plan = solve(scenario, backend="heuristic", time_limit=30)
    assert scenario.adjacency is not None
    assert connected(scenario.adjacency, plan.assignment, scenario.n_territories)
    assert evaluate(scenario, plan.assignment).feasible


def test_disconnected_territory_is_a_violation_and_kpis_show_it(tmp_path: Path) -> None:
    scenario = load_scenario(grid_scenario(tmp_path, {"cut_edges": {}}))
    # Rows of the grid: 0 1 2 / 3 4 5 / 6 7 8. Territory 0 takes three unconnected corners.
    labels = np.array([0, 1, 1, 2, 2, 1, 0, 2, 0])
    result = evaluate(scenario, labels)
    assert not result.feasible
    assert [v.rule for v in result.violations] == ["contiguity"]
    assert result.territories["components"].tolist() == [3, 1, 1]
    assert result.metrics["disconnected_territories"] == 1
    assert result.metrics["cut_edges"] == cut_edges(scenario.adjacency, labels)
    assert 0 < result.metrics["polsby_popper_min"] <= np.pi / 4 + 1e-9  # squares at best
