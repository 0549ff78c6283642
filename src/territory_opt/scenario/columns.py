"""Checked readers of the tables a scenario names: the file a YAML key points at, its rows and
columns, and each column as text, ids, numbers, coordinates or territory references.

Every reader appends a :class:`Problem` (file, rows, column, found, expected) to the list it is
given rather than raising, so a loader can report every problem of a table in one pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from territory_opt.errors import Problem, scenario_error
from territory_opt.scenario.model import NO_TERRITORY
from territory_opt.scenario.tables import not_a_file, number_hint, numeric_text, row_label


def table_path(base: Path, relative: str, yaml_key: str, source: str = "scenario.yaml") -> Path:
    """The table file ``relative`` to ``base`` that ``yaml_key`` names, resolved.

    Raises
    ------
    ScenarioError
        When it is not a readable file (missing, a folder, a link loop …).
    """
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


def no_rows(frame: pd.DataFrame, path: Path, yaml_key: str, what: str) -> list[Problem]:
    """A table without data rows cannot make a scenario (the solver would see an empty model)."""
    if len(frame):
        return []
    return [Problem(str(path), "(rows)", f"no rows (the table named by {yaml_key} is empty)",
                    f"at least one {what} row below the header")]


def missing_columns(
    frame: pd.DataFrame, path: Path, needed: dict[str, str], table: str
) -> list[Problem]:
    """One problem per column of ``needed`` (YAML key -> column) that ``frame`` lacks."""
    present = list(frame.columns)
    shown = ", ".join(map(str, present[:12])) + (" ..." if len(present) > 12 else "")
    return [
        Problem(str(path), column, f"no column '{column}' (named by {key}; columns are: {shown})",
                f"a column '{column}' in the {table} table, or a different name at {key}")
        for key, column in needed.items()
        if column not in frame.columns
    ]


def text_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The column as stripped strings; empty cells (and NaN) as ``""``."""
    values = frame[column].astype(object).where(frame[column].notna(), "")
    return np.asarray([str(v).strip() for v in values], dtype=object)


