"""Account groups in the exact model: rows over the offered pairs, and their diagnosis.

* together (must-link): ``x[i,k] = x[leader,k]`` for every other member ``i`` and every
  territory ``k`` offered to some member — a pair missing from the model is 0, so a territory
  not offered to every member is closed to the whole group;
* apart (cannot-link): ``Σ_{i in G} x[i,k] <= 1`` per territory;
* at_most: ``Σ_{tagged i} x[i,k] <= count`` per territory.

The rows come after the rows of :class:`~territory_opt.alignment.formulation.RowLayout` (they
are not priced by column generation, whose LP relaxes them: its bound stays valid). Their
diagnosis is :mod:`territory_opt.alignment.group_diagnosis`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from territory_opt.backends.linear import RowGroup
from territory_opt.scenario.groups import GroupRules


@dataclass(frozen=True)
class GroupRows:
    """COO entries (rows counted from 0), row bounds and row groups of the group rules."""

    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    groups: tuple[RowGroup, ...]


def group_rows(groups: GroupRules | None, pair_item: np.ndarray, pair_territory: np.ndarray,
               n_territories: int, first_row: int) -> GroupRows:
    """The rows of ``groups`` over the pair columns ``0..len(pair_item)-1`` (sorted by item,
    then territory), numbered from ``first_row``."""
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    lo: list[np.ndarray] = []
    hi: list[np.ndarray] = []
    out_groups: list[RowGroup] = []
    n = first_row
    keys = pair_item.astype(np.int64) * n_territories + pair_territory
    starts = np.searchsorted(pair_item, np.arange(int(pair_item.max(initial=-1)) + 2))

    def pairs_of(members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pair columns of ``members``: (column, territory)."""
        members = members[members + 1 < len(starts)]
        spans = [np.arange(starts[i], starts[i + 1]) for i in members]
        col = np.concatenate(spans) if spans else np.zeros(0, np.int64)
        return col, pair_territory[col]

    for rule in ("together", "apart", "at_most"):
        start = n
        for group in getattr(groups, rule) if groups is not None else ():
            col, territory = pairs_of(group.members)
            offered = np.unique(territory)
            if rule == "together":
                leader = int(group.members[0])
                for i in group.members[1:]:
                    # row (i, k) for each offered k: x[i,k] - x[leader,k] = 0
                    row = n + np.arange(len(offered))
                    for who, sign in ((int(i), 1.0), (leader, -1.0)):
                        key = who * n_territories + offered
                        pos = np.minimum(np.searchsorted(keys, key), max(len(keys) - 1, 0))
                        found = keys[pos] == key if len(keys) else np.zeros(0, bool)
                        rows.append(row[found])
                        cols.append(pos[found])
                        vals.append(np.full(int(found.sum()), sign))
                    lo.append(np.zeros(len(offered)))
                    hi.append(np.zeros(len(offered)))
                    n += len(offered)
            else:
                row_of = {int(k): n + r for r, k in enumerate(offered)}
                rows.append(np.asarray([row_of[int(k)] for k in territory], dtype=np.int64))
                cols.append(col)
                vals.append(np.ones(len(col)))
                lo.append(np.full(len(offered), -np.inf))
                hi.append(np.full(len(offered), float(group.limit)))
                n += len(offered)
        if n > start:
            out_groups.append(RowGroup(f"groups {rule}", start, n))

    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    return GroupRows(cat(rows, np.int64), cat(cols, np.int64), cat(vals, float),
                     cat(lo, float), cat(hi, float), tuple(out_groups))
