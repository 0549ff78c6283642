"""Read one table file into a DataFrame, by a reader chosen from its suffix and nothing else.

A scenario's tables may come from someone else — a scenario folder received by mail, or a
request to the HTTP service — so a table is data, never a pointer to other data:

- the suffix picks one reader from a closed map (:data:`READERS`); the file's content must
  then look like that format (its magic bytes), or it is refused unread;
- GeoJSON is parsed as JSON here and GeoPackage through :mod:`sqlite3`, never by GDAL: GDAL
  picks a driver from a file's *content*, and some drivers (OGR VRT and the like) open any path
  or ``/vsicurl/`` URL the file names. Only Shapefiles go to GDAL (pyogrio), after their header
  proved them Shapefiles, and no driver that follows a path can claim such a header;
- Parquet is read by pyarrow from a file handle opened here; column chunks stored in another
  file are refused;
- :func:`reading_limits` caps rows and decoded bytes (the service sets it around a request,
  so a small compressed upload cannot expand without bound);
- a CSV is UTF-8, comma-separated with decimal points unless its :class:`TextFormat` (the
  table's ``encoding``, ``sep`` and ``decimal`` in the scenario) says otherwise, the way Excel
  writes them in much of Europe; a file that does not fit says which setting would read it.

Every failure is a :class:`~territory_opt.errors.ScenarioError` naming the file.
"""

from __future__ import annotations

import codecs
import contextlib
import contextvars
import csv
import errno
import io
import json
import re
import sqlite3
import stat
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from territory_opt.errors import ScenarioError, scenario_error

GEOMETRY_COLUMN = "__geometry__"
"""Column of a geo table's features (shapely, WGS84); no CSV or attribute uses this name."""
MAX_LISTED_ROWS = 5


@dataclass(frozen=True)
class ReadingLimits:
    """Caps on what one table may hold once read (None: no cap)."""

    max_rows: int | None = None
    max_decoded_bytes: int | None = None
    """Parquet: the column chunks' uncompressed size, from the footer, before reading."""


NO_LIMITS = ReadingLimits()
_LIMITS: contextvars.ContextVar[ReadingLimits] = contextvars.ContextVar(
    "territory_opt_reading_limits")


@contextlib.contextmanager
def reading_limits(limits: ReadingLimits) -> Iterator[None]:
    """Apply ``limits`` to every table read in this context (the service's uploads)."""
    token = _LIMITS.set(limits)
    try:
        yield
    finally:
        _LIMITS.reset(token)


def is_csv(path: Path) -> bool:
    """Whether ``path`` is read as CSV (its rows then have line numbers)."""
    return path.suffix.lower() == ".csv"


def not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a table (None when it is a regular file): missing, a
    directory, a named pipe, a device, a socket, or a link that loops. Said as such, since
    "does not exist" for a FIFO sends the user looking in the wrong place — and reading one
    would block, and reading /dev/zero would never end."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "which is a link to nothing" if path.is_symlink() else "which does not exist"
    except (RuntimeError, OSError) as exc:
        if getattr(exc, "errno", None) == errno.ELOOP or isinstance(exc, RuntimeError):
            return "a symbolic link that loops back on itself"
        return f"which cannot be read ({exc.strerror or exc})"
    for test, kind in ((stat.S_ISREG, None), (stat.S_ISDIR, "a directory, not a file"),
                       (stat.S_ISFIFO, "a named pipe (FIFO), not a file"),
                       (stat.S_ISCHR, "a device, not a file"),
                       (stat.S_ISBLK, "a device, not a file"),
                       (stat.S_ISSOCK, "a socket, not a file")):
        if test(mode):
            return kind
    return "not a regular file"


class TextOptions(Protocol):
    """A table's CSV settings in the scenario (the schema's table sections have them)."""

    @property
    def encoding(self) -> str | None: ...

    @property
    def sep(self) -> str | None: ...

    @property
    def decimal(self) -> str: ...


