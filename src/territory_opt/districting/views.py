"""What presentation shows of a districting scenario (:class:`territory_opt.family.Views`): the
common views, with its named accounts (KPIs, totals, locks, map points) and contiguity."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from territory_opt.family import Markers
from territory_opt.kpi.views import CommonViews
from territory_opt.scenario.model import NO_TERRITORY

if TYPE_CHECKING:
    from territory_opt.scenario.model import Scenario


class DistrictingViews(CommonViews):
    """Districting: units into contiguous districts, with named accounts inside the units."""

    def extra_metric_keys(self, scenario: Scenario) -> list[str]:
        """Accounts locked away from their unit, and moved accounts (with a current
        alignment of them)."""
        accounts = scenario.accounts
        if accounts is None:
            return []
        keys = ["accounts_locked_away"]
        if (accounts.current != NO_TERRITORY).any():
            keys.append("moved_accounts")
        return keys

    def size_text(self, scenario: Scenario) -> str:
        """Units, and the named accounts inside them."""
        text = f"{scenario.n_items:,}"
        if scenario.accounts is not None:
            text += f" units, {len(scenario.accounts):,} named accounts"
        return text

    def attribute_total(self, scenario: Scenario, name: str) -> float:
        """Units' and named accounts' total."""
        total = float(scenario.attributes[name].sum())
        return total + (scenario.accounts.total(name) if scenario.accounts is not None else 0)

    def extra_locks(self, scenario: Scenario) -> int:
        """Locked named accounts."""
        return int(scenario.accounts.locked.sum()) if scenario.accounts is not None else 0

    def extra_rules(self, scenario: Scenario) -> list[tuple[str, str]]:
        """Whether districts must be contiguous."""
        return [("contiguity", "yes" if scenario.spec.rules.contiguity else "no")]

    def counts(self, scenario: Scenario) -> dict[str, int]:
        """The named accounts."""
        return {"accounts": len(scenario.accounts)} if scenario.accounts is not None else {}

    def markers(self, scenario: Scenario, assignment: np.ndarray) -> Markers | None:
        """Named accounts with a location, in their territory under ``assignment``."""
        accounts = scenario.accounts
        if accounts is None:
            return None
        rows = np.flatnonzero(np.isfinite(accounts.lat) & np.isfinite(accounts.lon))
        return Markers(ids=accounts.ids[rows], lat=accounts.lat[rows], lon=accounts.lon[rows],
                       territory=accounts.territory(assignment)[rows],
                       locked=accounts.locked[rows],
                       summary=f", {len(accounts):,} named accounts" if len(accounts) else "")


VIEWS = DistrictingViews()
