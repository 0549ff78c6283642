"""The scenario format's published artefacts stay true to the pydantic models.

* ``docs/scenario.schema.json`` is exactly what ``scripts/write_schema.py`` would generate now;
* the demo scenario validates against that JSON Schema (with ``jsonschema`` when installed,
  and always against :class:`ScenarioSpec`);
* every ```` ```yaml ```` example in ``docs/scenario-format.md`` is accepted by the loader's schema
  check (blocks whose first line is ``# fragment`` are partial on purpose and skipped), and the
  reference mentions every key of the schema.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from territory_opt.errors import ScenarioError
from territory_opt.scenario.document import read_spec_dict
from territory_opt.scenario.schema import ScenarioSpec, json_schema

try:
    import jsonschema
except ImportError:  # optional: fall back to pydantic alone
    jsonschema = None

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "docs" / "scenario.schema.json"
FORMAT_DOC = ROOT / "docs" / "scenario-format.md"
WRITE_SCRIPT = ROOT / "scripts" / "write_schema.py"
DEMO = ROOT / "scenarios" / "demo" / "scenario.yaml"

YAML_BLOCK = re.compile(r"^```yaml[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
FRAGMENT_MARK = "# fragment"

needs_jsonschema = pytest.mark.skipif(jsonschema is None, reason="jsonschema is not installed")


def _generated_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"


def _doc_blocks() -> list[tuple[int, str]]:
    """(line number, text) of every ```yaml block of the format reference."""
    text = FORMAT_DOC.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in YAML_BLOCK.finditer(text)]


def _is_fragment(block: str) -> bool:
    lines = block.lstrip("\n").splitlines()
    return bool(lines) and lines[0].strip() == FRAGMENT_MARK


DOC_EXAMPLES = [(line, block) for line, block in _doc_blocks() if not _is_fragment(block)]


def _validate_json_schema(document: Any) -> None:
    assert jsonschema is not None
    validator_class = jsonschema.validators.validator_for(json_schema())
    validator_class(json_schema()).validate(document)


# --- (a) the committed schema is not stale ------------------------------------------------------


def test_committed_schema_matches_models() -> None:
    assert SCHEMA_FILE.is_file(), f"{SCHEMA_FILE} is missing; run: python scripts/write_schema.py"
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert json.loads(committed) == json_schema(), (
        "docs/scenario.schema.json is stale; run: python scripts/write_schema.py"
    )
    assert committed == _generated_text(), (
        "docs/scenario.schema.json is not formatted as the script writes it; "
        "run: python scripts/write_schema.py"
    )


def test_write_schema_check_passes_on_committed_file() -> None:
    result = subprocess.run(
        [sys.executable, str(WRITE_SCRIPT), "--check"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_write_schema_check_fails_on_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "scenario.schema.json"
    stale.write_text(_generated_text().replace('"alignment"', '"alinement"'), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(WRITE_SCRIPT), "--check", "--output", str(stale)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 1
    assert "out of date" in result.stderr
    assert "write_schema.py" in result.stderr


def test_write_schema_writes_generated_text(tmp_path: Path) -> None:
    target = tmp_path / "docs" / "scenario.schema.json"
    result = subprocess.run(
        [sys.executable, str(WRITE_SCRIPT), "--output", str(target)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert target.read_bytes() == _generated_text().encode("utf-8")


# --- (b) the demo scenario is valid -------------------------------------------------------------


def test_demo_scenario_validates() -> None:
    document = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    ScenarioSpec.model_validate(document)
    if jsonschema is not None:
        _validate_json_schema(document)


@needs_jsonschema
def test_committed_schema_is_a_valid_json_schema() -> None:
    assert jsonschema is not None
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema).check_schema(schema)


@needs_jsonschema
def test_json_schema_rejects_unknown_keys() -> None:
    assert jsonschema is not None
    document = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    document["rules"]["balance"][0]["tolerence"] = document["rules"]["balance"][0].pop(
        "tolerance"
    )
    with pytest.raises(jsonschema.ValidationError):
        _validate_json_schema(document)


# --- (c) the format reference's examples parse ----------------------------------------------------


def test_format_doc_has_complete_examples() -> None:
    assert len(DOC_EXAMPLES) >= 2, "docs/scenario-format.md lost its complete YAML examples"


@pytest.mark.parametrize(
    "block", [b for _, b in DOC_EXAMPLES], ids=[f"line-{n}" for n, _ in DOC_EXAMPLES]
)
def test_format_doc_example_parses(block: str) -> None:
    document = yaml.safe_load(block)
    try:
        read_spec_dict(document, "docs/scenario-format.md")
    except ScenarioError as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"example in docs/scenario-format.md does not parse:\n{exc}\n---\n{block}")
    if jsonschema is not None:
        _validate_json_schema(document)


def _schema_keys(node: Any) -> set[str]:
    """Every property name anywhere in a JSON Schema."""
    keys: set[str] = set()
    if isinstance(node, dict):
        keys |= set(node.get("properties", {}))
        for value in node.values():
            keys |= _schema_keys(value)
    elif isinstance(node, list):
        for value in node:
            keys |= _schema_keys(value)
    return keys


def test_format_doc_mentions_every_key() -> None:
    text = FORMAT_DOC.read_text(encoding="utf-8")
    # In backticks, alone or as the last part of a dotted path: `weight`, `travel.weight`.
    missing = sorted(
        k for k in _schema_keys(json_schema())
        if not re.search(rf"`(?:[\w.]+\.)?{re.escape(k)}`", text)
    )
    assert not missing, f"docs/scenario-format.md does not document the keys {missing}"
