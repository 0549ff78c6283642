"""The committed bundled scenarios are exactly what their seeded build script writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("preset", ["demo", "small"])
def test_build_script_reproduces_the_committed_scenario(tmp_path: Path, preset: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "scenarios" / "build_demo.py"), "--preset",
                    preset, "--out", str(tmp_path)], check=True, capture_output=True, timeout=300)
    for name in ("scenario.yaml", "accounts.csv", "reps.csv"):
        committed = ROOT / "scenarios" / preset / name
        assert (tmp_path / name).read_bytes() == committed.read_bytes(), name
