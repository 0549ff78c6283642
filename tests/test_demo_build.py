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


def _build_bench(out: Path, seed: int = 2026) -> None:
    subprocess.run([sys.executable, str(ROOT / "scenarios" / "build_demo.py"), "--preset",
                    "bench-1k", "--seed", str(seed), "--out", str(out)], check=True,
                   capture_output=True, timeout=300)


def test_bench_presets_are_seeded_clustered_and_hold_two_bands_only(tmp_path: Path) -> None:
    from territory_opt import load_scenario

    _build_bench(tmp_path / "a")
    _build_bench(tmp_path / "b")
    _build_bench(tmp_path / "c", seed=7)
    for name in ("scenario.yaml", "accounts.csv", "reps.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "accounts.csv").read_bytes() != (
        tmp_path / "c" / "accounts.csv").read_bytes()
    scenario = load_scenario(tmp_path / "a")
    assert (scenario.n_items, scenario.n_territories) == (1_000, 20)
    rules = scenario.spec.rules
    assert [(b.attribute, b.tolerance) for b in rules.balance] == [
        ("workload_h", 0.05), ("potential", 0.10)]
    assert rules.disruption is None and not scenario.has_current
    assert scenario.spec.solver.backend == "auto"
