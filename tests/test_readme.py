"""The README's two set-up commands stay true, and CI runs them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)[:2]


def test_readme_opens_with_install_and_test_commands() -> None:
    run, test = readme_commands()
    # A fresh Debian/Ubuntu has no `python` and its pip refuses to install: a venv first.
    assert run.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install . && ")
    assert "territory-opt solve scenarios/" in run
    assert test == ". .venv/bin/activate && pip install -e '.[test]' && python -m pytest"
    scenario = run.split("territory-opt solve ", 1)[1].split()[0]
    assert (ROOT / scenario).is_file()


def test_ci_runs_both_readme_commands_verbatim() -> None:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in readme_commands():
        assert command in lines, command
    # The everyday run leaves the slow tests out (pyproject's addopts); CI runs them after it.
    assert lines.index("python -m pytest -m slow") > lines.index(readme_commands()[1])
