"""Load ``scenario.yaml`` and its tables into a validated :class:`Scenario`.

Every check reports the file, the row (or YAML path), the field, what was found and what was
expected. Problems are collected and raised together, so a user fixes a file in one pass.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from territory_opt import safe_yaml
from territory_opt.errors import Problem, ScenarioError, scenario_error
from territory_opt.geo import to_lonlat
from territory_opt.scenario.model import NO_TERRITORY, Scenario, item_blocks
from territory_opt.scenario.schema import (
    Adjacency,
    ItemsTable,
    PairTable,
    ScenarioSpec,
    TerritoriesTable,
)
from territory_opt.scenario.tables import GEOMETRY_COLUMN, not_a_file, read_table
from territory_opt.scenario.tables import row_label as _row_label
from territory_opt.text import bounded_repr

SKILL_SEPARATORS = (";", ",", "|")
RESERVED_ATTRIBUTES = frozenset(
    {"items", "territory", "name", "fte", "travel", "km_mean", "km_max"}
)
"""Attribute names that would collide with KPI table columns or mean 'count the items'."""


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario.

    Parameters
    ----------
    path
        The ``scenario.yaml`` file, or a folder holding one.

    Raises
    ------
    ScenarioError
        Naming every problem found (file, row or YAML path, field, found, expected).
    """
    yaml_path = Path(path)
    if yaml_path.is_dir():
        yaml_path = yaml_path / "scenario.yaml"
    spec = _read_spec(yaml_path)
    return build_scenario(spec, yaml_path.parent, yaml_path)


def read_spec_dict(raw: Any, source: str) -> ScenarioSpec:
    """Validate an already parsed YAML/JSON document against the schema."""
    if not isinstance(raw, dict):
        raise scenario_error(source, "(document)", _describe(raw), "a mapping of scenario keys")
    try:
        spec = ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError([_problem_from_pydantic(source, err) for err in exc.errors()]) from None
    return spec


