"""A :class:`Scenario` from DataFrames: ``Scenario.from_frames(items, territories, rules)``.

The frames stand where ``scenario.yaml``'s tables would; ``rules`` is the rest of the YAML as a
dict (model, the items and territories column mappings, rules, objective, solver …), its table
``path`` keys optional and ignored. Nothing is written to disk: the frames become the same
:class:`~territory_opt.scenario.build.ScenarioTables` the file readers produce, and
:func:`~territory_opt.scenario.build.build_from_tables` checks and builds them exactly as it
does a scenario folder, so every problem is the one a file would give — naming ``items frame``,
``territories frame`` or ``pairs frame`` (and the 1-based row, and the column) where it would
name a file, and ``rules dict`` where it would name the YAML.

A GeoDataFrame is read as the geo readers read a GeoJSON or GeoPackage: reprojected to WGS84
(a frame without a CRS is refused), empty and invalid geometries refused by row, each
feature's representative point as ``geometry_lat``/``geometry_lon`` (the item coordinates
when the spec names no latitude/longitude: point geometries give the lat/lon), and the
features kept for the maps, :meth:`Plan.to_geodataframe` and districting's adjacency.

A named index (``gdf.set_index("GEOID")``) that is not also a column becomes a column again,
so it can be the id column; any other index is dropped (rows are by position).
"""

from __future__ import annotations

import copy
import hashlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from territory_opt.errors import Problem, ScenarioError, scenario_error
from territory_opt.scenario.build import ScenarioTables, build_from_tables
from territory_opt.scenario.document import describe, read_spec_dict
from territory_opt.scenario.model import Scenario, register_frames_builder
from territory_opt.scenario.schema import ScenarioSpec
from territory_opt.scenario.tables import GEOMETRY_COLUMN, geo_table
from territory_opt.scenario.territories import counted_territories

ITEMS_FRAME = "items frame"
TERRITORIES_FRAME = "territories frame"
PAIRS_FRAME = "pairs frame"
RULES_SOURCE = "rules dict"
"""How messages name the frames and the rules (where they would name files and the YAML)."""

__all__ = ["scenario_from_frames"]


def scenario_from_frames(
    items: pd.DataFrame,
    territories: pd.DataFrame | None,
    rules: Mapping[str, Any],
    pairs: pd.DataFrame | None = None,
    base: str | Path | None = None,
) -> Scenario:
    """Build a scenario from DataFrames or GeoDataFrames and the rest of the YAML as a dict.

    Parameters
    ----------
    items
        The items table (accounts, or the units of a districting scenario): a DataFrame, or a
        GeoDataFrame in any CRS (polygons give districting its adjacency, as a GeoJSON does).
    territories
        The territories table; None for a districting scenario with ``territories.count``.
    rules
        What ``scenario.yaml`` holds besides the tables: ``model``, ``items`` and
        ``territories`` (their column mappings; ``path`` may be left out and is ignored),
        ``rules``, ``objective``, ``solver`` … Validated by the same schema as the YAML.
    pairs
        The pair table, with a ``pairs`` section in ``rules`` naming its columns.
    base
        The folder any other file ``rules`` names is relative to (``accounts.path``, an
        adjacency table, ``map.outline``); default the current directory.

    The scenario's ``digest`` is a hash of the validated rules and of the frames' content,
    the same for the same frames; its ``path`` is None.

    Raises
    ------
    ScenarioError
        Every problem of the first stage that has any, as loading files would report it.
    """
    raw = _spec_document(rules, items, territories, pairs)
    spec = read_spec_dict(raw, RULES_SOURCE)
    tables = _tables(spec, items, territories, pairs)
    folder = Path(base) if base is not None else Path.cwd()
    return build_from_tables(spec, tables, folder, RULES_SOURCE)


