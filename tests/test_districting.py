"""Districting solvers against brute force on tiny grids, and the heuristic's guarantees.

Brute force enumerates every labelling of a grid of at most 9 units, keeps the plans whose
districts are non-empty, connected and inside the bands (and keep the locks), and scores them by
the same objective definitions as the problem's docstring; the exact solver must match its
optimum with Status.OPTIMAL.
"""

from __future__ import annotations

import itertools
import random

import hypothesis
import hypothesis.strategies as st
import networkx as nx
import numpy as np
import pytest

from territory_opt.backends.contract import Progress, Status
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.districting.contiguity import (
    Adjacency,
    cut_edges,
    district_components,
    is_contiguous,
    minimal_separator,
    objective_value,
    plan_problems,
    removal_keeps_connected,
)
from territory_opt.districting.exact import solve_exact
from territory_opt.districting.heuristic import solve_heuristic
from territory_opt.districting.problem import DistrictBand, DistrictingProblem

# --- tiny instances ---------------------------------------------------------------------------


def grid_edges(rows: int, cols: int) -> np.ndarray:
    """Rook adjacency of a rows × cols grid, units numbered row by row."""
    out = []
    for r in range(rows):
        for c in range(cols):
            u = r * cols + c
            if c + 1 < cols:
                out.append((u, u + 1))
            if r + 1 < rows:
                out.append((u, u + cols))
    return np.asarray(out, dtype=np.int64)