@dataclass(frozen=True)
class TextFormat:
    """How a CSV is written, and the YAML section that says so (for hints).

    Parameters
    ----------
    encoding
        A Python codec name; None is UTF-8 (a byte-order mark is skipped either way).
    sep
        The separator; None is ``,``, or ``;`` when the header has semicolons and no commas.
    decimal
        The decimal mark of numeric cells, ``.`` or ``,``.
    section
        The YAML section naming the table (``items``), so a hint can say which key to set.
    """

    encoding: str | None = None
    sep: str | None = None
    decimal: str = "."
    section: str | None = None

    @classmethod
    def of(cls, options: TextOptions | None, yaml_key: str) -> TextFormat:
        """The format a table section (``items`` for ``items.path``) asks for."""
        section = yaml_key.rsplit(".", 1)[0]
        if options is None:
            return cls(section=section)
        return cls(options.encoding, options.sep, options.decimal, section)

    def key(self, name: str) -> str:
        """The YAML key of setting ``name`` for this table (``items.encoding``)."""
        return f"{self.section}.{name}" if self.section else f"the table's {name}"


def read_table(path: Path, yaml_key: str, source: str = "scenario.yaml",
               options: TextOptions | None = None) -> pd.DataFrame:
    """The table at ``path`` (named at ``yaml_key`` of ``source``) as a DataFrame.

    Geo tables come with ``geometry_lat``/``geometry_lon`` (a point inside each feature) and
    the features in :data:`GEOMETRY_COLUMN`, all in WGS84. A CSV is read as ``options``
    (the table section's ``encoding``, ``sep`` and ``decimal``) say.

    Raises
    ------
    ScenarioError
        An unknown suffix, content that is not what the suffix says, a table over the
        reading limits, or any reader's failure, naming the file.
    """
    suffix = path.suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        raise scenario_error(f"{source}, at {yaml_key}", yaml_key.split(".")[-1],
                             f"a '{suffix}' file", f"a table ending in {', '.join(READERS)}")
    try:
        # Only a CSV has settings; it is still the map's entry for '.csv' that reads it.
        frame = (read_text_table(path, TextFormat.of(options, yaml_key)) if is_csv(path)
                 else reader(path))
    except ScenarioError:
        raise
    except Exception as exc:  # any reader failure is a malformed input file
        raise scenario_error(path, "(file)", _short(f"unreadable: {exc}"),
                             f"a valid {suffix.lstrip('.')} table") from None
    limit = _LIMITS.get(NO_LIMITS).max_rows
    if limit is not None and len(frame) > limit:
        raise _too_many_rows(path, len(frame), limit)
    twice = frame.columns[frame.columns.duplicated()]
    if len(twice):  # a Parquet or geo table may repeat a name; which one would be read?
        raise scenario_error(path, str(twice[0]), f"the column '{twice[0]}' more than once",
                             "each column name once")
    return frame


def read_text_table(path: Path, fmt: TextFormat | None = None) -> pd.DataFrame:
    """A CSV as text columns, the way spreadsheets and CRMs write them.

    Text, so ids keep their leading zeros and bad numbers can be reported as found. A UTF-8
    byte-order mark (Excel's "CSV UTF-8") is dropped; without ``fmt.sep``, a header with
    semicolons and no commas (European Excel) is read with ``;`` as the separator. Decimal
    commas (``fmt.decimal``) are read by :func:`numeric_text`, in numeric columns only.

    Raises
    ------
    ScenarioError
        Text not in the encoding (naming the first bad row and the setting that would read
        it), a header that looks split by another separator, or one that names a column twice
        (pandas would rename the second ``potential.1`` and the first would be read silently).
    """
    fmt = fmt or TextFormat()
    text = _decode(path, path.read_bytes(), fmt)
    header = text.split("\n", 1)[0]
    sep = _separator(path, header, fmt)
    names = next(csv.reader([header], delimiter=sep, skipinitialspace=True), [])
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name.strip() and name.strip() in seen:
            raise scenario_error(f"{path}, line 1", name.strip(), f"the column "
                                 f"'{_short(name.strip(), 60)}' twice (columns "
                                 f"{seen[name.strip()]} and {position})",
                                 "each column name once in the header")
        seen.setdefault(name.strip(), position)
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                        skipinitialspace=True, sep=sep)
    _remember_lines(path, text, sep, len(frame))
    # On the frame, not in a module registry keyed by path: the service reads many uploads.
    frame.attrs[TEXT_FORMAT] = TextFormat(fmt.encoding, sep, fmt.decimal, fmt.section)
    return frame