def build_scenario(spec: ScenarioSpec, base: Path, yaml_path: Path | None = None) -> Scenario:
    """Read the tables a validated ``spec`` names (relative to ``base``) and build the arrays."""
    source = str(yaml_path) if yaml_path is not None else "scenario.yaml"
    items_path = _table_path(base, spec.items.path, "items.path", source)
    p = spec.pairs
    pairs_path = _table_path(base, p.path, "pairs.path", source) if p is not None else None
    items = read_table(items_path, "items.path", source)
    if spec.territories.path is not None:
        territories_path = _table_path(base, spec.territories.path, "territories.path", source)
        territories = read_table(territories_path, "territories.path", source)
    else:  # districting by count: territories T1..Tk, nothing to read
        territories_path = Path(f"{source}, at territories.count")
        count = spec.territories.count or 0
        territories = pd.DataFrame({spec.territories.id: [f"T{j + 1}" for j in range(count)]})
    pairs = read_table(pairs_path, "pairs.path", source) if pairs_path is not None else None

    problems: list[Problem] = []
    problems += _no_rows(items, items_path, "items.path", "item")
    problems += _no_rows(territories, territories_path, "territories.path", "territory")
    if pairs is not None and pairs_path is not None:
        problems += _no_rows(pairs, pairs_path, "pairs.path", "pair")
    if problems:
        raise ScenarioError(problems)
    problems += _missing_columns(items, items_path, _item_columns(spec.items), "items")
    problems += _missing_columns(
        territories, territories_path, _territory_columns(spec.territories), "territories"
    )
    if p is not None and pairs is not None and pairs_path is not None:
        problems += _missing_columns(pairs, pairs_path, _pair_columns(p), "pairs")
    problems += rule_references(spec, source)
    if problems:
        raise ScenarioError(problems)

    t_ids = _ids(territories, spec.territories.id, territories_path, problems)
    i_ids = _ids(items, spec.items.id, items_path, problems)
    index = {tid: k for k, tid in enumerate(t_ids)}

    # Leads may come without a location; a pair table may give every distance instead.
    lat, lon = _item_coordinates(items, spec.items, items_path, problems, source,
                                 optional=spec.pairs is not None or spec.model == "leads")
    attributes = {
        name: _numeric(items, col, items_path, problems, name=name)
        for name, col in spec.items.attribute_columns().items()
    }
    tags = {
        name: _text(items, col) for name, col in spec.items.tag_columns().items()
    }
    current = _references(items, spec.items.current, items_path, index, problems, i_ids)
    lock = _references(items, spec.items.lock, items_path, index, problems, i_ids)
    _apply_yaml_locks(spec, yaml_path, i_ids, index, lock, problems)

    t = spec.territories
    home_lat = _optional_coordinate(territories, t.home_latitude, territories_path, 90, problems)
    home_lon = _optional_coordinate(territories, t.home_longitude, territories_path, 180, problems)
    if t.home_latitude is not None and not problems:
        _one_sided_home(home_lat, home_lon, territories_path, t_ids, problems)
    fte = (
        _numeric(territories, t.fte, territories_path, problems, positive=True)
        if t.fte is not None
        else np.ones(len(t_ids))
    )
    skills = tuple(
        _split_skills(v) for v in (_text(territories, t.skills) if t.skills else [""] * len(t_ids))
    )
    capacity = {
        name: _numeric(territories, col, territories_path, problems, name=name, blank=math.inf)
        for name, col in t.capacity.items()
    }
    problems += _overflowing_totals(spec, attributes, items_path, fte, territories_path)
    pair_keys, pair_km, pair_loads = (
        _pair_table(pairs, p, pairs_path, i_ids, t_ids, problems)
        if p is not None and pairs is not None and pairs_path is not None
        else (np.zeros(0, dtype=np.int64), None, {})
    )
    if problems:
        raise ScenarioError(problems)
    geometry = (np.asarray(items[GEOMETRY_COLUMN].to_numpy(), dtype=object)
                if GEOMETRY_COLUMN in items.columns else None)
    adjacency, bridges = _adjacency(spec, base, source, items_path, geometry, np.asarray(i_ids),
                                    lat, lon)
    if spec.model == "districting":
        problems += _districting_shape(spec, source, i_ids, len(t_ids), adjacency)
        if problems:
            raise ScenarioError(problems)
    accounts, accounts_path = None, None
    if spec.accounts is not None:
        # Imported here: the accounts reader reuses this module's table helpers.
        from territory_opt.scenario.accounts import read_accounts

        accounts_path = _table_path(base, spec.accounts.path, "accounts.path", source)
        accounts = read_accounts(spec.accounts, base, source, i_ids, geometry, index)
        for name in accounts.attributes:  # an attribute only the accounts have: 0 per unit
            attributes.setdefault(name, np.zeros(len(i_ids)))
    leads, lead_paths = None, []
    if spec.leads is not None:
        # Imported here: the leads reader reuses this module's table helpers.
        from territory_opt.scenario.lead_tables import read_leads

        leads = read_leads(spec.leads, base, source, items, items_path, territories,
                           territories_path, tags, index)
        lead_paths = [base / t.path for t in (spec.leads.win_rates, spec.leads.owners)
                      if t is not None]
        # A lead from an owned account is locked to its owner (an explicit lock column wins).
        lock = np.where(lock == NO_TERRITORY, leads.owner, lock)

    scenario = Scenario(
        spec=spec,
        path=yaml_path.resolve() if yaml_path is not None else None,
        digest=_digest([f for f in (yaml_path, items_path, territories_path, pairs_path,
                                    accounts_path, *lead_paths) if f is not None and f.is_file()]),
        item_ids=np.asarray(i_ids, dtype=object),
        lat=lat,
        lon=lon,
        attributes=attributes,
        tags=tags,
        current=current,
        lock=lock,
        territory_ids=np.asarray(t_ids, dtype=object),
        territory_names=(
            _text(territories, t.name) if t.name else np.asarray(t_ids, dtype=object)
        ),
        territory_region=_text(territories, t.region) if t.region else None,
        home_lat=home_lat,
        home_lon=home_lon,
        fte=fte,
        skills=skills,
        capacity=capacity,
        pair_keys=pair_keys,
        pair_km=pair_km,
        pair_loads=pair_loads,
        geometry=geometry,
        adjacency=adjacency,
        bridges=bridges,
        accounts=accounts,
        leads=leads,
    )
    if p is not None:
        problems += _unmeasured_pairs(scenario, spec.items, items_path, pairs_path)
        if problems:
            raise ScenarioError(problems)
    return scenario


