"""Build a :class:`Scenario` from a validated spec: read the tables it names, check them, and
turn their columns into the arrays the solvers use.

:func:`build_scenario` reads the tables from files; :func:`build_from_tables` starts from
tables already read (the DataFrames of :mod:`territory_opt.scenario.frames`).

The steps run in a fixed order and collect problems between the points where they raise, so a
user sees every problem of a stage at once (and the same problems in the same order each time).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from territory_opt.errors import Problem, ScenarioError, scenario_error
from territory_opt.scenario.accounts import read_accounts
from territory_opt.scenario.columns import (
    id_column,
    missing_columns,
    no_rows,
    table_path,
    text_column,
)
from territory_opt.scenario.hierarchy import read_hierarchy
from territory_opt.scenario.items import ItemColumns, item_columns, read_item_columns
from territory_opt.scenario.lead_tables import read_leads
from territory_opt.scenario.leads import LeadData
from territory_opt.scenario.model import NO_TERRITORY, Accounts, Scenario
from territory_opt.scenario.neighbours import districting_shape, unit_adjacency
from territory_opt.scenario.pair_table import (
    pair_columns,
    read_pair_table,
    uncompleted_pairs,
    unmeasured_pairs,
)
from territory_opt.scenario.references import rule_references
from territory_opt.scenario.schema import ScenarioSpec
from territory_opt.scenario.tables import GEOMETRY_COLUMN, read_table
from territory_opt.scenario.territories import (
    counted_territories,
    read_territory_columns,
    territory_columns,
)


@dataclass
class ScenarioTables:
    """The tables a spec names, as read, with the file each came from.

    Tables that were not read from files (DataFrames handed in) have a label as their "path"
    (``items frame``: messages name it where they would name a file) and their content's
    ``fingerprint`` for the scenario's digest; file tables have None and are hashed by file.
    """

    items: pd.DataFrame
    items_path: Path
    territories: pd.DataFrame
    territories_path: Path
    pairs: pd.DataFrame | None
    pairs_path: Path | None
    fingerprint: bytes | None = None


def build_scenario(spec: ScenarioSpec, base: Path, yaml_path: Path | None = None) -> Scenario:
    """Read the tables a validated ``spec`` names (relative to ``base``) and build the arrays.

    Raises
    ------
    ScenarioError
        Naming every problem of the first stage that has any.
    """
    source = str(yaml_path) if yaml_path is not None else "scenario.yaml"
    tables = read_tables(spec, base, source)
    return build_from_tables(spec, tables, base, source, yaml_path)


def build_from_tables(spec: ScenarioSpec, tables: ScenarioTables, base: Path, source: str,
                      yaml_path: Path | None = None) -> Scenario:
    """Check tables already read (:func:`read_tables`, or DataFrames) and build the arrays.

    ``base`` is the folder the spec's other files (accounts, adjacency table, map outline …)
    are relative to; ``source`` names the spec in messages (the YAML file).

    Raises
    ------
    ScenarioError
        Naming every problem of the first stage that has any.
    """
    check_tables(spec, tables, source)

    problems: list[Problem] = []
    t_ids = id_column(tables.territories, spec.territories.id, tables.territories_path, problems)
    i_ids = id_column(tables.items, spec.items.id, tables.items_path, problems)
    index = {tid: k for k, tid in enumerate(t_ids)}
    # rules.locks problems name the YAML, or the spec's ``source`` when there is no file.
    items = read_item_columns(spec, tables.items, tables.items_path, i_ids, index,
                              yaml_path if yaml_path is not None else Path(source), problems,
                              source)
    territories = read_territory_columns(spec.territories, tables.territories,
                                         tables.territories_path, t_ids, problems)
    hierarchy = read_hierarchy(spec, tables.territories, tables.territories_path, problems)
    problems += overflowing_totals(spec, items.attributes, tables.items_path, territories.fte,
                                   tables.territories_path)
    p = spec.pairs
    pair_keys, pair_km, pair_loads = (
        read_pair_table(tables.pairs, p, tables.pairs_path, i_ids, t_ids, problems)
        if p is not None and tables.pairs is not None and tables.pairs_path is not None
        else (np.zeros(0, dtype=np.int64), None, {})
    )
    if problems:
        raise ScenarioError(problems)

    geometry = (np.asarray(tables.items[GEOMETRY_COLUMN].to_numpy(), dtype=object)
                if GEOMETRY_COLUMN in tables.items.columns else None)
    adjacency, bridges = unit_adjacency(spec, base, source, tables.items_path, geometry,
                                        np.asarray(i_ids), items.lat, items.lon)
    if spec.model == "districting":
        problems += districting_shape(spec, source, i_ids, len(t_ids), adjacency)
        if problems:
            raise ScenarioError(problems)
    accounts, accounts_path = attach_accounts(spec, base, source, i_ids, geometry, index,
                                              items.attributes)
    leads, lead_paths = attach_leads(spec, base, source, tables, items, index)

    t = spec.territories
    scenario = Scenario(
        spec=spec,
        path=yaml_path.resolve() if yaml_path is not None else None,
        digest=scenario_digest(yaml_path, tables, accounts_path, lead_paths),
        item_ids=np.asarray(i_ids, dtype=object),
        lat=items.lat,
        lon=items.lon,
        attributes=items.attributes,
        tags=items.tags,
        current=items.current,
        lock=items.lock,
        groups=items.groups,
        leave=items.leave,
        hierarchy=hierarchy,
        territory_ids=np.asarray(t_ids, dtype=object),
        territory_names=(
            text_column(tables.territories, t.name) if t.name
            else np.asarray(t_ids, dtype=object)
        ),
        territory_region=text_column(tables.territories, t.region) if t.region else None,
        home_lat=territories.home_lat,
        home_lon=territories.home_lon,
        fte=territories.fte,
        skills=territories.skills,
        capacity=territories.capacity,
        pair_keys=pair_keys,
        pair_km=pair_km,
        pair_loads=pair_loads,
        geometry=geometry,
        adjacency=adjacency,
        bridges=bridges,
        accounts=accounts,
        leads=leads,
        outline=map_outline(spec, base, source),
    )
    if p is not None:
        problems += unmeasured_pairs(scenario, spec.items, tables.items_path, tables.pairs_path)
        if problems:
            raise ScenarioError(problems)
        problems += uncompleted_pairs(scenario, tables.pairs_path)
        if problems:
            raise ScenarioError(problems)
    return scenario


def map_outline(spec: ScenarioSpec, base: Path, source: str) -> np.ndarray | None:
    """The polygons of ``map.outline`` (WGS84), read by the same guarded readers as every
    table; None when the scenario declares none.

    Raises
    ------
    ScenarioError
        The file is missing, unreadable, not a geo table, or holds no polygon.
    """
    layer = spec.map.outline if spec.map is not None else None
    if layer is None:
        return None
    import shapely  # only scenarios with an outline pay for the import

    path = table_path(base, layer.path, "map.outline.path", source)
    frame = read_table(path, "map.outline.path", source)
    if GEOMETRY_COLUMN not in frame.columns:
        raise scenario_error(path, "geometry", "a table without geometries",
                             "a polygon layer (.geojson, .gpkg or .shp)")
    geometry = np.asarray(frame[GEOMETRY_COLUMN].to_numpy(), dtype=object)
    polygons = np.isin(shapely.get_type_id(geometry), (3, 6))  # Polygon, MultiPolygon
    if not polygons.any():
        raise scenario_error(path, "geometry", f"{len(geometry):,} features, none a polygon",
                             "country, state or region polygons")
    return geometry[polygons]


def read_tables(spec: ScenarioSpec, base: Path, source: str) -> ScenarioTables:
    """The items, territories and pair tables (paths resolved first, so a missing pair table
    is reported before an unreadable items table)."""
    items_path = table_path(base, spec.items.path, "items.path", source)
    p = spec.pairs
    pairs_path = table_path(base, p.path, "pairs.path", source) if p is not None else None
    items = read_table(items_path, "items.path", source, spec.items)
    if spec.territories.path is not None:
        territories_path = table_path(base, spec.territories.path, "territories.path", source)
        territories = read_table(territories_path, "territories.path", source,
                                 spec.territories)
    else:
        territories_path = Path(f"{source}, at territories.count")
        territories = counted_territories(spec.territories)
    pairs = read_table(pairs_path, "pairs.path", source, p) if pairs_path is not None else None
    return ScenarioTables(items=items, items_path=items_path, territories=territories,
                          territories_path=territories_path, pairs=pairs, pairs_path=pairs_path)


def check_tables(spec: ScenarioSpec, tables: ScenarioTables, source: str) -> None:
    """Every table has rows; then every column the spec names exists and the rules name only
    declared attributes and tags.

    Raises
    ------
    ScenarioError
        After the first of those two stages that finds a problem.
    """
    problems: list[Problem] = []
    problems += no_rows(tables.items, tables.items_path, "items.path", "item")
    problems += no_rows(tables.territories, tables.territories_path, "territories.path",
                        "territory")
    if tables.pairs is not None and tables.pairs_path is not None:
        problems += no_rows(tables.pairs, tables.pairs_path, "pairs.path", "pair")
    if problems:
        raise ScenarioError(problems)
    problems += missing_columns(tables.items, tables.items_path, item_columns(spec.items),
                                "items")
    problems += missing_columns(tables.territories, tables.territories_path,
                                territory_columns(spec.territories), "territories")
    p = spec.pairs
    if p is not None and tables.pairs is not None and tables.pairs_path is not None:
        problems += missing_columns(tables.pairs, tables.pairs_path, pair_columns(p), "pairs")
    problems += rule_references(spec, source)
    if problems:
        raise ScenarioError(problems)


def attach_accounts(
    spec: ScenarioSpec,
    base: Path,
    source: str,
    item_ids: list[str],
    geometry: np.ndarray | None,
    index: dict[str, int],
    attributes: dict[str, np.ndarray],
) -> tuple[Accounts | None, Path | None]:
    """The accounts table (districting), and its path for the digest; an attribute only the
    accounts have is added to ``attributes`` as 0 per unit."""
    if spec.accounts is None:
        return None, None
    path = table_path(base, spec.accounts.path, "accounts.path", source)
    accounts = read_accounts(spec.accounts, base, source, item_ids, geometry, index)
    for name in accounts.attributes:
        attributes.setdefault(name, np.zeros(len(item_ids)))
    return accounts, path


def attach_leads(
    spec: ScenarioSpec,
    base: Path,
    source: str,
    tables: ScenarioTables,
    items: ItemColumns,
    index: dict[str, int],
) -> tuple[LeadData | None, list[Path]]:
    """The routing data of a leads scenario, and the win-rate and owner tables for the digest.

    A lead from an owned account is locked to its owner (an explicit lock wins): ``items.lock``
    is replaced accordingly.
    """
    if spec.leads is None:
        return None, []
    leads = read_leads(spec.leads, base, source, tables.items, tables.items_path,
                       tables.territories, tables.territories_path, items.tags, index)
    paths = [base / t.path for t in (spec.leads.win_rates, spec.leads.owners) if t is not None]
    items.lock = np.where(items.lock == NO_TERRITORY, leads.owner, items.lock)
    return leads, paths


def overflowing_totals(spec: ScenarioSpec, attributes: dict[str, np.ndarray],
                       items_path: Path, fte: np.ndarray, territories_path: Path
                       ) -> list[Problem]:
    """Columns whose values are finite but whose total is not: every band target is a share
    of a total, so 1e308 in each row would make every target infinite and the solve fail with
    advice to loosen tolerances."""
    problems = []
    columns = spec.items.attribute_columns()
    for name, values in attributes.items():
        with np.errstate(over="ignore", invalid="ignore"):
            total = float(np.sum(values))
        if np.isfinite(values).all() and not np.isfinite(total):
            users = [f"rules.balance.{i}" for i, rule in enumerate(spec.rules.balance)
                     if rule.attribute == name]
            used = f" (used by {', '.join(users)})" if users else ""
            problems.append(Problem(str(items_path), columns.get(name, name),
                                    f"values whose total overflows a float{used}",
                                    "values that add up to less than 1e308 (rescale the "
                                    "column, e.g. to thousands)"))
    with np.errstate(over="ignore", invalid="ignore"):
        fte_total = float(np.sum(fte))
    if np.isfinite(fte).all() and not np.isfinite(fte_total):
        problems.append(Problem(str(territories_path), spec.territories.fte or "fte",
                                "FTE values whose total overflows a float",
                                "FTE as a share of one full-time rep (e.g. 0.5, 1)"))
    return problems


def scenario_digest(yaml_path: Path | None, tables: ScenarioTables,
                    accounts_path: Path | None, lead_paths: list[Path]) -> str:
    """The scenario's :func:`digest`: its YAML and table files, or (tables handed in as
    DataFrames) their fingerprint and the files the spec names besides."""
    table_files = ((tables.items_path, tables.territories_path, tables.pairs_path)
                   if tables.fingerprint is None else ())
    return digest([f for f in (yaml_path, *table_files, accounts_path, *lead_paths)
                   if f is not None and f.is_file()], tables.fingerprint or b"")


def digest(paths: list[Path], content: bytes = b"") -> str:
    """sha256 over ``content`` (tables not read from files), then the YAML and table files,
    so a plan can tell if its scenario changed."""
    h = hashlib.sha256()
    h.update(content)
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return "sha256:" + h.hexdigest()