def _decode(path: Path, raw: bytes, fmt: TextFormat) -> str:
    """The file's text in ``fmt.encoding`` (UTF-8 by default), without a byte-order mark."""
    encoding = fmt.encoding or "utf-8"
    utf8 = codecs.lookup(encoding).name == "utf-8"
    if not utf8 and raw.startswith(codecs.BOM_UTF8):  # mojibake in the first column name
        raise scenario_error(f"{path}, line 1", "(encoding)", "a UTF-8 byte-order mark, but "
                             f"{fmt.key('encoding')} is '{encoding}'",
                             f"no {fmt.key('encoding')} (the file is UTF-8)")
    try:
        text = raw.decode("utf-8-sig" if utf8 else encoding)
    except UnicodeDecodeError as exc:
        if fmt.encoding is None:
            raise _not_utf8(path, raw, exc, fmt) from None
        raise _not_in_encoding(path, raw, exc, fmt) from None
    return text.removeprefix("\ufeff")  # e.g. UTF-16 read as 'utf-16-le' keeps its mark


def _separator(path: Path, header: str, fmt: TextFormat) -> str:
    """The separator ``fmt`` gives, or the one the header shows; refuses a header that would
    be read as one column holding semicolons, or a decimal comma in a comma-separated file."""
    if fmt.sep is not None:
        names = next(csv.reader([header], delimiter=fmt.sep), [])
        if len(names) == 1 and "," in header and fmt.sep != ",":
            # The declared separator splits nothing, commas would: a comma-separated file.
            shown = "tab" if fmt.sep == "\t" else repr(fmt.sep)
            raise scenario_error(f"{path}, line 1", "(header)",
                                 f"one column '{_short(header)}' (split at {shown}, as "
                                 f"{fmt.key('sep')} says)",
                                 f"a header split by {shown}, or `{fmt.key('sep')}: ','` (or "
                                 "no sep) if the file is comma-separated")
        return fmt.sep
    sep = ";" if ";" in header and "," not in header else ","
    by_comma = next(csv.reader([header], skipinitialspace=True), [])
    by_semicolon = next(csv.reader([header], delimiter=";", skipinitialspace=True), [])
    if sep == "," and any(";" in n for n in by_comma) and len(by_semicolon) > len(by_comma):
        # A semicolon file whose header also holds a comma (a name like 'Umsatz, EUR'):
        # read with ',' its rows would split at every decimal comma instead.
        name = next(n for n in by_comma if ";" in n)
        raise scenario_error(f"{path}, line 1", "(header)", f"a column '{_short(name, 60)}' "
                             f"holding semicolons ({len(by_semicolon)} columns if split "
                             "at ';')", f"a comma-separated header, or set "
                             f"`{fmt.key('sep')}: ';'` if the file is semicolon-separated "
                             "(Excel in much of Europe)")
    if sep == "," and fmt.decimal == ",":
        raise scenario_error(f"{path}, line 1", "(header)", "a comma-separated header, while "
                             f"{fmt.key('decimal')} is ','", f"`{fmt.key('sep')}` set to the "
                             "file's separator (';' for Excel), or decimal points")
    return sep


_FIRST_LINES: dict[Path, np.ndarray] = {}
"""CSV path → the physical line of each data row, for files where rows and lines differ (a
quoted cell holding a newline, blank lines); other CSVs have row r on line r + 2."""


def _remember_lines(path: Path, text: str, sep: str, rows: int) -> None:
    _FIRST_LINES.pop(path, None)
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if lines == rows + 1:
        return
    starts, previous = [], 0
    reader = csv.reader(io.StringIO(text), delimiter=sep, skipinitialspace=True)
    for number, record in enumerate(reader):
        if number and any(cell.strip() for cell in record):  # pandas skips blank lines too
            starts.append(previous + 1)
        previous = reader.line_num
    if len(starts) == rows:
        _FIRST_LINES[path] = np.asarray(starts, dtype=np.int64)


