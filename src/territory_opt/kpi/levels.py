"""KPIs per level of a hierarchy (``territories.levels``): the per-level balance rules, the
same-parent rule, and a table per level (parent, territories, load, target, deviation).

Pure functions of the scenario and per-territory loads (the evaluator's territory table), so
the evaluator, the reports and the exports roll up the same numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from territory_opt.scenario.hierarchy import LevelBand, crossing, level_bands
from territory_opt.scenario.model import NO_TERRITORY, Scenario


def bands(scenario: Scenario, loads: dict[str, np.ndarray]) -> list[LevelBand]:
    """The per-level balance rules on per-territory ``loads`` (by attribute)."""
    if scenario.hierarchy is None:
        return []
    targets = {name: scenario.targets(name) for name in loads}
    return level_bands(scenario.hierarchy, scenario.spec, loads, targets)


def level_penalty(scenario: Scenario, loads: dict[str, np.ndarray]) -> float:
    """Objective cost of the soft per-level rules: penalty × units outside each band."""
    return float(sum(b.rule.penalty * float(b.excess().sum()) for b in bands(scenario, loads)
                     if not b.rule.hard))


def crossed(scenario: Scenario, assignment: np.ndarray) -> np.ndarray:
    """Items moved to a territory of another parent at ``rules.same_parent.level``."""
    rule = scenario.spec.rules.same_parent
    if rule is None or scenario.hierarchy is None:
        return np.zeros(scenario.n_items, dtype=bool)
    placed = assignment != NO_TERRITORY
    return np.asarray(placed & crossing(scenario.hierarchy, rule.level, scenario.current,
                                        np.arange(scenario.n_items), np.maximum(assignment, 0)))


def crossing_cost(scenario: Scenario, assignment: np.ndarray) -> float:
    """``rules.same_parent.price`` × items moved across (part of the disruption term)."""
    rule = scenario.spec.rules.same_parent
    if rule is None or rule.price is None:
        return 0.0
    return float(rule.price * crossed(scenario, assignment).sum())


def level_violations(scenario: Scenario, assignment: np.ndarray, loads: dict[str, np.ndarray]
                     ) -> list[tuple[str, str, float, str, bool]]:
    """``(rule, where, amount, message, hard)`` per broken per-level band and same-parent
    cap (max_moves: the plan)."""
    out = []
    for band in bands(scenario, loads):
        for p in band.outside():
            excess = float(band.excess()[p])
            out.append((band.label, f"{band.level.name} {band.level.nodes[p]}", excess,
                        band.message(p), band.rule.hard))
    rule = scenario.spec.rules.same_parent
    if rule is None or scenario.hierarchy is None or rule.price is not None:
        return out
    moved = crossed(scenario, assignment)
    if rule.max_moves is not None:
        n = int(moved.sum())
        if n > rule.max_moves:
            out.append((f"same_parent {rule.level} max_moves {rule.max_moves}", "plan",
                        float(n - rule.max_moves), f"{n} items move to another {rule.level}, "
                        f"{n - rule.max_moves} over the cap of {rule.max_moves}", True))
        return out
    # stay (neither cap nor price): the allowed pairs hold it; the evaluator names an item that
    # crosses like any other pair it may not take (``_why_not_allowed``)
    return out


def level_metrics(scenario: Scenario, loads: dict[str, np.ndarray],
                  assignment: np.ndarray) -> dict[str, float]:
    """Per level and attribute: ``<level>_<attribute>_max_abs_dev_pct``; with same_parent,
    ``moved_across_<level>``."""
    if scenario.hierarchy is None:
        return {}
    out: dict[str, float] = {}
    for level in scenario.hierarchy.levels:
        for name, load in loads.items():
            target = level.loads(scenario.targets(name))
            node = level.loads(load)
            with np.errstate(divide="ignore", invalid="ignore"):
                dev = np.where(target > 0, 100 * (node / target - 1), 0.0)
            out[f"{level.name}_{name}_max_abs_dev_pct"] = float(np.abs(dev).max())
    rule = scenario.spec.rules.same_parent
    if rule is not None:
        out[f"moved_across_{rule.level}"] = float(crossed(scenario, assignment).sum())
    return out


def level_frame(scenario: Scenario, territories: pd.DataFrame, level: str) -> pd.DataFrame:
    """One row per parent at ``level``: ``<level>``, ``territories``, ``fte``, then per
    attribute its load, target and deviation % (from the evaluator's territory table)."""
    assert scenario.hierarchy is not None
    lv = scenario.hierarchy.level(level)
    frame = pd.DataFrame({
        level: lv.nodes,
        "territories": np.bincount(lv.parent, minlength=lv.n_nodes),
        "fte": lv.loads(scenario.fte),
        "items": lv.loads(territories["items"].to_numpy(dtype=float)),
    })
    for name in scenario.attributes:
        load = lv.loads(territories[name].to_numpy(dtype=float))
        target = lv.loads(scenario.targets(name))
        frame[name] = load
        frame[f"{name}_target"] = target
        with np.errstate(divide="ignore", invalid="ignore"):
            frame[f"{name}_dev_pct"] = np.where(target > 0, 100 * (load / target - 1), 0.0)
    return frame


def level_frames(scenario: Scenario, territories: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """:func:`level_frame` of every level (none without a hierarchy)."""
    if scenario.hierarchy is None:
        return {}
    return {lv.name: level_frame(scenario, territories, lv.name)
            for lv in scenario.hierarchy.levels}
