"""Hierarchy rules in the exact model (``territories.levels``): rows and columns after the
account groups' rows.

Fixed design (the table's parents):

* ``level <name> balance <attr>``: per parent ``p``, ``lo_p <= Σ_{k in p} Σ_i a_ik x_ik <= hi_p``
  with ``target_p = Σ_{k in p} target_k``; a soft rule's row is elastic, its slacks cost the
  rule's penalty per unit (as the evaluator's objective counts it);
* ``same_parent <level> max_moves``: ``Σ x_ik <= N`` over the pairs that move an item to
  another parent (``same_parent`` without a cap or price removes those pairs from the allowed
  ones instead, :meth:`Scenario.is_allowed`; a price is in the pair costs,
  :func:`territory_opt.alignment.pairs.pair_costs`).

Joint design (``hierarchy.design: joint``): binary ``y[k,p]`` per territory ``k`` and
lowest-level parent ``p`` with ``Σ_p y[k,p] = 1`` and ``Σ_k y[k,p] >= 1`` (each parent keeps a
territory, so the table's parents are a feasible point and the joint optimum is at most the
fixed one); per attribute of a level rule, ``u[k,p] = y[k,p] · load_k`` by McCormick rows
(exact for binary ``y`` given bounds ``L_k <= load_k <= U_k``); a level-``j`` node ``q``'s load
is ``Σ_{p under q} Σ_k u[k,p]`` and its target ``Σ_{p under q} Σ_k target_k y[k,p]``, so each
band is two rows linear in ``(u, y)``: ``load - (1+τ)·target <= 0`` and
``load - (1-τ)·target >= 0`` (slacks for soft rules).

Column generation's LP leaves these rows out (``grouped=False``: a relaxation, its bound stays
valid); the final restricted MIPs and the whole-model MIP hold them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from territory_opt.backends.linear import RowGroup
from territory_opt.scenario.hierarchy import Hierarchy, crossing, level_rules
from territory_opt.scenario.model import Scenario
from territory_opt.tolerance import RULE_TOLERANCE, band_slack

ELASTIC_PRICE = 1e3  # as territory_opt.alignment.formulation.ELASTIC_PRICE (which imports this)


@dataclass(frozen=True)
class SlackBlock:
    """Slack columns ``start:stop`` (below, above per row) of row group ``group``."""

    group: str
    start: int
    stop: int
    scale: np.ndarray
    hard: bool


@dataclass
class HierarchyRows:
    """COO entries, row bounds and groups of the hierarchy rules, and the columns they add
    (costs, bounds, integrality) after ``first_col``."""

    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)
    vals: list[np.ndarray] = field(default_factory=list)
    lo: list[np.ndarray] = field(default_factory=list)
    hi: list[np.ndarray] = field(default_factory=list)
    groups: list[RowGroup] = field(default_factory=list)
    c: list[float] = field(default_factory=list)
    lb: list[float] = field(default_factory=list)
    ub: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    blocks: list[SlackBlock] = field(default_factory=list)
    joint: tuple[int, int] | None = None  # columns of y (territory-major: k * n_nodes + p)
    first_row: int = 0
    first_col: int = 0

    @property
    def n_rows(self) -> int:
        return int(sum(len(x) for x in self.lo))

    @property
    def n_cols(self) -> int:
        return len(self.c)

    def add_cols(self, n: int, cost: float | np.ndarray = 0.0, lb: float | np.ndarray = 0.0,
                 ub: float | np.ndarray = np.inf, integer: bool = False) -> np.ndarray:
        start = self.first_col + self.n_cols
        self.c += list(np.broadcast_to(np.asarray(cost, dtype=float), (n,)))
        self.lb += [float(v) for v in np.broadcast_to(np.asarray(lb, dtype=float), (n,))]
        self.ub += [float(v) for v in np.broadcast_to(np.asarray(ub, dtype=float), (n,))]
        self.integer += [integer] * n
        return start + np.arange(n)

    def add_rows(self, name: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        start = self.first_row + self.n_rows
        self.lo.append(np.asarray(lo, dtype=float))
        self.hi.append(np.asarray(hi, dtype=float))
        self.groups.append(RowGroup(name, start, start + len(lo)))
        return start + np.arange(len(lo))

    def entry(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray | float) -> None:
        rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
        self.rows.append(rows)
        self.cols.append(cols)
        self.vals.append(np.broadcast_to(np.asarray(vals, dtype=float), rows.shape).copy())

    def slacks(self, name: str, rows: np.ndarray, cost: np.ndarray | None, scale: np.ndarray,
               hard: bool, sides: tuple[bool, bool] = (True, True)) -> None:
        """Below/above slack per row (interleaved), at ``cost`` per unit; none when None.
        ``sides`` says which of the two a row may use (the other is fixed at 0)."""
        if cost is None:
            return
        cols = self.add_cols(2 * len(rows), np.repeat(cost, 2))
        below, above = cols[0::2], cols[1::2]
        self.entry(rows, below, 1.0)
        self.entry(rows, above, -1.0)
        for side, which in zip(sides, (below, above), strict=True):
            if not side:
                for col in which:
                    self.ub[col - self.first_col] = 0.0
        self.blocks.append(SlackBlock(name, int(cols[0]), int(cols[-1]) + 1, scale, hard))

    def coo(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)
        return cat(self.rows, np.int64), cat(self.cols, np.int64), cat(self.vals, float)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0)
        return cat(self.lo), cat(self.hi)


def pair_loads(scenario: Scenario, attribute: str, item: np.ndarray, territory: np.ndarray
               ) -> np.ndarray:
    """``a_ik`` of ``attribute`` for each pair (the pair table's load where it lists one)."""
    if scenario.has_pair_loads(attribute):
        return scenario.pair_load(attribute, item, territory)
    return np.asarray(scenario.attributes[attribute][item], dtype=float)


def hierarchy_rows(scenario: Scenario | None, pair_item: np.ndarray, pair_territory: np.ndarray,
                   first_row: int, first_col: int, *, elastic: bool = False,
                   soften: float | None = None) -> HierarchyRows:
    """The rows and columns of the hierarchy rules of ``scenario`` (None: none) over the pair
    columns ``0..len(pair_item)-1``; rows from ``first_row``, new columns from ``first_col``."""
    out = HierarchyRows(first_row=first_row, first_col=first_col)
    if scenario is None or scenario.hierarchy is None:
        return out
    hierarchy = scenario.hierarchy

    def slack_cost(penalty: float | None, scale: np.ndarray) -> np.ndarray | None:
        if elastic:  # diagnosis: a hard rule gives at a price, a soft one for free
            return ELASTIC_PRICE / scale if penalty is None else np.zeros(len(scale))
        if penalty is not None:
            return np.full(len(scale), penalty)
        return soften / scale if soften is not None else None

    if hierarchy.design == "joint":
        _joint_rows(out, scenario, hierarchy, pair_item, pair_territory, slack_cost)
    else:
        for rule in level_rules(scenario.spec):
            assert rule.level is not None
            level = hierarchy.level(rule.level)
            target = level.loads(scenario.targets(rule.attribute))
            give = band_slack(target) if rule.hard else 0.0
            name = f"level {level.name} balance {rule.attribute}"
            rows = out.add_rows(name, (1 - rule.tolerance) * target - give,
                                (1 + rule.tolerance) * target + give)
            out.entry(rows[level.parent[pair_territory]], np.arange(len(pair_item)),
                      pair_loads(scenario, rule.attribute, pair_item, pair_territory))
            scale = np.maximum(target, 1e-9)
            out.slacks(name, rows, slack_cost(None if rule.hard else rule.penalty, scale),
                       scale, rule.hard)
    same = scenario.spec.rules.same_parent
    if same is not None and same.max_moves is not None:
        name = f"same_parent {same.level} max_moves"
        cross = np.flatnonzero(crossing(hierarchy, same.level, scenario.current, pair_item,
                                        pair_territory))
        row = out.add_rows(name, np.array([-np.inf]),
                           np.array([same.max_moves + RULE_TOLERANCE]))
        out.entry(np.full(len(cross), row[0]), cross, 1.0)
        scale = np.array([max(float(same.max_moves), 1.0)])
        # only the "above" slack can help a <= row
        out.slacks(name, row, slack_cost(None, scale), scale, True, sides=(False, True))
    return out


def _joint_rows(out: HierarchyRows, scenario: Scenario, hierarchy: Hierarchy,
                pair_item: np.ndarray, pair_territory: np.ndarray, slack_cost: object) -> None:
    """The joint design's columns and rows (module docstring)."""
    assert callable(slack_cost)
    m = scenario.n_territories
    lowest = hierarchy.levels[0]
    n_p = lowest.n_nodes
    y = out.add_cols(m * n_p, 0.0, 0.0, 1.0, integer=True).reshape(m, n_p)
    # Σ_p y[k,p] = 1 per territory; Σ_k y[k,p] >= 1 per parent
    rows = out.add_rows(f"level {lowest.name} membership", np.ones(m), np.ones(m))
    out.entry(np.repeat(rows, n_p), y.reshape(-1), 1.0)
    rows = out.add_rows(f"level {lowest.name} nonempty", np.ones(n_p), np.full(n_p, np.inf))
    out.entry(np.tile(rows, m), y.reshape(-1), 1.0)
    u_of: dict[str, np.ndarray] = {}
    for rule in level_rules(scenario.spec):
        attribute = rule.attribute
        if attribute in u_of:
            continue
        a = pair_loads(scenario, attribute, pair_item, pair_territory)
        low = np.bincount(pair_territory, weights=np.minimum(a, 0), minlength=m)
        high = np.bincount(pair_territory, weights=np.maximum(a, 0), minlength=m)
        u = out.add_cols(m * n_p, 0.0, np.repeat(low, n_p), np.repeat(high, n_p)
                         ).reshape(m, n_p)
        u_of[attribute] = u
        # McCormick for u = y · load with L <= load <= U and binary y:
        # u <= U y;  u >= L y;  u >= load - U (1 - y);  u <= load - L (1 - y).
        k_of = np.repeat(np.arange(m), n_p)
        uu, yy = u.reshape(-1), y.reshape(-1)
        lo_k, hi_k = low[k_of], high[k_of]
        r = out.add_rows(f"joint {attribute} u<=Uy", np.full(m * n_p, -np.inf), np.zeros(m * n_p))
        out.entry(r, uu, 1.0)
        out.entry(r, yy, -hi_k)
        r = out.add_rows(f"joint {attribute} u>=Ly", np.zeros(m * n_p), np.full(m * n_p, np.inf))
        out.entry(r, uu, 1.0)
        out.entry(r, yy, -lo_k)
        # u >= load - U (1 - y)  <=>  u - load - U y >= -U
        r = out.add_rows(f"joint {attribute} u>=load-U(1-y)", -hi_k, np.full(m * n_p, np.inf))
        out.entry(r, uu, 1.0)
        out.entry(r, yy, -hi_k)
        _load_entries(out, r, pair_item, pair_territory, a, n_p, -1.0)
        # u <= load - L (1 - y)  <=>  u - load - L y <= -L
        r = out.add_rows(f"joint {attribute} u<=load-L(1-y)", np.full(m * n_p, -np.inf), -lo_k)
        out.entry(r, uu, 1.0)
        out.entry(r, yy, -lo_k)
        _load_entries(out, r, pair_item, pair_territory, a, n_p, -1.0)
    for rule in level_rules(scenario.spec):
        assert rule.level is not None
        j = hierarchy.index(rule.level)
        level = hierarchy.levels[j]
        node_of_p = hierarchy.ancestors(np.arange(n_p), j)  # level-j node of each parent p
        target_k = scenario.targets(rule.attribute)
        u = u_of[rule.attribute]
        n_q = level.n_nodes
        give = 0.0 if not rule.hard else float(band_slack(max(float(target_k.min()), 0.0)))
        name = f"level {level.name} balance {rule.attribute}"
        scale = np.maximum(level.loads(target_k), 1e-9)  # the table's targets: a unit to compare
        cost = slack_cost(None if rule.hard else rule.penalty, scale)
        for side, factor in (("hi", 1 + rule.tolerance), ("lo", 1 - rule.tolerance)):
            lo = np.full(n_q, -give) if side == "lo" else np.full(n_q, -np.inf)
            hi = np.full(n_q, give) if side == "hi" else np.full(n_q, np.inf)
            rows = out.add_rows(f"{name} {side}", lo, hi)
            kk, pp = np.meshgrid(np.arange(m), np.arange(n_p), indexing="ij")
            q = rows[node_of_p[pp.reshape(-1)]]
            out.entry(q, u.reshape(-1), 1.0)
            out.entry(q, y.reshape(-1), -factor * target_k[kk.reshape(-1)])
            out.slacks(f"{name} {side}", rows, cost, scale, rule.hard,
                       sides=(side == "lo", side == "hi"))
    out.joint = (int(y[0, 0]), int(y[-1, -1]) + 1)


def _load_entries(out: HierarchyRows, rows: np.ndarray, pair_item: np.ndarray,
                  pair_territory: np.ndarray, a: np.ndarray, n_p: int, sign: float) -> None:
    """``sign · load_k`` in each row ``(k, p)`` of ``rows`` (territory-major)."""
    for p in range(n_p):
        out.entry(rows[pair_territory * n_p + p], np.arange(len(pair_item)), sign * a)


def chosen_parents(x: np.ndarray, joint: tuple[int, int], n_territories: int) -> np.ndarray:
    """Each territory's lowest-level parent (node index) from a solution vector."""
    y = x[joint[0]:joint[1]].reshape(n_territories, -1)
    return np.asarray(np.argmax(y, axis=1), dtype=np.int64)