# --- YAML -------------------------------------------------------------------------------------


def _read_spec(yaml_path: Path) -> ScenarioSpec:
    if not yaml_path.is_file():
        raise scenario_error(yaml_path, "(file)", "no such file", "a scenario.yaml file")
    try:
        text = yaml_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise scenario_error(yaml_path, "(encoding)", str(exc), "UTF-8 text") from None
    return read_spec_dict(read_yaml(text, str(yaml_path)), str(yaml_path))


def read_yaml(text: str, source: str) -> Any:
    """One YAML document, read by :func:`territory_opt.safe_yaml.load` (aliases capped,
    duplicate keys refused, YAML 1.2 scalars).

    Raises
    ------
    ScenarioError
        Naming ``source``, the line and column, and what is wrong there.
    """
    try:
        return safe_yaml.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark else source
        if isinstance(exc, safe_yaml.YamlRefused):
            raise scenario_error(where, "(YAML)", str(exc.problem),
                                 "plain YAML within the reader's limits (see "
                                 "docs/scenario-format.md)") from None
        raise scenario_error(where, "(YAML syntax)", _yaml_reason(exc),
                             "well-formed YAML") from None


def _yaml_reason(exc: yaml.YAMLError) -> str:
    """The parser's complaint, plus where the unclosed construct began (e.g. a ``[``)."""
    reason = str(getattr(exc, "problem", None) or exc)
    context = getattr(exc, "context", None)
    start = getattr(exc, "context_mark", None)
    if context and start is not None:
        reason += f" ({context} that starts at line {start.line + 1}, column {start.column + 1})"
    return "a syntax error: " + reason


def _problem_from_pydantic(source: str, err: Any) -> Problem:
    loc = [str(part) for part in err["loc"] if not str(part).startswith("function-after")]
    is_key = bool(loc) and loc[-1] == "[key]"  # the mapping key itself is wrong (rules.locks)
    if is_key:
        loc = loc[:-1]
    yaml_path = ".".join(loc) or "(document)"
    kind = err.get("type", "")
    if is_key:
        return Problem(f"{source}, at {yaml_path}", "(key)", _describe(err.get("input")),
                       _expected_from_pydantic(err))
    if kind == "extra_forbidden":
        return Problem(f"{source}, at {yaml_path}", loc[-1], "an unknown key", "one of the keys "
                       "documented in docs/scenario-format.md (check the spelling)")
    if kind == "missing":
        return Problem(f"{source}, at {yaml_path}", loc[-1], "nothing", "this key to be given")
    found = _describe(err.get("input"))
    return Problem(f"{source}, at {yaml_path}", loc[-1] if loc else "(document)", found,
                   _expected_from_pydantic(err))


def _expected_from_pydantic(err: Any) -> str:
    """pydantic's message as the 'expected' half: 'Input should be > 0' -> 'a number > 0'."""
    msg = str(err["msg"]).removeprefix("Input should be ")
    if err.get("type") == "value_error":  # a model validator's own sentence
        msg = "a consistent section: " + msg.removeprefix("Value error, ")
    elif msg.startswith(("greater than", "less than")):
        msg = "a number " + msg
    value = err.get("input")
    if err.get("type") == "string_type" and isinstance(value, int | float):
        msg += f" (quote it in the YAML: '{value}')"
    return msg


def _describe(value: Any) -> str:
    return bounded_repr(value)


