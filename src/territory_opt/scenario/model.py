"""The frozen, array-backed :class:`Scenario` every model, backend and KPI reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from territory_opt.geo import haversine_km
from territory_opt.scenario.schema import ScenarioSpec

NO_TERRITORY = -1
"""Index used for 'no current territory', 'not locked' and 'unassigned'."""

BLOCK_CELLS = 2_000_000
"""Items × territories cells per block when a computation walks all pairs (about 16 MB of
float64): large scenarios are never held as one dense items × territories array."""


def item_blocks(n_items: int, n_territories: int) -> list[slice]:
    """Consecutive item slices of at most :data:`BLOCK_CELLS` item-territory cells each."""
    size = max(1, BLOCK_CELLS // max(n_territories, 1))
    return [slice(start, min(start + size, n_items)) for start in range(0, n_items, size)]


@dataclass(frozen=True, eq=False)
class Scenario:
    """Items, territories and rules, validated and turned into arrays.

    Item arrays have one entry per item in table order; territory arrays one per territory.
    Territory references (``current``, ``lock``) are indices into ``territory_ids`` or
    :data:`NO_TERRITORY`.
    """

    spec: ScenarioSpec
    path: Path | None
    digest: str
    item_ids: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    attributes: dict[str, np.ndarray]
    tags: dict[str, np.ndarray]
    current: np.ndarray
    lock: np.ndarray
    territory_ids: np.ndarray
    territory_names: np.ndarray
    home_lat: np.ndarray
    home_lon: np.ndarray
    fte: np.ndarray
    skills: tuple[frozenset[str], ...]
    capacity: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Scenario name from the YAML, else its folder name."""
        if self.spec.name:
            return self.spec.name
        return self.path.parent.name if self.path is not None else "scenario"

    @property
    def n_items(self) -> int:
        """Number of items."""
        return len(self.item_ids)

    @property
    def n_territories(self) -> int:
        """Number of territories."""
        return len(self.territory_ids)

    @property
    def has_home(self) -> np.ndarray:
        """Boolean per territory: does it have a home location?"""
        return np.asarray(np.isfinite(self.home_lat) & np.isfinite(self.home_lon))

    @property
    def has_current(self) -> bool:
        """Whether any item has a current territory."""
        return bool((self.current != NO_TERRITORY).any())

    def distance(self, items: np.ndarray, territories: np.ndarray) -> np.ndarray:
        """Great-circle km from each item to the paired territory's home (elementwise,
        broadcasting); NaN where the territory has no home."""
        return haversine_km(self.lat[items], self.lon[items],
                            self.home_lat[territories], self.home_lon[territories])

    def distance_block(self, items: np.ndarray | slice) -> np.ndarray:
        """Km from the ``items`` (rows) to every territory home (columns); NaN: no home.

        Dense over the territories: callers take items in blocks on large scenarios.
        """
        return haversine_km(self.lat[items][:, None], self.lon[items][:, None],
                            self.home_lat[None, :], self.home_lon[None, :])

    def targets(self, attribute: str) -> np.ndarray:
        """FTE-share target of ``attribute`` per territory: ``total × fte_k / Σ fte``."""
        total = float(self.attributes[attribute].sum())
        return total * self.fte / float(self.fte.sum())

    def item_weight(self, name: str) -> np.ndarray:
        """Per-item weight: an attribute, or ones for ``'items'``."""
        if name == "items":
            return np.ones(self.n_items)
        return self.attributes[name]

    def travel_weight(self) -> np.ndarray:
        """Per-item multiplier of travel km (the travel term's attribute, or ones)."""
        attribute = self.spec.objective.travel.attribute
        return self.item_weight(attribute) if attribute else np.ones(self.n_items)

    @cached_property
    def eligibility_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """Items grouped by their eligibility tag values.

        Returns ``(group, table)``: the group index of each item, and a boolean groups ×
        territories table — may a territory take that group's items? (It must have every skill
        the tags need; an empty tag value needs nothing.) Items share few tag combinations, so
        this stays small where an items × territories table would not.
        """
        tags = self.spec.rules.eligibility
        if not tags:
            return np.zeros(self.n_items, dtype=np.int64), np.ones((1, self.n_territories), bool)
        keys = pd.MultiIndex.from_arrays([self.tags[t] for t in tags])
        group, uniques = keys.factorize()
        table = np.ones((len(uniques), self.n_territories), dtype=bool)
        for g, values in enumerate(uniques):
            for k, skills in enumerate(self.skills):
                table[g, k] = all(v == "" or v in skills for v in values)
        group = np.asarray(group, dtype=np.int64)
        group.setflags(write=False)
        table.setflags(write=False)
        return group, table

    def eligible(self) -> np.ndarray:
        """Dense boolean items × territories eligibility (for small scenarios and tests)."""
        group, table = self.eligibility_groups
        return np.asarray(table[group])

    def allowed_block(self, items: np.ndarray | slice) -> np.ndarray:
        """Boolean ``items`` × territories: may item i go to territory k under the hard rules?

        Combines locks, eligibility and the maximum distance. A locked item is allowed only in
        its lock territory, whatever the other rules say (the lock is the planner's word).
        """
        rows = np.arange(self.n_items)[items]
        group, table = self.eligibility_groups
        ok = table[group[rows]]
        limit = self.spec.rules.max_distance_km
        if limit is not None:
            with np.errstate(invalid="ignore"):
                ok &= ~(self.distance_block(rows) > limit)  # NaN (no home): no limit
        lock = self.lock[rows]
        locked = np.flatnonzero(lock != NO_TERRITORY)
        ok[locked, :] = False
        ok[locked, lock[locked]] = True
        return np.asarray(ok)

    def is_allowed(self, items: np.ndarray, territories: np.ndarray) -> np.ndarray:
        """Elementwise: may ``items[j]`` go to ``territories[j]``? (see :meth:`allowed_block`)"""
        group, table = self.eligibility_groups
        ok = table[group[items], territories]
        limit = self.spec.rules.max_distance_km
        if limit is not None:
            with np.errstate(invalid="ignore"):
                ok &= ~(self.distance(items, territories) > limit)
        lock = self.lock[items]
        return np.asarray(np.where(lock != NO_TERRITORY, lock == territories, ok))

    def allowed(self) -> np.ndarray:
        """Dense :meth:`allowed_block` over all items (for small scenarios and tests)."""
        return self.allowed_block(slice(None))

    def items_frame(self) -> pd.DataFrame:
        """One-call DataFrame view of the items."""
        frame = pd.DataFrame({"item": self.item_ids, "lat": self.lat, "lon": self.lon})
        for name, values in self.attributes.items():
            frame[name] = values
        for name, values in self.tags.items():
            frame[name] = values
        frame["current"] = self.territory_label(self.current)
        frame["lock"] = self.territory_label(self.lock)
        return frame

    def territory_label(self, index: np.ndarray) -> np.ndarray:
        """Territory ids for an index array; '' where the index is :data:`NO_TERRITORY`."""
        labels = np.where(index >= 0, self.territory_ids[np.maximum(index, 0)], "")
        return np.asarray(labels, dtype=object)
