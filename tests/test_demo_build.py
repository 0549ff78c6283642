"""The committed demo is exactly what its seeded build script writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scenarios" / "demo"


def test_build_script_reproduces_the_committed_demo(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scenarios" / "build_demo.py"), "--out",
                    str(tmp_path)], check=True, capture_output=True, timeout=300)
    for name in ("scenario.yaml", "accounts.csv", "reps.csv"):
        assert (tmp_path / name).read_bytes() == (DEMO / name).read_bytes(), name
