"""A plan as a CRM import file: ``territory-opt export``.

Formats (:data:`FORMATS`), one row per assigned item in the scenario's item order:

``salesforce-owner``
    ``Id,OwnerId``: a Data Loader update of the Account owner.
``salesforce-territory``
    ``ObjectId,Territory2Id,AssociationCause``: ObjectTerritory2Association rows for a Data
    Loader insert, cause ``Territory2Manual``.
``hubspot``
    ``Record ID,Company owner``: a HubSpot company import (HubSpot matches the owner by the
    user's email or id: point ``crm.owner_id`` at a column holding one of them).
``csv``
    ``item,territory,moved,locked`` with ``true``/``false``: the plan's assignment, readable by
    ``territory-opt evaluate --assignment``.
``geopackage``
    One ``.gpkg`` with two layers (EPSG:4326): ``assignment``, one feature per item
    (:meth:`Plan.to_geodataframe`: item, territory, territory_name, moved, locked and the
    item's polygon or point), and ``territories``, one per territory
    (:meth:`Plan.territories_geodataframe`: the KPI columns of ``territories.csv`` and the
    dissolved polygons, or the home point).
``geoparquet``
    The same two tables as GeoParquet files: the assignment at the output path, the
    territories beside it as ``<name>-territories.parquet``.

The geo formats keep every item (an unassigned one with an empty territory; ``--moves-only``
keeps the moved ones) and ignore the CSV settings (separator, decimal mark, Excel).

The CRM ids come from the scenario's ``crm`` section (columns of the items and territories
tables, re-read here because the :class:`Scenario` keeps only the columns it solves with);
without it the item and territory ids are used. Every text cell is made safe for
spreadsheets (:func:`spreadsheet_safe`); numbers (from typed tables such as Parquet) are
written at full precision without an exponent. The file is written atomically and never over
one of the scenario's or the plan's own files.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from territory_opt.atomic import write_file, write_file_with
from territory_opt.errors import Problem, ScenarioError, TerritoryOptError, scenario_error
from territory_opt.plan import (
    ACCOUNTS_FILE,
    ASSIGNMENT_FILE,
    PLAN_FILE,
    QUOTAS_FILE,
    TERRITORIES_FILE,
    Plan,
)
from territory_opt.scenario.columns import missing_columns, table_path, text_column
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.scenario.schema import ScenarioSpec
from territory_opt.scenario.tables import read_table, row_label

FORMATS = ("salesforce-owner", "salesforce-territory", "hubspot", "csv", "geopackage",
           "geoparquet")
"""The export formats, as ``--format`` names them."""

GEO_SUFFIXES = {"geopackage": ".gpkg", "geoparquet": ".parquet"}
"""The geo formats and their files' suffix (the others are CSV)."""

GEO_LAYERS = ("assignment", "territories")
"""The GeoPackage's layers (GeoParquet: the assignment file, then the territories one)."""

HEADERS: dict[str, tuple[str, ...]] = {
    "salesforce-owner": ("Id", "OwnerId"),
    "salesforce-territory": ("ObjectId", "Territory2Id", "AssociationCause"),
    "hubspot": ("Record ID", "Company owner"),
    "csv": ("item", "territory", "moved", "locked"),
}
"""Each format's exact header row."""

ASSOCIATION_CAUSE = "Territory2Manual"
"""Salesforce's cause for an account assigned to a territory by hand (or by a tool)."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters a spreadsheet reads as a formula (OWASP, CSV injection)."""

PLAN_OUTPUTS = (PLAN_FILE, ASSIGNMENT_FILE, TERRITORIES_FILE, ACCOUNTS_FILE, QUOTAS_FILE,
                "report.html", "map.png", "map.html")
"""Files of a plan directory an export must never replace."""

Cell = str | int | float | bool | None
"""A value of an exported row: text, a number, a flag, or None for an empty cell."""


@dataclass(frozen=True)
class CsvStyle:
    """How the file is written: the separator, the decimal mark, and whether it is for Excel
    (UTF-8 with a byte-order mark, so Excel reads accents right)."""

    sep: str = ","
    decimal: str = "."
    excel: bool = False

    def __post_init__(self) -> None:
        if self.sep == self.decimal:
            raise TerritoryOptError(f"--sep '{self.sep}' and --decimal '{self.decimal}' are the "
                                    "same character; use --sep ';' with --decimal ','")

    @property
    def encoding(self) -> str:
        """``utf-8-sig`` for Excel, else plain UTF-8 (CRM loaders may read a BOM as text)."""
        return "utf-8-sig" if self.excel else "utf-8"


@dataclass(frozen=True)
class Exported:
    """What an export wrote: the file, its data rows, and the unassigned items it skipped."""

    path: Path
    rows: int
    unassigned: int
    also: tuple[Path, ...] = ()
    """Other files written with it (GeoParquet's territories file)."""