def _not_utf8(path: Path, raw: bytes, exc: UnicodeDecodeError, fmt: TextFormat
              ) -> ScenarioError:
    """Which row holds the first byte that is not UTF-8, what the file probably is, and the
    ``encoding`` setting that would read it."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        guess, codec = "UTF-16 (Excel's 'Unicode Text')", "utf-16"
    else:
        start = raw.rfind(b"\n", 0, exc.start) + 1  # the bad byte's line, around it
        sample = raw[max(start, exc.start - 20):exc.start + 20].split(b"\n")[0]
        text = sample.decode("cp1252", errors="replace").strip()
        guess, codec = f"Windows-1252 / Latin-1, which reads it as '{text}'", "cp1252"
    return scenario_error(_line_label(path, raw, exc.start), "(encoding)",
                          f"byte 0x{raw[exc.start]:02x}, which is not UTF-8; the file looks "
                          f"like {guess}", "UTF-8 text (in Excel, Save As 'CSV UTF-8 (Comma "
                          f"delimited)'), or set `{fmt.key('encoding')}: {codec}`"
                          + (" if the file was saved by Excel on Windows"
                             if codec == "cp1252" else ""))


def _not_in_encoding(path: Path, raw: bytes, exc: UnicodeDecodeError, fmt: TextFormat
                     ) -> ScenarioError:
    """The first row with a byte the configured encoding has no character for."""
    return scenario_error(_line_label(path, raw, exc.start), "(encoding)",
                          f"byte 0x{raw[exc.start]:02x}, which is not {fmt.encoding} "
                          f"({exc.reason})", f"text in {fmt.encoding}, as "
                          f"{fmt.key('encoding')} says, or that setting changed to the "
                          "encoding the file was saved in (utf-8, cp1252, latin-1 ...)")


def _line_label(path: Path, raw: bytes, offset: int) -> str:
    """'accounts.csv, line 4 (row 3)' for the byte at ``offset``."""
    line = raw[:offset].count(b"\n") + 1
    return f"{path}, line {line}" + (f" (row {line - 1})" if line > 1 else " (the header)")


TEXT_FORMAT = "territory_opt.text_format"
"""Key of a CSV frame's ``attrs`` holding the :class:`TextFormat` it was read in (the
separator found), for :func:`numeric_text` and :func:`number_hint`."""
_COMMA_NUMBER = re.compile(r"\s*[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?\s*")
_DOTTED_NUMBER = re.compile(r"\s*[+-]?[\d.]*\d[\d.]*(,\d*)?([eE][+-]?\d+)?\s*")


def _format_of(frame: pd.DataFrame) -> TextFormat | None:
    fmt = frame.attrs.get(TEXT_FORMAT)
    return fmt if isinstance(fmt, TextFormat) else None


def numeric_text(frame: pd.DataFrame, cells: pd.Series) -> pd.Series:
    """``cells`` of a numeric column of ``frame`` ready for :func:`pandas.to_numeric`: with
    ``decimal: ','`` the comma becomes a point, and a cell holding a point is made unreadable
    (a thousands separator, '1.234', must not pass as 1.234). Other tables' cells are returned
    as given."""
    fmt = _format_of(frame)
    if fmt is None or fmt.decimal != ",":
        return cells
    text = cells.astype(object).where(cells.notna(), "").map(str)
    dotted = text.str.contains(".", regex=False)
    return text.where(~dotted, text + "?").str.replace(",", ".", regex=False)


def number_hint(frame: pd.DataFrame, found: str) -> str:
    """A hint for a cell ``found`` of ``frame`` that is not a number, when the table's decimal
    setting explains it ('' otherwise): '12,5' in a semicolon file read with decimal points,
    or '12.5' in one read with decimal commas."""
    fmt = _format_of(frame)
    if fmt is None:
        return ""
    if fmt.decimal == "." and fmt.sep != "," and _COMMA_NUMBER.fullmatch(found):
        return f" (a decimal comma: set `{fmt.key('decimal')}: ','`)"
    if fmt.decimal == "," and "." in found and _DOTTED_NUMBER.fullmatch(found):
        return (f" written with a decimal comma and no '.', as `{fmt.key('decimal')}: ','` "
                "says (no thousands separators)")
    return ""


# --- Parquet and GeoParquet ------------------------------------------------------------------

PARQUET_MAGIC = b"PAR1"


def _read_parquet(path: Path) -> pd.DataFrame:
    """Parquet from a handle opened here; GeoParquet (a ``geo`` footer entry) as a geo table."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    _expect_magic(path, PARQUET_MAGIC, "Parquet", also_at_end=True)
    with path.open("rb") as handle:
        parquet = pq.ParquetFile(handle)
        _check_parquet_footer(path, parquet.metadata)
        if b"geo" not in (parquet.schema_arrow.metadata or {}):
            frame: pd.DataFrame = parquet.read().to_pandas()
            return frame
        import geopandas as gpd

        handle.seek(0)
        return _geo_table(gpd.read_parquet(handle), path)


