"""Problem families as plug-ins: the one protocol a family implements, and the registry that
finds it by the scenario's ``model:`` name.

A family (alignment, districting, leads) owns everything that depends on what kind of problem
a scenario is: its checks before a solve, its solver path, its KPIs, and what presentation
should say about it (:class:`Views`). Everything above the families — ``solve()``, the CLI, the
notebook HTML, the report, maps, compare, trade-offs, sweeps, the service — asks
:func:`family_of` and never inspects the model kind itself.

Families are registered as ``module:attribute`` paths and imported on first use, as backends
are (:mod:`territory_opt.backends.registry`): this module sits low in the layers and imports no
family, so a family may use everything below it (KPIs, plans, backends) without a cycle.
:func:`register_family` adds a user's own family.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from territory_opt.deadline import Deadline
    from territory_opt.errors import Conflict
    from territory_opt.kpi.evaluate import Evaluation, ObjectiveTerms
    from territory_opt.plan import Plan
    from territory_opt.scenario.model import Scenario
    from territory_opt.settings import SolveSettings
    from territory_opt.support import SupportMatrix


@dataclass(frozen=True)
class Words:
    """How people call a family's items and territories (``lead``/``rep`` for leads)."""

    item: str = "item"
    items: str = "items"
    territory: str = "territory"
    territories: str = "territories"


@dataclass(frozen=True)
class Band:
    """A tolerance band drawn around a deviation column (``<attribute>_dev_pct``)."""

    label: str
    tolerance_pct: float
    hard: bool


@dataclass(frozen=True)
class Markers:
    """Points a family draws over its items on a map (named accounts of a districting).

    One entry per point with a location: ``ids``, ``lat``/``lon`` (WGS84), ``territory`` (its
    territory index under the plan drawn, or ``NO_TERRITORY``) and ``locked``.
    """

    ids: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    territory: np.ndarray
    locked: np.ndarray
    label: str = "named accounts"
    """The layer's name; the legend's entries are its singular (``named account``)."""
    summary: str = ""
    """What the map's title adds about them (``, 12 named accounts``)."""


class Views(Protocol):
    """What presentation needs to know of a family; every method is a pure function of the
    scenario (and its evaluation), so terminal, notebook and report say the same thing."""

    words: Words

    def metric_keys(self, scenario: Scenario) -> list[str]:
        """The plan-level KPIs worth showing side by side, in order (keys of
        ``Evaluation.metrics``, described by :mod:`territory_opt.kpi.metrics`)."""
        ...

    def territory_columns(self, scenario: Scenario, evaluation: Evaluation) -> list[str]:
        """The per-territory columns worth showing, in order (columns of
        ``Evaluation.territories``)."""
        ...

    def bands(self, scenario: Scenario) -> dict[str, Band]:
        """Tolerance bands by deviation column."""
        ...

    def describe(self, scenario: Scenario) -> list[tuple[str, str]]:
        """The scenario in (label, text) rows: size, rules, objective."""
        ...

    def counts(self, scenario: Scenario) -> dict[str, int]:
        """What the scenario holds beside its items and territories, by name
        (``{"accounts": 12}``: named accounts); ``territory-opt validate`` reports them."""
        ...

    def map_note(self, scenario: Scenario) -> str | None:
        """Why no map can be drawn, or None when one can."""
        ...

    def markers(self, scenario: Scenario, assignment: np.ndarray) -> Markers | None:
        """Points drawn over the items on a map under ``assignment`` (None: nothing extra)."""
        ...


class Family(Protocol):
    """One kind of problem, registered under its ``model:`` name."""

    name: str
    views: Views
    support: SupportMatrix
    """Which of its solve paths honour which rule (:mod:`territory_opt.support`)."""
    analysed_moves: int
    """How many moves :func:`territory_opt.kpi.compare.compare` analyses one by one at most."""

    def conflicts(self, scenario: Scenario) -> list[Conflict]:
        """Hard rules that cannot all hold, found by arithmetic before any solve."""
        ...

    def solve(self, scenario: Scenario, settings: SolveSettings, deadline: Deadline) -> Plan:
        """The best plan within ``settings`` by ``deadline`` (every phase takes a share of it;
        its stop signal ends the solve with the best plan so far); ``solve()`` settles the
        status.

        Raises
        ------
        InfeasibleError, NoPlanFoundError, TerritoryOptError
        """
        ...

    def evaluate(self, scenario: Scenario, assignment: np.ndarray) -> Evaluation:
        """KPIs, violations and the objective of ``assignment``."""
        ...

    def objective_terms(self, scenario: Scenario, assignment: np.ndarray) -> ObjectiveTerms:
        """The objective of ``assignment``, term by term (cheaper than a full evaluation)."""
        ...


FAMILIES: dict[str, str] = {
    "alignment": "territory_opt.alignment.family:FAMILY",
    "districting": "territory_opt.districting.family:FAMILY",
    "leads": "territory_opt.leads.family:FAMILY",
}
"""``model:`` name → ``module:attribute`` of its :class:`Family`."""

_LOADED: dict[str, Family] = {}


def register_family(name: str, family: Family) -> None:
    """Register ``family`` under ``name`` (replacing a built-in one of that name)."""
    _LOADED[name] = family
    FAMILIES[name] = ""


def get_family(name: str) -> Family:
    """The family registered under ``name``.

    Raises
    ------
    KeyError
        With the known names, if none is registered under ``name``.
    """
    if name not in _LOADED:
        if name not in FAMILIES:
            raise KeyError(f"no problem family '{name}'; known: {', '.join(FAMILIES)}")
        module, _, attribute = FAMILIES[name].partition(":")
        _LOADED[name] = getattr(importlib.import_module(module), attribute)
    return _LOADED[name]


def family_of(scenario: Scenario) -> Family:
    """The family of ``scenario`` (by its ``model:`` name) — the one place that reads it."""
    return get_family(scenario.spec.model)
