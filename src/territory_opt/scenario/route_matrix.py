"""A pair table from a routing engine's matrix: an OSRM ``/table`` or Valhalla
``sources_to_targets`` response (``territory-opt pairs-from-matrix``).

The matrix's sources are the items and its destinations the territories' homes, each in the
order the user requested them: by default every item in the items table's order and every
territory in the territories table's order (or the ids of ``--sources``/``--destinations``
lists). Durations become minutes, distances km; unreachable pairs (null) are left out.

OSRM: ``{"code": "Ok", "durations": [[s, …], …], "distances": [[m, …], …]}`` (seconds, metres).
Valhalla: ``{"sources_to_targets": [[{"from_index", "to_index", "time", "distance"}, …], …],
"units": "kilometers" | "miles"}`` (seconds; km or miles), or its concise form
``{"sources_to_targets": {"durations": [[…]], "distances": [[…]]}}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from territory_opt.errors import TerritoryOptError
from territory_opt.scenario.build import build_scenario
from territory_opt.scenario.distance_units import KM_PER_MILE
from territory_opt.scenario.document import read_spec

Measure = Literal["duration", "distance"]

MEASURE_COLUMN = {"duration": "minutes", "distance": "km"}
"""The pair table's distance column per measure."""

MEASURE_UNIT = {"duration": "min", "distance": "km"}
"""The pair table's ``unit`` per measure."""


class MatrixError(TerritoryOptError):
    """A matrix file that is not an OSRM or Valhalla table of the scenario's shape."""


def scenario_ids(path: Path) -> tuple[list[str], list[str]]:
    """The item and territory ids of a scenario (its YAML, or a folder holding one), in table
    order. Its ``pairs:`` section and distance limit are ignored: the pair table this command
    writes may be the one the scenario names, not written yet.

    Raises
    ------
    ScenarioError
        The scenario's YAML or its items and territories tables are not valid.
    """
    yaml_path = path / "scenario.yaml" if path.is_dir() else path
    spec = read_spec(yaml_path)
    rules = spec.rules.model_copy(update={"max_distance": None, "max_distance_km": None})
    spec = spec.model_copy(update={"pairs": None, "rules": rules})
    s = build_scenario(spec, yaml_path.parent, yaml_path)
    return [str(v) for v in s.item_ids], [str(v) for v in s.territory_ids]


