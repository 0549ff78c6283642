"""A part of a scenario: some items and some territories, with the whole scenario's targets.

Decomposed solves cut an alignment scenario into regions. A region keeps its territories'
targets from the whole (``Scenario.fixed_targets``), since a balance band is a share of the
whole field force's total, not of the region's.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from territory_opt.errors import TerritoryOptError
from territory_opt.scenario.model import NO_TERRITORY, Scenario


def sub_scenario(scenario: Scenario, items: np.ndarray, territories: np.ndarray) -> Scenario:
    """The scenario restricted to ``items`` and ``territories`` (index arrays, sorted).

    Current territories outside the part become "none" (the item moves whatever the part's
    plan is, at a cost the whole plan's evaluation counts); locks must stay inside it.

    Raises
    ------
    TerritoryOptError
        For a districting or leads scenario, or an item locked to a territory outside.
    """
    if scenario.spec.model != "alignment":
        raise TerritoryOptError(f"only alignment scenarios can be cut into regions, not "
                                f"model: {scenario.spec.model}")
    items = np.asarray(items, dtype=np.int64)
    territories = np.asarray(territories, dtype=np.int64)
    m = scenario.n_territories
    local = np.full(m + 1, NO_TERRITORY, dtype=np.int64)  # index m stands for NO_TERRITORY
    local[territories] = np.arange(len(territories))

    def remap(reference: np.ndarray) -> np.ndarray:
        return local[np.where(reference == NO_TERRITORY, m, reference)]

    lock = scenario.lock[items]
    if np.any((lock != NO_TERRITORY) & (remap(lock) == NO_TERRITORY)):
        raise TerritoryOptError("an item is locked to a territory outside its region")
    keys, km, loads = _pair_table(scenario, items, territories, local)
    return dataclasses.replace(
        scenario,
        item_ids=scenario.item_ids[items], lat=scenario.lat[items], lon=scenario.lon[items],
        attributes={k: v[items] for k, v in scenario.attributes.items()},
        tags={k: v[items] for k, v in scenario.tags.items()},
        current=remap(scenario.current[items]), lock=remap(lock),
        territory_ids=scenario.territory_ids[territories],
        territory_names=scenario.territory_names[territories],
        home_lat=scenario.home_lat[territories], home_lon=scenario.home_lon[territories],
        fte=scenario.fte[territories],
        skills=tuple(scenario.skills[k] for k in territories),
        capacity={k: v[territories] for k, v in scenario.capacity.items()},
        pair_keys=keys, pair_km=km, pair_loads=loads,
        geometry=scenario.geometry[items] if scenario.geometry is not None else None,
        leave=scenario.leave[items] if scenario.leave is not None else None,
        territory_region=(scenario.territory_region[territories]
                          if scenario.territory_region is not None else None),
        fixed_targets={name: scenario.targets(name)[territories]
                       for name in scenario.attributes},
    )


def _pair_table(scenario: Scenario, items: np.ndarray, territories: np.ndarray,
                local: np.ndarray) -> tuple[np.ndarray, np.ndarray | None,
                                            dict[str, np.ndarray]]:
    """The listed pairs of the part, re-keyed ``local item × local m + local territory``."""
    m = scenario.n_territories
    item_local = np.full(scenario.n_items, -1, dtype=np.int64)
    item_local[items] = np.arange(len(items))
    pair_item, pair_territory = scenario.pair_keys // m, scenario.pair_keys % m
    keep = (item_local[pair_item] >= 0) & (local[pair_territory] >= 0)
    keys = item_local[pair_item[keep]] * len(territories) + local[pair_territory[keep]]
    order = np.argsort(keys, kind="stable")
    km = scenario.pair_km[keep][order] if scenario.pair_km is not None else None
    loads = {k: v[keep][order] for k, v in scenario.pair_loads.items()}
    return keys[order], km, loads
