"""Hierarchies above the territories (``territories.levels``): territory → district → region …

Each level is a column of the territories table naming every territory's parent at that level;
the parents form a tree (a district lies in one region). The scenario keeps them as
:class:`Hierarchy`: per level, the parent node of each territory, the node names, and each
node's parent node at the next level. Per-level balance rules (``rules.balance[].level``) band
each node's load around its target (the sum of its territories' FTE-share targets);
``rules.same_parent`` keeps items within their current territory's parent at a level, or caps
or prices the moves across. The evaluator, the exact model and ``validate`` all read them from
here (:func:`level_bands`, :func:`crossing`).

In the joint design (``hierarchy.design: joint``) the solver chooses each territory's parent at
the lowest level; the levels above follow the table's tree (:meth:`Hierarchy.with_parents`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from territory_opt.errors import Problem
from territory_opt.scenario.columns import text_column
from territory_opt.scenario.schema import BalanceRule, ScenarioSpec
from territory_opt.scenario.tables import row_label
from territory_opt.tolerance import band_slack

NO_TERRITORY = -1  # as territory_opt.scenario.model.NO_TERRITORY (which imports this module)


@dataclass(frozen=True, eq=False)
class Level:
    """One level: ``parent`` is each territory's node index, ``nodes`` the node names, ``up``
    each node's node index at the next level (None at the top)."""

    name: str
    column: str
    parent: np.ndarray
    nodes: np.ndarray
    up: np.ndarray | None = None

    @property
    def n_nodes(self) -> int:
        """Number of parents at this level."""
        return len(self.nodes)

    def loads(self, territory_loads: np.ndarray) -> np.ndarray:
        """Per node: the sum of its territories' loads."""
        return np.bincount(self.parent, weights=territory_loads, minlength=self.n_nodes)


@dataclass(frozen=True, eq=False)
class Hierarchy:
    """The levels, lowest first, and the design (``fixed`` or ``joint``)."""

    levels: tuple[Level, ...]
    design: str = "fixed"

    def level(self, name: str) -> Level:
        """The level called ``name``."""
        for level in self.levels:
            if level.name == name:
                return level
        raise KeyError(name)

    def index(self, name: str) -> int:
        """Position of level ``name`` (0: the lowest)."""
        return [level.name for level in self.levels].index(name)

    def ancestors(self, lowest: np.ndarray, upto: int) -> np.ndarray:
        """Node at level ``upto`` of each lowest-level node index in ``lowest``."""
        out = np.asarray(lowest, dtype=np.int64)
        for level in self.levels[:upto]:
            assert level.up is not None
            out = level.up[out]
        return out

    def with_parents(self, lowest: np.ndarray) -> Hierarchy:
        """This hierarchy with each territory's lowest-level parent ``lowest`` (node indices);
        the levels above follow the tree."""
        levels = [Level(level.name, level.column, self.ancestors(lowest, n), level.nodes,
                        level.up) for n, level in enumerate(self.levels)]
        return Hierarchy(tuple(levels), self.design)

    def as_dict(self, territory_ids: np.ndarray) -> dict[str, dict[str, str]]:
        """``{level: {territory id: parent}}`` (``plan.json``)."""
        return {level.name: {str(t): str(level.nodes[p])
                             for t, p in zip(territory_ids, level.parent, strict=True)}
                for level in self.levels}

    def stays(self, spec: ScenarioSpec, current: np.ndarray, territory: np.ndarray
              ) -> np.ndarray:
        """Elementwise: may an item whose current territory is ``current`` go to
        ``territory`` under ``rules.same_parent`` (stay within the parent)? True without the
        rule, or for items without a current territory."""
        level = stay_level(spec)
        current = np.asarray(current)
        if level is None:
            return np.ones(np.broadcast_shapes(current.shape, np.shape(territory)), dtype=bool)
        parent = self.level(level).parent
        has = current != NO_TERRITORY
        return np.asarray(~has | (parent[np.where(has, current, 0)] == parent[territory]))

    def stay_block(self, spec: ScenarioSpec, current: np.ndarray) -> np.ndarray:
        """:meth:`stays` of items with ``current`` × every territory."""
        m = len(self.levels[0].parent)
        return self.stays(spec, np.asarray(current)[:, None], np.arange(m)[None, :])

    def from_dict(self, parents: dict[str, dict[str, str]], territory_ids: np.ndarray
                  ) -> Hierarchy:
        """This hierarchy with the lowest level's parents read from :meth:`as_dict` output
        (a plan of the joint design); unknown names keep the table's parent."""
        lowest = self.levels[0]
        given = parents.get(lowest.name, {})
        index = {str(name): p for p, name in enumerate(lowest.nodes)}
        chosen = np.asarray([index.get(str(given.get(str(t), "")), lowest.parent[k])
                             for k, t in enumerate(territory_ids)], dtype=np.int64)
        return self.with_parents(chosen)