def manhattan(rows: int, cols: int) -> np.ndarray:
    """Grid distance between every pair of units."""
    rc = np.asarray([(u // cols, u % cols) for u in range(rows * cols)])
    return np.abs(rc[:, None, :] - rc[None, :, :]).sum(axis=2).astype(float)


def grid_problem(rows: int, cols: int, k: int, objective: str, weight: list[float],
                 slack: float, *, fixed: list[int] | None = None,
                 candidates: list[int] | None = None, lock: list[int] | None = None,
                 lo: list[float] | None = None, hi: list[float] | None = None,
                 ) -> DistrictingProblem:
    """A grid problem with one band ``mean × (1 ± slack)`` (or explicit ``lo``/``hi``)."""
    n = rows * cols
    w = np.asarray(weight, dtype=float)
    mean = w.sum() / k
    band = DistrictBand("w", w, np.asarray(lo, float) if lo else np.full(k, mean * (1 - slack)),
                        np.asarray(hi, float) if hi else np.full(k, mean * (1 + slack)))
    cost = None
    dist = manhattan(rows, cols)
    if objective != "cut_edges":
        cols_ = fixed if fixed is not None else (candidates if candidates is not None
                                                 else list(range(n)))
        cost = w[:, None] * dist[:, cols_]
    return DistrictingProblem(
        n_units=n, k=k, edges=grid_edges(rows, cols), bands=(band,),
        objective=objective,  # type: ignore[arg-type]
        cost=cost, fixed_centres=None if fixed is None else np.asarray(fixed),
        candidates=None if candidates is None else np.asarray(candidates),
        lock=None if lock is None else np.asarray(lock))


def brute_force(problem: DistrictingProblem) -> float:
    """The least objective over every valid plan (inf when there is none)."""
    n, k = problem.n_units, problem.k
    nbrs = Adjacency.of(problem).lists()
    band = problem.bands[0]
    w = band.weight.tolist()
    lo, hi = band.lo.tolist(), band.hi.tolist()
    lock = problem.lock.tolist() if problem.lock is not None else [-1] * n
    best = float("inf")
    for labels in itertools.product(range(k), repeat=n):
        if any(lk >= 0 and lk != d for lk, d in zip(lock, labels, strict=True)):
            continue
        loads = [0.0] * k
        for u, d in enumerate(labels):
            loads[d] += w[u]
        if any(not lo[j] - 1e-9 <= loads[j] <= hi[j] + 1e-9 for j in range(k)):
            continue
        if not all(_connected(nbrs, labels, j) for j in range(k)):
            continue
        lab = np.asarray(labels)
        if problem.fixed_centres is not None and np.any(
                lab[problem.fixed_centres] != np.arange(k)):
            continue
        best = min(best, objective_value(problem, lab))
    return best


def _connected(nbrs: list[list[int]], labels: tuple[int, ...], j: int) -> bool:
    members = [u for u, d in enumerate(labels) if d == j]
    if not members:
        return False
    seen = {members[0]}
    stack = [members[0]]
    while stack:
        v = stack.pop()
        for x in nbrs[v]:
            if labels[x] == j and x not in seen:
                seen.add(x)
                stack.append(x)
    return len(seen) == len(members)


CASES = {
    "cut 3x3 k3": lambda: grid_problem(3, 3, 3, "cut_edges", [3, 1, 2, 2, 5, 1, 1, 2, 3], 0.25),
    "cut 2x4 k2": lambda: grid_problem(2, 4, 2, "cut_edges", [4, 1, 1, 3, 2, 2, 5, 1], 0.1),
    "dispersion 3x3 k3 chosen": lambda: grid_problem(3, 3, 3, "dispersion",
                                                     [3, 1, 2, 2, 5, 1, 1, 2, 3], 0.3),
    "dispersion 2x4 k2 candidates": lambda: grid_problem(
        2, 4, 2, "dispersion", [4, 1, 1, 3, 2, 2, 5, 1], 0.2, candidates=[0, 2, 5, 7]),
    "dispersion 3x3 k3 fixed": lambda: grid_problem(3, 3, 3, "dispersion",
                                                    [3, 1, 2, 2, 5, 1, 1, 2, 3], 0.3,
                                                    fixed=[0, 4, 8]),
    "travel 3x3 k2 fixed": lambda: grid_problem(3, 3, 2, "travel", [1, 2, 1, 2, 3, 2, 1, 2, 1],
                                                0.2, fixed=[1, 7]),
    "dispersion 3x3 k2 chosen, unequal bands": lambda: grid_problem(
        3, 3, 2, "dispersion", [1, 2, 1, 2, 3, 2, 1, 2, 1], 0.0, lo=[4, 9], hi=[6, 11]),
    "cut 3x3 k3 unequal bands": lambda: grid_problem(
        3, 3, 3, "cut_edges", [1] * 9, 0.0, lo=[2, 3, 3], hi=[2, 3, 4]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_exact_matches_brute_force(name: str) -> None:
    problem = CASES[name]()
    expected = brute_force(problem)
    result = solve_exact(problem, time_limit=20, seed=0, threads=1)
    assert result.status == Status.OPTIMAL, result.log
    assert result.labels is not None
    assert not plan_problems(problem, result.labels, result.centres)
    assert result.objective == pytest.approx(expected)
    assert result.bound == pytest.approx(expected, rel=1e-4)
    assert objective_value(problem, result.labels, result.centres) == pytest.approx(expected)


def test_exact_honours_locks() -> None:
    weight = [3, 1, 2, 2, 5, 1, 1, 2, 3]
    free = grid_problem(3, 3, 3, "cut_edges", weight, 0.25)
    locked = grid_problem(3, 3, 3, "cut_edges", weight, 0.25,
                          lock=[2, -1, -1, -1, -1, -1, -1, -1, 0])
    result = solve_exact(locked, time_limit=20, threads=1)
    assert result.status == Status.OPTIMAL
    assert result.labels is not None
    assert result.labels[0] == 2 and result.labels[8] == 0
    assert result.objective == pytest.approx(brute_force(locked))
    assert result.objective >= brute_force(free)


def test_exact_honours_locks_with_chosen_centres() -> None:
    problem = grid_problem(3, 3, 2, "dispersion", [1, 2, 1, 2, 3, 2, 1, 2, 1], 0.25,
                           lock=[-1, -1, 1, -1, -1, -1, 0, -1, -1])
    result = solve_exact(problem, time_limit=20, threads=1)
    assert result.status == Status.OPTIMAL
    assert result.labels is not None
    assert result.labels[2] == 1 and result.labels[6] == 0
    assert result.objective == pytest.approx(brute_force(problem))


def test_exact_reports_infeasible_bands() -> None:
    # A path of weights 1, 10, 1 in two districts of 5..7: the totals fit (10..14 for 12), but
    # every connected split is 1 | 11.
    band = DistrictBand("w", np.asarray([1.0, 10.0, 1.0]), np.full(2, 5.0), np.full(2, 7.0))
    problem = DistrictingProblem(3, 2, np.asarray([[0, 1], [1, 2]]), (band,), "cut_edges")
    result = solve_exact(problem, time_limit=10, threads=1)
    assert result.status == Status.INFEASIBLE
    assert result.labels is None
    heuristic = solve_heuristic(problem, time_limit=0.5)
    assert heuristic.labels is None
    assert heuristic.status in (Status.NO_PLAN, Status.INFEASIBLE)


def test_arithmetic_infeasibility_is_immediate() -> None:
    problem = grid_problem(2, 2, 2, "cut_edges", [1, 1, 1, 1], 0.0, lo=[3, 3], hi=[3, 3])
    assert solve_exact(problem, time_limit=10).status == Status.INFEASIBLE
    assert solve_heuristic(problem, time_limit=1).status == Status.INFEASIBLE


# --- heuristic ------------------------------------------------------------------------------


def assert_valid(problem: DistrictingProblem, labels: np.ndarray) -> None:
    issues = plan_problems(problem, labels)
    assert not issues, issues


@pytest.mark.parametrize("name", list(CASES))
def test_heuristic_finds_valid_plans(name: str) -> None:
    problem = CASES[name]()
    result = solve_heuristic(problem, time_limit=2, seed=1, patience=0.2)
    assert result.labels is not None
    assert_valid(problem, result.labels)
    assert result.bound <= brute_force(problem) + 1e-9
    assert result.objective >= brute_force(problem) - 1e-9


def test_heuristic_is_deterministic_for_a_seed() -> None:
    problem = grid_problem(6, 6, 4, "cut_edges", [1 + (u * 7) % 5 for u in range(36)], 0.1)
    first = solve_heuristic(problem, time_limit=30, seed=3, iterations=20_000)
    again = solve_heuristic(problem, time_limit=30, seed=3, iterations=20_000)
    assert first.labels is not None and again.labels is not None
    assert np.array_equal(first.labels, again.labels)


def test_heuristic_under_a_work_limit_is_deterministic_and_stops_on_it() -> None:
    # Move attempts are the heuristic's work: the search ends on them, not on the clock.
    problem = grid_problem(6, 6, 4, "cut_edges", [1 + (u * 7) % 5 for u in range(36)], 0.1)
    runs = [Deadline(30, work=20_000), Deadline(30, work=20_000)]
    first, again = (solve_heuristic(problem, deadline=d, seed=3) for d in runs)
    assert first.labels is not None and again.labels is not None
    assert np.array_equal(first.labels, again.labels)
    assert all(20_000 <= d.spent < 40_000 for d in runs)


def test_heuristic_keeps_its_deadline_and_reports_better_plans() -> None:
    problem = grid_problem(6, 6, 4, "cut_edges", [1 + (u * 7) % 5 for u in range(36)], 0.1)
    stopped = Deadline(30)
    stopped.stop.set()
    started = Stopwatch()
    solve_heuristic(problem, deadline=stopped, seed=0)
    assert started.seconds() < 5  # the stop signal ends the search at once
    seen: list[Progress] = []
    deadline = Deadline(0.5)
    result = solve_heuristic(problem, deadline=deadline, seed=0, progress=seen.append)
    assert result.labels is not None and seen
    assert seen[-1].objective == result.objective
    assert all(0 <= p.seconds <= deadline.elapsed() for p in seen)


def test_heuristic_honours_locks_and_fixed_centres() -> None:
    n = 36
    lock = [-1] * n
    lock[0], lock[35], lock[5] = 0, 1, 2
    problem = grid_problem(6, 6, 3, "travel", [1.0] * n, 0.15, fixed=[14, 21, 11], lock=lock)
    result = solve_heuristic(problem, time_limit=3, seed=0, patience=0.2)
    assert result.labels is not None
    assert_valid(problem, result.labels)
    assert result.labels[0] == 0 and result.labels[35] == 1 and result.labels[5] == 2
    assert list(result.labels[[14, 21, 11]]) == [0, 1, 2]


def test_heuristic_bound_for_costs_is_the_lp() -> None:
    problem = CASES["dispersion 3x3 k3 chosen"]()
    result = solve_heuristic(problem, time_limit=3, patience=0.2)
    assert "LP relaxation" in result.method
    assert result.bound <= result.objective


def test_heuristic_repairs_a_split_start() -> None:
    problem = grid_problem(4, 4, 2, "cut_edges", [1.0] * 16, 0.25)
    start = np.asarray([u % 2 for u in range(16)])  # stripes: both districts in pieces
    result = solve_heuristic(problem, time_limit=2, start=start, patience=0.2)
    assert result.labels is not None
    assert_valid(problem, result.labels)


@hypothesis.settings(max_examples=25, deadline=None)
@hypothesis.given(rows=st.integers(2, 6), cols=st.integers(2, 6), k=st.integers(2, 4),
                  seed=st.integers(0, 10_000), slack=st.floats(0.05, 0.6),
                  objective=st.sampled_from(["cut_edges", "dispersion", "travel"]),
                  locks=st.booleans())
def test_heuristic_plans_are_contiguous_and_balanced(rows: int, cols: int, k: int, seed: int,
                                                     slack: float, objective: str,
                                                     locks: bool) -> None:
    n = rows * cols
    hypothesis.assume(n >= k)
    rng = random.Random(seed)
    weight = [float(rng.randint(1, 20)) for _ in range(n)]
    fixed = rng.sample(range(n), k) if objective == "travel" else None
    lock = None
    if locks:
        lock = [-1] * n
        for u in rng.sample(range(n), min(k, n)):
            lock[u] = rng.randrange(k)
        if fixed is not None:
            for j, c in enumerate(fixed):
                lock[c] = j
    problem = grid_problem(rows, cols, k, objective, weight, slack, fixed=fixed, lock=lock)
    result = solve_heuristic(problem, time_limit=2, seed=seed, iterations=4_000)
    if result.labels is None:
        assert result.status in (Status.NO_PLAN, Status.INFEASIBLE)
        return
    assert result.status in (Status.FEASIBLE, Status.OPTIMAL)
    adj = Adjacency.of(problem)
    assert np.all(district_components(adj, result.labels, k) == 1)
    assert_valid(problem, result.labels)
    assert result.bound <= result.objective + 1e-9


# --- graph helpers --------------------------------------------------------------------------


def test_removal_check_agrees_with_networkx() -> None:
    rng = random.Random(0)
    for _ in range(100):
        rows, cols = rng.randint(2, 6), rng.randint(2, 6)
        g = nx.convert_node_labels_to_integers(nx.grid_2d_graph(rows, cols))
        adj = Adjacency.from_edges(g.number_of_nodes(), grid_edges(rows, cols))
        labels = [rng.randint(0, 1) for _ in range(g.number_of_nodes())]
        for u in range(g.number_of_nodes()):
            members = [v for v in g if labels[v] == labels[u]]
            if not nx.is_connected(g.subgraph(members)):
                continue
            rest = [v for v in members if v != u]
            expected = bool(rest) and nx.is_connected(g.subgraph(rest))
            assert removal_keeps_connected(adj.lists(), labels, u) == expected


def test_minimal_separator_separates_minimally() -> None:
    g = nx.convert_node_labels_to_integers(nx.grid_2d_graph(5, 5))
    adj = Adjacency.from_edges(25, grid_edges(5, 5))
    piece = np.asarray([0, 1, 5])
    sep = minimal_separator(adj, piece, 24)
    cut = g.copy()
    cut.remove_nodes_from(sep.tolist())
    assert not nx.has_path(cut, 0, 24)
    for s in sep.tolist():  # minimal: each separator unit is needed
        back = g.copy()
        back.remove_nodes_from([t for t in sep.tolist() if t != s])
        assert nx.has_path(back, 0, 24)


def test_cut_edges_and_components() -> None:
    edges = grid_edges(2, 3)
    labels = np.asarray([0, 0, 1, 1, 0, 1])
    assert cut_edges(edges, labels) == 4
    adj = Adjacency.from_edges(6, edges)
    assert list(district_components(adj, labels, 2)) == [1, 2]  # unit 3 cut off
    assert not is_contiguous(adj, labels, 2)


def test_one_district_is_immediate() -> None:
    problem = grid_problem(3, 3, 1, "cut_edges", [1.0] * 9, 0.0)
    result = solve_heuristic(problem, time_limit=30)
    assert result.status == Status.OPTIMAL and result.objective == 0
    assert result.seconds < 5
