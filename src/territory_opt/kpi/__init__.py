"""KPI evaluation: pure functions of scenario and assignment."""

from territory_opt.kpi.evaluate import Evaluation, ObjectiveTerms, Violation, evaluate

__all__ = ["Evaluation", "ObjectiveTerms", "Violation", "evaluate"]