@dataclass(frozen=True)
class CrmIds:
    """The CRM id of each item (account) and territory (owner, Territory2), by scenario id;
    None for an empty cell. ``rows`` gives each id's 0-based row in its table, and
    ``sources`` each YAML key's table file, for messages."""

    account: dict[str, Cell]
    owner: dict[str, Cell]
    territory: dict[str, Cell]
    rows: dict[str, dict[str, int]]
    sources: dict[str, Path]


def default_path(plan_dir: Path, fmt: str, moves_only: bool) -> Path:
    """``PLAN_DIR/export-<format>[-moves].csv`` (``.gpkg``, ``.parquet`` for the geo
    formats)."""
    suffix = GEO_SUFFIXES.get(fmt, ".csv")
    return plan_dir / f"export-{fmt}{'-moves' if moves_only else ''}{suffix}"


def territories_path(target: Path) -> Path:
    """Where GeoParquet's territories go beside the assignment ``target``:
    ``<stem>-territories.parquet``."""
    return target.with_name(f"{target.stem}-territories{target.suffix or '.parquet'}")


def export_plan(plan: Plan, plan_dir: Path, fmt: str, *, moves_only: bool = False,
                style: CsvStyle | None = None, out: Path | None = None) -> Exported:
    """Write ``plan`` in format ``fmt`` to ``out`` (default :func:`default_path`).

    Raises
    ------
    ScenarioError
        A ``crm`` column missing from its table, or an empty CRM id on an exported row.
    TerritoryOptError
        An unknown format, or an output that is a folder or one of the inputs.
    """
    if fmt not in HEADERS and fmt not in GEO_SUFFIXES:
        raise TerritoryOptError(f"unknown format '{fmt}'; expected one of {', '.join(FORMATS)}")
    target = out if out is not None else default_path(plan_dir, fmt, moves_only)
    check_target(target, plan.scenario, plan_dir)
    if fmt in GEO_SUFFIXES:
        return export_geo(plan, plan_dir, fmt, target, moves_only=moves_only)
    style = style or CsvStyle()
    rows, unassigned = export_rows(plan, fmt, moves_only=moves_only)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_file(target, render(HEADERS[fmt], rows, style))
    return Exported(path=target, rows=len(rows), unassigned=unassigned)


def export_geo(plan: Plan, plan_dir: Path, fmt: str, target: Path, *,
               moves_only: bool = False) -> Exported:
    """Write the GeoPackage (both layers in ``target``) or the two GeoParquet files
    (``target`` and :func:`territories_path`), each atomically; ``target`` was checked.

    Raises
    ------
    TerritoryOptError
        The territories file beside a GeoParquet ``target`` is a folder or an input.
    """
    items = plan.to_geodataframe()
    if moves_only:
        items = items[items["moved"].to_numpy(dtype=bool)].reset_index(drop=True)
    territories = plan.territories_geodataframe()
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "geopackage":

        def fill(path: Path) -> None:
            for name, layer in zip(GEO_LAYERS, (items, territories), strict=True):
                layer.to_file(path, driver="GPKG", layer=name, engine="pyogrio")

        write_file_with(target, fill)
        return Exported(path=target, rows=len(items), unassigned=0)
    beside = territories_path(target)
    check_target(beside, plan.scenario, plan_dir)
    write_file(beside, _parquet_bytes(territories))
    write_file(target, _parquet_bytes(items))
    return Exported(path=target, rows=len(items), unassigned=0, also=(beside,))


