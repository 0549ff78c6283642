"""docs/api.md stays true: its ```python blocks run in order as one session, and it names every
public name of ``territory_opt``."""

from __future__ import annotations

import re
import tempfile
import traceback
from pathlib import Path

import pytest

import territory_opt

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a Markdown text, in order."""
    return BLOCK.findall(text)


def test_python_blocks_find_fenced_code_only() -> None:
    text = "intro\n```python\na = 1\n```\n```\nnot python\n```\n```python\nb = a\n```\n"
    assert python_blocks(text) == ["a = 1\n", "b = a\n"]


def test_api_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every block, in order, in one namespace, from the repository root; the examples'
    ``tempfile.mkdtemp()`` folders land in ``tmp_path``."""
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 8, "docs/api.md lost its examples"
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    namespace: dict[str, object] = {"__name__": "api_docs"}
    for number, source in enumerate(blocks, start=1):
        first = source.strip().splitlines()[0]
        try:
            exec(compile(source, f"docs/api.md block {number}", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"docs/api.md block {number} ({first!r}) failed: "
                        f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}",
                        pytrace=False)


def test_api_doc_names_every_public_name() -> None:
    text = DOC.read_text(encoding="utf-8")
    code = " ".join(re.findall(r"`([^`\n]+)`", text))  # inline code spans
    missing = [name for name in territory_opt.__all__
               if not re.search(rf"\b{re.escape(name)}\b", code)]
    assert not missing, f"docs/api.md does not mention {missing}"
    headings = set(re.findall(r"^## (\S+)$", text, re.MULTILINE))
    undocumented = [name for name in territory_opt.__all__
                    if not name.startswith("_") and name not in headings]
    assert not undocumented, f"docs/api.md has no section for {undocumented}"
