"""The ``pairs:`` table: per item and territory a distance and loads, as sorted keys
``item × m + territory``; and the check that an item without coordinates has a distance for
every territory it may go to.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
import pandas as pd

from territory_opt.errors import Problem
from territory_opt.scenario.columns import number_column, text_column
from territory_opt.scenario.distance_units import UNIT_WORDS, completion_text
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



def completed_pairs(scenario: Scenario) -> tuple[int, tuple[int, int] | None]:
    """How many allowed pairs of a located item and a territory with a home take their distance
    from the completion rule (not listed with a distance in the pair table), and one of them
    (item, territory); (0, None) without a pair table."""
    if scenario.spec.pairs is None:
        return 0, None
    count, example = 0, None
    for block in item_blocks(scenario.n_items, scenario.n_territories):
        rows = np.arange(*block.indices(scenario.n_items))
        need = (scenario.allowed_block(rows) & scenario.has_home[None, :]
                & scenario.located[rows][:, None])
        if scenario.pair_km is not None:
            r, k, _ = scenario._listed_in(rows)
            need[r, k] = False
        count += int(need.sum())
        if example is None and need.any():
            r0, k0 = np.argwhere(need)[0]
            example = (int(rows[r0]), int(k0))
    return count, example


def uncompleted_pairs(scenario: Scenario, pairs_path: Path | None) -> list[Problem]:
    """A mi or min pair table that leaves out pairs which need a distance, with no rule to
    complete them (``pairs.complete``): great-circle km would mix units."""
    p = scenario.spec.pairs
    if p is None or np.isfinite(scenario.completion_factor):
        return []
    count, example = completed_pairs(scenario)
    if not count or example is None:
        return []
    table = pairs_path.name if pairs_path is not None else "the pairs table"
    item, territory = scenario.item_ids[example[0]], scenario.territory_ids[example[1]]
    return [Problem(
        str(pairs_path) if pairs_path is not None else "pairs", p.distance or "distance",
        f"{count:,} allowed pair(s) missing from {table} (unit {p.unit}), e.g. item "
        f"'{item}' and territory '{territory}'",
        f"a distance in {p.unit} for every pair an item may take, or a rule to complete the "
        f"missing ones (pairs.complete: {{detour: 1.3"
        + (", speed_kmh: 50" if p.unit == "min" else "") + "}), or pairs.only_listed: true "
        "(only the listed pairs are allowed)")]


_COMPLETED: weakref.WeakKeyDictionary[Scenario, int] = weakref.WeakKeyDictionary()


def pairs_completed(scenario: Scenario) -> int:
    """:func:`completed_pairs`' count, computed once per scenario (the ``pairs_completed``
    KPI: it depends on the scenario alone, not on the plan)."""
    if scenario not in _COMPLETED:
        _COMPLETED[scenario] = completed_pairs(scenario)[0]
    return _COMPLETED[scenario]


def distance_source_text(scenario: Scenario) -> str | None:
    """Where the distances come from, in words, for a scenario with a pair table: "minutes
    from pairs.csv; 1,234 pairs completed as great-circle km × 1.3 at 50 km/h"; None
    without a pair table."""
    p = scenario.spec.pairs
    if p is None:
        return None
    unit = UNIT_WORDS[p.unit]
    source = f"{unit} from {Path(p.path).name}" if p.distance is not None else (
        f"{unit}, none from {Path(p.path).name} (no distance column)")
    count = pairs_completed(scenario)
    if not count:
        return f"{source}; no pair completed"
    return f"{source}; {count:,} pair(s) completed as {completion_text(scenario.spec)}"
