"""Shared fixtures: a tiny valid scenario written to ``tmp_path``, and a way to run the CLI.

:class:`TinyScenario` holds the rows of ``accounts.csv`` and ``reps.csv`` and the YAML document as
plain Python data; a test mutates one thing, calls :meth:`TinyScenario.write`, then runs the real
CLI with :func:`run_cli` and checks the outcome with :func:`assert_bad_input`.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import os
import re
import subprocess as _subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

# --- tiny scenario ----------------------------------------------------------------------------

# 8 accounts around the North Carolina Piedmont; workloads split into three equal loads of 24
# ({12, 12}, {12, 8, 4}, {8, 8, 8}), so ±20% bands are easy to meet.
ACCOUNTS: list[dict[str, Any]] = [
    {"id": "A1", "lat": 35.23, "lon": -80.84, "potential": 100, "workload": 12,
     "segment": "smb", "current_rep": "R1", "lock": ""},
    {"id": "A2", "lat": 35.30, "lon": -80.70, "potential": 120, "workload": 12,
     "segment": "smb", "current_rep": "R1", "lock": ""},
    {"id": "A3", "lat": 35.80, "lon": -78.64, "potential": 90, "workload": 12,
     "segment": "enterprise", "current_rep": "R2", "lock": ""},
    {"id": "A4", "lat": 35.90, "lon": -78.80, "potential": 80, "workload": 8,
     "segment": "smb", "current_rep": "R2", "lock": ""},
    {"id": "A5", "lat": 35.70, "lon": -78.50, "potential": 60, "workload": 4,
     "segment": "smb", "current_rep": "R2", "lock": ""},
    {"id": "A6", "lat": 36.07, "lon": -79.79, "potential": 110, "workload": 8,
     "segment": "enterprise", "current_rep": "R3", "lock": ""},
    {"id": "A7", "lat": 36.10, "lon": -80.24, "potential": 70, "workload": 8,
     "segment": "smb", "current_rep": "R3", "lock": ""},
    {"id": "A8", "lat": 36.00, "lon": -80.00, "potential": 95, "workload": 8,
     "segment": "smb", "current_rep": "R3", "lock": ""},
]

# Charlotte, Raleigh, Greensboro.
REPS: list[dict[str, Any]] = [
    {"rep_id": "R1", "home_lat": 35.2271, "home_lon": -80.8431, "fte": 1,
     "skills": "smb;enterprise"},
    {"rep_id": "R2", "home_lat": 35.7796, "home_lon": -78.6382, "fte": 1,
     "skills": "smb;enterprise"},
    {"rep_id": "R3", "home_lat": 36.0726, "home_lon": -79.7920, "fte": 1,
     "skills": "smb;enterprise"},
]

SPEC: dict[str, Any] = {
    "version": 1,
    "name": "tiny",
    "model": "alignment",
    "items": {
        "path": "accounts.csv",
        "id": "id",
        "latitude": "lat",
        "longitude": "lon",
        "attributes": ["potential", "workload"],
        "current": "current_rep",
        "lock": "lock",
        "tags": ["segment"],
    },
    "territories": {
        "path": "reps.csv",
        "id": "rep_id",
        "home_latitude": "home_lat",
        "home_longitude": "home_lon",
        "fte": "fte",
        "skills": "skills",
    },
    "rules": {
        "balance": [{"attribute": "workload", "tolerance": 0.2}],
        "eligibility": ["segment"],
    },
    "objective": {"travel": {"weight": 1.0}, "disruption": {"weight": 10.0, "per": "items"}},
    "solver": {"backend": "highs", "time_limit": 10, "seed": 0},
}


@dataclass
class TinyScenario:
    """A small valid scenario as editable data; :meth:`write` puts it under ``root``.

    Files: ``root/in/scenario.yaml``, ``root/in/accounts.csv``, ``root/in/reps.csv``. The CLI
    writes plans under ``root/plans`` (created empty, so a test can see nothing was left there).
    """

    root: Path
    accounts: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(ACCOUNTS))
    reps: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(REPS))
    spec: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(SPEC))
    yaml_text: str | None = None
    """If set, written verbatim instead of dumping :attr:`spec` (for malformed YAML)."""

    @property
    def folder(self) -> Path:
        """The scenario folder."""
        return self.root / "in"

    @property
    def yaml_path(self) -> Path:
        """The ``scenario.yaml`` file."""
        return self.folder / "scenario.yaml"

    @property
    def out_dir(self) -> Path:
        """The plan directory passed as ``--out`` (must not exist after a failure)."""
        return self.root / "plans" / "plan"

    def yaml_dump(self) -> str:
        """The YAML text :meth:`write` writes."""
        if self.yaml_text is not None:
            return self.yaml_text
        return yaml.safe_dump(self.spec, sort_keys=False)

    def write(self) -> Path:
        """Write the YAML and both tables; return the YAML path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.root / "plans").mkdir(exist_ok=True)
        self.yaml_path.write_text(self.yaml_dump(), encoding="utf-8")
        write_csv(self.folder / "accounts.csv", self.accounts)
        write_csv(self.folder / "reps.csv", self.reps)
        return self.yaml_path

    def account(self, item_id: str) -> dict[str, Any]:
        """The account row with ``item_id`` (to mutate it)."""
        return next(a for a in self.accounts if a["id"] == item_id)

    def row_of(self, item_id: str) -> int:
        """1-based data row of an account, as the loader reports it."""
        return next(n for n, a in enumerate(self.accounts, start=1) if a["id"] == item_id)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` (dicts sharing the first row's keys) as CSV."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def tiny(tmp_path: Path) -> TinyScenario:
    """An unwritten valid tiny scenario rooted at ``tmp_path``; mutate it, then ``write()``."""
    return TinyScenario(tmp_path)


# --- running the CLI --------------------------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    """Exit status and output of one CLI run."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together."""
        return self.stdout + self.stderr


def run_cli(*args: str | Path, cwd: Path, subprocess: bool = True) -> CliResult:
    """Run ``territory-opt ARGS`` with ``cwd`` as the working directory.

    With ``subprocess`` (the default) it is ``python -m territory_opt.cli ARGS`` in a child
    process: the real exit status and streams, and a traceback would show in stderr. Otherwise it
    runs in this process through click's ``CliRunner`` (about 50 times faster); an exception that
    escapes the CLI is then rendered into ``stderr`` as a traceback and reported as exit status 1.
    """
    argv = [str(a) for a in args]
    if subprocess:
        proc = _subprocess.run(
            [sys.executable, "-m", "territory_opt.cli", *argv],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            env=_env(),
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)
    from territory_opt.cli import main

    with contextlib.chdir(cwd):
        result = CliRunner().invoke(main, argv)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return CliResult(result.exit_code, result.stdout, stderr)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["COLUMNS"] = "1000"  # rich must not wrap messages in the middle of a number or path
    env.pop("FORCE_COLOR", None)
    env["NO_COLOR"] = "1"
    return env


def solve_args(s: TinyScenario) -> list[str | Path]:
    """Arguments of ``territory-opt solve`` on the tiny scenario, writing to ``s.out_dir``."""
    return ["solve", s.yaml_path, "--out", s.out_dir, "--time-limit", "10"]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` -> its bytes (``None`` for a directory)."""
    return {
        str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
    }


def run_failing(
    s: TinyScenario, *args: str | Path, write: bool = True, subprocess: bool = False
) -> CliResult:
    """Write the scenario, run the CLI (``solve`` by default), and check a clean refusal.

    Asserts exit status 2, no traceback, no plan directory, and that nothing under the scenario's
    root was created, removed or changed (inputs byte for byte, no leftover temp dirs). With
    ``write=False`` the files already on disk (edited by the test) are used as they are;
    ``subprocess`` runs the CLI in a child process (see :func:`run_cli`), else in this process.
    """
    if write:
        s.write()
    before = snapshot(s.root)
    result = run_cli(*(args or solve_args(s)), cwd=s.root, subprocess=subprocess)
    after = snapshot(s.root)
    assert "Traceback" not in result.output, result.output
    assert result.code == 2, f"exit {result.code}\n{result.output}"
    assert not s.out_dir.exists(), f"{s.out_dir} was created"
    assert after == before, (
        f"files changed: {sorted(set(after) ^ set(before))} "
        f"{[k for k in before if k in after and before[k] != after[k]]}"
    )
    assert "error" in result.stderr, result.output
    return result


NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def numbers_in(text: str) -> list[float]:
    """Every number written in ``text`` (thousands separators allowed)."""
    return [float(m.replace(",", "")) for m in NUMBER.findall(text)]


def assert_number(text: str, expected: float, *, rel: float = 0.01, abs_: float = 0.01) -> None:
    """``expected`` (to the message's rounding) appears among the numbers of ``text``."""
    tolerance = max(abs_, rel * abs(expected))
    found = numbers_in(text)
    assert any(abs(n - expected) <= tolerance for n in found), (
        f"{expected:g} not among the numbers of the message {found}:\n{text}"
    )


def assert_mentions(text: str, *parts: str) -> None:
    """Every one of ``parts`` occurs in ``text``."""
    missing = [p for p in parts if p not in text]
    assert not missing, f"message lacks {missing}:\n{text}"


Mutator = Callable[[TinyScenario], None]