def _check_parquet_footer(path: Path, meta: Any) -> None:
    """Refuse, from the footer alone, chunks kept in other files and tables over the limits."""
    limits = _LIMITS.get(NO_LIMITS)
    if limits.max_rows is not None and meta.num_rows > limits.max_rows:
        raise _too_many_rows(path, meta.num_rows, limits.max_rows)
    decoded = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            if chunk.file_path:
                raise scenario_error(path, "(file)", "a column chunk stored in another file "
                                     f"({_short(repr(chunk.file_path))})",
                                     "a self-contained Parquet file")
            decoded += chunk.total_uncompressed_size
    if limits.max_decoded_bytes is not None and decoded > limits.max_decoded_bytes:
        raise scenario_error(path, "(file)", f"{decoded:,} bytes once decompressed",
                             f"at most {limits.max_decoded_bytes:,} (this server's limit)")


# --- GeoJSON --------------------------------------------------------------------------------


def _read_geojson(path: Path) -> pd.DataFrame:
    """A GeoJSON FeatureCollection, parsed as JSON and built with shapely (no GDAL)."""
    import geopandas as gpd

    head = _head(path, 64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        raise scenario_error(path, "(file)", f"content starting {_short(repr(head[:20]))}",
                             "a GeoJSON FeatureCollection (a JSON object)")
    document = json.loads(path.read_bytes().decode("utf-8-sig"), parse_constant=_no_constant)
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        kind = document.get("type") if isinstance(document, dict) else type(document).__name__
        raise scenario_error(path, "type", _short(repr(kind)), "'FeatureCollection'")
    features = document.get("features")
    if not isinstance(features, list):
        raise scenario_error(path, "features", type(features).__name__, "a list of features")
    for n, feature in enumerate(features):
        if not (isinstance(feature, dict) and feature.get("type") == "Feature"
                and isinstance(feature.get("geometry"), dict | None)
                and isinstance(feature.get("properties"), dict | None)):
            raise scenario_error(f"{path}, feature {n + 1}", "(feature)",
                                 "not a GeoJSON Feature", "an object with type 'Feature', "
                                 "a geometry object and a properties object")
    limit = _LIMITS.get(NO_LIMITS).max_rows
    if limit is not None and len(features) > limit:
        raise _too_many_rows(path, len(features), limit)
    frame = gpd.GeoDataFrame.from_features(features, crs=_geojson_crs(path, document))
    if not len(features):
        frame = gpd.GeoDataFrame(geometry=[], crs=frame.crs)
    return _geo_table(frame, path)


def _geojson_crs(path: Path, document: dict[str, Any]) -> str:
    """RFC 7946 GeoJSON is WGS84; the old ``crs`` member may name an EPSG code, nothing else
    (a free-form CRS string could ask PROJ to read files)."""
    crs = document.get("crs")
    if crs is None:
        return "EPSG:4326"
    name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
    text = str(name or "")
    for prefix in ("urn:ogc:def:crs:EPSG::", "EPSG:"):
        if text.startswith(prefix) and text[len(prefix):].isdigit():
            return "EPSG:" + text[len(prefix):]
    if text in ("urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "OGC:CRS84"):
        return "EPSG:4326"
    raise scenario_error(path, "crs", _short(repr(crs)), "no crs member (WGS84), or a named "
                         "EPSG code such as 'urn:ogc:def:crs:EPSG::3857'")


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


# --- GeoPackage -----------------------------------------------------------------------------

SQLITE_MAGIC = b"SQLite format 3\x00"
GPKG_APPLICATION_IDS = (b"GPKG", b"GP10", b"GP11")
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def _read_geopackage(path: Path) -> pd.DataFrame:
    """The one feature layer of a GeoPackage, read with :mod:`sqlite3` and shapely.

    Only base tables listed as features in ``gpkg_contents`` are read, on a read-only
    connection that trusts nothing in the schema (no functions from views or triggers)."""
    import geopandas as gpd
    import shapely

    _expect_magic(path, SQLITE_MAGIC, "GeoPackage (SQLite)")
    if _head(path, 72)[68:72] not in GPKG_APPLICATION_IDS:
        raise scenario_error(path, "(file)", "an SQLite database that is not a GeoPackage",
                             "a GeoPackage (application id GPKG)")
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        db.execute("PRAGMA trusted_schema = OFF")
        db.execute("PRAGMA query_only = ON")
        layers = db.execute(
            "SELECT c.table_name, g.column_name, g.srs_id FROM gpkg_contents c "
            "JOIN gpkg_geometry_columns g ON g.table_name = c.table_name "
            "JOIN sqlite_master m ON m.name = c.table_name AND m.type = 'table' "
            "WHERE c.data_type = 'features' ORDER BY c.rowid").fetchall()
        if len(layers) != 1:
            names = ", ".join(str(layer[0]) for layer in layers) or "none"
            raise scenario_error(path, "(layers)", f"{len(layers)} feature layers ({names})",
                                 "a GeoPackage with exactly one feature layer (a base table)")
        table, column, srs_id = layers[0]
        quoted = '"' + str(table).replace('"', '""') + '"'
        limit = _LIMITS.get(NO_LIMITS).max_rows
        count = db.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]
        if limit is not None and count > limit:
            raise _too_many_rows(path, count, limit)
        info = db.execute(f"PRAGMA table_info({quoted})").fetchall()
        key = [row[1] for row in info if row[5] == 1 and str(row[2]).upper() == "INTEGER"]
        cursor = db.execute(f"SELECT * FROM {quoted}")
        columns = [str(d[0]) for d in cursor.description]
        rows = cursor.fetchall()
        crs = _geopackage_crs(db, srs_id)
    finally:
        db.close()
    frame = pd.DataFrame.from_records(rows, columns=columns)
    blobs = frame.pop(column).to_numpy(dtype=object)
    frame = frame.drop(columns=[k for k in key if k != column])
    geometry = shapely.from_wkb([_gpkg_wkb(b) for b in blobs])
    return _geo_table(gpd.GeoDataFrame(frame, geometry=geometry, crs=crs), path)


def _geopackage_crs(db: sqlite3.Connection, srs_id: int) -> str | None:
    """The layer's CRS: an EPSG code, or the WKT the GeoPackage defines (None: undefined)."""
    row = db.execute("SELECT organization, organization_coordsys_id, definition "
                     "FROM gpkg_spatial_ref_sys WHERE srs_id = ?", (srs_id,)).fetchone()
    if row is None or srs_id in (-1, 0):
        return None
    organization, code, definition = row
    if str(organization).upper() == "EPSG" and int(code) > 0:
        return f"EPSG:{int(code)}"
    text = str(definition or "").strip()
    return text if text and text.lower() != "undefined" else None


def _gpkg_wkb(blob: Any) -> bytes | None:
    """The WKB inside a GeoPackage geometry blob (magic ``GP``, flags, srs id, envelope)."""
    if blob is None:
        return None
    data = bytes(blob)
    if data[:2] != b"GP" or len(data) < 8:
        raise ValueError("a geometry that is not a GeoPackage geometry blob")
    flags = data[3]
    if flags & 0b10000:  # the empty-geometry flag
        return None
    envelope = _ENVELOPE_BYTES.get((flags >> 1) & 0b111)
    if envelope is None:
        raise ValueError("a GeoPackage geometry with an invalid envelope code")
    return data[8 + envelope:]


# --- Shapefile ------------------------------------------------------------------------------

SHAPEFILE_MAGIC = struct.pack(">i", 9994)


def _read_shapefile(path: Path) -> pd.DataFrame:
    """A Shapefile through GDAL, once its header proved it one (so no other driver can claim
    it); its ``.shx`` and ``.dbf`` must sit beside it as plain files."""
    import geopandas as gpd

    _expect_magic(path, SHAPEFILE_MAGIC, "Shapefile")
    for part in (".shx", ".dbf"):
        sibling = path.with_suffix(part)
        if not sibling.is_file():
            raise scenario_error(path, "(file)", f"no {sibling.name} beside it",
                                 "a Shapefile with its .shx and .dbf")
    frame = gpd.read_file(path, engine="pyogrio")
    limit = _LIMITS.get(NO_LIMITS).max_rows
    if limit is not None and len(frame) > limit:
        raise _too_many_rows(path, len(frame), limit)
    return _geo_table(frame, path)


# --- shared ---------------------------------------------------------------------------------


def geo_table(frame: Any, where: Path) -> pd.DataFrame:
    """A GeoDataFrame as the geo readers return it (see :func:`_geo_table`): attributes,
    ``geometry_lat``/``geometry_lon`` and :data:`GEOMETRY_COLUMN`, in WGS84. ``where`` names
    it in messages (a file, or ``items frame`` for a frame handed in)."""
    return _geo_table(frame, where)


def _geo_table(frame: Any, path: Path) -> pd.DataFrame:
    """Attributes, a point inside each feature and the features, all in WGS84.

    A layer without a CRS is refused rather than guessed (a Shapefile without its ``.prj``
    could be in metres of any projection); so are empty and invalid geometries, by row."""
    import shapely

    if frame.crs is None:
        raise scenario_error(path, "crs", "no coordinate reference system",
                             "a layer with a CRS (a Shapefile needs its .prj beside it)")
    geometry = frame.geometry
    empty = np.flatnonzero(geometry.isna().to_numpy() | geometry.is_empty.to_numpy())
    if len(empty):
        raise scenario_error(row_label(path, empty), "geometry", "an empty geometry",
                             "a point or polygon per feature")
    invalid = np.flatnonzero(~geometry.is_valid.to_numpy())
    if len(invalid):
        reason = shapely.is_valid_reason(geometry.iloc[invalid[0]])
        raise scenario_error(row_label(path, invalid), "geometry",
                             f"an invalid geometry ({reason})",
                             "valid polygons (repair them, e.g. shapely.make_valid or QGIS "
                             "'Fix geometries')")
    if not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs("EPSG:4326")
    points = frame.geometry.representative_point()
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    table["geometry_lat"] = points.y.to_numpy()
    table["geometry_lon"] = points.x.to_numpy()
    table[GEOMETRY_COLUMN] = frame.geometry.to_numpy()
    return table


def _expect_magic(path: Path, magic: bytes, kind: str, *, also_at_end: bool = False) -> None:
    """Refuse a file whose first (and last) bytes are not ``magic``, before any reader sees
    it: the suffix promised this format."""
    ok = _head(path, len(magic)) == magic
    if ok and also_at_end:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(size - len(magic), 0))
            ok = size >= 2 * len(magic) and handle.read() == magic
    if not ok:
        head = _head(path, 16)
        raise scenario_error(path, "(file)", f"content starting {_short(repr(head))}",
                             f"a {kind} file, as its name says")


