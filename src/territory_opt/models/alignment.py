"""Alignment model: assign items (accounts) to territories (reps).

Variables: one binary ``x[i,k]`` per *allowed* pair (locks, eligibility and the distance limit
remove the others), then two continuous slacks (below / above the band) per elastic band row.

Rows, in this order (each a :class:`~territory_opt.models.linear.RowGroup`):

* ``assign``: every item in exactly one territory;
* ``balance <attr>``: ``(1-τ)·target_k <= load_k (+ below - above) <= (1+τ)·target_k``;
* ``capacity <attr>``: ``load_k <= capacity_k`` where a capacity is given;
* ``disruption cap``: moved weight ``<= max_share × total weight``.

Soft balance rules are elastic rows whose slacks cost ``penalty`` per unit. For a diagnosis, every
rule can be made elastic (:func:`build_alignment` with ``elastic=True``) to learn which rules
must give and by how much.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from territory_opt.models.linear import LinearModel, RowBuilder
from territory_opt.scenario.model import NO_TERRITORY, Scenario


@dataclass(frozen=True)
class ElasticBlock:
    """Slack columns ``start:stop`` (below, above interleaved) for the rows of one group."""

    group: str
    start: int
    stop: int
    scale: np.ndarray


@dataclass(frozen=True, eq=False)
class AlignmentModel:
    """The MILP of a scenario plus the maps between its columns and the plan."""

    scenario: Scenario
    pair_item: np.ndarray
    pair_territory: np.ndarray
    linear: LinearModel
    elastic: tuple[ElasticBlock, ...]

    def assignment(self, x: np.ndarray) -> np.ndarray:
        """Territory index per item from a solution vector (largest ``x`` of each item)."""
        n_pairs = len(self.pair_item)
        values = x[:n_pairs]
        best = np.full(self.scenario.n_items, -1.0)
        out = np.full(self.scenario.n_items, NO_TERRITORY, dtype=np.int64)
        order = np.argsort(values, kind="stable")  # later (larger) values overwrite smaller
        best[self.pair_item[order]] = values[order]
        out[self.pair_item[order]] = self.pair_territory[order]
        out[best < 0.5] = NO_TERRITORY
        return out

    def start_vector(self, assignment: np.ndarray) -> np.ndarray:
        """Solution vector of an assignment (a warm start): pairs, and the slacks it implies.

        Items assigned to a territory they may not go to (or unassigned) get no pair, so the
        vector may be infeasible; solvers treat it as a hint.
        """
        linear = self.linear
        x = np.zeros(linear.n_cols)
        x[: len(self.pair_item)] = assignment[self.pair_item] == self.pair_territory
        activity = linear.a @ x  # slacks are still zero here
        groups = {g.name: g for g in linear.row_groups}
        for block in self.elastic:
            rows = slice(groups[block.group].start, groups[block.group].stop)
            below = np.maximum(linear.row_lo[rows] - activity[rows], 0)
            above = np.maximum(activity[rows] - linear.row_hi[rows], 0)
            pairs = np.column_stack([below, above])
            if block.group == "disruption cap":
                pairs[:, 1] = 0.0  # one-sided row: only the "below" slack exists
            x[block.start:block.stop] = pairs.reshape(-1)[: block.stop - block.start]
        return x

    def slack(self, x: np.ndarray, group: str) -> np.ndarray:
        """Per row of ``group``: (below, above) slack in attribute units; zeros if not elastic."""
        for block in self.elastic:
            if block.group == group:
                return x[block.start:block.stop].reshape(-1, 2)
        return np.zeros((0, 2))


def pair_costs(scenario: Scenario, pair_item: np.ndarray, pair_territory: np.ndarray) -> np.ndarray:
    """Objective cost of each allowed pair: weighted travel + disruption if it moves the item."""
    objective = scenario.spec.objective
    km = scenario.distance_km[pair_item, pair_territory]
    travel = np.where(np.isnan(km), 0.0, km) * scenario.travel_weight()[pair_item]
    current = scenario.current[pair_item]
    moved = (current != NO_TERRITORY) & (current != pair_territory)
    per_move = scenario.item_weight(objective.disruption.per)[pair_item]
    return np.asarray(
        objective.travel.weight * travel + objective.disruption.weight * per_move * moved
    )


def build_alignment(scenario: Scenario, *, elastic: bool = False) -> AlignmentModel:
    """Formulate the scenario as a :class:`LinearModel`.

    Parameters
    ----------
    scenario
        The validated scenario.
    elastic
        Diagnosis mode: every balance, capacity and disruption-cap row gets slacks, the pair
        costs are dropped, and the objective is the total violation, each slack divided by its
        row's scale (target, capacity or total) so rules of different units compare.
    """
    rules = scenario.spec.rules
    allowed = scenario.allowed()
    pair_item, pair_territory = np.nonzero(allowed)
    n_pairs = len(pair_item)
    m = scenario.n_territories

    # Each entry: (group name, per-territory lo, hi, item weight, soft penalty or None, scale)
    bands: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, float | None, np.ndarray]] = []
    for rule in rules.balance:
        target = scenario.targets(rule.attribute)
        bands.append((
            f"balance {rule.attribute}",
            (1 - rule.tolerance) * target,
            (1 + rule.tolerance) * target,
            scenario.attributes[rule.attribute],
            None if rule.hard else rule.penalty,
            np.maximum(target, 1e-9),
        ))
    for name, cap in scenario.capacity.items():
        bands.append((f"capacity {name}", np.full(m, -np.inf), cap, scenario.attributes[name],
                      None, np.maximum(np.where(np.isfinite(cap), cap, 1.0), 1e-9)))

    n_slack = 2 * sum(m for *_, penalty, _ in bands if elastic or penalty is not None)
    cap_rule = rules.disruption
    has_cap_row = cap_rule is not None and scenario.has_current
    n_slack += 2 if (elastic and has_cap_row) else 0
    n_cols = n_pairs + n_slack

    c = np.zeros(n_cols)
    if not elastic:
        c[:n_pairs] = pair_costs(scenario, pair_item, pair_territory)
    rows = RowBuilder(n_cols)
    rows.add("assign", pair_item, np.arange(n_pairs), np.ones(n_pairs),
             np.ones(scenario.n_items), np.ones(scenario.n_items))

    blocks: list[ElasticBlock] = []
    next_slack = n_pairs
    for name, lo, hi, weight, penalty, scale in bands:
        # Row k of the group is territory k (rows with infinite bounds are harmless).
        r, cols, vals = pair_territory, np.arange(n_pairs), weight[pair_item]
        if elastic or penalty is not None:
            below = next_slack + 2 * np.arange(m)
            r = np.concatenate([r, np.arange(m), np.arange(m)])
            cols = np.concatenate([cols, below, below + 1])
            vals = np.concatenate([vals, np.ones(m), -np.ones(m)])
            unit_cost = 1.0 / scale if elastic else np.full(m, penalty)
            c[below] = unit_cost
            c[below + 1] = unit_cost
            blocks.append(ElasticBlock(name, next_slack, next_slack + 2 * m, scale))
            next_slack += 2 * m
        rows.add(name, r, cols, vals, lo, hi)

    if has_cap_row and cap_rule is not None:
        weight = scenario.item_weight(cap_rule.attribute)
        current = scenario.current
        stays = current[pair_item] == pair_territory
        with_current = current != NO_TERRITORY
        # moved = W_cur - Σ_{stay pairs} w x  <=  share × W   <=>   Σ w x >= W_cur - share × W
        floor = float(weight[with_current].sum() - cap_rule.max_share * weight.sum())
        cols = np.flatnonzero(stays)
        vals = weight[pair_item[cols]]
        r = np.zeros(len(cols), dtype=np.int64)
        if elastic:
            cap_scale = np.array([max(float(weight.sum()), 1e-9)])
            cols = np.concatenate([cols, [next_slack]])
            vals = np.concatenate([vals, [1.0]])
            r = np.concatenate([r, [0]])
            c[next_slack] = 1.0 / cap_scale[0]
            blocks.append(ElasticBlock("disruption cap", next_slack, next_slack + 2, cap_scale))
            next_slack += 2
        rows.add("disruption cap", r, cols, vals, np.array([floor]), np.array([np.inf]))

    a, row_lo, row_hi, groups = rows.matrix()
    integer = np.zeros(n_cols, dtype=bool)
    integer[:n_pairs] = True
    ub = np.concatenate([np.ones(n_pairs), np.full(n_slack, np.inf)])
    for block in blocks:
        if block.group == "disruption cap":
            ub[block.start + 1] = 0.0  # a one-sided row: its "above" slack is in no row
    linear = LinearModel(
        c=c,
        offset=0.0,
        lb=np.zeros(n_cols),
        ub=ub,
        integer=integer,
        a=a,
        row_lo=row_lo,
        row_hi=row_hi,
        row_groups=groups,
    )
    return AlignmentModel(scenario, pair_item, pair_territory, linear, tuple(blocks))
