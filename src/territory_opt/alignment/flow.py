"""A nearly balanced plan from row prices: one band as a min-cost flow, the others priced.

With only one band, the alignment LP is a transportation problem: item ``i`` ships its load
``w_i`` to territories, territory ``k`` takes between ``lo_k`` and ``hi_k``, shipping costs
``c_ik / w_i`` per unit. A network-simplex-class solver (OR-Tools' min-cost flow) solves it over
a million pairs in a second or two, and a basic solution splits at most one item per territory.
The other rows (a second band, the disruption cap) enter the costs at the prices a relaxation
found for them (``c_ik − Σ_r a_r,ik y_r``): at the LP's duals this is the LP's own optimality
condition, so the flow's plan is close to the LP's — but it keeps the flow band exactly,
whereas the cheapest-pair points of a Lagrangian ascent keep no band at all.

Pairs missing from the candidate set can leave a territory short: dummy arcs at a prohibitive
price keep the flow feasible, and the repair (:mod:`territory_opt.alignment.repair`) mends
what is left.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from territory_opt.alignment.formulation import AlignmentModel, Band

SUPPLY_UNITS = 1e9
"""Flow units the whole flow band's load is scaled to (integers for the solver)."""
COST_UNITS = 1e5
"""Integer cost of the dearest unit of flow on a pair."""
SHORTAGE_COST = 1e8
"""Integer cost of a unit of flow on a dummy arc (a territory short, or an item unplaced)."""


@dataclasses.dataclass(frozen=True)
class Flow:
    """A flow's plan and what it could not do with the model's pairs."""

    x: np.ndarray  # per model column: the share of its item the flow sends along the pair
    short: np.ndarray  # per territory: load below its band's floor (band units)
    unplaced: np.ndarray  # per item: True if no pair of it had room


def flow_point(model: AlignmentModel, duals: np.ndarray, *, narrow: float = 0.0
               ) -> np.ndarray | None:
    """Per model column, the share of each item the flow sends along each pair (the slack
    columns zero); None when no hard band without pair-specific loads exists. ``narrow``:
    :func:`balance_flow`."""
    flow = balance_flow(model, duals, narrow=narrow)
    return None if flow is None else flow.x