def _parquet_bytes(frame: Any) -> bytes:
    """A GeoDataFrame as GeoParquet bytes."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def export_rows(plan: Plan, fmt: str, *, moves_only: bool = False
                ) -> tuple[list[list[Cell]], int]:
    """The data rows of ``fmt`` and the number of unassigned items left out."""
    frame = plan.assignment_frame()
    assigned = (plan.assignment != NO_TERRITORY)
    keep = assigned & frame["moved"].to_numpy(dtype=bool) if moves_only else assigned
    chosen = frame[keep]
    unassigned = int(np.count_nonzero(~assigned))
    if fmt == "csv":
        return [[str(r.item), str(r.territory), bool(r.moved), bool(r.locked)]
                for r in chosen.itertuples(index=False)], unassigned
    ids = crm_ids(plan.scenario)
    pairs = [(str(item), str(territory))
             for item, territory in zip(chosen["item"], chosen["territory"], strict=True)]
    return crm_rows(fmt, pairs, ids), unassigned


def crm_rows(fmt: str, pairs: Sequence[tuple[str, str]], ids: CrmIds) -> list[list[Cell]]:
    """Rows of a CRM format for (item, territory) pairs.

    Raises
    ------
    ScenarioError
        An empty CRM id, or one account given two different owners (a CRM loader would keep
        whichever row came last).
    """
    target_key = "crm.territory_id" if fmt == "salesforce-territory" else "crm.owner_id"
    targets = ids.territory if fmt == "salesforce-territory" else ids.owner
    problems = _blank_ids(ids, "crm.account_id", ids.account, [i for i, _ in pairs])
    problems += _blank_ids(ids, target_key, targets, [t for _, t in pairs])
    rows: list[list[Cell]] = []
    first: dict[Any, tuple[str, Cell]] = {}
    for item, territory in pairs:
        account, target = ids.account[item], targets[territory]
        seen = first.setdefault(_key(account), (item, target))
        if _key(seen[1]) != _key(target) and len(problems) < 10:
            problems.append(Problem(
                str(ids.sources.get("crm.account_id", "scenario.yaml")), "crm.account_id",
                f"account '{account}' for items '{seen[0]}' and '{item}', which go to "
                "different territories", "one item per CRM account (or items of one account in "
                "one territory)"))
        row: list[Cell] = [account, target]
        if fmt == "salesforce-territory":
            row.append(ASSOCIATION_CAUSE)
        rows.append(row)
    if problems:
        raise ScenarioError(problems)
    return rows


def _key(value: Cell) -> Any:
    """A cell as a dictionary key: ``1`` and ``1.0`` the same, text by its text."""
    return value if not isinstance(value, str) else ("text", value)


def _blank_ids(ids: CrmIds, key: str, values: dict[str, Cell], used: list[str]
               ) -> list[Problem]:
    """One problem naming the rows whose CRM id under ``key`` is empty but exported."""
    blank = sorted({ids.rows[key][u] for u in used if key in ids.rows and values[u] is None})
    if not blank:
        return []
    column = key.split(".")[-1]
    return [Problem(row_label(ids.sources[key], blank), column,
                    f"an empty CRM id (the column named by {key})",
                    "a CRM id on every row the export writes")]


def crm_ids(scenario: Scenario) -> CrmIds:
    """The CRM ids of the scenario's items and territories (see :class:`CrmIds`).

    Raises
    ------
    ScenarioError
        A column the ``crm`` section names that its table lacks, naming the YAML key, the
        file and the column; or a ``crm`` territory column without a territories table.
    """
    spec = scenario.spec
    items: dict[str, Cell] = {str(i): str(i) for i in scenario.item_ids}
    territories: dict[str, Cell] = {str(t): str(t) for t in scenario.territory_ids}
    columns = _crm_columns(spec)
    if not columns or scenario.path is None:
        return CrmIds(account=items, owner=territories, territory=dict(territories), rows={},
                      sources={})
    item_keys = {k: c for k, c in columns.items() if k == "crm.account_id"}
    territory_keys = {k: c for k, c in columns.items() if k != "crm.account_id"}
    tables = _crm_tables(spec, scenario.path, bool(item_keys), bool(territory_keys))
    problems: list[Problem] = []
    for table, keys in (("items", item_keys), ("territories", territory_keys)):
        if keys:
            frame, path = tables[table]
            problems += missing_columns(frame, path, keys, table)
    if problems:
        raise ScenarioError(problems)
    found = {"crm.account_id": items, "crm.owner_id": territories,
             "crm.territory_id": dict(territories)}
    rows: dict[str, dict[str, int]] = {}
    sources: dict[str, Path] = {}
    for key, column in columns.items():
        table = "items" if key == "crm.account_id" else "territories"
        frame, sources[key] = tables[table]
        id_col = spec.items.id if table == "items" else spec.territories.id
        found[key], rows[key] = _column_by_id(frame, id_col, column)
    return CrmIds(account=found["crm.account_id"], owner=found["crm.owner_id"],
                  territory=found["crm.territory_id"], rows=rows, sources=sources)


def _crm_columns(spec: ScenarioSpec) -> dict[str, str]:
    """YAML key -> column of each ``crm`` key that is set."""
    crm = spec.crm
    if crm is None:
        return {}
    wanted = {"crm.account_id": crm.account_id, "crm.owner_id": crm.owner_id,
              "crm.territory_id": crm.territory_id}
    return {key: column for key, column in wanted.items() if column is not None}


def _crm_tables(spec: ScenarioSpec, yaml_path: Path, items: bool, territories: bool
                ) -> dict[str, tuple[pd.DataFrame, Path]]:
    """The items and/or territories tables as read (all columns), with their files."""
    base, source = yaml_path.parent, str(yaml_path)
    out: dict[str, tuple[pd.DataFrame, Path]] = {}
    if items:
        path = table_path(base, spec.items.path, "items.path", source)
        # The table section's encoding and separator: read the file as the loader did.
        out["items"] = read_table(path, "items.path", source, options=spec.items), path
    if territories:
        if spec.territories.path is None:
            key = "crm.owner_id" if spec.crm and spec.crm.owner_id else "crm.territory_id"
            raise scenario_error(f"{source}, at {key}", key.split(".")[-1],
                                 "a territories column, but the territories have no table "
                                 "(territories.count)", "territories.path with that column")
        path = table_path(base, spec.territories.path, "territories.path", source)
        out["territories"] = (read_table(path, "territories.path", source,
                                         options=spec.territories), path)
    return out


def _column_by_id(frame: pd.DataFrame, id_col: str, column: str
                  ) -> tuple[dict[str, Cell], dict[str, int]]:
    """``column``'s cell and row per id of ``id_col`` (ids stripped, as the scenario has them)."""
    keys = [str(k) for k in text_column(frame, id_col)]
    values = {k: _cell(v) for k, v in zip(keys, frame[column].tolist(), strict=True)}
    return values, {k: row for row, k in enumerate(keys)}


