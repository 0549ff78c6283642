"""A request's scenario and tables → a validated :class:`Scenario`, without server paths.

A request carries the ``scenario.yaml`` document (as JSON) and its tables by name — CSV text,
a list of row objects, a GeoJSON object, or uploaded files. Table names must be plain file
names, and every ``path`` in the document must name one of them: a request can never make the
server read one of its own files. The tables are written into a private temporary folder and
loaded by the same loader as the command line, so a bad scenario gets the same field-level
messages, with the temporary folder's name taken out.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from territory_opt.errors import Problem, ScenarioError
from territory_opt.scenario.load import load_scenario
from territory_opt.scenario.model import Scenario
from territory_opt.scenario.tables import NO_LIMITS, ReadingLimits, reading_limits

TABLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
TABLE_SUFFIXES = (".csv", ".parquet", ".geojson", ".json", ".gpkg", ".shp", ".shx", ".dbf",
                  ".prj", ".cpg")

TableData = str | list[dict[str, Any]] | dict[str, Any]
"""A table in a JSON request: CSV text, row objects, or a GeoJSON object."""


def table_files(tables: Mapping[str, TableData | bytes]) -> dict[str, bytes]:
    """The request's tables as file contents, after checking their names.

    Raises
    ------
    ScenarioError
        A name that is a path or not a table file, or rows that are not objects.
    """
    problems = [p for name in tables if (p := name_problem(name)) is not None]
    if problems:
        raise ScenarioError(problems)
    return {name: _as_bytes(name, data) for name, data in tables.items()}


def name_problem(name: str) -> Problem | None:
    """Why ``name`` cannot be a table's name (None when it can)."""
    if "/" in name or "\\" in name or name.startswith(".") or ".." in name:
        return Problem("request", f"tables.{name}", repr(name),
                       "a plain file name, not a path: the service never reads its own files")
    if not TABLE_NAME.fullmatch(name) or not name.lower().endswith(TABLE_SUFFIXES):
        return Problem("request", f"tables.{name}", repr(name),
                       f"a file name ending in one of {', '.join(TABLE_SUFFIXES)}")
    return None


def path_problems(document: Any, names: set[str], where: str = "scenario") -> list[Problem]:
    """Every ``path`` in the scenario document must name one of the request's tables."""
    problems: list[Problem] = []
    if isinstance(document, dict):
        for key, value in document.items():
            here = f"{where}.{key}"
            if key == "path" and isinstance(value, str):
                problem = name_problem(value)
                if problem is not None:
                    problems.append(Problem("request", here, repr(value), problem.expected))
                elif value not in names:
                    problems.append(Problem("request", here, repr(value),
                                            f"one of the request's tables {sorted(names)}"))
            else:
                problems += path_problems(value, names, here)
    elif isinstance(document, list):
        for i, value in enumerate(document):
            problems += path_problems(value, names, f"{where}.{i}")
    return problems


@contextlib.contextmanager
def scenario_from(document: dict[str, Any], files: Mapping[str, bytes],
                  limits: ReadingLimits = NO_LIMITS) -> Iterator[Scenario]:
    """Load the scenario of a request from a private temporary folder (removed afterwards),
    its tables read within ``limits``.

    Raises
    ------
    ScenarioError
        Anything wrong with the document or the tables, with the messages the command line
        gives (file, row, field, found, expected), the temporary folder's name removed.
    """
    if not isinstance(document, dict):
        raise ScenarioError([Problem("request", "scenario", type(document).__name__,
                                     "the scenario.yaml document as a JSON object")])
    problems = path_problems(document, set(files))
    if problems:
        raise ScenarioError(problems)
    folder = Path(tempfile.mkdtemp(prefix="territory-opt-job-"))
    try:
        # JSON is YAML, and keeps every string a string (a YAML dump would leave 1e5 plain,
        # which the loader reads as a number).
        (folder / "scenario.yaml").write_text(json.dumps(document, ensure_ascii=False,
                                                         indent=1), encoding="utf-8")
        for name, data in files.items():
            (folder / name).write_bytes(data)
        try:
            with reading_limits(limits):
                scenario = load_scenario(folder / "scenario.yaml")
        except ScenarioError as exc:
            raise ScenarioError([_without(p, folder) for p in exc.problems]) from None
        yield scenario
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _without(problem: Problem, folder: Path) -> Problem:
    """The problem with the temporary folder's name taken out of its texts."""
    def clean(text: str) -> str:
        return text.replace(f"{folder}/", "").replace(str(folder), ".")

    return Problem(clean(problem.where), problem.field, clean(problem.found),
                   clean(problem.expected))


def _as_bytes(name: str, data: TableData | bytes) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, dict):  # a GeoJSON object
        return json.dumps(data).encode("utf-8")
    if not all(isinstance(row, dict) for row in data):
        raise ScenarioError([Problem("request", f"tables.{name}", "a list with non-objects",
                                     "CSV text, a list of row objects or a GeoJSON object")])
    columns: list[str] = []
    for row in data:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in data)
    return buffer.getvalue().encode("utf-8")
