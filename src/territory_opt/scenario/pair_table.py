"""The ``pairs:`` table: per item and territory a distance and loads, as sorted keys
``item × m + territory``; and the check that an item without coordinates has a distance for
every territory it may go to.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from territory_opt.errors import Problem
from territory_opt.scenario.columns import number_column, text_column
from territory_opt.scenario.model import Scenario, item_blocks
from territory_opt.scenario.schema import ItemsTable, PairTable
from territory_opt.scenario.tables import row_label


def pair_columns(t: PairTable) -> dict[str, str]:
    """YAML key -> column for every column the pair table must have."""
    cols = {"pairs.item": t.item, "pairs.territory": t.territory}
    if t.distance is not None:
        cols["pairs.distance"] = t.distance
    cols |= {f"pairs.loads.{k}": v for k, v in t.loads.items()}
    return cols



def read_pair_table(
    frame: pd.DataFrame,
    t: PairTable,
    path: Path,
    item_ids: list[str],
    territory_ids: list[str],
    problems: list[Problem],
) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    """The pair table as sorted keys ``item × m + territory`` and values aligned with them."""
    m = len(territory_ids)
    items = pair_references(frame, t.item, path, item_ids, "item", problems)
    territories = pair_references(frame, t.territory, path, territory_ids, "territory",
                                   problems)
    km = number_column(frame, t.distance, path, problems) if t.distance is not None else None
    loads = {name: number_column(frame, col, path, problems, name=name)
             for name, col in t.loads.items()}
    known = np.flatnonzero((items >= 0) & (territories >= 0))
    keys = items[known] * m + territories[known]
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    repeat = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1]) + 1
    if len(repeat):
        rows = np.sort(known[order[repeat]])
        row = int(rows[0])
        key = items[row] * m + territories[row]
        first = int(known[order[np.searchsorted(sorted_keys, key)]])  # stable: earliest row
        problems.append(Problem(
            row_label(path, rows), f"{t.item}/{t.territory}",
            f"a duplicate pair ('{item_ids[items[row]]}', '{territory_ids[territories[row]]}') "
            f"(first at row {first + 1})", "one row per item and territory"))
    rows = known[order]
    return (sorted_keys.astype(np.int64), None if km is None else km[rows],
            {name: values[rows] for name, values in loads.items()})


def pair_references(
    frame: pd.DataFrame,
    column: str,
    path: Path,
    ids: list[str],
    what: str,
    problems: list[Problem],
) -> np.ndarray:
    """An id column of the pair table -> indices into ``ids``; -1 where empty or unknown."""
    index = {v: k for k, v in enumerate(ids)}
    values = text_column(frame, column)
    out = np.asarray([index.get(v, -1) for v in values], dtype=np.int64)
    empty = [i for i, v in enumerate(values) if v == ""]
    if empty:
        problems.append(Problem(row_label(path, empty), column, "an empty id",
                                f"an id of the {what} table"))
    unknown = [i for i, v in enumerate(values) if v != "" and v not in index]
    if unknown:
        table = "items" if what == "item" else "territories"
        problems.append(Problem(row_label(path, unknown), column,
                                f"{what} '{values[unknown[0]]}', which is not in the {table} "
                                "table", f"an id of the {table} table"))
    return out


def unmeasured_pairs(
    scenario: Scenario, t: ItemsTable, items_path: Path, pairs_path: Path | None
) -> list[Problem]:
    """Items without coordinates need the pair table's distance for every pair they may take
    to a territory with a home (a territory without a home has no travel anyway)."""
    missing = np.flatnonzero(~scenario.located)
    if not len(missing):
        return []
    m = scenario.n_territories
    bad_rows: list[int] = []
    first: tuple[int, int] | None = None
    for block in item_blocks(len(missing), m):
        rows = missing[block]
        need = scenario.allowed_block(rows) & scenario.has_home[None, :]
        r, k = np.nonzero(need)
        if scenario.pair_km is not None:
            given = scenario.listed(rows[r], k)
            r, k = r[~given], k[~given]
        if len(r):
            bad_rows.extend(np.unique(rows[r]).tolist())
            first = first or (int(rows[r[0]]), int(k[0]))
    if first is None:
        return []
    coords = f"{t.latitude}/{t.longitude}" if t.latitude else (
        f"{t.x}/{t.y}" if t.x else "latitude/longitude")
    item, territory = scenario.item_ids[first[0]], scenario.territory_ids[first[1]]
    table = pairs_path.name if pairs_path is not None else "the pairs table"
    return [Problem(
        row_label(items_path, bad_rows), coords,
        f"no coordinates, and no distance in {table} for item '{item}' and territory "
        f"'{territory}', which it may go to",
        "coordinates, a distance in the pairs table for every territory with a home the item "
        "may go to, or pairs.only_listed: true")]

