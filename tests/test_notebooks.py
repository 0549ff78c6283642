"""The planners' notebooks: each runs top to bottom without error, shows a chart or map, and
is committed with its outputs stripped.

Notebooks run in memory, in a kernel of the interpreter running pytest (a kernelspec written to
a temporary folder, so no installed ``python3`` kernel of another environment is picked up), with
the repository root as working directory and a temporary ``TMPDIR``. Nothing is written back into
``notebooks/``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from ipykernel.kernelspec import install as install_kernelspec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = ("compare-allocations.ipynb", "lead-routing.ipynb", "quickstart.ipynb")
KERNEL = "python3"
CELL_TIMEOUT = 600
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colours in IPython's tracebacks

RunNotebook = Callable[[str], NotebookNode]


def notebook_names() -> list[str]:
    """The notebooks in ``notebooks/``, by file name."""
    return sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def committed_notebooks() -> list[Path]:
    """Every notebook git tracks (and those in ``notebooks/``, also outside a git checkout)."""
    paths = set(NOTEBOOKS.glob("*.ipynb"))
    if shutil.which("git") and (ROOT / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "-z", "--", "*.ipynb"], cwd=ROOT,
                                capture_output=True, text=True, check=False)
        if listed.returncode == 0:
            paths |= {ROOT / name for name in listed.stdout.split("\0") if name}
    return sorted(p for p in paths if p.is_file())


def strip_script() -> ModuleType:
    """``scripts/strip_notebooks.py``, imported by path."""
    spec = importlib.util.spec_from_file_location("strip_notebooks",
                                                  ROOT / "scripts" / "strip_notebooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(name: str) -> NotebookNode:
    """A notebook of ``notebooks/`` as committed."""
    return nbformat.read(NOTEBOOKS / name, as_version=4)


# --- in git: stripped, documented -------------------------------------------------------------


def test_the_planners_notebooks_exist() -> None:
    """The three planners' notebooks are there (a renamed one must be renamed here too)."""
    assert set(EXPECTED) <= set(notebook_names())


@pytest.mark.parametrize("path", committed_notebooks(), ids=lambda p: p.name)
def test_committed_notebook_has_no_outputs(path: Path) -> None:
    """No outputs, execution counts, timings or widget state in git."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    hint = f"{path.relative_to(ROOT)}: run `python scripts/strip_notebooks.py` before committing"
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{hint} (cell {index} has outputs)"
            assert cell.execution_count is None, f"{hint} (cell {index} has an execution count)"
        assert "execution" not in cell.metadata, f"{hint} (cell {index} has timings)"
    assert "widgets" not in nb.metadata, f"{hint} (widget state in the metadata)"


@pytest.mark.parametrize("name", notebook_names())
def test_notebook_explains_itself(name: str) -> None:
    """A markdown cell first (title and purpose), code after it, the standard kernel."""
    nb = read(name)
    assert nb.cells and nb.cells[0].cell_type == "markdown", "start with a title and what it does"
    assert nb.cells[0].source.startswith("# ")
    assert any(c.cell_type == "code" for c in nb.cells)
    assert nb.metadata.kernelspec.name == KERNEL


def test_strip_script_check_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--check`` flags a notebook with outputs; stripping gives back the committed file."""
    script = strip_script()
    name = EXPECTED[-1]
    copy = tmp_path / name
    shutil.copy(NOTEBOOKS / name, copy)
    assert script.main(["--check", str(copy)]) == 0
    nb = nbformat.read(copy, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    code.execution_count = 3
    code.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["kernelspec"]["display_name"] = ".venv (Python 3.11.7)"  # as VS Code renames it
    nbformat.write(nb, copy)
    assert script.main(["--check", str(copy)]) == 1
    assert "has outputs" in capsys.readouterr().err
    assert script.main([str(copy)]) == 0
    assert copy.read_bytes() == (NOTEBOOKS / name).read_bytes()


# --- executed ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kernel_specs(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """Kernelspecs holding only a ``python3`` kernel that runs ``sys.executable``."""
    prefix = tmp_path_factory.mktemp("jupyter")
    install_kernelspec(kernel_name=KERNEL, prefix=str(prefix))
    specs = KernelSpecManager(kernel_dirs=[str(prefix / "share" / "jupyter" / "kernels")])
    argv = specs.get_kernel_spec(KERNEL).argv
    assert argv[0] == sys.executable, argv
    return specs


def execute(path: Path, specs: KernelSpecManager, tmp: Path) -> NotebookNode | str:
    """Run the notebook at ``path`` in memory, cell by cell, from the repository root with
    ``TMPDIR=tmp``; return it executed, or why a cell failed (its index, error, traceback)."""
    nb = nbformat.read(path, as_version=4)
    km = AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(ROOT)}})
    with client.setup_kernel(env=os.environ | {"TMPDIR": str(tmp)}, cleanup_kc=True):
        assert client.kc is not None
        info = client.wait_for_reply(client.kc.kernel_info())
        assert info is not None
        nb.metadata["language_info"] = info["content"]["language_info"]
        for index, cell in enumerate(nb.cells):
            where = f"{path.name}: cell {index} (0-based)"
            try:
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            except CellExecutionError as error:  # its text: the cell's source and traceback
                return f"{where} raised {error.ename}: {error.evalue}\n{ANSI.sub('', str(error))}"
            except CellTimeoutError:
                return f"{where} ran past {CELL_TIMEOUT} s:\n{cell.source}"
    return nb


