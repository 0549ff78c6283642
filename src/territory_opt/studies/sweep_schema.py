"""The ``sweep.yaml`` format: a base scenario, solver overrides, and variants (a grid, a list).

Validated by pydantic models that refuse unknown keys; every problem names the sweep file, the
YAML path, what was found and what was expected, as the scenario loader does. Settings are
checked against :data:`territory_opt.studies.variants.SWEEPABLE` here, without the scenario;
whether a
value suits the scenario (a balance rule that exists, a share ≤ 1) is checked per variant when
the sweep runs, so one bad value fails that variant only.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from territory_opt.errors import Problem, ScenarioError
from territory_opt.scenario.document import describe, problem_from_pydantic, read_yaml
from territory_opt.studies.variants import SWEEPABLE, SWEEPABLE_HELP

Value = float | str
"""A setting's value: a number, or a string (``solver.backend``)."""


class SweepError(ScenarioError):
    """A malformed ``sweep.yaml`` (a :class:`ScenarioError`, so the CLI exits with status 2)."""

    def __str__(self) -> str:
        head = "invalid sweep" if len(self.problems) == 1 else (
            f"invalid sweep ({len(self.problems)} problems)")
        return head + ":\n" + "\n".join(f"  - {p}" for p in self.problems)


class _Strict(BaseModel):
    # No .inf or .nan: a non-finite limit, gap, weight or target would pass every bound check
    # (nan > 0 is false) and silently remove a limit or poison the objective.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SolverOverrides(_Strict):
    """Solver settings for every variant (a variant's own ``solver.*`` settings win)."""

    backend: str | None = None
    time_limit: Annotated[float, Field(gt=0)] | None = None
    gap: Annotated[float, Field(ge=0)] | None = None
    seed: Annotated[int, Field(ge=0)] | None = None
    threads: Annotated[int, Field(ge=1)] | None = None
    candidates: Annotated[int, Field(ge=1)] | None = None
    work_limit: Annotated[float, Field(gt=0)] | None = None

    def settings(self) -> dict[str, Value]:
        """As variant settings: ``{"solver.gap": 0.0, ...}`` for the keys given."""
        return {f"solver.{k}": v for k, v in self.model_dump(exclude_none=True).items()}


class VariantSpec(_Strict):
    """One named variant: YAML path → value."""

    name: Annotated[str, Field(min_length=1)]
    settings: dict[str, Value] = Field(min_length=1)


class SweepSpec(_Strict):
    """The whole ``sweep.yaml``."""

    version: int = Field(1, ge=1, le=1)
    name: str | None = Field(None, description="Defaults to the sweep file's stem.")
    base: str = Field(description="The base scenario.yaml (or its folder), relative to the "
                      "sweep file.")
    solver: SolverOverrides = Field(default_factory=SolverOverrides)
    grid: dict[str, Annotated[list[Value], Field(min_length=1)]] = Field(
        default_factory=dict, description="YAML path → list of values; every combination is "
        "a variant (the cartesian product).")
    variants: list[VariantSpec] = Field(default_factory=list)


