"""What presentation shows of an alignment scenario (:class:`territory_opt.family.Views`): the
family-neutral views of :mod:`territory_opt.kpi.views`, unchanged."""

from __future__ import annotations

from territory_opt.kpi.views import CommonViews


class AlignmentViews(CommonViews):
    """Balanced alignment: items, territories, travel, balance, disruption, quotas."""


VIEWS = AlignmentViews()