def _spec_document(rules: Mapping[str, Any], items: Any, territories: Any, pairs: Any
                   ) -> dict[str, Any]:
    """``rules`` with a placeholder ``path`` for each table given as a frame (the schema asks
    for one); problems of frames that are missing or not wanted."""
    if not isinstance(rules, Mapping):
        raise scenario_error(RULES_SOURCE, "(document)", describe(rules),
                             "a mapping of scenario keys (what scenario.yaml holds)")
    raw = copy.deepcopy(dict(rules))
    problems: list[Problem] = []
    for frame, label in ((items, ITEMS_FRAME), (territories, TERRITORIES_FRAME),
                         (pairs, PAIRS_FRAME)):
        if frame is not None and not isinstance(frame, pd.DataFrame):
            problems.append(Problem(label, "(frame)", f"a {type(frame).__name__}",
                                    "a pandas DataFrame or a GeoDataFrame"))
    section = raw.get("territories")
    count = section.get("count") if isinstance(section, dict) else None
    counted = count is not None
    if territories is None and not counted:
        problems.append(Problem(TERRITORIES_FRAME, "(frame)", "nothing",
                                "a territories DataFrame, or territories.count in the rules "
                                "(districting)"))
    if territories is not None and counted:
        problems.append(Problem(f"{RULES_SOURCE}, at territories.count", "count",
                                f"{count!r}, and a territories frame too",
                                "either a territories frame or territories.count"))
    if pairs is not None and not isinstance(raw.get("pairs"), dict):
        problems.append(Problem(f"{RULES_SOURCE}, at pairs", "pairs", "nothing, but a pairs "
                                "frame was given", "a pairs section naming its columns "
                                "(item, territory, distance, loads)"))
    if pairs is None and isinstance(raw.get("pairs"), dict):
        problems.append(Problem(PAIRS_FRAME, "(frame)", "nothing, but the rules have a pairs "
                                "section", "a pairs DataFrame, or no pairs section"))
    if problems:
        raise ScenarioError(problems)
    for key, label, frame in (("items", ITEMS_FRAME, items),
                              ("territories", TERRITORIES_FRAME, territories),
                              ("pairs", PAIRS_FRAME, pairs)):
        section = raw.get(key)
        if frame is not None and isinstance(section, dict):
            raw[key] = {"path": label, **section}  # a path given is kept (and ignored)
    return raw


def _tables(spec: ScenarioSpec, items: pd.DataFrame, territories: pd.DataFrame | None,
            pairs: pd.DataFrame | None) -> ScenarioTables:
    """The frames as the file readers would have read them, and their fingerprint."""
    items_table = frame_table(items, ITEMS_FRAME)
    if territories is not None:
        territories_table = frame_table(territories, TERRITORIES_FRAME)
        territories_path = Path(TERRITORIES_FRAME)
    else:
        territories_table = counted_territories(spec.territories)
        territories_path = Path(f"{RULES_SOURCE}, at territories.count")
    pairs_table = frame_table(pairs, PAIRS_FRAME) if pairs is not None else None
    h = hashlib.sha256(spec.model_dump_json().encode())
    for table in (items_table, territories_table, pairs_table):
        h.update(b"\x00" if table is None else fingerprint(table))
    return ScenarioTables(items=items_table, items_path=Path(ITEMS_FRAME),
                          territories=territories_table, territories_path=territories_path,
                          pairs=pairs_table, pairs_path=Path(PAIRS_FRAME) if pairs is not None
                          else None, fingerprint=h.digest())


def frame_table(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """A copy of ``frame`` as a reader would return it; a GeoDataFrame as a geo table.

    Raises
    ------
    ScenarioError
        A column named twice or named :data:`GEOMETRY_COLUMN`, or a GeoDataFrame without a
        CRS or with empty or invalid geometries (by row), naming ``label``.
    """
    names = [n for n in frame.index.names if n is not None and n not in frame.columns]
    table = frame.reset_index(drop=not names)
    table.attrs = {}  # a frame of ours carries its CSV format there; this one was not read
    twice = table.columns[table.columns.duplicated()]
    if len(twice):
        raise scenario_error(label, str(twice[0]), f"the column '{twice[0]}' more than once",
                             "each column name once")
    if GEOMETRY_COLUMN in table.columns:
        raise scenario_error(label, GEOMETRY_COLUMN, "a column of that name",
                             "another name (it is where geometries are kept)")
    if not _is_geo(table):
        return pd.DataFrame(table)
    if table.crs is None:
        raise scenario_error(label, "crs", "a GeoDataFrame without a coordinate reference "
                             "system", "a CRS, e.g. gdf.set_crs('EPSG:4326') for degrees")
    return geo_table(table, Path(label))


def _is_geo(frame: pd.DataFrame) -> bool:
    """A GeoDataFrame with an active geometry column (one without is a plain table)."""
    geopandas = sys.modules.get("geopandas")  # a GeoDataFrame means geopandas is imported
    if geopandas is None or not isinstance(frame, geopandas.GeoDataFrame):
        return False
    return frame._geometry_column_name in frame.columns


def fingerprint(table: pd.DataFrame) -> bytes:
    """sha256 of a table's column names, types and values (geometries as WKB), row order
    included: the same frames give the same scenario digest."""
    h = hashlib.sha256(repr([(str(c), str(table[c].dtype)) for c in table.columns]).encode())
    plain = table.drop(columns=[GEOMETRY_COLUMN], errors="ignore")
    try:
        h.update(pd.util.hash_pandas_object(plain, index=False).to_numpy().tobytes())
    except TypeError:  # cells pandas cannot hash (lists, dicts): their text
        h.update(plain.to_csv(index=False).encode())
    if GEOMETRY_COLUMN in table.columns:
        import shapely

        for wkb in shapely.to_wkb(table[GEOMETRY_COLUMN].to_numpy()):
            h.update(b"\x00" if wkb is None else wkb)
    return h.digest()


register_frames_builder(scenario_from_frames)