def _cell(value: Any) -> Cell:
    """A table value as a cell: text stripped, numbers kept as numbers, blanks as None."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    text = str(value).strip()
    return text if text and text.lower() not in ("nan", "<na>") else None


# --- writing ---------------------------------------------------------------------------------


def render(header: Sequence[str], rows: Sequence[Sequence[Cell]], style: CsvStyle) -> bytes:
    """The CSV bytes: header, then the rows, each cell through :func:`cell_text`."""
    buffer = io.StringIO()
    # "\n": what pandas and the plan's own CSVs use; Excel and both CRMs read it.
    writer = csv.writer(buffer, delimiter=style.sep, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([cell_text(c, style.decimal) for c in row] for row in rows)
    return buffer.getvalue().encode(style.encoding)


def cell_text(value: Cell, decimal: str = ".") -> str:
    """A cell as written: ``true``/``false``, a number in full, text made spreadsheet-safe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number_text(value, decimal)
    return spreadsheet_safe(value)


def number_text(value: float, decimal: str = ".") -> str:
    """Every digit ``repr`` would give, never an exponent: ``10500000``, ``0.1``, ``1e-7`` as
    ``0.0000001`` (a CRM reads ``1.05e+07`` as text, or worse as another number)."""
    if not math.isfinite(value):
        return spreadsheet_safe(str(value))  # "-inf" would read as a formula
    text = np.format_float_positional(value, unique=True, trim="-")
    return text.replace(".", decimal)


def spreadsheet_safe(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would run it as a formula (a first
    ``=``, ``+``, ``-``, ``@``, tab or carriage return; OWASP's advice against CSV injection).
    Excel shows the cell as the text, without the quote."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


# --- where not to write ----------------------------------------------------------------------


def check_target(target: Path, scenario: Scenario, plan_dir: Path) -> None:
    """Refuse an output that is a folder or one of the inputs (the scenario's YAML and
    tables, the plan's own files): an export must never destroy what it was made from.

    Raises
    ------
    TerritoryOptError
        Naming the file and what it is.
    """
    if target.is_dir():
        raise TerritoryOptError(f"{target} is a folder; give --out a file name")
    for path, what in input_files(scenario, plan_dir):
        if _same_file(target, path):
            raise TerritoryOptError(f"refusing to write {target}: it is {what} ({path}); "
                                    "choose another --out (an export never replaces its "
                                    "inputs)")


def input_files(scenario: Scenario, plan_dir: Path) -> list[tuple[Path, str]]:
    """Each input of an export with what it is: the YAML, every table it names, the plan's
    files."""
    out = [(plan_dir / name, f"the plan's {name}") for name in PLAN_OUTPUTS]
    if scenario.path is None:
        return out
    out.append((scenario.path, "the scenario's YAML"))
    base = scenario.path.parent
    for key, relative in _table_keys(scenario.spec):
        out.append((base / relative, f"the scenario's table at {key}"))
    return out


def _table_keys(spec: ScenarioSpec) -> list[tuple[str, str]]:
    """(YAML key, relative path) of every table file the spec names."""
    # Every `path` key of the spec is a file relative to the YAML (items, territories, pairs,
    # accounts, adjacency, win rates, owners, map outline): walking the dump keeps this list
    # right when a section with a table is added.
    return list(_paths_in(spec.model_dump(), ""))


def _paths_in(node: Any, prefix: str) -> Iterator[tuple[str, str]]:
    """(dotted key, value) of every ``path`` string under ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{prefix}.{key}" if prefix else str(key)
            if key == "path" and isinstance(value, str):
                yield where, value
            else:
                yield from _paths_in(value, where)
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from _paths_in(value, f"{prefix}[{n}]")


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (through links, ``..`` and hard links)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a link loop: compare the names as given
        return os.path.abspath(a) == os.path.abspath(b)
