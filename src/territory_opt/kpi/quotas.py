"""Quotas: a company target split over the territories of a plan.

Each territory's share is its share of a basis attribute (potential) under the plan, blended
with its FTE share when ``fte_weight`` > 0. Floors and caps are relative to the territory's
FTE-fair quota (``target × fte / Σ fte``); a clipped territory's excess or shortfall goes to the
others in proportion to their shares, so the quotas still add up to the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from territory_opt.scenario.schema import Quotas

QUOTA_COLUMNS = ("quota", "quota_share_pct", "quota_per_fte", "quota_to_basis_pct",
                 "quota_bound")
"""Columns the territory table gains when the scenario sets ``quotas``."""


@dataclass(frozen=True)
class QuotaSplit:
    """Quotas per territory, and which of them a floor or cap set (``"floor"``, ``"cap"``,
    ``""``)."""

    quota: np.ndarray
    bound: np.ndarray


def split_target(rules: Quotas, basis: np.ndarray, fte: np.ndarray) -> QuotaSplit:
    """Split ``rules.target`` by basis share (blended with FTE share), within floors and caps.

    Parameters
    ----------
    rules
        The scenario's ``quotas`` section.
    basis
        Each territory's load of the basis attribute under the plan (>= 0).
    fte
        Each territory's FTE (> 0).

    Returns
    -------
    QuotaSplit
        Quotas adding up to the target (to within rounding, see ``round_to``).
    """
    basis = np.clip(np.asarray(basis, dtype=float), 0.0, None)
    fte = np.asarray(fte, dtype=float)
    fte_share = fte / fte.sum()
    # With no basis anywhere (an empty plan), the FTE share is the only fair split.
    basis_share = basis / basis.sum() if basis.sum() > 0 else fte_share
    share = (1 - rules.fte_weight) * basis_share + rules.fte_weight * fte_share
    share[share < 1e-12] = 0.0  # a share too small to matter would overflow the breakpoints
    fair = rules.target * fte_share
    low = fair * rules.floor if rules.floor is not None else np.zeros_like(fair)
    high = fair * rules.cap if rules.cap is not None else np.full_like(fair, np.inf)
    scale = _water_level(rules.target, share, low, high)
    quota = np.clip(scale * share, low, high)
    short = rules.target - quota.sum()
    if short > 1e-9 * rules.target and np.isfinite(high).all():
        # Caps left only territories with (next to) no share below their cap, and a share
        # cannot lift them: fill their headroom (Σ cap >= target, as cap >= 1).
        headroom = high - quota
        quota = quota + short * headroom / headroom.sum()
    # A floor or cap "set" a quota when the share alone would have given less or more.
    tol = 1e-9 * rules.target
    bound = np.full(len(quota), "", dtype=object)
    bound[scale * share < low - tol] = "floor"
    bound[scale * share > high + tol] = "cap"
    if rules.round_to is not None:
        quota = _round_keeping_total(quota, rules.round_to, rules.target)
    return QuotaSplit(quota, bound)


def _water_level(total: float, share: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """The λ for which ``clip(λ × share, low, high)`` adds up to ``total``.

    The sum is piecewise linear and non-decreasing in λ, with breakpoints where a territory
    leaves its floor or reaches its cap: find the segment holding ``total``, then bisect in it
    (solving the segment's line directly loses territories that sit on a breakpoint to rounding,
    and overshoots). Needs ``Σ low <= total <= Σ high`` (floor <= 1 <= cap guarantee it).
    """
    def filled(lam: float) -> float:
        return float(np.clip(lam * share, low, high).sum())

    positive = share > 0
    points = np.concatenate([low[positive] / share[positive], high[positive] / share[positive]])
    points = np.unique(np.concatenate([[0.0], points[np.isfinite(points)]]))
    sums = np.array([filled(lam) for lam in points])
    tol = 1e-12 * total
    above = np.flatnonzero(sums >= total - tol)
    if len(above) and above[0] == 0:
        return float(points[0])
    flat = above[sums[above] <= total + tol]
    if len(flat) > 1:
        # The sum stays at the total over a range of λ (every territory at a floor or cap):
        # any λ there gives the same quotas; the middle one says which bound set each.
        return float(points[flat[0]] + points[flat[-1]]) / 2
    if len(above):
        lo, hi = float(points[above[0] - 1]), float(points[above[0]])
    elif not np.isinf(high[positive]).any():
        # Every territory with a share is capped and the sum still falls short (the others
        # have no share to grow by): the caller fills their headroom.
        return float(points[-1])
    else:  # past the last breakpoint an uncapped territory grows without end
        lo = hi = float(points[-1])
        while filled(hi) < total - tol:
            hi = 2 * hi + 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if filled(mid) < total else (lo, mid)
    return hi


def _round_keeping_total(quota: np.ndarray, unit: float, target: float) -> np.ndarray:
    """Round to multiples of ``unit`` by largest remainder, so the total is the target
    rounded to ``unit`` (ties go to the earlier territory: deterministic)."""
    down = np.floor(quota / unit)
    left = round(float(target / unit - down.sum()))
    order = np.argsort(-(quota / unit - down), kind="stable")
    down[order[:max(left, 0)]] += 1
    return down * unit


def quota_columns(rules: Quotas, basis: np.ndarray, fte: np.ndarray) -> pd.DataFrame:
    """The territory table's quota columns (:data:`QUOTA_COLUMNS`)."""
    split = split_target(rules, basis, fte)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_basis = np.where(basis > 0, 100 * split.quota / basis, np.nan)
    return pd.DataFrame({
        "quota": split.quota,
        "quota_share_pct": 100 * split.quota / rules.target,
        "quota_per_fte": split.quota / fte,
        "quota_to_basis_pct": to_basis,
        "quota_bound": split.bound,
    })


def quota_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Plan-level quota KPIs: the total, how many territories a floor or cap set, and the
    range of quota as a share of basis (how much of its potential each territory must win)."""
    to_basis = table["quota_to_basis_pct"].to_numpy(dtype=float)
    finite = to_basis[np.isfinite(to_basis)]
    bound = table["quota_bound"]
    return {
        "quota_total": float(table["quota"].sum()),
        "quota_at_floor": float((bound == "floor").sum()),
        "quota_at_cap": float((bound == "cap").sum()),
        "quota_to_basis_min_pct": float(finite.min()) if len(finite) else float("nan"),
        "quota_to_basis_max_pct": float(finite.max()) if len(finite) else float("nan"),
    }
