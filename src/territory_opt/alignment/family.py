"""The alignment family: accounts (or any items) to territories, balanced — the plug-in
registered under ``model: alignment`` (:mod:`territory_opt.family`)."""

from __future__ import annotations

import numpy as np

from territory_opt.alignment.engine import solve_alignment
from territory_opt.alignment.support import SUPPORT
from territory_opt.alignment.views import VIEWS
from territory_opt.deadline import Deadline
from territory_opt.errors import Conflict
from territory_opt.family import Views
from territory_opt.kpi.compare import MAX_ANALYSED_MOVES
from territory_opt.kpi.evaluate import Evaluation, ObjectiveTerms, evaluate_with, objective_terms
from territory_opt.plan import Plan
from territory_opt.scenario.conflicts import quick_conflicts
from territory_opt.scenario.model import Scenario
from territory_opt.settings import SolveSettings


class AlignmentFamily:
    """Balanced alignment: the engine of :mod:`territory_opt.alignment.engine`."""

    name = "alignment"
    views: Views = VIEWS
    support = SUPPORT
    analysed_moves = MAX_ANALYSED_MOVES

    def conflicts(self, scenario: Scenario) -> list[Conflict]:
        """Arithmetic conflicts of the hard rules (totals against bands and capacities)."""
        return quick_conflicts(scenario)

    def solve(self, scenario: Scenario, settings: SolveSettings, deadline: Deadline) -> Plan:
        """The best alignment within ``settings`` by ``deadline``."""
        return solve_alignment(scenario, settings, deadline)

    def evaluate(self, scenario: Scenario, assignment: np.ndarray) -> Evaluation:
        """The common evaluation, nothing added."""
        return evaluate_with(scenario, assignment)

    def objective_terms(self, scenario: Scenario, assignment: np.ndarray) -> ObjectiveTerms:
        """Travel, disruption and soft-balance penalties."""
        return objective_terms(scenario, assignment)


FAMILY = AlignmentFamily()
