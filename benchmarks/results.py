"""Shared by the benchmark scripts: provenance lines and sections of ``RESULTS.md``."""

from __future__ import annotations

import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def provenance(command: str) -> str:
    """Markdown lines: the command, the machine, the commit and the date."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT, check=False).stdout.strip() or "unknown"
    return (f"- command: `{command}`\n"
            f"- machine: {platform.machine()}, {_cpus()} CPUs, Python "
            f"{platform.python_version()}; commit {commit}; "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of RESULTS.md, leaving the others alone."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text)
