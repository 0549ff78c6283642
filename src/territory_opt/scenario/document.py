"""The ``scenario.yaml`` document: read through :mod:`territory_opt.safe_yaml` and validated
against :class:`ScenarioSpec`, every error naming the file and the YAML path (or line and
column) with what was found and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from territory_opt import safe_yaml
from territory_opt.errors import Problem, ScenarioError, scenario_error
from territory_opt.scenario.schema import ScenarioSpec
from territory_opt.text import bounded_repr


def read_spec(yaml_path: Path) -> ScenarioSpec:
    """The validated spec in the file ``yaml_path``.

    Raises
    ------
    ScenarioError
        When the file is missing, not UTF-8, not YAML, or not a valid scenario.
    """
    if not yaml_path.is_file():
        raise scenario_error(yaml_path, "(file)", "no such file", "a scenario.yaml file")
    try:
        text = yaml_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise scenario_error(yaml_path, "(encoding)", str(exc), "UTF-8 text") from None
    return read_spec_dict(read_yaml(text, str(yaml_path)), str(yaml_path))


def read_spec_dict(raw: Any, source: str) -> ScenarioSpec:
    """Validate an already parsed YAML/JSON document against the schema."""
    if not isinstance(raw, dict):
        raise scenario_error(source, "(document)", describe(raw), "a mapping of scenario keys")
    try:
        spec = ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError([problem_from_pydantic(source, err) for err in exc.errors()]) from None
    return spec


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


def problem_from_pydantic(source: str, err: Any) -> Problem:
    """One pydantic validation error as a :class:`Problem` at its YAML path in ``source``."""
    loc = [str(part) for part in err["loc"] if not str(part).startswith("function-after")]
    is_key = bool(loc) and loc[-1] == "[key]"  # the mapping key itself is wrong (rules.locks)
    if is_key:
        loc = loc[:-1]
    yaml_path = ".".join(loc) or "(document)"
    kind = err.get("type", "")
    if is_key:
        return Problem(f"{source}, at {yaml_path}", "(key)", describe(err.get("input")),
                       _expected_from_pydantic(err))
    if kind == "extra_forbidden":
        return Problem(f"{source}, at {yaml_path}", loc[-1], "an unknown key", "one of the keys "
                       "documented in docs/scenario-format.md (check the spelling)")
    if kind == "missing":
        return Problem(f"{source}, at {yaml_path}", loc[-1], "nothing", "this key to be given")
    found = describe(err.get("input"))
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


def describe(value: Any) -> str:
    """A found value as shown in a problem: its repr, bounded in length."""
    return bounded_repr(value)