def rule_references(spec: ScenarioSpec, source: str = "scenario.yaml") -> list[Problem]:
    """Rules and objective may only name attributes and tags the tables declare."""
    attrs = set(spec.items.attribute_columns())
    if spec.accounts is not None:
        attrs |= set(spec.accounts.attribute_columns())
    tags = set(spec.items.tag_columns())
    expected = f"one of the item attributes {sorted(attrs)}" if attrs else (
        "an attribute declared under items.attributes (none are declared)"
    )
    problems = [
        Problem(f"{source}, at items.attributes", "attributes", repr(name),
                f"a name other than {sorted(RESERVED_ATTRIBUTES)} (reserved for KPI columns "
                "and 'items' counting); map it, e.g. {'hours': '" + name + "'}")
        for name in sorted(attrs & RESERVED_ATTRIBUTES)
    ]

    def check(name: str | None, yaml_path: str, allow_items: bool = False) -> None:
        if name is None or name in attrs or (allow_items and name == "items"):
            return
        problems.append(Problem(f"{source}, at {yaml_path}", yaml_path.rsplit(".", 1)[-1],
                                repr(name), expected + (" or 'items'" if allow_items else "")))

    for i, rule in enumerate(spec.rules.balance):
        check(rule.attribute, f"rules.balance.{i}.attribute")
    for name in spec.territories.capacity:
        check(name, f"territories.capacity.{name}")
    if spec.rules.disruption is not None:
        check(spec.rules.disruption.attribute, "rules.disruption.attribute", allow_items=True)
    check(spec.objective.travel.attribute, "objective.travel.attribute")
    check(spec.objective.disruption.per, "objective.disruption.per", allow_items=True)
    if spec.objective.dispersion is not None:
        check(spec.objective.dispersion.attribute, "objective.dispersion.attribute")
    if spec.quotas is not None:
        check(spec.quotas.basis, "quotas.basis")
    if spec.pairs is not None:
        for name in spec.pairs.loads:
            check(name, f"pairs.loads.{name}")
    for i, tag in enumerate(spec.rules.eligibility):
        if tag not in tags:
            problems.append(Problem(f"{source}, at rules.eligibility.{i}", "eligibility",
                                    repr(tag), f"one of the item tags {sorted(tags)}"))
    if spec.rules.eligibility and spec.territories.skills is None:
        problems.append(Problem(f"{source}, at territories.skills", "skills", "nothing",
                                "a skills column, since rules.eligibility is given"))
    return problems


# --- tables -----------------------------------------------------------------------------------


def _table_path(base: Path, relative: str, yaml_key: str, source: str = "scenario.yaml") -> Path:
    try:
        path = (base / relative).resolve()
    except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError for a link loop
        path = None
    problem = not_a_file(base / relative) if path is None else not_a_file(path)
    if problem is not None:
        raise scenario_error(f"{source}, at {yaml_key}", yaml_key.split(".")[-1],
                             f"'{relative}', {problem}" + ("" if path is None else f" ({path})"),
                             "a table file relative to the YAML")
    assert path is not None
    return path


def _item_columns(t: ItemsTable) -> dict[str, str]:
    """YAML key -> column for every column the items table must have."""
    cols = {"items.id": t.id}
    for key in ("latitude", "longitude", "x", "y", "current", "lock"):
        value = getattr(t, key)
        if value is not None:
            cols[f"items.{key}"] = value
    cols |= {f"items.attributes.{k}": v for k, v in t.attribute_columns().items()}
    cols |= {f"items.tags.{k}": v for k, v in t.tag_columns().items()}
    return cols


def _territory_columns(t: TerritoriesTable) -> dict[str, str]:
    cols = {"territories.id": t.id}
    for key in ("name", "home_latitude", "home_longitude", "fte", "skills", "region"):
        value = getattr(t, key)
        if value is not None:
            cols[f"territories.{key}"] = value
    cols |= {f"territories.capacity.{k}": v for k, v in t.capacity.items()}
    return cols


def _pair_columns(t: PairTable) -> dict[str, str]:
    cols = {"pairs.item": t.item, "pairs.territory": t.territory}
    if t.distance is not None:
        cols["pairs.distance"] = t.distance
    cols |= {f"pairs.loads.{k}": v for k, v in t.loads.items()}
    return cols


def _no_rows(frame: pd.DataFrame, path: Path, yaml_key: str, what: str) -> list[Problem]:
    """A table without data rows cannot make a scenario (the solver would see an empty model)."""
    if len(frame):
        return []
    return [Problem(str(path), "(rows)", f"no rows (the table named by {yaml_key} is empty)",
                    f"at least one {what} row below the header")]


