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

    @cached_property
    def distance_km(self) -> np.ndarray:
        """Great-circle km from each item (rows) to each territory home (columns); NaN: no home."""
        return haversine_km(
            self.lat[:, None], self.lon[:, None], self.home_lat[None, :], self.home_lon[None, :]
        )

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

    def eligible(self) -> np.ndarray:
        """Boolean items × territories: does territory k have every skill item i's tags need?

        An empty tag value needs nothing.
        """
        ok = np.ones((self.n_items, self.n_territories), dtype=bool)
        for tag in self.spec.rules.eligibility:
            values = self.tags[tag]
            for k, skills in enumerate(self.skills):
                ok[:, k] &= (values == "") | np.isin(values, list(skills))
        return ok

    def allowed(self) -> np.ndarray:
        """Boolean items × territories: may item i go to territory k under the hard rules?

        Combines locks, eligibility and the maximum distance. A locked item is allowed only
        in its lock territory, whatever the other rules say (the lock is the planner's word).
        Computed once per scenario (the checks, the model and the KPIs all ask); read-only.
        """
        return self._allowed

    @cached_property
    def _allowed(self) -> np.ndarray:
        ok = self.eligible()
        limit = self.spec.rules.max_distance_km
        if limit is not None:
            with np.errstate(invalid="ignore"):
                too_far = self.distance_km > limit
            ok &= ~too_far  # NaN (no home) compares False: a homeless territory has no limit
        locked = self.lock != NO_TERRITORY
        ok[locked, :] = False
        ok[np.flatnonzero(locked), self.lock[locked]] = True
        ok.setflags(write=False)
        return ok

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
