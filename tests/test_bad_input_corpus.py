"""The bad-input corpus (``tests/bad_input/``): one folder per case, each a scenario with one
thing wrong and a ``case.yaml`` saying what the CLI must answer — the exit status, fragments of
the message — run through the real CLI. Every case must fail before any solving: no traceback,
nothing written (no plan, no temporary folder), the inputs unchanged.

``case.yaml``: ``command`` (arguments after ``territory-opt``, run in a copy of the folder),
``exit``, ``messages`` (each must appear in the output), and optionally ``setup``: what git
cannot store, made before the run — ``{fifo: NAME}``, ``{device: NAME}`` (a link to
/dev/zero), ``{directory: NAME}``, ``{symlink_loop: NAME}``. Add a case by adding a folder (or a
line to ``tests/bad_input/build.py``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import run_cli, snapshot

CORPUS = Path(__file__).resolve().parent / "bad_input"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "case.yaml").is_file())


def prepare(folder: Path, setup: dict[str, str]) -> None:
    """Make what git cannot hold."""
    for kind, name in setup.items():
        target = folder / name
        if target.exists() or target.is_symlink():
            target.unlink()
        if kind == "fifo":
            os.mkfifo(target)
        elif kind == "device":
            target.symlink_to("/dev/zero")
        elif kind == "directory":
            target.mkdir()
        elif kind == "symlink_loop":
            target.symlink_to(target.name)
        else:
            raise AssertionError(f"unknown setup {kind!r}")


def test_the_corpus_covers_the_reported_cases() -> None:
    assert len(CASES) >= 24


@pytest.mark.parametrize("name", CASES)
def test_bad_input_case(name: str, tmp_path: Path) -> None:
    expected: dict[str, Any] = yaml.safe_load((CORPUS / name / "case.yaml").read_text())
    folder = tmp_path / name
    shutil.copytree(CORPUS / name, folder, symlinks=True)
    prepare(folder, expected.get("setup", {}))
    before = snapshot_safe(folder)
    result = run_cli(*expected["command"], cwd=folder, subprocess=False)
    assert "Traceback" not in result.output, result.output
    assert result.code == expected["exit"], f"exit {result.code}\n{result.output}"
    for fragment in expected["messages"]:
        assert fragment in result.output, f"{fragment!r} not in:\n{result.output}"
    assert snapshot_safe(folder) == before, "the run wrote, removed or changed files"


def snapshot_safe(folder: Path) -> dict[str, Any]:
    """:func:`conftest.snapshot` that does not read FIFOs, devices or link loops."""
    special = {p for p in folder.rglob("*") if p.is_symlink() or p.is_fifo()}
    if not special:
        return snapshot(folder)
    return {str(p.relative_to(folder)): ("special" if p in special or p.is_dir()
                                          else p.read_bytes())
            for p in sorted(folder.iterdir())}