def _missing_columns(
    frame: pd.DataFrame, path: Path, needed: dict[str, str], table: str
) -> list[Problem]:
    present = list(frame.columns)
    shown = ", ".join(map(str, present[:12])) + (" ..." if len(present) > 12 else "")
    return [
        Problem(str(path), column, f"no column '{column}' (named by {key}; columns are: {shown})",
                f"a column '{column}' in the {table} table, or a different name at {key}")
        for key, column in needed.items()
        if column not in frame.columns
    ]


def _text(frame: pd.DataFrame, column: str) -> np.ndarray:
    values = frame[column].astype(object).where(frame[column].notna(), "")
    return np.asarray([str(v).strip() for v in values], dtype=object)


def _ids(frame: pd.DataFrame, column: str, path: Path, problems: list[Problem]) -> list[str]:
    ids = [str(v) for v in _text(frame, column)]
    blank = [i for i, v in enumerate(ids) if v == ""]
    if blank:
        problems.append(Problem(_row_label(path, blank), column, "an empty id", "a non-empty id"))
    seen: dict[str, int] = {}
    for i, v in enumerate(ids):
        if v and v in seen:
            problems.append(Problem(_row_label(path, [i]), column, f"duplicate id '{v}' "
                                    f"(first at row {seen[v] + 1})", "unique ids"))
        seen.setdefault(v, i)
    return ids


def _numeric(
    frame: pd.DataFrame,
    column: str,
    path: Path,
    problems: list[Problem],
    *,
    name: str | None = None,
    positive: bool = False,
    blank: float | None = None,
) -> np.ndarray:
    """Column as floats: finite and >= 0 (> 0 if ``positive``); ``blank`` fills empty cells."""
    raw = frame[column]
    text = raw.astype(object).where(raw.notna(), "").map(lambda v: str(v).strip())
    empty = (text == "").to_numpy()
    values = pd.to_numeric(text.where(~empty, "nan"), errors="coerce").to_numpy(
        dtype=float, copy=True
    )
    label = f"{column}" + (f" (attribute {name})" if name and name != column else "")
    not_number = np.flatnonzero(np.isnan(values) & ~empty & (text.str.lower() != "nan").to_numpy())
    if len(not_number):
        problems.append(Problem(_row_label(path, not_number), label,
                                f"'{text.iloc[not_number[0]]}'", "a number"))
    missing = np.flatnonzero(empty | (np.isnan(values) & (text.str.lower() == "nan").to_numpy()))
    if blank is not None:
        values[empty] = blank
        missing = np.setdiff1d(missing, np.flatnonzero(empty))
    if len(missing):
        problems.append(Problem(_row_label(path, missing), label, "an empty value or NaN",
                                "a number"))
    bad = np.flatnonzero(np.isinf(values) & (values != blank)) if blank is None else np.array([])
    if len(bad):
        problems.append(Problem(_row_label(path, bad), label, str(values[bad[0]]),
                                "a finite number"))
    with np.errstate(invalid="ignore"):
        below = values <= 0 if positive else values < 0
    negative = np.flatnonzero(below & ~np.isin(np.arange(len(values)), bad))  # -inf: said once
    if len(negative):
        problems.append(Problem(_row_label(path, negative), label, f"{values[negative[0]]:g}",
                                "a number > 0" if positive else "a number >= 0"))
    return values


def _coordinate(
    frame: pd.DataFrame, column: str, path: Path, limit: float, problems: list[Problem]
) -> np.ndarray:
    values = _optional_coordinate(frame, column, path, limit, problems)
    text = _text(frame, column)
    blank = np.asarray([v == "" or v.lower() == "nan" for v in text], dtype=bool)
    missing = np.flatnonzero(np.isnan(values) & blank)  # other NaNs were reported as non-numbers
    if len(missing):
        problems.append(Problem(_row_label(path, missing), column, "an empty value or NaN",
                                f"a coordinate between -{limit:g} and {limit:g}"))
    return values


