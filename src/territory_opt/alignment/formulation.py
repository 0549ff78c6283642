"""Alignment model: assign items (accounts) to territories (reps).

Variables: one binary ``x[i,k]`` per offered pair (every *allowed* pair by default — locks,
eligibility and the distance limit remove the others; large scenarios offer fewer, see
:mod:`territory_opt.alignment.pairs`), then two continuous slacks (below / above the band) per
elastic band row.

Rows, in this order (each a :class:`~territory_opt.backends.linear.RowGroup`):

* ``assign``: every item in exactly one territory;
* ``balance <attr>``: ``(1-τ)·target_k <= load_k (+ below - above) <= (1+τ)·target_k``;
* ``capacity <attr>``: ``load_k <= capacity_k`` where a capacity is given;
* ``disruption cap``: moved weight ``<= max_share × total weight``;
* ``groups together/apart/at_most``: the account groups
  (:mod:`territory_opt.alignment.group_rules`);
* ``level ...`` / ``same_parent ...``: the hierarchy rules, with the joint design's columns
  after the slacks (:mod:`territory_opt.alignment.hierarchy_rules`).

Soft balance rules are elastic rows whose slacks cost ``penalty`` per unit. For a diagnosis, every
rule can be made elastic (:func:`build_alignment` with ``elastic=True``) to learn which rules
must give and by how much.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from territory_opt.alignment.group_rules import group_rows
from territory_opt.alignment.hierarchy_rules import hierarchy_rows
from territory_opt.alignment.pairs import PairSet, all_pairs, pair_costs
from territory_opt.backends.linear import LinearModel, RowGroup
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.tolerance import band_slack, capacity_limit, share_limit

ELASTIC_PRICE = 1e3
"""Diagnosis: cost of a 100% violation of a row. Not 1: divided by a row's size (potential in
dollars: 10^7) that would put slack costs near HiGHS's dual tolerance (10^-7), where the
simplex stalls (seen: no answer in 100 s at 20,000 × 100)."""


@dataclass(frozen=True)
class ElasticBlock:
    """Slack columns ``start:stop`` (below, above interleaved) for the rows of one group."""

    group: str
    start: int
    stop: int
    scale: np.ndarray
    hard: bool = False  # slacks of a hard rule (diagnosis, or softened for column generation)


@dataclass(frozen=True, eq=False)
class AlignmentModel:
    """The MILP of a scenario plus the maps between its columns and the plan."""

    scenario: Scenario
    pair_item: np.ndarray
    pair_territory: np.ndarray
    linear: LinearModel
    elastic: tuple[ElasticBlock, ...]
    pairs: PairSet
    layout: RowLayout
    joint: tuple[int, int] | None = None  # joint design: the columns of y (hierarchy_rules)

    def assignment(self, x: np.ndarray, *, min_share: float = 0.5) -> np.ndarray:
        """Territory index per item from a solution vector: the pair of largest ``x`` of each
        item, or :data:`NO_TERRITORY` where that is below ``min_share`` (0: always the largest
        share, e.g. to round an LP point)."""
        n_pairs = len(self.pair_item)
        values = x[:n_pairs]
        best = np.full(self.scenario.n_items, -1.0)
        out = np.full(self.scenario.n_items, NO_TERRITORY, dtype=np.int64)
        order = np.argsort(values, kind="stable")  # later (larger) values overwrite smaller
        best[self.pair_item[order]] = values[order]
        out[self.pair_item[order]] = self.pair_territory[order]
        out[best < min_share] = NO_TERRITORY
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


@dataclass(frozen=True)
class Band:
    """One per-territory row group: ``lo_k <= Σ_i a_ik x_ik <= hi_k``.

    ``a_ik`` is ``weight_i`` (the item's attribute value), except for the pairs the pair
    table gives a load of ``attribute`` (:meth:`Scenario.pair_load`); read it through
    :meth:`RowLayout.band_entries` / :meth:`RowLayout.band_block`.
    """

    name: str
    weight: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    penalty: float | None  # soft rule: cost per unit outside; None: hard
    scale: np.ndarray  # per row, to compare violations of different units
    attribute: str | None = None  # the attribute whose (pair) loads the rows sum


@dataclass(frozen=True, eq=False)
class RowLayout:
    """Where each rule's rows are, and a pair column's entries in them.

    Rows: ``n_items`` assignment rows, then ``n_territories`` rows per band, then the
    disruption-cap row if there is one. Shared by the model builder and column generation,
    which adds pair columns to a model and prices pairs against the rows' duals.
    """

    scenario: Scenario
    bands: tuple[Band, ...]
    cap_weight: np.ndarray | None  # disruption cap: weight of each item that stays
    cap_floor: float

    def band_rows(self, g: int) -> slice:
        """Rows of band ``g`` (row k of it is territory k)."""
        start = self.scenario.n_items + g * self.scenario.n_territories
        return slice(start, start + self.scenario.n_territories)

    @property
    def cap_row(self) -> int | None:
        """Index of the disruption-cap row, if any."""
        if self.cap_weight is None:
            return None
        return self.scenario.n_items + len(self.bands) * self.scenario.n_territories

    @property
    def n_rows(self) -> int:
        """Rows the pair columns touch."""
        return (self.scenario.n_items + len(self.bands) * self.scenario.n_territories
                + (self.cap_weight is not None))

    def band_entries(self, band: Band, item: np.ndarray, territory: np.ndarray) -> np.ndarray:
        """``a_ik`` of ``band`` for each pair (elementwise)."""
        if band.attribute is not None and self.scenario.has_pair_loads(band.attribute):
            return self.scenario.pair_load(band.attribute, item, territory)
        return np.asarray(band.weight[item])

    def band_block(self, band: Band, items: np.ndarray) -> np.ndarray:
        """``a_ik`` of ``band`` for ``items`` × every territory (dense per block)."""
        if band.attribute is not None and self.scenario.has_pair_loads(band.attribute):
            return self.scenario.load_block(band.attribute, items)
        return np.broadcast_to(band.weight[items][:, None],
                               (len(items), self.scenario.n_territories))

    def entries(self, item: np.ndarray, territory: np.ndarray, first_col: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """COO ``(rows, cols, values)`` of pair columns ``first_col, first_col + 1, ...``."""
        cols = first_col + np.arange(len(item))
        rows, out_cols, vals = [item], [cols], [np.ones(len(item))]
        for g, band in enumerate(self.bands):
            rows.append(self.band_rows(g).start + territory)
            out_cols.append(cols)
            vals.append(self.band_entries(band, item, territory))
        if self.cap_weight is not None and self.cap_row is not None:
            stays = self.scenario.current[item] == territory
            rows.append(np.full(int(stays.sum()), self.cap_row))
            out_cols.append(cols[stays])
            vals.append(self.cap_weight[item[stays]])
        return np.concatenate(rows), np.concatenate(out_cols), np.concatenate(vals)

    def dual_terms(self, duals: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``Σ_r a_r(i,k) · duals_r`` over the band and cap rows, for ``items`` × territories."""
        out = np.zeros((len(items), self.scenario.n_territories))
        for g, band in enumerate(self.bands):
            out += self.band_block(band, items) * duals[self.band_rows(g)][None, :]
        if self.cap_weight is not None and self.cap_row is not None:
            current = self.scenario.current[items]
            has = np.flatnonzero(current != NO_TERRITORY)
            out[has, current[has]] += self.cap_weight[items[has]] * duals[self.cap_row]
        return out


def row_layout(scenario: Scenario) -> RowLayout:
    """The rows of the alignment model of ``scenario`` (see the module docstring)."""
    rules = scenario.spec.rules
    m = scenario.n_territories
    bands = []
    for rule in rules.balance:
        if rule.level is not None:  # per-level rules: hierarchy_rules
            continue
        target = scenario.targets(rule.attribute)
        # Hard rows allow the rule checker's slack, no more and no less (tolerance.py); a soft
        # band's penalty counts from the band itself, as the evaluator's objective does.
        give = band_slack(target) if rule.hard else 0.0
        bands.append(Band(f"balance {rule.attribute}", scenario.attributes[rule.attribute],
                          (1 - rule.tolerance) * target - give,
                          (1 + rule.tolerance) * target + give,
                          None if rule.hard else rule.penalty, np.maximum(target, 1e-9),
                          rule.attribute))
    for name, cap in scenario.capacity.items():
        bands.append(Band(f"capacity {name}", scenario.attributes[name], np.full(m, -np.inf),
                          capacity_limit(cap), None,
                          np.maximum(np.where(np.isfinite(cap), cap, 1.0), 1e-9), name))
    cap_rule = rules.disruption
    if cap_rule is None or not scenario.has_current:
        return RowLayout(scenario, tuple(bands), None, 0.0)
    weight = scenario.item_weight(cap_rule.attribute)
    # moved = W_cur - Σ_{stay pairs} w x  <=  share × W   <=>   Σ w x >= W_cur - share × W
    floor = float(weight[scenario.current != NO_TERRITORY].sum()
                  - share_limit(cap_rule.max_share) * weight.sum())
    return RowLayout(scenario, tuple(bands), weight, floor)


def build_alignment(
    scenario: Scenario,
    pairs: PairSet | None = None,
    *,
    elastic: bool = False,
    soften: float | None = None,
    grouped: bool = True,
) -> AlignmentModel:
    """Formulate the scenario as a :class:`LinearModel`.

    Parameters
    ----------
    scenario
        The validated scenario.
    pairs
        The pairs to offer; default every allowed pair.
    elastic
        Diagnosis mode: every balance, capacity and disruption-cap row gets slacks, the pair
        costs are dropped, and the objective is the total violation, each slack divided by its
        row's scale (target, capacity or total) so rules of different units compare.
    soften
        Give hard band rows slacks too, at this cost per unit of relative violation, so a model
        over too few pairs stays feasible (column generation's restricted LPs).
    grouped
        Add the rows of the account groups (:mod:`territory_opt.alignment.group_rules`) after
        the layout's rows; False leaves them out (a relaxation: column generation's LPs).
    """
    if pairs is None:
        pairs = all_pairs(scenario)
    layout = row_layout(scenario)
    pair_item, pair_territory = pairs.item, pairs.territory
    n_pairs = len(pair_item)
    m = scenario.n_territories

    def slack_cost(band: Band) -> np.ndarray | None:
        if elastic:  # diagnosis: a hard rule gives at a price, a soft one for free
            return ELASTIC_PRICE / band.scale if band.penalty is None else np.zeros(m)
        if band.penalty is not None:
            return np.full(m, band.penalty)
        return soften / band.scale if soften is not None else None

    costs = [slack_cost(band) for band in layout.bands]
    has_cap_row = layout.cap_weight is not None
    cap_slack = has_cap_row and (elastic or soften is not None)
    n_slack = 2 * m * sum(cost is not None for cost in costs) + 2 * cap_slack
    n_cols = n_pairs + n_slack

    c = np.zeros(n_cols)
    if not elastic:
        c[:n_pairs] = pair_costs(scenario, pair_item, pair_territory)
    r, cols, vals = layout.entries(pair_item, pair_territory, 0)
    rows_r, rows_c, rows_v = [r], [cols], [vals]
    row_lo = [np.ones(scenario.n_items)]
    row_hi = [np.ones(scenario.n_items)]
    groups = [RowGroup("assign", 0, scenario.n_items)]
    blocks: list[ElasticBlock] = []
    next_slack = n_pairs
    for g, (band, cost) in enumerate(zip(layout.bands, costs, strict=True)):
        rows = layout.band_rows(g)
        groups.append(RowGroup(band.name, rows.start, rows.stop))
        row_lo.append(band.lo)
        row_hi.append(band.hi)
        if cost is None:
            continue
        below = next_slack + 2 * np.arange(m)
        rows_r += [rows.start + np.arange(m), rows.start + np.arange(m)]
        rows_c += [below, below + 1]
        rows_v += [np.ones(m), -np.ones(m)]
        c[below] = cost
        c[below + 1] = cost
        blocks.append(ElasticBlock(band.name, next_slack, next_slack + 2 * m, band.scale,
                                   hard=band.penalty is None))
        next_slack += 2 * m
    if has_cap_row and layout.cap_row is not None:
        groups.append(RowGroup("disruption cap", layout.cap_row, layout.cap_row + 1))
        row_lo.append(np.array([layout.cap_floor]))
        row_hi.append(np.array([np.inf]))
        if cap_slack:
            assert layout.cap_weight is not None
            cap_scale = np.array([max(float(layout.cap_weight.sum()), 1e-9)])
            rows_r.append(np.array([layout.cap_row]))
            rows_c.append(np.array([next_slack]))
            rows_v.append(np.ones(1))
            c[next_slack] = (ELASTIC_PRICE if elastic else float(soften or 0.0)) / cap_scale[0]
            blocks.append(ElasticBlock("disruption cap", next_slack, next_slack + 2, cap_scale,
                                       hard=True))
            next_slack += 2

    extra = group_rows(scenario.groups if grouped else None, pair_item, pair_territory, m,
                       layout.n_rows)
    rows_r.append(extra.rows)
    rows_c.append(extra.cols)
    rows_v.append(extra.vals)
    row_lo.append(extra.lo)
    row_hi.append(extra.hi)
    levels = hierarchy_rows(scenario if grouped else None, pair_item, pair_territory,
                            layout.n_rows + len(extra.lo), n_cols, elastic=elastic, soften=soften)
    level_r, level_c, level_v = levels.coo()
    level_lo, level_hi = levels.bounds()
    rows_r.append(level_r)
    rows_c.append(level_c)
    rows_v.append(level_v)
    row_lo.append(level_lo)
    row_hi.append(level_hi)
    blocks += [ElasticBlock(b.group, b.start, b.stop, b.scale, hard=b.hard)
               for b in levels.blocks]
    c = np.concatenate([c, np.asarray(levels.c, dtype=float)])
    groups_of_rows = (*groups, *extra.groups, *levels.groups)
    a = sp.csr_array((np.concatenate(rows_v), (np.concatenate(rows_r), np.concatenate(rows_c))),
                     shape=(layout.n_rows + len(extra.lo) + len(level_lo), n_cols + levels.n_cols))
    integer = np.zeros(n_cols, dtype=bool)
    integer[:n_pairs] = True
    integer = np.concatenate([integer, np.asarray(levels.integer, dtype=bool)])
    ub = np.concatenate([np.ones(n_pairs), np.full(n_slack, np.inf),
                         np.asarray(levels.ub, dtype=float)])
    for block in blocks:
        if block.group == "disruption cap":
            ub[block.start + 1] = 0.0  # a one-sided row: its "above" slack is in no row
    linear = LinearModel(
        c=c,
        offset=0.0,
        lb=np.concatenate([np.zeros(n_cols), np.asarray(levels.lb, dtype=float)]),
        ub=ub,
        integer=integer,
        a=a,
        row_lo=np.concatenate(row_lo),
        row_hi=np.concatenate(row_hi),
        row_groups=groups_of_rows,
    )
    return AlignmentModel(scenario, pair_item, pair_territory, linear, tuple(blocks), pairs,
                          layout, levels.joint)
