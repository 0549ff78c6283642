"""The package's structure: no import cycles, the layers of ``[tool.importlinter]`` in
pyproject.toml kept, and no code outside a family that asks which family a scenario is.

Imports are read by grimp from the source (imports inside functions count, ``TYPE_CHECKING``
blocks do not, package ``__init__`` modules are modules like the others).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "territory_opt"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("territory_opt", exclude_type_checking_imports=True)


def test_no_module_imports_itself_back_through_others(graph: grimp.ImportGraph) -> None:
    edges = nx.DiGraph()
    for module in graph.modules:
        edges.add_node(module)
        for imported in graph.find_modules_directly_imported_by(module):
            edges.add_edge(module, imported)
    cycles = [sorted(c) for c in nx.strongly_connected_components(edges) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_the_package_init_is_imported_by_no_module(graph: grimp.ImportGraph) -> None:
    """The public API at the top imports everything, so nothing may import it back (the
    version has a module of its own)."""
    assert graph.find_modules_that_directly_import("territory_opt") == set()


def test_the_cycle_check_sees_imports_inside_functions(tmp_path: Path, monkeypatch:
                                                       pytest.MonkeyPatch) -> None:
    """The check would catch a cycle hidden in a function body, and not one under
    ``TYPE_CHECKING``."""
    package = tmp_path / "cyclepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from cyclepkg import b\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nimport cyclepkg.a\n"
                                  "if TYPE_CHECKING:\n    import cyclepkg.c\n")
    (package / "c.py").write_text("import cyclepkg.b\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    g = grimp.build_graph("cyclepkg", exclude_type_checking_imports=True, cache_dir=None)
    assert g.direct_import_exists(importer="cyclepkg.a", imported="cyclepkg.b")
    assert not g.direct_import_exists(importer="cyclepkg.b", imported="cyclepkg.c")


def test_the_import_linter_contracts_hold() -> None:
    """``[tool.importlinter]``: the layers, and families independent of each other."""
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


KIND_CHECKS = re.compile(
    r"\bspec\.model\b"                       # the model name itself
    r"|\.(leads|accounts)\s+is\s+(not\s+)?None"  # a family's data present or not
    r"|\bif\s+(not\s+)?[\w.]+\.(leads|accounts)\b(?![.\[(\w])"  # ... or truthy
    r"|isinstance\([^)]*\b(Lead\w*|District\w*|Account\w*)\b")  # a family's types
OWNERS = ("scenario", "alignment", "districting", "leads", "sizing")
"""Subpackages that may look at their own kind of data."""
REGISTRY = PACKAGE / "family.py"
"""The one module that reads ``spec.model``: to look the family up."""


def test_no_code_outside_a_family_inspects_the_model_kind() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in OWNERS or path == REGISTRY:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if KIND_CHECKS.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert not found, "ask territory_opt.family.family_of(scenario) instead:\n" + "\n".join(found)


def test_the_kind_check_pattern_catches_what_it_should() -> None:
    for line in ('if scenario.spec.model == "districting":', "if s.leads is not None:",
                 "assert scenario.accounts is None", "isinstance(x, LeadData)",
                 "n = len(s.accounts) if s.accounts else 0", "if not scenario.leads:"):
        assert KIND_CHECKS.search(line), line
    for line in ("spec.model_copy(update={})", "raw = spec.model_dump()", "s.leads_total",
                 "if s.accounts_frame(a) is None:", "total = s.accounts.total(name)"):
        assert not KIND_CHECKS.search(line), line


def test_every_module_has_a_layer() -> None:
    """A module left out of ``[tool.importlinter]`` would escape the layers contract."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    layers = config["tool"]["importlinter"]["contracts"][0]["layers"]
    named = {name.strip() for layer in layers for name in re.split(r"[|:]", layer)}
    modules = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
               if (p.suffix == ".py" and p.stem != "__init__")
               or (p.is_dir() and (p / "__init__.py").exists())}
    assert modules - named == set(), f"give these a layer: {sorted(modules - named)}"
    assert named - modules == set(), f"no such modules: {sorted(named - modules)}"