def _optional_coordinate(
    frame: pd.DataFrame, column: str | None, path: Path, limit: float, problems: list[Problem]
) -> np.ndarray:
    """Coordinate column in degrees; NaN where empty (allowed for optional homes)."""
    if column is None:
        return np.full(len(frame), np.nan)
    text = frame[column].astype(object).where(frame[column].notna(), "").map(
        lambda v: str(v).strip()
    )
    values = pd.to_numeric(text.where(text != "", "nan"), errors="coerce").to_numpy(dtype=float)
    not_number = np.flatnonzero(np.isnan(values) & (text != "").to_numpy()
                                & (text.str.lower() != "nan").to_numpy())
    if len(not_number):
        problems.append(Problem(_row_label(path, not_number), column,
                                f"'{text.iloc[not_number[0]]}'", "a number of degrees"))
    with np.errstate(invalid="ignore"):
        out = np.flatnonzero(~np.isnan(values) & (np.abs(values) > limit))
    if len(out):
        problems.append(Problem(_row_label(path, out), column, f"{values[out[0]]:g}",
                                f"a coordinate between -{limit:g} and {limit:g}"))
    return values


def _one_sided_home(
    lat: np.ndarray, lon: np.ndarray, path: Path, ids: list[str], problems: list[Problem]
) -> None:
    half = np.flatnonzero(np.isnan(lat) != np.isnan(lon))
    if len(half):
        problems.append(Problem(_row_label(path, half), "home", "only one of latitude/longitude",
                                "both, or neither for a territory without a home"))