def read_matrix(path: Path) -> Any:
    """The parsed JSON of a matrix file.

    Raises
    ------
    MatrixError
        Not readable, or not JSON.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise MatrixError(f"cannot read the matrix {path}: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MatrixError(f"{path} is not JSON ({exc}); expected an OSRM /table or Valhalla "
                          "sources_to_targets response") from None


def engine_matrix(data: Any, measure: Measure, source: str) -> tuple[str, list[list[Any]]]:
    """(engine name, rows of values in minutes or km; None where unreachable).

    Raises
    ------
    MatrixError
        Neither format, an error response, or the measure missing from the response.
    """
    if not isinstance(data, dict):
        raise MatrixError(f"{source}: found a JSON {type(data).__name__}; expected an OSRM "
                          "/table or Valhalla sources_to_targets response (a JSON object)")
    if "sources_to_targets" in data:
        return "Valhalla", _valhalla(data, measure, source)
    if "durations" in data or "distances" in data or "code" in data:
        code = data.get("code", "Ok")
        if code != "Ok":
            raise MatrixError(f"{source}: the OSRM response says code {code!r}"
                              + (f" ({data['message']})" if "message" in data else "")
                              + "; expected 'Ok'")
        key = "durations" if measure == "duration" else "distances"
        if key not in data:
            raise MatrixError(f"{source}: the OSRM response has no '{key}' (request "
                              f"annotations={'duration' if measure == 'duration' else 'distance'}"
                              f", or choose --measure "
                              f"{'distance' if measure == 'duration' else 'duration'})")
        scale = 1 / 60 if measure == "duration" else 1 / 1000  # seconds, metres
        return "OSRM", _scaled(_rows(data[key], source, key), scale, source)
    raise MatrixError(f"{source}: found keys {sorted(data)[:6]}; expected an OSRM /table "
                      "response (durations/distances) or a Valhalla one (sources_to_targets)")


def _valhalla(data: dict[str, Any], measure: Measure, source: str) -> list[list[Any]]:
    units = data.get("units", "kilometers")
    if units not in ("kilometers", "miles"):
        raise MatrixError(f"{source}: Valhalla units {units!r}; expected 'kilometers' or "
                          "'miles'")
    per_km = KM_PER_MILE if units == "miles" else 1.0
    scale = 1 / 60 if measure == "duration" else per_km  # seconds; km or miles
    table = data["sources_to_targets"]
    if isinstance(table, dict):  # the concise form: durations / distances arrays
        key = "durations" if measure == "duration" else "distances"
        if key not in table:
            raise MatrixError(f"{source}: sources_to_targets has no '{key}'")
        return _scaled(_rows(table[key], source, f"sources_to_targets.{key}"), scale, source)
    field = "time" if measure == "duration" else "distance"
    rows = _rows(table, source, "sources_to_targets")
    out: list[list[Any]] = []
    for i, row in enumerate(rows):
        values: list[Any] = [None] * len(row)
        for j, cell in enumerate(row):
            if not isinstance(cell, dict):
                raise MatrixError(f"{source}: sources_to_targets[{i}][{j}] is not an object "
                                  "with from_index, to_index, time and distance")
            a, b = cell.get("from_index", i), cell.get("to_index", j)
            if a != i or not isinstance(b, int) or not 0 <= b < len(row):
                raise MatrixError(f"{source}: sources_to_targets[{i}][{j}] has from_index "
                                  f"{a!r}, to_index {b!r}; expected {i} and an index below "
                                  f"{len(row)}")
            values[b] = cell.get(field)
        out.append(values)
    return _scaled(out, scale, source)


def _rows(value: Any, source: str, key: str) -> list[list[Any]]:
    if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
        raise MatrixError(f"{source}: '{key}' is not a list of rows (sources × destinations)")
    return value


def _scaled(rows: list[list[Any]], scale: float, source: str) -> list[list[Any]]:
    out = []
    for i, row in enumerate(rows):
        values: list[Any] = []
        for j, v in enumerate(row):
            if v is None:
                values.append(None)
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                    or v < 0:
                raise MatrixError(f"{source}: entry [{i}][{j}] is {v!r}; expected a number "
                                  ">= 0, or null for an unreachable pair")
            values.append(float(v) * scale)
        out.append(values)
    return out


def pairs_from_matrix(data: Any, sources: Sequence[str], destinations: Sequence[str],
                      measure: Measure = "duration", source: str = "matrix"
                      ) -> tuple[pd.DataFrame, str, int]:
    """The pair table (``item``, ``territory``, ``minutes`` or ``km``) of a matrix whose rows
    are ``sources`` (item ids) and columns ``destinations`` (territory ids), the engine's
    name, and the number of unreachable pairs left out.

    Raises
    ------
    MatrixError
        Not a matrix of either engine, or rows × columns not sources × destinations.
    """
    engine, rows = engine_matrix(data, measure, source)
    if len(rows) != len(sources):
        raise MatrixError(f"{source}: {len(rows):,} rows (sources), but {len(sources):,} items; "
                          "request the matrix with every item's coordinates as sources, in "
                          "the items table's order (or give --sources)")
    bad = [i for i, row in enumerate(rows) if len(row) != len(destinations)]
    if bad:
        raise MatrixError(f"{source}: row {bad[0]} has {len(rows[bad[0]]):,} columns "
                          f"(destinations), but there are {len(destinations):,} territories; "
                          "request the matrix with every territory's home as destinations, in "
                          "the territories table's order (or give --destinations)")
    items, territories, values = [], [], []
    unreachable = 0
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            if v is None:
                unreachable += 1
                continue
            items.append(sources[i])
            territories.append(destinations[j])
            values.append(round(v, 3))
    frame = pd.DataFrame({"item": items, "territory": territories,
                          MEASURE_COLUMN[measure]: values})
    return frame, engine, unreachable


def read_id_list(path: Path, known: Sequence[str], what: str) -> list[str]:
    """Ids in a CSV's first column (with a header row), each one of ``known``.

    Raises
    ------
    MatrixError
        Unreadable, empty, or an id the scenario does not have.
    """
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise MatrixError(f"cannot read the {what} list {path}: {exc}") from None
    if frame.shape[1] == 0 or not len(frame):
        raise MatrixError(f"{path}: no ids; expected a header and one {what} id per row")
    ids = [v.strip() for v in frame.iloc[:, 0]]
    index = set(known)
    unknown = [v for v in ids if v not in index]
    if unknown:
        raise MatrixError(f"{path}: {len(unknown):,} id(s) not in the scenario's {what} table, "
                          f"e.g. {unknown[0]!r}")
    return ids


def pairs_yaml(out: Path, measure: Measure, missing: int) -> str:
    """The ``pairs:`` section a scenario needs for the table written to ``out``; ``missing``
    pairs (unreachable, or items and territories the matrix left out) need a rule."""
    unit = MEASURE_UNIT[measure]
    lines = ["pairs:", f"  path: {out.as_posix()}", f"  distance: {MEASURE_COLUMN[measure]}",
             f"  unit: {unit}"]
    if missing:
        lines.append("  only_listed: true     # forbid the pairs the table leaves out, or:")
        lines.append("  # complete: {detour: 1.3" + (", speed_kmh: 50" if unit == "min" else "")
                     + "}   # estimate them from great-circle km")
    return "\n".join(lines)
