"""What presentation shows of a leads scenario (:class:`territory_opt.family.Views`): lead KPIs,
the per-rep table, the fairness band, no map."""

from __future__ import annotations

from typing import TYPE_CHECKING

from territory_opt.family import Band, Words
from territory_opt.kpi.views import CommonViews
from territory_opt.leads.report import ALLOCATION_METRICS, REP_COLUMNS

if TYPE_CHECKING:
    from territory_opt.kpi.evaluate import Evaluation
    from territory_opt.scenario.model import Scenario


class LeadViews(CommonViews):
    """Lead routing: leads to reps, expected revenue maximised."""

    words = Words(item="lead", items="leads", territory="rep", territories="reps")

    def metric_keys(self, scenario: Scenario) -> list[str]:
        """Objective, the lead KPIs of an allocation, hard violations."""
        return ["objective", *ALLOCATION_METRICS, "hard_violations"]

    def territory_columns(self, scenario: Scenario, evaluation: Evaluation) -> list[str]:
        """The per-rep columns."""
        return list(REP_COLUMNS)

    def bands(self, scenario: Scenario) -> dict[str, Band]:
        """Balance bands, and the fairness band on ``fair_dev_pct`` with a fairness rule."""
        out = super().bands(scenario)
        leads = scenario.spec.leads
        if leads is not None and leads.fairness is not None:
            fairness = leads.fairness
            out["fair_dev_pct"] = Band("expected value (fairness)", 100 * fairness.tolerance,
                                       fairness.hard)
        return out

    def objective(self, scenario: Scenario) -> str:
        """Expected revenue, less the soft fairness penalty."""
        fairness = scenario.spec.leads.fairness if scenario.spec.leads else None
        penalty = (f" − {fairness.penalty:g} × fairness excess"
                   if fairness is not None and not fairness.hard else "")
        return "expected revenue (maximised)" + penalty

    def map_note(self, scenario: Scenario) -> str | None:
        """Leads have no locations."""
        return "No map: this is a lead-routing scenario, and leads have no locations."


VIEWS = LeadViews()
