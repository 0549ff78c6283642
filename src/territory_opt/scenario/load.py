"""Load ``scenario.yaml`` and its tables into a validated :class:`Scenario`.

Every check reports the file, the row (or YAML path), the field, what was found and what was
expected. Problems are collected and raised together, so a user fixes a file in one pass.
The work is done by :mod:`.document` (the YAML), :mod:`.build` (the tables) and the readers
those use; this module is the entry point, and re-exports the names code outside
``scenario/`` imports from it.
"""

from __future__ import annotations

from pathlib import Path

from territory_opt.scenario.build import build_scenario
from territory_opt.scenario.document import (
    describe,
    problem_from_pydantic,
    read_spec,
    read_spec_dict,
    read_yaml,
)
from territory_opt.scenario.model import Scenario
from territory_opt.scenario.references import rule_references

__all__ = [
    "build_scenario",
    "describe",
    "load_scenario",
    "problem_from_pydantic",
    "read_spec_dict",
    "read_yaml",
    "rule_references",
]


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
    spec = read_spec(yaml_path)
    return build_scenario(spec, yaml_path.parent, yaml_path)
