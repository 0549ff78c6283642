"""The planners' notebooks: each starts with a ``parameters`` cell, runs top to bottom without
error on the bundled scenario and on another one (values injected after that cell, as papermill
does), shows a chart or map, writes its results to its output folder, and is committed with its
outputs stripped.

What the notebooks' text claims of the bundled scenarios is checked here, on the files a run
writes, not by ``assert`` lines in the notebooks (a planner's own scenario need not satisfy them).

Notebooks run in memory, in a kernel of the interpreter running pytest (a kernelspec written to
a temporary folder, so no installed ``python3`` kernel of another environment is picked up), with
the repository root as working directory and a temporary ``TMPDIR``. Nothing is written back into
``notebooks/``.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import nbformat
import pandas as pd
import pytest
import yaml
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

PARAMETERS = "parameters"  # the tag of the parameters cell (papermill's convention)
INJECTED = "injected-parameters"  # the tag of the cell a run inserts after it
REQUIRED_PARAMETERS = {"scenario_path", "time_limit", "seed", "output_dir"}
TOL = 1e-6
DEMO_SPECIFIC = (r"scenarios/", r"\bworkload_h", r"\bpotential\b", r"axhspan\(\s*-?\d",
                 r"\bSMB\b")
"""What code after the parameters cell must not name: demo paths, attributes, bands, tags."""


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


def parameters_index(nb: NotebookNode) -> int:
    """The index of the cell tagged ``parameters`` (exactly one)."""
    tagged = [i for i, c in enumerate(nb.cells) if PARAMETERS in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"one cell tagged {PARAMETERS!r}, not {len(tagged)}"
    return tagged[0]


def parameters(nb: NotebookNode) -> dict[str, object]:
    """The parameters cell's names and values (plain assignments of literals, nothing else)."""
    cell = nb.cells[parameters_index(nb)]
    assert cell.cell_type == "code"
    values: dict[str, object] = {}
    for statement in ast.parse(cell.source).body:
        assert isinstance(statement, ast.Assign), f"not an assignment: {ast.unparse(statement)}"
        assert len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name)
        values[statement.targets[0].id] = ast.literal_eval(statement.value)
    return values


def with_parameters(nb: NotebookNode, values: dict[str, object]) -> NotebookNode:
    """A copy of ``nb`` with a cell tagged ``injected-parameters`` assigning ``values`` right
    after its parameters cell, as ``papermill -p`` does; every name must be a parameter."""
    unknown = set(values) - set(parameters(nb))
    assert not unknown, f"not in the parameters cell: {sorted(unknown)}"
    out = nbformat.from_dict(nb)
    cell = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in values.items()))
    cell.metadata["tags"] = [INJECTED]
    out.cells.insert(parameters_index(nb) + 1, cell)
    return out


def without_injected(nb: NotebookNode) -> NotebookNode:
    """A copy of ``nb`` without the injected parameters cell."""
    out = nbformat.from_dict(nb)
    out.cells = [c for c in out.cells if INJECTED not in c.metadata.get("tags", [])]
    return out


@pytest.mark.parametrize("name", notebook_names())
def test_notebook_starts_with_a_parameters_cell(name: str) -> None:
    """Right after the title: one code cell tagged ``parameters`` of plain assignments (the
    scenario, time limit, seed and output folder), naming a scenario that exists."""
    nb = read(name)
    assert parameters_index(nb) == 1, "the parameters cell comes right after the title"
    values = parameters(nb)
    assert set(values) >= REQUIRED_PARAMETERS, sorted(REQUIRED_PARAMETERS - set(values))
    assert (ROOT / str(values["scenario_path"])).is_file()
    assert values["output_dir"] == "", "by default a new temporary folder"


@pytest.mark.parametrize("name", notebook_names())
def test_notebook_checks_nothing_demo_specific(name: str) -> None:
    """No ``assert`` lines, and no demo names in the code: the claims are checked here."""
    nb = read(name)
    code = [c.source for i, c in enumerate(nb.cells) if c.cell_type == "code" and i > 1]
    for source in code:
        tree = ast.parse(source)
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Assert)], source
        for pattern in DEMO_SPECIFIC:
            assert not re.search(pattern, source), f"{pattern!r} hard-coded in:\n{source}"


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
#
# Each notebook runs twice: on its bundled scenario and on another one, with short time limits
# injected (the notebooks' own defaults are for people). The other scenarios are written to a
# temporary folder: the small alignment without its `quotas:` section and today's alignment (the
# steps that need them are skipped), and a slice of the lead history without named accounts.


