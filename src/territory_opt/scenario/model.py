"""The frozen, array-backed :class:`Scenario` every model, backend and KPI reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from territory_opt.geo import haversine_km
from territory_opt.rendering import to_html
from territory_opt.scenario.distance_units import completion_factor, distance_unit, max_distance
from territory_opt.scenario.schema import ScenarioSpec

if TYPE_CHECKING:
    from territory_opt.scenario.groups import GroupRules
    from territory_opt.scenario.hierarchy import Hierarchy
    from territory_opt.scenario.leads import LeadData

NO_TERRITORY = -1
"""Index used for 'no current territory', 'not locked' and 'unassigned'."""

BLOCK_CELLS = 2_000_000
"""Items × territories cells per block when a computation walks all pairs (about 16 MB of
float64): large scenarios are never held as one dense items × territories array."""


def _no_pairs() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


_FRAMES_BUILDER: list[Callable[..., Scenario]] = []
"""The builder behind :meth:`Scenario.from_frames`: :mod:`territory_opt.scenario.frames`
registers it when the package is imported (that module builds on this one, so this one cannot
import it; as with :mod:`territory_opt.rendering`, the call goes through a registration)."""


def register_frames_builder(builder: Callable[..., Scenario]) -> None:
    """Make ``builder`` the one :meth:`Scenario.from_frames` calls."""
    _FRAMES_BUILDER[:] = [builder]


def item_blocks(n_items: int, n_territories: int) -> list[slice]:
    """Consecutive item slices of at most :data:`BLOCK_CELLS` item-territory cells each."""
    size = max(1, BLOCK_CELLS // max(n_territories, 1))
    return [slice(start, min(start + size, n_items)) for start in range(0, n_items, size)]


@dataclass(frozen=True, eq=False)
class Accounts:
    """Named accounts inside the units of a districting scenario (``accounts:`` in the YAML).

    An account goes with its unit's territory unless it is locked to a territory (``lock``);
    its attributes add up with the units' in every rule and KPI. Arrays have one entry per
    account in table order; ``unit`` indexes the scenario's items, ``current`` and ``lock``
    its territories (or :data:`NO_TERRITORY`).
    """

    ids: np.ndarray
    unit: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    attributes: dict[str, np.ndarray]
    current: np.ndarray
    lock: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def locked(self) -> np.ndarray:
        """Boolean per account: locked to a territory?"""
        return np.asarray(self.lock != NO_TERRITORY)

    def territory(self, assignment: np.ndarray) -> np.ndarray:
        """Each account's territory under a unit ``assignment``: its lock, else its unit's."""
        return np.asarray(np.where(self.locked, self.lock, assignment[self.unit]),
                          dtype=np.int64)

    def following(self, name: str, n_units: int) -> np.ndarray:
        """Per unit: the sum of ``name`` over its accounts that go with it (not locked)."""
        values = self.attributes.get(name)
        if values is None:
            return np.zeros(n_units)
        free = ~self.locked
        return np.bincount(self.unit[free], weights=values[free], minlength=n_units)

    def locked_loads(self, name: str, n_territories: int) -> np.ndarray:
        """Per territory: the sum of ``name`` over the accounts locked to it."""
        values = self.attributes.get(name)
        if values is None:
            return np.zeros(n_territories)
        locked = self.locked
        return np.bincount(self.lock[locked], weights=values[locked], minlength=n_territories)

    def loads(self, name: str, assignment: np.ndarray, n_territories: int) -> np.ndarray:
        """Per territory: the sum of ``name`` over the accounts in it (unassigned units'
        accounts count nowhere)."""
        values = self.attributes.get(name)
        if values is None:
            return np.zeros(n_territories)
        where = self.territory(assignment)
        placed = where != NO_TERRITORY
        return np.bincount(where[placed], weights=values[placed], minlength=n_territories)

    def total(self, name: str) -> float:
        """Sum of ``name`` over all accounts (0 when the accounts lack it)."""
        values = self.attributes.get(name)
        return float(values.sum()) if values is not None else 0.0


@dataclass(frozen=True, eq=False)
class Scenario:
    """Items, territories and rules, validated and turned into arrays.

    Item arrays have one entry per item in table order; territory arrays one per territory.
    Territory references (``current``, ``lock``) are indices into ``territory_ids`` or
    :data:`NO_TERRITORY`. Items without coordinates (allowed with a pair table) have NaN
    ``lat``/``lon``.

    The optional pair table (``pairs:`` in the YAML) is kept sparse: ``pair_keys`` are the
    sorted keys ``item × n_territories + territory`` of the listed pairs, ``pair_km`` their
    distances in :attr:`distance_unit` (``None`` without a distance column) and ``pair_loads``
    their loads per attribute, each aligned with ``pair_keys``. Listed values override the
    defaults (the completed great-circle distance, the item's attribute value); read them
    through :meth:`distance`,
    :meth:`distance_block`, :meth:`pair_load` and :meth:`load_block`.

    ``geometry`` holds each item's feature (polygon or point, WGS84) when the items come from a
    geo table (GeoJSON, GeoPackage, Shapefile); ``lat``/``lon`` are then a point inside it.
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
    pair_keys: np.ndarray = field(default_factory=_no_pairs)
    pair_km: np.ndarray | None = None
    pair_loads: dict[str, np.ndarray] = field(default_factory=dict)
    geometry: np.ndarray | None = None  # per item: its shapely feature (WGS84), from a geo table
    adjacency: np.ndarray | None = None  # (e, 2) neighbouring items, i < j (districting)
    bridges: np.ndarray | None = None  # the adjacency edges added to join islands
    accounts: Accounts | None = None  # named accounts inside the units (districting)
    leads: LeadData | None = None  # lead routing data (model: leads; items are leads)
    territory_region: np.ndarray | None = None  # per territory: its region (decomposition)
    fixed_targets: dict[str, np.ndarray] | None = None  # a region's share of the whole's targets
    outline: np.ndarray | None = None  # polygons drawn under the maps (``map.outline``), WGS84
    groups: GroupRules | None = None  # account groups (``rules.groups``), alignment
    leave: np.ndarray | None = None  # per item: must leave its current territory (lock state)
    hierarchy: Hierarchy | None = None  # territories.levels: parents per level (alignment)

    @classmethod
    def from_frames(
        cls,
        items: pd.DataFrame,
        territories: pd.DataFrame | None,
        rules: Mapping[str, Any],
        pairs: pd.DataFrame | None = None,
        base: str | Path | None = None,
    ) -> Scenario:
        """A scenario from DataFrames or GeoDataFrames (any CRS) and the rest of
        ``scenario.yaml`` as a dict (``rules``: model, column mappings, rules, objective,
        solver; table paths optional and ignored), checked as loading files would check them.
        ``territories`` is None for districting by ``territories.count``; ``base`` is the
        folder other files the rules name are relative to. See
        :func:`territory_opt.scenario.frames.scenario_from_frames` (also
        ``territory_opt.scenario_from_frames``).

        Raises
        ------
        ScenarioError
            Naming the frame (``items frame``), row and column, as a file's problems would.
        """
        if not _FRAMES_BUILDER:  # only if territory_opt.scenario.frames failed to import
            raise RuntimeError("territory_opt.scenario.frames is not loaded")
        return _FRAMES_BUILDER[0](items, territories, rules, pairs=pairs, base=base)

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

    @property
    def only_listed(self) -> bool:
        """Whether only the pairs of the pair table are allowed (``pairs.only_listed``)."""
        return self.spec.pairs is not None and self.spec.pairs.only_listed

    @property
    def located(self) -> np.ndarray:
        """Boolean per item: does it have coordinates?"""
        return np.asarray(np.isfinite(self.lat) & np.isfinite(self.lon))

    @property
    def distance_unit(self) -> str:
        """Unit of every distance the scenario gives: ``km``, ``mi`` or ``min`` (``pairs.unit``;
        km without a pair table)."""
        return distance_unit(self.spec)

    @cached_property
    def completion_factor(self) -> float:
        """Great-circle km -> :attr:`distance_unit` for pairs the pair table does not list
        (``pairs.complete``; 1 for km without it; NaN for mi/min without it)."""
        return completion_factor(self.spec)

    @property
    def max_distance(self) -> float | None:
        """``rules.max_distance`` (or ``max_distance_km``), in :attr:`distance_unit`."""
        return max_distance(self.spec)

    @cached_property
    def has_distance(self) -> np.ndarray:
        """Boolean per territory: a home, or a listed pair distance (so travel can count)."""
        out = self.has_home.copy()
        if self.pair_km is not None:
            out[np.unique(self.pair_keys % max(self.n_territories, 1))] = True
        out.setflags(write=False)
        return out

    def listed(self, items: np.ndarray, territories: np.ndarray) -> np.ndarray:
        """Elementwise (broadcasting): is the pair in the pair table?"""
        return self._pair_lookup(items, territories)[1]

    def pair_distance(self, items: np.ndarray, territories: np.ndarray) -> np.ndarray:
        """Elementwise (broadcasting): the pair table's distance; NaN where the pair is not
        listed or the table has no distance column."""
        pos, found = self._pair_lookup(items, territories)
        if self.pair_km is None:
            return np.full(found.shape, np.nan)
        return np.asarray(np.where(found, self.pair_km[pos], np.nan))

    def pair_load(self, attribute: str, items: np.ndarray, territories: np.ndarray
                  ) -> np.ndarray:
        """Elementwise (broadcasting): the load item i puts on territory k for ``attribute``:
        the pair table's value where listed, else the item's attribute value."""
        base = self.attributes[attribute][items]
        values = self.pair_loads.get(attribute)
        if values is None:
            shape = np.broadcast_shapes(np.shape(items), np.shape(territories))
            return np.asarray(np.broadcast_to(base, shape), dtype=float).copy()
        pos, found = self._pair_lookup(items, territories)
        return np.asarray(np.where(found, values[pos], base), dtype=float)

    def load_block(self, attribute: str, items: np.ndarray | slice) -> np.ndarray:
        """Loads of ``attribute`` of the ``items`` (rows) on every territory (columns), pair
        table values included (see :meth:`pair_load`). Dense per block."""
        rows = self._rows(items)
        out = np.repeat(self.attributes[attribute][rows][:, None].astype(float),
                        self.n_territories, axis=1)
        values = self.pair_loads.get(attribute)
        if values is not None:
            r, k, index = self._listed_in(rows)
            out[r, k] = values[index]
        return out

    def has_pair_loads(self, attribute: str) -> bool:
        """Whether the pair table overrides ``attribute`` for some pairs."""
        return attribute in self.pair_loads

    def distance(self, items: np.ndarray, territories: np.ndarray) -> np.ndarray:
        """Distance in :attr:`distance_unit` from each item to the paired territory
        (elementwise, broadcasting): the pair table's distance where it lists one, else
        great-circle km to the territory's home × :attr:`completion_factor`; NaN where
        neither exists (no home, or an item without coordinates)."""
        km = haversine_km(self.lat[items], self.lon[items],
                          self.home_lat[territories], self.home_lon[territories])
        if self.completion_factor != 1.0:
            km = km * self.completion_factor
        if self.pair_km is None:
            return km
        pos, found = self._pair_lookup(items, territories)
        return np.asarray(np.where(found, self.pair_km[pos], km))

    def distance_block(self, items: np.ndarray | slice) -> np.ndarray:
        """Distances (:attr:`distance_unit`) from the ``items`` (rows) to every territory
        (columns), as :meth:`distance`.

        Dense over the territories: callers take items in blocks on large scenarios.
        """
        rows = self._rows(items)
        km = haversine_km(self.lat[rows][:, None], self.lon[rows][:, None],
                          self.home_lat[None, :], self.home_lon[None, :])
        if self.completion_factor != 1.0:
            km = km * self.completion_factor
        if self.pair_km is not None:
            r, k, index = self._listed_in(rows)
            km[r, k] = self.pair_km[index]
        return np.asarray(km)

    def _rows(self, items: np.ndarray | slice) -> np.ndarray:
        """Item indices of a slice, index array or boolean mask."""
        if isinstance(items, slice):
            return np.arange(*items.indices(self.n_items))
        items = np.asarray(items)
        return np.flatnonzero(items) if items.dtype == bool else items.astype(np.int64)

    def _pair_lookup(self, items: np.ndarray, territories: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Position in the pair table of each (item, territory), and whether it is there."""
        keys = (np.asarray(items, dtype=np.int64) * self.n_territories
                + np.asarray(territories, dtype=np.int64))
        if not len(self.pair_keys):
            return np.zeros(keys.shape, dtype=np.int64), np.zeros(keys.shape, dtype=bool)
        pos = np.minimum(np.searchsorted(self.pair_keys, keys), len(self.pair_keys) - 1)
        return pos, np.asarray(self.pair_keys[pos] == keys)

    def _listed_in(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Listed pairs of the items ``rows``: (position in ``rows``, territory, pair index)."""
        m = self.n_territories
        start = np.searchsorted(self.pair_keys, rows * m)
        counts = np.searchsorted(self.pair_keys, rows * m + m) - start
        where = np.repeat(np.arange(len(rows)), counts)
        offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        index = np.repeat(start, counts) + offset
        return where, self.pair_keys[index] % m, index

    def targets(self, attribute: str) -> np.ndarray:
        """FTE-share target of ``attribute`` per territory: ``total × fte_k / Σ fte`` (or the
        whole scenario's targets, for a region of it: ``fixed_targets``).

        The total is over the items' own attribute values (and the accounts' in a districting
        scenario with accounts), also when the pair table gives territory-specific loads (a
        plan's total load then depends on the plan).
        """
        if self.fixed_targets is not None and attribute in self.fixed_targets:
            return self.fixed_targets[attribute]
        total = float(self.attributes[attribute].sum())
        if self.accounts is not None:
            total += self.accounts.total(attribute)
        return total * self.fte / float(self.fte.sum())

    def item_weight(self, name: str) -> np.ndarray:
        """Per-item weight: an attribute, or ones for ``'items'``. In a districting scenario
        with accounts, a unit's attribute includes the accounts that go with it (not locked
        elsewhere): they move with the unit."""
        if name == "items":
            return np.ones(self.n_items)
        if self.accounts is not None:
            return np.asarray(self.attributes[name] + self.accounts.following(name, self.n_items))
        return self.attributes[name]

    def account_loads(self, name: str, assignment: np.ndarray) -> np.ndarray:
        """Per territory: the ``name`` load of the named accounts where ``assignment`` puts
        them (their unit's territory, or their lock); zeros without named accounts."""
        if self.accounts is None:
            return np.zeros(self.n_territories)
        return np.asarray(self.accounts.loads(name, assignment, self.n_territories), dtype=float)

    def accounts_frame(self, assignment: np.ndarray) -> pd.DataFrame | None:
        """One row per named account where ``assignment`` puts it: account, unit, territory,
        locked, moved (None without named accounts)."""
        accounts = self.accounts
        if accounts is None:
            return None
        where = accounts.territory(assignment)
        current = accounts.current != NO_TERRITORY
        return pd.DataFrame({
            "account": accounts.ids,
            "unit": self.item_ids[accounts.unit],
            "territory": self.territory_label(where),
            "locked": accounts.locked,
            "moved": current & (where != accounts.current),
        })

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

        Combines locks, eligibility, the pair table's ``only_listed`` and the maximum distance.
        A locked item is allowed only in its lock territory, whatever the other rules say (the
        lock is the planner's word).
        """
        rows = self._rows(items)
        group, table = self.eligibility_groups
        ok = table[group[rows]]
        if self.only_listed:
            listed = np.zeros_like(ok)
            r, k, _ = self._listed_in(rows)
            listed[r, k] = True
            ok &= listed
        limit = self.max_distance
        if limit is not None:
            with np.errstate(invalid="ignore"):
                ok &= ~(self.distance_block(rows) > limit)  # NaN (no home): no limit
        if self.leave is not None:  # lock state 'leave': not its current territory
            r = np.flatnonzero(self.leave[rows])
            ok[r, self.current[rows][r]] = False
        if self.hierarchy is not None:  # rules.same_parent: stay within the current parent
            ok &= self.hierarchy.stay_block(self.spec, self.current[rows])
        lock = self.lock[rows]
        locked = np.flatnonzero(lock != NO_TERRITORY)
        ok[locked, :] = False
        ok[locked, lock[locked]] = True
        return np.asarray(ok)

    def is_allowed(self, items: np.ndarray, territories: np.ndarray) -> np.ndarray:
        """Elementwise: may ``items[j]`` go to ``territories[j]``? (see :meth:`allowed_block`)"""
        group, table = self.eligibility_groups
        ok = table[group[items], territories]
        if self.only_listed:
            ok &= self.listed(items, territories)
        limit = self.max_distance
        if limit is not None:
            with np.errstate(invalid="ignore"):
                ok &= ~(self.distance(items, territories) > limit)
        if self.leave is not None:
            ok &= ~(self.leave[items] & (self.current[items] == territories))
        if self.hierarchy is not None:
            ok &= self.hierarchy.stays(self.spec, self.current[items], territories)
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

    def territories_frame(self) -> pd.DataFrame:
        """One-call DataFrame view of the territories, one row each.

        Columns: ``territory``, ``name``, ``fte``, ``home_lat``, ``home_lon`` (NaN without a
        home), ``skills`` (sorted, joined by ``;``), then ``<attribute>_capacity`` per capacity
        (``inf`` where a territory has none).
        """
        frame = pd.DataFrame({
            "territory": self.territory_ids,
            "name": self.territory_names,
            "fte": self.fte,
            "home_lat": self.home_lat,
            "home_lon": self.home_lon,
            "skills": [";".join(sorted(skills)) for skills in self.skills],
        })
        for name, values in self.capacity.items():
            frame[f"{name}_capacity"] = values
        return frame

    def _repr_html_(self) -> str:
        """Jupyter: a summary of size, attributes, rules and settings, and the items' head."""
        return to_html(self)  # the renderer is registered from above (present.notebook)

    def territory_label(self, index: np.ndarray) -> np.ndarray:
        """Territory ids for an index array; '' where the index is :data:`NO_TERRITORY`."""
        labels = np.where(index >= 0, self.territory_ids[np.maximum(index, 0)], "")
        return np.asarray(labels, dtype=object)