@dataclass(frozen=True)
class Variant:
    """A variant to solve: its name and settings (YAML path → value)."""

    name: str
    settings: dict[str, Value]


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: where its file and base scenario are, and its variants in order
    (the grid's combinations first, then the listed variants)."""

    path: Path
    spec: SweepSpec
    variants: list[Variant] = field(default_factory=list)

    @property
    def name(self) -> str:
        """``name:`` from the file, else the file's stem."""
        return self.spec.name or self.path.stem

    @property
    def base(self) -> Path:
        """The base scenario's YAML, resolved against the sweep file's folder."""
        base = (self.path.parent / self.spec.base).resolve()
        return base / "scenario.yaml" if base.is_dir() else base

    def solver_settings(self) -> dict[str, Value]:
        """The sweep's ``solver:`` overrides as variant settings."""
        return self.spec.solver.settings()


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate ``sweep.yaml``.

    Raises
    ------
    SweepError
        Naming every problem (the sweep file, YAML path, found, expected): unknown keys, a
        path that cannot be swept, no variants, duplicate names or settings, a missing base.
    """
    source = Path(path)
    if not source.is_file():
        raise SweepError([Problem(str(source), "(file)", "no such file", "a sweep.yaml file")])
    try:
        raw = read_yaml(source.read_text(encoding="utf-8"), str(source))
    except UnicodeDecodeError as exc:
        raise SweepError([Problem(str(source), "(encoding)", str(exc), "UTF-8 text")]) from None
    except ScenarioError as exc:
        raise SweepError(exc.problems) from None
    return read_sweep_dict(raw, source)


def read_sweep_dict(raw: Any, source: Path) -> Sweep:
    """Validate an already parsed sweep document; ``source`` is the file it came from (for
    messages and to resolve ``base``)."""
    if not isinstance(raw, dict):
        raise SweepError([Problem(str(source), "(document)", describe(raw),
                                  "a mapping with base and grid and/or variants")])
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as exc:
        raise SweepError([_sweep_problem(str(source), err) for err in exc.errors()]) from None
    problems = _path_problems(spec, str(source))
    if problems:  # before expanding: a bad path would be named once per combination
        raise SweepError(problems)
    sweep = Sweep(source, spec, expand(spec))
    problems = _problems(sweep)
    if problems:
        raise SweepError(problems)
    return sweep


def expand(spec: SweepSpec) -> list[Variant]:
    """The variants: every combination of the grid's values (first path varying slowest),
    then the listed ones."""
    out: list[Variant] = []
    if spec.grid:
        paths = list(spec.grid)
        short = short_names(paths)
        for values in itertools.product(*spec.grid.values()):
            name = " ".join(f"{short[p]}={_show(v)}" for p, v in zip(paths, values, strict=True))
            out.append(Variant(name, dict(zip(paths, values, strict=True))))
    out += [Variant(v.name, dict(v.settings)) for v in spec.variants]
    return out


def short_names(paths: list[str]) -> dict[str, str]:
    """Each path by its shortest dotted tail that no other path shares: ``max_share``,
    ``workload_h.tolerance`` beside ``potential.tolerance``."""
    out = {}
    for path in paths:
        parts = path.split(".")
        for k in range(1, len(parts) + 1):
            tail = ".".join(parts[-k:])
            if not any(o != path and (o == tail or o.endswith("." + tail)) for o in paths):
                break
        out[path] = tail
    return out


def _show(value: Value) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _path_problems(spec: SweepSpec, source: str) -> list[Problem]:
    """Settings at paths a variant cannot change (checked without the scenario)."""
    where = [(f"grid.{path}", path) for path in spec.grid]
    where += [(f"variants.{n}.settings.{path}", path) for n, v in enumerate(spec.variants)
              for path in v.settings]
    return [Problem(f"{source}, at {yaml_path}", "(key)", repr(path),
                    f"a setting that can be swept: {SWEEPABLE_HELP}")
            for yaml_path, path in where if not any(re.fullmatch(p, path) for p in SWEEPABLE)]


def _problems(sweep: Sweep) -> list[Problem]:
    source = str(sweep.path)
    problems: list[Problem] = []
    if not sweep.variants:
        problems.append(Problem(source, "grid / variants", "no variants",
                                "a grid: (YAML path → list of values) and/or a variants: list"))
    if not sweep.base.is_file():
        problems.append(Problem(f"{source}, at base", "base", repr(sweep.spec.base),
                                f"a scenario.yaml (or its folder) relative to {sweep.path.parent}"
                                f" (looked for {sweep.base})"))
    seen_names: dict[str, int] = {}
    seen_settings: dict[str, str] = {}
    for n, variant in enumerate(sweep.variants):
        where = _where(sweep, n)
        if variant.name in seen_names:
            problems.append(Problem(f"{source}, at {where}", "name", repr(variant.name),
                                    "a name no other variant has"))
        seen_names[variant.name] = n
        key = repr(sorted((p, float(v) if isinstance(v, int | float) else v)
                          for p, v in variant.settings.items()))
        if key in seen_settings:
            problems.append(Problem(f"{source}, at {where}", "settings",
                                    f"the settings of {seen_settings[key]!r}",
                                    "settings no other variant has (it would solve the same)"))
        seen_settings.setdefault(key, variant.name)
    return problems


def _where(sweep: Sweep, n: int) -> str:
    """YAML path of the n-th expanded variant: a grid combination, or ``variants.K``."""
    listed = len(sweep.variants) - len(sweep.spec.variants)
    return f"grid ({sweep.variants[n].name})" if n < listed else f"variants.{n - listed}"


def _sweep_problem(source: str, err: Any) -> Problem:
    """pydantic's error as the scenario loader words it, but pointing at the sweep docs."""
    problem = problem_from_pydantic(source, err)
    if err.get("type") == "extra_forbidden":
        return Problem(problem.where, problem.field, problem.found,
                       "one of the keys documented in docs/sweeps.md (check the spelling)")
    return problem