@dataclass(frozen=True)
class Run:
    """One execution of a notebook: its parameters (``output_dir`` added by the fixture)."""

    notebook: str
    scenario: str  # "bundled" or the name of a scenario made by ``other_scenarios``
    values: dict[str, object] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.notebook.removesuffix('.ipynb')}[{self.scenario}]"


RUNS = [
    Run("quickstart.ipynb", "bundled", {"time_limit": 5}),
    Run("quickstart.ipynb", "small-no-quotas-no-current", {"time_limit": 2}),
    Run("compare-allocations.ipynb", "bundled",
        {"time_limit": 5, "caps": [0.3, 0.5, 1.0], "tradeoff_time_limit": 4}),
    Run("compare-allocations.ipynb", "small",
        {"time_limit": 2, "cap": 0.2, "caps": [0.2, 1.0], "tradeoff_time_limit": 2}),
    Run("lead-routing.ipynb", "bundled", {"time_limit": 20}),
    Run("lead-routing.ipynb", "leads-slice-no-owners", {"time_limit": 10}),
]
BUNDLED = [r for r in RUNS if r.scenario == "bundled"]
assert {r.notebook for r in BUNDLED} == set(EXPECTED), "each notebook runs on its own scenario"


def write_without(source: Path, target: Path, drop: dict[str, list[str]]) -> None:
    """Write scenario ``source`` to ``target`` without the keys ``drop`` names per section
    (``""``: top-level keys)."""
    spec = yaml.safe_load(source.read_text(encoding="utf-8"))
    for section, keys in drop.items():
        for key in keys:
            (spec[section] if section else spec).pop(key)
    target.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="session")
