"""HiGHS backend: its work limit (what every backend must do is in test_backend_contract.py).

With ``SolveOptions.work_limit`` HiGHS gets no time limit and stops on branch-and-bound nodes
(a MIP) or simplex iterations (an LP); ``SolveResult.work`` reports those done.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from linear_models import balanced
from territory_opt.backends.contract import SolveOptions, Status
from territory_opt.backends.highs import HighsBackend


def test_a_mip_work_limit_counts_branch_and_bound_nodes() -> None:
    model, _ = balanced(60, 5, 0.002, seed=3)  # about 1,900 nodes to prove
    result = HighsBackend().solve(model, SolveOptions(time_limit=0.001, gap=0, threads=1,
                                                      work_limit=5))
    assert result.status == Status.FEASIBLE, result.log
    assert result.stop_reason == "work limit"
    assert result.work == 5.0
    assert "work limit 5 branch-and-bound nodes, no time limit" in result.log


def test_an_lp_work_limit_counts_simplex_iterations() -> None:
    mip, _ = balanced(60, 5, 0.002, seed=3)
    lp = dataclasses.replace(mip, integer=np.zeros(mip.n_cols, dtype=bool))
    whole = HighsBackend().solve(lp, SolveOptions(time_limit=10))
    assert whole.status == Status.OPTIMAL and whole.stop_reason == "proven optimal"
    assert whole.work > 20  # simplex iterations
    cut = HighsBackend().solve(lp, SolveOptions(time_limit=0.001, work_limit=20))
    assert cut.status == Status.NO_PLAN, cut.log  # a simplex cut short has no primal point
    assert cut.stop_reason == "work limit"
    assert cut.work == 20.0
    assert "work limit 20 simplex iterations, no time limit" in cut.log


def test_without_a_work_limit_the_effort_is_still_reported() -> None:
    model, _ = balanced(60, 5, 0.002, seed=3)
    result = HighsBackend().solve(model, SolveOptions(time_limit=5, gap=0, threads=1))
    assert result.status.has_plan, result.log
    # Nodes past the root (the root itself takes about a second): what a work limit for a
    # solve this long would be set to.
    assert result.work >= 1