@pytest.fixture(scope="session")
def run_notebook(kernel_specs: KernelSpecManager,
                 tmp_path_factory: pytest.TempPathFactory) -> RunNotebook:
    """Execute a notebook of ``notebooks/`` once per session and return it; fail with the
    cell index and the error if a cell raises."""
    done: dict[str, NotebookNode | str] = {}  # the executed notebook, or why it failed

    def run(name: str) -> NotebookNode:
        if name not in done:
            path = NOTEBOOKS / name
            before = path.read_bytes()
            started = time.perf_counter()
            done[name] = execute(path, kernel_specs,
                                 tmp_path_factory.mktemp(name.removesuffix(".ipynb")))
            print(f"{name}: executed in {time.perf_counter() - started:.1f} s")
            assert path.read_bytes() == before, f"{name} was changed on disk by its execution"
        result = done[name]
        if isinstance(result, str):
            pytest.fail(result, pytrace=False)
        return result

    return run


@pytest.mark.slow
@pytest.mark.parametrize("name", notebook_names())
def test_notebook_runs_top_to_bottom(name: str, run_notebook: RunNotebook) -> None:
    """Every code cell runs, without an error."""
    nb = run_notebook(name)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors


@pytest.mark.slow
@pytest.mark.parametrize("name", notebook_names())
def test_executed_notebook_shows_an_image_and_text(name: str, run_notebook: RunNotebook) -> None:
    """At least one markdown cell, and a chart or map (a PNG) among the outputs."""
    nb = run_notebook(name)
    assert any(c.cell_type == "markdown" and c.source.strip() for c in nb.cells)
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type in ("display_data", "execute_result") and "image/png" in o.data]
    assert images, f"{name}: no chart or map in the outputs"


@pytest.mark.slow
@pytest.mark.parametrize("name", notebook_names())
def test_stripping_the_executed_notebook_gives_the_committed_file(
        name: str, run_notebook: RunNotebook) -> None:
    """The strip script removes all that running adds: the committed file is its output."""
    script = strip_script()
    executed = nbformat.from_dict(run_notebook(name))  # a copy: strip works in place
    committed = (NOTEBOOKS / name).read_text(encoding="utf-8")
    assert script.render(script.strip(executed)) == committed, (
        f"{name}: not in canonical form; run `python scripts/strip_notebooks.py`")