def _item_coordinates(
    frame: pd.DataFrame,
    t: ItemsTable,
    path: Path,
    problems: list[Problem],
    source: str = "scenario.yaml",
    *,
    optional: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Item latitude and longitude in degrees.

    With ``optional`` (a pair table is given) coordinates may be left out, all of them or a
    row's both cells: NaN then, and :func:`_unmeasured_pairs` checks later that the pair table
    gives every distance such an item needs.
    """
    if t.x is not None and t.y is not None and t.crs is not None:
        blank = (_blank(frame, t.x) & _blank(frame, t.y)) if optional else np.zeros(len(frame),
                                                                                    bool)
        x = _numeric_any(frame, t.x, path, problems, skip=blank)
        y = _numeric_any(frame, t.y, path, problems, skip=blank)
        lat, lon = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
        try:
            lon[~blank], lat[~blank] = to_lonlat(x[~blank], y[~blank], t.crs)
        except ValueError as exc:
            problems.append(Problem(f"{source}, at items.crs", "crs", repr(t.crs),
                                    f"a CRS pyproj knows, e.g. 'EPSG:32617' ({exc})"))
            return np.zeros(len(frame)), np.zeros(len(frame))
        bad = np.flatnonzero(~(np.isfinite(lat) & np.isfinite(lon)) & ~blank)
        if len(bad):
            problems.append(Problem(_row_label(path, bad), f"{t.x}/{t.y}", "a point outside the "
                                    f"area of {t.crs}", "coordinates valid in the stated CRS"))
        return lat, lon
    lat_col = t.latitude or "geometry_lat"
    lon_col = t.longitude or "geometry_lon"
    if lat_col not in frame.columns:
        if optional:  # every distance comes from the pair table (checked later)
            return np.full(len(frame), np.nan), np.full(len(frame), np.nan)
        problems.append(Problem(str(path), "latitude/longitude", "no coordinates",
                                "items.latitude/longitude, items.x/y/crs, or a geo table "
                                "(or a pairs table with a distance for every pair)"))
        return np.zeros(len(frame)), np.zeros(len(frame))
    if not optional:
        return (_coordinate(frame, lat_col, path, 90, problems),
                _coordinate(frame, lon_col, path, 180, problems))
    lat = _optional_coordinate(frame, lat_col, path, 90, problems)
    lon = _optional_coordinate(frame, lon_col, path, 180, problems)
    half = np.flatnonzero(_blank(frame, lat_col) != _blank(frame, lon_col))
    if len(half):
        problems.append(Problem(_row_label(path, half), f"{lat_col}/{lon_col}",
                                "only one of latitude/longitude",
                                "both, or neither for an item whose distances the pairs table "
                                "gives"))
    return lat, lon


def _adjacency(spec: ScenarioSpec, base: Path, source: str, items_path: Path,
               geometry: np.ndarray | None, ids: np.ndarray, lat: np.ndarray, lon: np.ndarray
               ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Neighbouring items (districting): from the polygons or a table, islands bridged."""
    if spec.model != "districting":
        return None, None
    from territory_opt.scenario import units

    adjacency = spec.adjacency or Adjacency()
    if adjacency.method == "table":
        assert adjacency.path is not None  # the schema insists
        path = _table_path(base, adjacency.path, "adjacency.path", source)
        edges = units.adjacency_from_table(path, ids, adjacency.a, adjacency.b)
    else:
        polygons = geometry is not None and all(
            g.geom_type in ("Polygon", "MultiPolygon") for g in geometry)
        if not polygons:
            raise scenario_error(f"{source}, at adjacency.method", "method",
                                 f"'{adjacency.method}' on {items_path.name}, whose features "
                                 "are not all polygons",
                                 "polygon units (GeoJSON, GeoPackage or Shapefile), or "
                                 "adjacency: {method: table, path: neighbours.csv}")
        assert geometry is not None
        edges = units.adjacency_from_geometry(geometry, adjacency.method)
    if not adjacency.bridges:
        return edges, np.zeros((0, 2), dtype=np.int64)
    try:
        return units.bridge_components(edges, lat, lon)
    except ValueError as exc:  # a piece without coordinates cannot be bridged
        raise scenario_error(f"{source}, at adjacency.bridges", "bridges", str(exc),
                             "coordinates for those units, neighbours for them in the "
                             "adjacency, or bridges: false") from None


def _overflowing_totals(spec: ScenarioSpec, attributes: dict[str, np.ndarray],
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


def _districting_shape(spec: ScenarioSpec, source: str, ids: list[str], k: int,
                       adjacency: np.ndarray | None) -> list[Problem]:
    """What no districting can do, from counts alone: more territories than units, or (with
    contiguity) more separate pieces of the unit graph than territories."""
    from territory_opt.scenario import units

    n = len(ids)
    at = "territories.count" if spec.territories.count is not None else "territories.path"
    if k > n:
        return [Problem(f"{source}, at {at}", at.split(".")[-1], f"{k:,} territories from "
                        f"{n:,} units", f"at most {n:,} territories (each needs a unit)")]
    if adjacency is None or not spec.rules.contiguity:
        return []
    piece = units.pieces(n, adjacency)
    count = int(piece.max()) + 1 if n else 0
    if count <= k:
        return []
    sizes = np.bincount(piece)
    small = np.flatnonzero(np.isin(piece, np.argsort(sizes, kind="stable")[:-1]))
    shown = ", ".join(ids[i] for i in small[:MAX_SHOWN]) + (" …" if len(small) > MAX_SHOWN
                                                             else "")
    return [Problem(f"{source}, at adjacency.bridges", "bridges",
                    f"false, and the units form {count:,} separate pieces (outside the largest: "
                    f"{shown}) for {k:,} territories",
                    f"bridges: true (islands joined to their nearest unit), at least {count:,} "
                    "territories, or rules.contiguity: false (each territory must be one "
                    "connected piece, and no piece can reach another)")]


MAX_SHOWN = 5


def _blank(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Per row: is the cell empty (or NaN)?"""
    return np.asarray([v == "" or v.lower() == "nan" for v in _text(frame, column)], dtype=bool)


def _numeric_any(
    frame: pd.DataFrame, column: str, path: Path, problems: list[Problem],
    skip: np.ndarray | None = None,
) -> np.ndarray:
    """Column as finite floats (any sign); rows in ``skip`` are not checked."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values) & (True if skip is None else ~skip))
    if len(bad):
        problems.append(Problem(_row_label(path, bad), column, f"'{frame[column].iloc[bad[0]]}'",
                                "a finite number"))
    return values


def _pair_table(
    frame: pd.DataFrame,
    t: PairTable,
    path: Path,
    item_ids: list[str],
    territory_ids: list[str],
    problems: list[Problem],
) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    """The pair table as sorted keys ``item × m + territory`` and values aligned with them."""
    m = len(territory_ids)
    items = _pair_references(frame, t.item, path, item_ids, "item", problems)
    territories = _pair_references(frame, t.territory, path, territory_ids, "territory",
                                   problems)
    km = _numeric(frame, t.distance, path, problems) if t.distance is not None else None
    loads = {name: _numeric(frame, col, path, problems, name=name)
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
            _row_label(path, rows), f"{t.item}/{t.territory}",
            f"a duplicate pair ('{item_ids[items[row]]}', '{territory_ids[territories[row]]}') "
            f"(first at row {first + 1})", "one row per item and territory"))
    rows = known[order]
    return (sorted_keys.astype(np.int64), None if km is None else km[rows],
            {name: values[rows] for name, values in loads.items()})


def _pair_references(
    frame: pd.DataFrame,
    column: str,
    path: Path,
    ids: list[str],
    what: str,
    problems: list[Problem],
) -> np.ndarray:
    """An id column of the pair table -> indices into ``ids``; -1 where empty or unknown."""
    index = {v: k for k, v in enumerate(ids)}
    values = _text(frame, column)
    out = np.asarray([index.get(v, -1) for v in values], dtype=np.int64)
    empty = [i for i, v in enumerate(values) if v == ""]
    if empty:
        problems.append(Problem(_row_label(path, empty), column, "an empty id",
                                f"an id of the {what} table"))
    unknown = [i for i, v in enumerate(values) if v != "" and v not in index]
    if unknown:
        table = "items" if what == "item" else "territories"
        problems.append(Problem(_row_label(path, unknown), column,
                                f"{what} '{values[unknown[0]]}', which is not in the {table} "
                                "table", f"an id of the {table} table"))
    return out


def _unmeasured_pairs(
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
        _row_label(items_path, bad_rows), coords,
        f"no coordinates, and no distance in {table} for item '{item}' and territory "
        f"'{territory}', which it may go to",
        "coordinates, a distance in the pairs table for every territory with a home the item "
        "may go to, or pairs.only_listed: true")]


def _references(
    frame: pd.DataFrame,
    column: str | None,
    path: Path,
    index: dict[str, int],
    problems: list[Problem],
    item_ids: list[str],
) -> np.ndarray:
    """Territory id column -> indices; empty cells mean none."""
    if column is None:
        return np.full(len(frame), NO_TERRITORY, dtype=np.int64)
    values = _text(frame, column)
    out = np.asarray([index.get(v, NO_TERRITORY) for v in values], dtype=np.int64)
    unknown = [i for i, v in enumerate(values) if v != "" and v not in index]
    if unknown:
        problems.append(Problem(_row_label(path, unknown), column,
                                f"territory '{values[unknown[0]]}', which is not in the "
                                "territories table", "a territory id or an empty cell"))
    return out


def _apply_yaml_locks(
    spec: ScenarioSpec,
    yaml_path: Path | None,
    item_ids: list[str],
    index: dict[str, int],
    lock: np.ndarray,
    problems: list[Problem],
) -> None:
    where = f"{yaml_path or 'scenario.yaml'}, at rules.locks"
    position = {iid: i for i, iid in enumerate(item_ids)}
    for item, territory in spec.rules.locks.items():
        if item not in position:
            problems.append(Problem(f"{where}.{item}", "item", f"'{item}'",
                                    "an item id from the items table"))
        elif territory not in index:
            problems.append(Problem(f"{where}.{item}", "territory", f"'{territory}'",
                                    "a territory id from the territories table"))
        else:
            i, k = position[item], index[territory]
            if lock[i] not in (NO_TERRITORY, k):
                problems.append(Problem(f"{where}.{item}", "territory", f"'{territory}', but the "
                                        f"lock column says '{item_ids and list(index)[lock[i]]}'",
                                        "one lock per item"))
            lock[i] = k


def _split_skills(value: str) -> frozenset[str]:
    for sep in SKILL_SEPARATORS:
        value = value.replace(sep, ";")
    return frozenset(s.strip() for s in value.split(";") if s.strip())


def _digest(paths: list[Path]) -> str:
    """sha256 over the YAML and table files, so a plan can tell if its scenario changed."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return "sha256:" + h.hexdigest()