def other_scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Scenario files unlike the bundled ones, by name."""
    base = tmp_path_factory.mktemp("scenarios")
    small = ROOT / "scenarios" / "small"
    plain = base / "small-no-quotas-no-current"
    shutil.copytree(small, plain)
    write_without(small / "scenario.yaml", plain / "scenario.yaml",
                  {"": ["quotas"], "items": ["current"]})
    leads = ROOT / "scenarios" / "leads"
    sliced = base / "leads-slice-no-owners"
    sliced.mkdir()
    for name in ("reps.csv", "win_rates.csv"):
        shutil.copy(leads / name, sliced / name)
    history = pd.read_csv(leads / "leads.csv", dtype=str, keep_default_na=False)
    history.head(3000).assign(account_id="").to_csv(sliced / "leads.csv", index=False)
    write_without(leads / "scenario.yaml", sliced / "scenario.yaml",
                  {"leads": ["owners", "ownership"]})
    return {"small": small / "scenario.yaml", plain.name: plain / "scenario.yaml",
            sliced.name: sliced / "scenario.yaml"}


def test_other_scenarios_lack_what_the_notebooks_may_skip(other_scenarios: dict[str, Path]) -> None:
    """The scenarios of the second runs load, and lack what they are meant to lack."""
    from territory_opt import load_scenario

    plain = load_scenario(other_scenarios["small-no-quotas-no-current"])
    assert plain.spec.quotas is None and not plain.has_current
    sliced = load_scenario(other_scenarios["leads-slice-no-owners"])
    assert sliced.leads is not None and (sliced.leads.owner < 0).all()
    assert sliced.n_items == 3000


@pytest.fixture(scope="session")
def kernel_specs(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """Kernelspecs holding only a ``python3`` kernel that runs ``sys.executable``."""
    prefix = tmp_path_factory.mktemp("jupyter")
    install_kernelspec(kernel_name=KERNEL, prefix=str(prefix))
    specs = KernelSpecManager(kernel_dirs=[str(prefix / "share" / "jupyter" / "kernels")])
    argv = specs.get_kernel_spec(KERNEL).argv
    assert argv[0] == sys.executable, argv
    return specs


def execute(nb: NotebookNode, name: str, specs: KernelSpecManager,
            tmp: Path) -> NotebookNode | str:
    """Run notebook ``nb`` in memory, cell by cell, from the repository root with
    ``TMPDIR=tmp``; return it executed, or why a cell failed (its index, error, traceback)."""
    km = AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(ROOT)}})
    with client.setup_kernel(env=os.environ | {"TMPDIR": str(tmp)}, cleanup_kc=True):
        assert client.kc is not None
        info = client.wait_for_reply(client.kc.kernel_info())
        assert info is not None
        nb.metadata["language_info"] = info["content"]["language_info"]
        for index, cell in enumerate(nb.cells):
            where = f"{name}: cell {index} (0-based, the injected parameters cell counted)"
            try:
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            except CellExecutionError as error:  # its text: the cell's source and traceback
                return f"{where} raised {error.ename}: {error.evalue}\n{ANSI.sub('', str(error))}"
            except CellTimeoutError:
                return f"{where} ran past {CELL_TIMEOUT} s:\n{cell.source}"
    return nb


@dataclass(frozen=True)
class Executed:
    """A finished run: the executed notebook (injected cell included) and its output folder."""

    nb: NotebookNode
    out: Path
    scenario: Path

    def text(self) -> str:
        """Everything the cells printed or showed as text."""
        parts = []
        for cell in self.nb.cells:
            for output in cell.get("outputs", []):
                if output.output_type == "stream":
                    parts.append(output.text)
                elif "text/plain" in output.get("data", {}):
                    parts.append(output.data["text/plain"])
        return "\n".join(parts)

    def images(self) -> int:
        """The PNGs among the outputs (charts, maps)."""
        return sum("image/png" in o.get("data", {}) for c in self.nb.cells
                   if c.cell_type == "code" for o in c.outputs)


RunNotebook = Callable[[Run], Executed]


@pytest.fixture(scope="session")
def run_notebook(kernel_specs: KernelSpecManager, other_scenarios: dict[str, Path],
                 tmp_path_factory: pytest.TempPathFactory) -> RunNotebook:
    """Execute a run once per session and return it; fail with the cell index and the error if
    a cell raises."""
    done: dict[str, Executed | str] = {}  # the run, or why it failed

    def run(spec: Run) -> Executed:
        if spec.id not in done:
            path = NOTEBOOKS / spec.notebook
            before = path.read_bytes()
            nb = read(spec.notebook)
            scenario = (ROOT / str(parameters(nb)["scenario_path"]) if spec.scenario == "bundled"
                        else other_scenarios[spec.scenario])
            tmp = tmp_path_factory.mktemp(spec.id.replace("[", "-").rstrip("]"))
            out = tmp / "out"
            values = {**spec.values, "output_dir": str(out)}
            if spec.scenario != "bundled":
                values["scenario_path"] = str(scenario)
            started = time.perf_counter()
            result = execute(with_parameters(nb, values), spec.notebook, kernel_specs, tmp)
            print(f"{spec.id}: executed in {time.perf_counter() - started:.1f} s")
            done[spec.id] = result if isinstance(result, str) else Executed(result, out, scenario)
            assert path.read_bytes() == before, f"{spec.notebook} was changed on disk by its run"
        executed = done[spec.id]
        if isinstance(executed, str):
            pytest.fail(executed, pytrace=False)
        return executed

    return run


@pytest.mark.slow
@pytest.mark.parametrize("spec", RUNS, ids=lambda r: r.id)
def test_notebook_runs_top_to_bottom(spec: Run, run_notebook: RunNotebook) -> None:
    """Every code cell runs, without an error, and writes into the given output folder."""
    executed = run_notebook(spec)
    code = [c for c in executed.nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert executed.out.is_dir() and any(executed.out.iterdir()), "nothing written to output_dir"


@pytest.mark.slow
@pytest.mark.parametrize("spec", RUNS, ids=lambda r: r.id)
def test_executed_notebook_shows_an_image_and_text(spec: Run, run_notebook: RunNotebook) -> None:
    """At least one markdown cell, and a chart or map (a PNG) among the outputs."""
    executed = run_notebook(spec)
    assert any(c.cell_type == "markdown" and c.source.strip() for c in executed.nb.cells)
    assert executed.images(), f"{spec.id}: no chart or map in the outputs"


@pytest.mark.slow
@pytest.mark.parametrize("spec", BUNDLED, ids=lambda r: r.id)
def test_stripping_the_executed_notebook_gives_the_committed_file(
        spec: Run, run_notebook: RunNotebook) -> None:
    """The strip script removes all that running adds: the committed file is its output
    (once the injected parameters cell is taken out again)."""
    script = strip_script()
    executed = without_injected(run_notebook(spec).nb)  # a copy: strip works in place
    committed = (NOTEBOOKS / spec.notebook).read_text(encoding="utf-8")
    assert script.render(script.strip(executed)) == committed, (
        f"{spec.notebook}: not in canonical form; run `python scripts/strip_notebooks.py`")


def run_of(notebook: str, scenario: str) -> Run:
    return next(r for r in RUNS if r.notebook == notebook and r.scenario == scenario)


def skipped(executed: Executed, what: str) -> bool:
    """Did the run say it skipped a step for lack of ``what``?"""
    return any(what in line and "Skipped" in line for line in executed.text().splitlines())


# --- what the notebooks' text claims, on the files they write ----------------------------------


@pytest.mark.slow
def test_quickstart_on_the_demo(run_notebook: RunNotebook) -> None:
    """The plan meets every rule, its quotas add up to the target, and it beats today's
    alignment (which breaks the balance rules) on travel."""
    from territory_opt import load_scenario

    executed = run_notebook(run_of("quickstart.ipynb", "bundled"))
    scenario = load_scenario(executed.scenario)
    [plan_dir] = executed.out.iterdir()
    assert plan_dir.name == "demo-plan"
    names = {p.name for p in plan_dir.iterdir()}
    assert {"plan.json", "assignment.csv", "territories.csv", "quotas.csv", "report.html",
            "today-vs-plan.csv"} <= names
    summary = pd.read_json(plan_dir / "plan.json", typ="series")
    assert summary["status"] in ("optimal", "feasible")
    assert summary["kpis"]["hard_violations"] == 0
    quotas = pd.read_csv(plan_dir / "quotas.csv")
    assert scenario.spec.quotas is not None
    assert quotas["quota"].sum() == scenario.spec.quotas.target
    side = pd.read_csv(plan_dir / "today-vs-plan.csv", index_col="kpi")
    assert side.loc["hard_violations", "today"] > 0
    assert side.loc["travel", "plan"] < side.loc["travel", "today"]
    assert executed.images() >= 2  # the map, today's and the plan's balance
    assert not skipped(executed, "")


@pytest.mark.slow
def test_quickstart_without_quotas_or_current(run_notebook: RunNotebook) -> None:
    """On a scenario without quotas or today's alignment, those steps say why they are skipped;
    the plan and its report are written all the same, without a quota table."""
    executed = run_notebook(run_of("quickstart.ipynb", "small-no-quotas-no-current"))
    assert skipped(executed, "no `quotas:` section")
    assert skipped(executed, "no current alignment")
    [plan_dir] = executed.out.iterdir()
    names = {p.name for p in plan_dir.iterdir()}
    assert {"plan.json", "assignment.csv", "report.html"} <= names
    assert "quotas.csv" not in names and "today-vs-plan.csv" not in names


def check_comparison(spec: Run, executed: Executed) -> None:
    """Both plans meet every rule and its bands (read from the scenario), today's alignment
    breaks one; the capped plan moves no more than its cap; the trade-off curve keeps each cap
    and never gets worse as the cap loosens (with its short time limits a tight cap may find no
    plan yet: the loosest must)."""
    from territory_opt import load_scenario
    from territory_opt.family import family_of

    scenario = load_scenario(executed.scenario)
    cap = spec.values.get("cap", parameters(read(spec.notebook))["cap"])
    assert isinstance(cap, float)
    kpis = pd.read_csv(executed.out / "kpis.csv", index_col="kpi")
    plans = [c for c in kpis.columns if c != "current"]
    assert len(plans) == 2
    assert kpis.loc["hard_violations", "current"] > 0
    for name in plans:
        assert kpis.loc["hard_violations", name] == 0
        for band in family_of(scenario).views.bands(scenario).values():
            assert kpis.loc[f"{band.label}_max_abs_dev_pct", name] <= band.tolerance_pct + TOL
    assert kpis.loc["moved_share_items", plans[1]] <= cap + TOL
    points = pd.read_csv(executed.out / "tradeoff.csv", index_col="value")
    assert points["plan"].iloc[-1], "no plan at the loosest cap"
    planned = points[points["plan"]]
    assert (planned["moved_share_items"] <= planned.index + TOL).all()
    assert (planned["objective"].diff().dropna() <= TOL).all(), "a looser cap did worse"
    assert (executed.out / "balance.png").is_file()


@pytest.mark.slow
def test_compare_allocations_on_the_demo(run_notebook: RunNotebook) -> None:
    """As the notebook's text says of the demo: both plans also travel less than today, the
    optimized one least and moving more than 30% of the accounts."""
    spec = run_of("compare-allocations.ipynb", "bundled")
    executed = run_notebook(spec)
    check_comparison(spec, executed)
    kpis = pd.read_csv(executed.out / "kpis.csv", index_col="kpi")
    assert kpis.loc["moved_share_items", "optimized"] > 0.3
    assert (kpis.loc["travel", "optimized"] < kpis.loc["travel", "capped 30%"]
            < kpis.loc["travel", "current"])
    assert kpis.loc["km_mean", "optimized"] < kpis.loc["km_mean", "current"]
    assert executed.images() >= 3  # balance, travel and moves; the maps; the curve


@pytest.mark.slow
def test_compare_allocations_on_another_scenario(run_notebook: RunNotebook) -> None:
    """The same checks on the small scenario, with another cap injected."""
    spec = run_of("compare-allocations.ipynb", "small")
    executed = run_notebook(spec)
    check_comparison(spec, executed)
    assert "capped 20%" in pd.read_csv(executed.out / "kpis.csv", index_col="kpi").columns


@pytest.mark.slow
def test_lead_routing_on_the_bundled_leads(run_notebook: RunNotebook) -> None:
    """Best fit and optimized earn more than round-robin, no policy breaks a capacity,
    hindsight earns more than every policy; single leads go to reps with the skills, a named
    account's lead to its owner."""
    from territory_opt import load_scenario

    executed = run_notebook(run_of("lead-routing.ipynb", "bundled"))
    kpis = pd.read_csv(executed.out / "policies.csv", index_col="kpi")
    revenue = kpis.loc["expected_revenue"]
    assert revenue["best-fit"] > revenue["round-robin"]
    assert revenue["optimized"] > revenue["round-robin"]
    assert (kpis.loc["capacity_breaches"] == 0).all()
    assert kpis.loc["response_hours_mean", "optimized"] > kpis.loc["response_hours_mean",
                                                                      "best-fit"]
    yardstick = pd.read_csv(executed.out / "yardstick.csv", index_col=0)
    assert yardstick["expected revenue"].idxmax() == "hindsight (batch)"
    check_decisions(executed, load_scenario(executed.scenario))
    decisions = pd.read_csv(executed.out / "decisions.csv", dtype=str, keep_default_na=False)
    assert (decisions["owner"] != "").any(), "the bundled leads have named accounts"


def check_decisions(executed: Executed, scenario: object) -> None:
    """Each routed example lead went to a rep with every skill it needs (its owner, if any)."""
    decisions = pd.read_csv(executed.out / "decisions.csv", dtype=str, keep_default_na=False)
    assert len(decisions)
    tags = scenario.spec.rules.eligibility  # type: ignore[attr-defined]
    skills = dict(zip(scenario.territory_ids, scenario.skills, strict=True))  # type: ignore[attr-defined]
    for row in decisions.itertuples(index=False):
        if row.owner:
            assert row.rep == row.owner
        else:
            assert {getattr(row, t) for t in tags} <= skills[row.rep]


@pytest.mark.slow
def test_lead_routing_without_named_accounts(run_notebook: RunNotebook) -> None:
    """On a slice of the history without named accounts, the owner example says it is skipped."""
    from territory_opt import load_scenario

    executed = run_notebook(run_of("lead-routing.ipynb", "leads-slice-no-owners"))
    assert skipped(executed, "named accounts")
    check_decisions(executed, load_scenario(executed.scenario))
    assert (executed.out / "policies.csv").is_file()