def _head(path: Path, size: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def row_label(path: Path, rows: Iterable[int]) -> str:
    """'accounts.csv, rows 3, 7 (lines 4, 8)': 1-based data rows, and a CSV's line numbers."""
    rows = list(rows)
    shown = ", ".join(str(r + 1) for r in rows[:MAX_LISTED_ROWS])
    more = f" and {len(rows) - MAX_LISTED_ROWS} more" if len(rows) > MAX_LISTED_ROWS else ""
    plural = "s" if len(rows) > 1 else ""
    lines = ""
    if is_csv(path):  # the header is line 1; rows may span lines (quoted newlines)
        first = _FIRST_LINES.get(path)
        numbers = [int(first[r]) if first is not None and r < len(first) else r + 2
                   for r in rows[:MAX_LISTED_ROWS]]
        lines = f" (line{plural} " + ", ".join(map(str, numbers)) + ")"
    return f"{path}, row{plural} {shown}{more}{lines}"


def _too_many_rows(path: Path, rows: int, limit: int) -> ScenarioError:
    return scenario_error(path, "(rows)", f"{rows:,} rows", f"at most {limit:,} (this "
                          "server's limit)")


def _short(text: str, limit: int = 120) -> str:
    """One line of at most ``limit`` characters (a reader's message can quote the input)."""
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[:limit - 3] + "..."


READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": read_text_table,
    ".parquet": _read_parquet,
    ".pq": _read_parquet,
    ".geojson": _read_geojson,
    ".json": _read_geojson,
    ".gpkg": _read_geopackage,
    ".shp": _read_shapefile,
}
"""Table suffix → its one reader. Nothing else is read."""
