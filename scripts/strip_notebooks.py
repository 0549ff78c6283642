"""Strip outputs from the planners' notebooks before committing them.

Notebooks are kept in git without outputs, so diffs show only what someone wrote and the
repository does not grow by a few megabytes of images each time a notebook is run. For each
notebook this clears every code cell's outputs and execution count, drops per-run metadata
(cell timings, collapsed/scrolled flags, widget state, the VS Code interpreter hash), keeps
only the language's name from ``language_info``, resets a Python notebook's kernelspec to the
standard ``python3`` kernel (front ends rename it after the local environment), then writes the
file in nbformat's canonical layout::

    python scripts/strip_notebooks.py              # strip notebooks/*.ipynb in place
    python scripts/strip_notebooks.py a.ipynb ...  # strip these files
    python scripts/strip_notebooks.py --check      # change nothing; exit 1 if one needs it

The test suite (``tests/test_notebooks.py``) fails when a committed notebook has outputs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled")
"""Per-run cell metadata: nbclient's and JupyterLab's timings, output view state."""
NOTEBOOK_METADATA = ("widgets", "vscode")
"""Per-run notebook metadata: ipywidgets' saved state, VS Code's interpreter hash."""
PYTHON_KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
"""The kernelspec committed notebooks name: whatever Python environment runs them."""


def strip(nb: NotebookNode) -> NotebookNode:
    """Remove outputs, execution counts and per-run metadata from ``nb`` (in place); return it."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in CELL_METADATA:
            cell.metadata.pop(key, None)
    for key in NOTEBOOK_METADATA:
        nb.metadata.pop(key, None)
    language = nb.metadata.get("language_info")
    if language is not None:  # version, codemirror mode...: whatever ran it last
        nb.metadata["language_info"] = {"name": language.get("name", "python")}
    kernel = nb.metadata.get("kernelspec")
    if kernel is not None and kernel.get("language") == "python":
        nb.metadata["kernelspec"] = dict(PYTHON_KERNEL)
    return nb


def render(nb: NotebookNode) -> str:
    """The file's text as :func:`nbformat.write` writes it (trailing newline included)."""
    text = nbformat.writes(nb, version=nbformat.NO_CONVERT)
    return text if text.endswith("\n") else text + "\n"


def stripped_text(path: Path) -> tuple[str, str]:
    """The file's current text and its text once stripped."""
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    stripped = strip(nb)
    nbformat.validate(stripped)
    return text, render(stripped)


def main(argv: Sequence[str] | None = None) -> int:
    """Strip (or with ``--check``, check) the given notebooks; exit status 1 if ``--check``
    finds one that is not stripped."""
    parser = argparse.ArgumentParser(description="Strip outputs from Jupyter notebooks.")
    parser.add_argument("paths", nargs="*", type=Path,
                        help="notebooks to strip [default: notebooks/*.ipynb]")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a notebook is not stripped")
    args = parser.parse_args(argv)
    paths: list[Path] = args.paths or sorted(NOTEBOOKS.glob("*.ipynb"))
    dirty = []
    for path in paths:
        text, clean = stripped_text(path)
        if text == clean:
            continue
        dirty.append(path)
        if not args.check:
            path.write_text(clean, encoding="utf-8", newline="\n")
            print(f"stripped {path}")
    if args.check and dirty:
        for path in dirty:
            print(f"{path}: has outputs or per-run metadata", file=sys.stderr)
        print("run: python scripts/strip_notebooks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
