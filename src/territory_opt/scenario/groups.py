"""Account groups (``rules.groups``) and lock states (``items.lock_state``) of an alignment.

``together`` and ``apart`` name item columns: the items sharing a non-empty value form a group
that must share one territory (a parent company, a buying group) or be spread over different
territories. ``at_most`` caps the items carrying a tag per territory (e.g. key accounts). The
lock-state column says per item: locked to its current territory, free, or must leave it.

The groups are read here into item-index arrays (:class:`GroupRules`); the scenario keeps them,
the exact model turns them into rows, the evaluator checks any plan against them
(:func:`broken_groups`) and ``validate`` looks for groups no plan can satisfy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from territory_opt.errors import Problem
from territory_opt.scenario.columns import text_column
from territory_opt.scenario.schema import ScenarioSpec
from territory_opt.scenario.tables import row_label

NO_TERRITORY = -1  # as territory_opt.scenario.model.NO_TERRITORY (which imports this module)

LOCK_STATES = {"locked": "locked", "married": "locked", "free": "free", "single": "free",
               "": "free", "leave": "leave", "divorced": "leave"}
"""Cell value (lower case) -> lock state."""

FALSE_CELLS = frozenset({"", "false", "no", "n", "0", "0.0", "nan"})
"""Tag cells that do not carry the tag (an ``at_most`` rule without ``value``)."""

MAX_NAMED = 5


@dataclass(frozen=True, eq=False)
class ItemGroup:
    """One group of one rule: ``rule`` is 'together', 'apart' or 'at_most'; ``column`` the
    items column (or tag name) and ``value`` the value its members share; ``members`` item
    indices; ``count`` the per-territory limit (at_most only)."""

    rule: str
    column: str
    value: str
    members: np.ndarray
    count: int = 1

    @property
    def label(self) -> str:
        """How messages name the group, e.g. ``together parent_id=ACME``."""
        if self.rule == "at_most":
            return f"at most {self.count} {self.column}" + (
                f"={self.value}" if self.value else "") + " per territory"
        return f"{self.rule} {self.column}={self.value}"

    @property
    def limit(self) -> int:
        """Most members one territory may hold (apart: 1)."""
        return self.count if self.rule == "at_most" else 1


@dataclass(frozen=True, eq=False)
class GroupRules:
    """The non-trivial groups of each rule (a group of one, or an ``at_most`` group no larger
    than its count, constrains nothing and is left out)."""

    together: tuple[ItemGroup, ...] = ()
    apart: tuple[ItemGroup, ...] = ()
    at_most: tuple[ItemGroup, ...] = ()

    def all(self) -> tuple[ItemGroup, ...]:
        """Every group, rule by rule."""
        return self.together + self.apart + self.at_most

    def rules(self) -> list[str]:
        """Names of the rules in use (``groups.together`` ...), as :mod:`support` keys them."""
        return [f"groups.{name}" for name in ("together", "apart", "at_most")
                if getattr(self, name)]

    def only(self, group: ItemGroup) -> GroupRules:
        """These rules reduced to one group (for a diagnosis)."""
        return GroupRules(**{group.rule: (group,)})


@dataclass(frozen=True)
class Broken:
    """A group rule a plan breaks (the evaluator turns it into a hard violation)."""

    rule: str
    where: str
    amount: float
    message: str


def read_groups(spec: ScenarioSpec, frame: pd.DataFrame, path: Path,
                tags: dict[str, np.ndarray], problems: list[Problem],
                source: str = "scenario.yaml") -> GroupRules | None:
    """The groups of ``rules.groups`` from the items ``frame``; problems appended (a missing
    column, an undeclared tag)."""
    g = spec.rules.groups
    if g is None:
        return None
    out: dict[str, list[ItemGroup]] = {"together": [], "apart": [], "at_most": []}
    for rule in ("together", "apart"):
        for n, column in enumerate(getattr(g, rule)):
            if column not in frame.columns:
                problems.append(Problem(
                    f"{source}, at rules.groups.{rule}.{n}", rule,
                    f"column '{column}', which {path} does not have",
                    f"a column of the items table ({_columns(frame)})"))
                continue
            values = text_column(frame, column)
            codes, uniques = pd.factorize(values)
            for code, value in enumerate(uniques):
                members = np.flatnonzero(codes == code)
                if value != "" and len(members) > 1:
                    out[rule].append(ItemGroup(rule, column, str(value), members))
    for n, cap in enumerate(g.at_most):
        if cap.tag not in tags:
            problems.append(Problem(f"{source}, at rules.groups.at_most.{n}.tag", "tag",
                                    repr(cap.tag), f"one of the item tags {sorted(tags)}"))
            continue
        cells = tags[cap.tag]
        carries = (np.asarray([c == cap.value for c in cells], dtype=bool) if cap.value
                   is not None else np.asarray([str(c).lower() not in FALSE_CELLS
                                                for c in cells], dtype=bool))
        members = np.flatnonzero(carries)
        if len(members) > cap.count:
            out["at_most"].append(ItemGroup("at_most", cap.tag, cap.value or "", members,
                                            cap.count))
    return GroupRules(tuple(out["together"]), tuple(out["apart"]), tuple(out["at_most"]))


def read_lock_states(spec: ScenarioSpec, frame: pd.DataFrame, path: Path,
                     current: np.ndarray, lock: np.ndarray, problems: list[Problem]
                     ) -> np.ndarray | None:
    """Apply ``items.lock_state``: 'locked' items are locked to their current territory (in
    ``lock``, in place); returns the 'leave' mask (None without the column)."""
    column = spec.items.lock_state
    if column is None:
        return None
    if column not in frame.columns:
        return None  # reported with the other missing columns (item_columns)
    cells = [str(v).lower() for v in text_column(frame, column)]
    bad = [i for i, v in enumerate(cells) if v not in LOCK_STATES]
    if bad:
        problems.append(Problem(row_label(path, bad), column, f"lock state '{cells[bad[0]]}'",
                                "locked, free or leave (or married, single, divorced; empty "
                                "is free)"))
    state = np.asarray([LOCK_STATES.get(v, "free") for v in cells], dtype=object)
    no_current = [int(i) for i in np.flatnonzero(state != "free") if current[i] == NO_TERRITORY]
    if no_current:
        problems.append(Problem(row_label(path, no_current), column,
                                f"'{cells[no_current[0]]}' on an item without a current "
                                "territory", "a current territory (items.current) for a "
                                "locked or leaving item, or free"))
    locked = np.flatnonzero((state == "locked") & (current != NO_TERRITORY))
    clash = [int(i) for i in locked if lock[i] not in (NO_TERRITORY, current[i])]
    if clash:
        problems.append(Problem(row_label(path, clash), column, "'locked' (to the current "
                                "territory) on an item the lock column locks elsewhere",
                                "one lock per item"))
    lock[locked] = current[locked]
    leave = (state == "leave") & (current != NO_TERRITORY)
    stuck = [int(i) for i in np.flatnonzero(leave) if lock[i] == current[i]]
    if stuck:
        problems.append(Problem(row_label(path, stuck), column, "'leave' on an item locked to "
                                "its current territory", "locked or leave, not both"))
    return np.asarray(leave, dtype=bool)


def broken_groups(groups: GroupRules, assignment: np.ndarray, territory_ids: np.ndarray
                  ) -> list[Broken]:
    """Every group rule ``assignment`` breaks, with the group and the amounts."""
    out = []
    for group in groups.all():
        where = assignment[group.members]
        placed = where[where != NO_TERRITORY]
        ks, counts = np.unique(placed, return_counts=True)
        if group.rule == "together" and len(ks) > 1:
            split = ", ".join(f"{territory_ids[k]}: {c} item{'s' if c > 1 else ''}"
                              for k, c in zip(ks, counts, strict=True))
            out.append(Broken(f"group {group.label}", f"group {group.column}={group.value}",
                              float(len(ks) - 1), f"{len(group.members)} items split over "
                              f"{len(ks)} territories ({split})"))
            continue
        if group.rule == "together":
            continue
        over = counts > group.limit
        for k, c in zip(ks[over], counts[over], strict=True):
            if group.rule == "apart":
                out.append(Broken(f"group {group.label}", f"territory {territory_ids[k]}",
                                  float(c - 1), f"{c} items of group {group.column}="
                                  f"{group.value} share territory {territory_ids[k]} (at most 1)"))
            else:
                out.append(Broken(group.label, f"territory {territory_ids[k]}",
                                  float(c - group.count), f"{territory_ids[k]} has {c} items "
                                  f"with {group.column}, {c - group.count} over {group.count}"))
    return out


def named(ids: np.ndarray, members: np.ndarray) -> str:
    """Up to :data:`MAX_NAMED` item ids, then 'and N more'."""
    shown = ", ".join(str(ids[i]) for i in members[:MAX_NAMED])
    return shown + (f" and {len(members) - MAX_NAMED} more" if len(members) > MAX_NAMED
                    else "")


def _columns(frame: pd.DataFrame) -> str:
    names = list(map(str, frame.columns))
    return ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