def balance_flow(model: AlignmentModel, duals: np.ndarray, *, narrow: float = 0.0
                 ) -> Flow | None:
    """The min-cost flow of the module docstring at the prices ``duals``; None when no hard
    band without pair-specific loads exists. ``narrow``: keep the band narrowed by this share
    of its width on each side (towards its middle), leaving the repair room to move items
    without breaking it (a cheapest flow otherwise packs many territories at the floor)."""
    from ortools.graph.python import min_cost_flow

    band = _flow_band(model)
    if band is None:
        return None
    scenario = model.scenario
    n, m = scenario.n_items, scenario.n_territories
    item, territory = model.pair_item, model.pair_territory
    n_pairs = len(item)
    weight = np.asarray(band.weight, dtype=float)
    scale = SUPPLY_UNITS / max(float(weight.sum()), 1e-12)
    supply = np.round(weight * scale).astype(np.int64)
    band_lo, band_hi = _narrowed(band, narrow)
    lo = np.ceil(np.where(np.isfinite(band_lo), band_lo, 0.0) * scale).astype(np.int64)
    hi = np.floor(np.where(np.isfinite(band_hi), band_hi, SUPPLY_UNITS) * scale
                  ).astype(np.int64)
    hi = np.maximum(hi, lo)
    priced = _priced_costs(model, duals, band)
    on_flow = supply[item] > 0
    unit = np.where(on_flow, priced / np.maximum(weight[item], 1e-300) / scale, 0.0)
    spread = max(float(np.abs(unit[on_flow]).max(initial=0.0)), 1e-300)
    unit_cost = np.round(unit / spread * COST_UNITS).astype(np.int64)

    # Nodes: items 0..n-1, territories n..n+m-1, sink T, dummy source D.
    sink, dummy = n + m, n + m + 1
    flow_pairs = np.flatnonzero(on_flow)
    tails = np.concatenate([item[flow_pairs], n + np.arange(m), np.full(m, dummy), [dummy],
                            np.arange(n)])
    heads = np.concatenate([n + territory[flow_pairs], np.full(m, sink), n + np.arange(m),
                            [sink], np.full(n, sink)])
    capacities = np.concatenate([supply[item[flow_pairs]], hi - lo, lo, [lo.sum()], supply])
    costs = np.concatenate([unit_cost[flow_pairs], np.zeros(m, np.int64),
                            np.full(m, int(SHORTAGE_COST)), [0],
                            np.full(n, int(SHORTAGE_COST))])
    solver = min_cost_flow.SimpleMinCostFlow()
    arcs = solver.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), capacities.astype(np.int64),
        costs.astype(np.int64))
    supplies = np.concatenate([supply, -lo, [-int(supply.sum())], [int(lo.sum())]])
    solver.set_nodes_supplies(np.arange(n + m + 2, dtype=np.int32), supplies.astype(np.int64))
    if solver.solve() != solver.OPTIMAL:
        return None
    flows = np.asarray(solver.flows(arcs), dtype=float)
    dummy_arcs = len(flow_pairs) + m
    short = flows[dummy_arcs:dummy_arcs + m] / scale
    unplaced = flows[dummy_arcs + m + 1:] > 0
    flows = flows[: len(flow_pairs)]
    x = np.zeros(model.linear.n_cols)
    x[flow_pairs] = flows / supply[item[flow_pairs]]
    # Items with no load on the flow band (or unplaced): their cheapest priced pair.
    placed = np.bincount(item, weights=x[:n_pairs], minlength=n) > 0.5
    if not placed.all():
        loose = np.flatnonzero(~placed[item])
        order = np.lexsort((priced[loose], item[loose]))
        first = np.r_[True, item[loose][order][1:] != item[loose][order][:-1]]
        x[loose[order][first]] = 1.0
    return Flow(x, short, unplaced)


def _narrowed(band: Band, narrow: float) -> tuple[np.ndarray, np.ndarray]:
    """``band``'s limits moved ``narrow`` of its width towards its middle (finite limits only;
    a one-sided band keeps its limit)."""
    lo, hi = np.asarray(band.lo, dtype=float), np.asarray(band.hi, dtype=float)
    both = np.isfinite(lo) & np.isfinite(hi)
    give = np.where(both, narrow * (hi - lo), 0.0)
    return np.where(both, lo + give, lo), np.where(both, hi - give, hi)


def _flow_band(model: AlignmentModel) -> Band | None:
    """The hard band with the narrowest relative range among those whose load does not
    depend on the territory (a flow needs one load per item)."""
    scenario = model.scenario
    best, width = None, np.inf
    for band in model.layout.bands:
        if band.penalty is not None:
            continue
        if band.attribute is not None and scenario.has_pair_loads(band.attribute):
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            relative = np.nanmedian(np.where(np.isfinite(band.hi) & (band.hi > 0),
                                             (band.hi - band.lo) / band.hi, np.inf))
        if relative < width:
            best, width = band, float(relative)
    return best


def _priced_costs(model: AlignmentModel, duals: np.ndarray, band: Band) -> np.ndarray:
    """``c_ik − Σ_r a_r,ik y_r`` per pair over every row but the assignment rows and
    ``band``'s own (the flow keeps those)."""
    layout = model.layout
    n = model.scenario.n_items
    n_pairs = len(model.pair_item)
    y = np.array(duals, dtype=float)
    y[:n] = 0.0
    for g, other in enumerate(layout.bands):
        if other is band:
            y[layout.band_rows(g)] = 0.0
    rows, cols, vals = layout.entries(model.pair_item, model.pair_territory, 0)
    terms = np.bincount(cols, weights=vals * y[rows], minlength=n_pairs)
    return np.asarray(model.linear.c[:n_pairs] - terms)