def blank_cells(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Per row: is the cell empty (or NaN)?"""
    return np.asarray([v == "" or v.lower() == "nan" for v in text_column(frame, column)],
                      dtype=bool)


def id_column(frame: pd.DataFrame, column: str, path: Path, problems: list[Problem]
              ) -> list[str]:
    """The column as ids: each non-empty and unique."""
    ids = [str(v) for v in text_column(frame, column)]
    blank = [i for i, v in enumerate(ids) if v == ""]
    if blank:
        problems.append(Problem(row_label(path, blank), column, "an empty id", "a non-empty id"))
    seen: dict[str, int] = {}
    for i, v in enumerate(ids):
        if v and v in seen:
            problems.append(Problem(row_label(path, [i]), column, f"duplicate id '{v}' "
                                    f"(first at row {seen[v] + 1})", "unique ids"))
        seen.setdefault(v, i)
    return ids


def number_column(
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
    values = pd.to_numeric(numeric_text(frame, text.where(~empty, "nan")),
                           errors="coerce").to_numpy(dtype=float, copy=True)
    label = f"{column}" + (f" (attribute {name})" if name and name != column else "")
    not_number = np.flatnonzero(np.isnan(values) & ~empty & (text.str.lower() != "nan").to_numpy())
    if len(not_number):
        found = str(text.iloc[not_number[0]])
        problems.append(Problem(row_label(path, not_number), label, f"'{found}'",
                                "a number" + number_hint(frame, found)))
    missing = np.flatnonzero(empty | (np.isnan(values) & (text.str.lower() == "nan").to_numpy()))
    if blank is not None:
        values[empty] = blank
        missing = np.setdiff1d(missing, np.flatnonzero(empty))
    if len(missing):
        problems.append(Problem(row_label(path, missing), label, "an empty value or NaN",
                                "a number"))
    bad = np.flatnonzero(np.isinf(values) & (values != blank)) if blank is None else np.array([])
    if len(bad):
        problems.append(Problem(row_label(path, bad), label, str(values[bad[0]]),
                                "a finite number"))
    with np.errstate(invalid="ignore"):
        below = values <= 0 if positive else values < 0
    negative = np.flatnonzero(below & ~np.isin(np.arange(len(values)), bad))  # -inf: said once
    if len(negative):
        problems.append(Problem(row_label(path, negative), label, f"{values[negative[0]]:g}",
                                "a number > 0" if positive else "a number >= 0"))
    return values


def signed_number_column(
    frame: pd.DataFrame, column: str, path: Path, problems: list[Problem],
    skip: np.ndarray | None = None,
) -> np.ndarray:
    """Column as finite floats (any sign); rows in ``skip`` are not checked."""
    values = pd.to_numeric(numeric_text(frame, frame[column]), errors="coerce").to_numpy(
        dtype=float)
    bad = np.flatnonzero(~np.isfinite(values) & (True if skip is None else ~skip))
    if len(bad):
        found = str(frame[column].iloc[bad[0]])
        problems.append(Problem(row_label(path, bad), column, f"'{found}'",
                                "a finite number" + number_hint(frame, found)))
    return values


def coordinate_column(
    frame: pd.DataFrame, column: str, path: Path, limit: float, problems: list[Problem]
) -> np.ndarray:
    """Coordinate column in degrees within ``±limit``; every cell given."""
    values = optional_coordinate_column(frame, column, path, limit, problems)
    text = text_column(frame, column)
    blank = np.asarray([v == "" or v.lower() == "nan" for v in text], dtype=bool)
    missing = np.flatnonzero(np.isnan(values) & blank)  # other NaNs were reported as non-numbers
    if len(missing):
        problems.append(Problem(row_label(path, missing), column, "an empty value or NaN",
                                f"a coordinate between -{limit:g} and {limit:g}"))
    return values


def optional_coordinate_column(
    frame: pd.DataFrame, column: str | None, path: Path, limit: float, problems: list[Problem]
) -> np.ndarray:
    """Coordinate column in degrees; NaN where empty (allowed for optional homes)."""
    if column is None:
        return np.full(len(frame), np.nan)
    text = frame[column].astype(object).where(frame[column].notna(), "").map(
        lambda v: str(v).strip()
    )
    values = pd.to_numeric(numeric_text(frame, text.where(text != "", "nan")),
                           errors="coerce").to_numpy(dtype=float)
    not_number = np.flatnonzero(np.isnan(values) & (text != "").to_numpy()
                                & (text.str.lower() != "nan").to_numpy())
    if len(not_number):
        found = str(text.iloc[not_number[0]])
        problems.append(Problem(row_label(path, not_number), column, f"'{found}'",
                                "a number of degrees" + number_hint(frame, found)))
    with np.errstate(invalid="ignore"):
        out = np.flatnonzero(~np.isnan(values) & (np.abs(values) > limit))
    if len(out):
        problems.append(Problem(row_label(path, out), column, f"{values[out[0]]:g}",
                                f"a coordinate between -{limit:g} and {limit:g}"))
    return values


def territory_column(
    frame: pd.DataFrame,
    column: str | None,
    path: Path,
    index: dict[str, int],
    problems: list[Problem],
) -> np.ndarray:
    """Territory id column -> indices into ``index``; empty cells (or no column) mean none."""
    if column is None:
        return np.full(len(frame), NO_TERRITORY, dtype=np.int64)
    values = text_column(frame, column)
    out = np.asarray([index.get(v, NO_TERRITORY) for v in values], dtype=np.int64)
    unknown = [i for i, v in enumerate(values) if v != "" and v not in index]
    if unknown:
        problems.append(Problem(row_label(path, unknown), column,
                                f"territory '{values[unknown[0]]}', which is not in the "
                                "territories table", "a territory id or an empty cell"))
    return out