@dataclass(frozen=True)
class LevelBand:
    """A balance rule at a level: per node its load, target and band ``[lo, hi]``."""

    rule: BalanceRule
    level: Level
    load: np.ndarray
    target: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @property
    def label(self) -> str:
        """How messages name the rule, e.g. ``balance workload ±3% per district``."""
        return (f"balance {self.rule.attribute} ±{self.rule.tolerance * 100:g}% per "
                f"{self.level.name}")

    def excess(self) -> np.ndarray:
        """Units outside the band per node (>= 0)."""
        return np.asarray(np.maximum(self.lo - self.load, 0) + np.maximum(self.load - self.hi, 0))

    def outside(self) -> np.ndarray:
        """Nodes outside their band by more than the rule checker's slack."""
        slack = band_slack(self.target)
        return np.flatnonzero((self.load < self.lo - slack) | (self.load > self.hi + slack))

    def message(self, p: int) -> str:
        """``workload 1,234.00 outside [1,164.00, 1,236.00] (±3% of target 1,200.00), ...``
        (the evaluator's violation names the parent: ``district D2``)."""
        attribute = self.rule.attribute
        side, amount = (("below", self.lo[p] - self.load[p]) if self.load[p] < self.lo[p]
                        else ("above", self.load[p] - self.hi[p]))
        return (f"{attribute} {self.load[p]:,.2f} outside [{self.lo[p]:,.2f}, {self.hi[p]:,.2f}] "
                f"(±{self.rule.tolerance * 100:g}% of target {self.target[p]:,.2f}), "
                f"{amount:,.2f} {side}")


def level_rules(spec: ScenarioSpec) -> list[BalanceRule]:
    """The balance rules with a ``level``."""
    return [rule for rule in spec.rules.balance if rule.level is not None]


def level_bands(hierarchy: Hierarchy, spec: ScenarioSpec, territory_loads: dict[str, np.ndarray],
                territory_targets: dict[str, np.ndarray]) -> list[LevelBand]:
    """Every per-level balance rule evaluated on per-territory loads and targets (by
    attribute)."""
    out = []
    for rule in level_rules(spec):
        assert rule.level is not None
        level = hierarchy.level(rule.level)
        target = level.loads(territory_targets[rule.attribute])
        out.append(LevelBand(rule, level, level.loads(territory_loads[rule.attribute]), target,
                             (1 - rule.tolerance) * target, (1 + rule.tolerance) * target))
    return out


def crossing(hierarchy: Hierarchy, level: str, current: np.ndarray, item: np.ndarray,
             territory: np.ndarray) -> np.ndarray:
    """Elementwise: does putting ``item`` in ``territory`` move it to another parent at
    ``level`` than its current territory's? (False for items without a current territory.)"""
    parent = hierarchy.level(level).parent
    cur = current[item]
    has = cur != NO_TERRITORY
    return np.asarray(has & (parent[np.where(has, cur, 0)] != parent[territory]))


def stay_level(spec: ScenarioSpec) -> str | None:
    """The level items must stay within (``rules.same_parent`` without a cap or price)."""
    rule = spec.rules.same_parent
    if rule is None or rule.max_moves is not None or rule.price is not None:
        return None
    return rule.level


def read_hierarchy(spec: ScenarioSpec, frame: pd.DataFrame, path: Path, problems: list[Problem]
                   ) -> Hierarchy | None:
    """The levels of ``territories.levels`` from the territories ``frame``; problems appended
    (a territory without a parent, a parent in two parents of the next level)."""
    columns = spec.territories.level_columns()
    if not columns or any(c not in frame.columns for c in columns.values()):
        return None  # missing columns are reported with the others (territory_columns)
    levels: list[Level] = []
    for name, column in columns.items():
        values = text_column(frame, column)
        empty = np.flatnonzero(values == "")
        if len(empty):
            problems.append(Problem(row_label(path, empty), column, "no parent",
                                    f"each territory's {name} (territories.levels)"))
        codes, uniques = pd.factorize(values)
        levels.append(Level(name, column, np.asarray(codes, dtype=np.int64),
                            np.asarray(uniques, dtype=object)))
    for n in range(len(levels) - 1):
        low, high = levels[n], levels[n + 1]
        up = np.full(low.n_nodes, -1, dtype=np.int64)
        for p in range(low.n_nodes):
            above = np.unique(high.parent[low.parent == p])
            if len(above) > 1:
                rows = np.flatnonzero(low.parent == p)
                problems.append(Problem(
                    row_label(path, rows), high.column,
                    f"{low.name} {low.nodes[p]} in {len(above)} {high.name}s "
                    f"({', '.join(str(high.nodes[q]) for q in above)})",
                    f"one {high.name} per {low.name} (the levels form a tree)"))
            up[p] = above[0] if len(above) else -1
        levels[n] = Level(low.name, low.column, low.parent, low.nodes, up)
    design = spec.hierarchy.design if spec.hierarchy is not None else "fixed"
    return Hierarchy(tuple(levels), design)
