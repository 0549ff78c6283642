"""Command line: ``territory-opt validate | solve | evaluate | compare | tradeoff | route |
map | report | sweep | size | serve | backends``.

Exit status: 0 success, 2 bad input or infeasible scenario (with an explanation), 3 no plan
found within the time limit, 1 an unexpected internal error.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click
import numpy as np
from rich.console import Console
from rich.markup import escape

from territory_opt.backends.contract import Progress, Status, package_version
from territory_opt.backends.registry import registered_backends
from territory_opt.deadline import Stopwatch, process_age
from territory_opt.errors import (
    InfeasibleError,
    NoPlanFoundError,
    Problem,
    ScenarioError,
    TerritoryOptError,
)
from territory_opt.family import FAMILIES, family_of, get_family
from territory_opt.kpi.evaluate import Evaluation, evaluate
from territory_opt.plan import Plan, read_assignment
from territory_opt.present.export import FORMATS as EXPORT_FORMATS
from territory_opt.present.export import CsvStyle, export_plan
from territory_opt.present.jsonable import clean, evaluation_json
from territory_opt.present.progress import progress_display
from territory_opt.present.terminal import (
    backends_table,
    headcount_table,
    metric_table,
    moves_table,
    plan_summary,
    replay_table,
    support_table,
    territory_table,
    tradeoff_table,
    violation_lines,
)
from territory_opt.scenario.load import load_scenario
from territory_opt.scenario.model import Scenario
from territory_opt.solve import WarmStart, solve
from territory_opt.text import fmt as _fmt
from territory_opt.version import __version__

if TYPE_CHECKING:
    from territory_opt.studies.review import ReviewRound

EXIT_BAD_INPUT = 2
EXIT_NO_PLAN = 3

# Wide when piped (tables to files or CI logs must not be truncated); terminal width otherwise.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int) -> NoReturn:
    # Escape: a user's cell value such as "[bold]x" must be shown, not read as markup.
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    sys.exit(code)


def _guarded(action: Callable[[], None]) -> None:
    """Run ``action``; turn the errors a user can act on into messages and exit codes."""
    try:
        action()
    except (ScenarioError, InfeasibleError) as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    except NoPlanFoundError as exc:
        _fail(str(exc), EXIT_NO_PLAN)
    except TerritoryOptError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)


class FiniteRange(click.FloatRange):
    """A float range that also refuses ``nan`` and ``inf`` (``nan <= 0`` is false, so a plain
    range lets NaN through: ``--time-limit nan`` removed the limit)."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


CORES = os.cpu_count() or 1
"""Threads a solver may be given: more only slows it (and 100,000 aborted HiGHS)."""

scenario_argument = click.argument(
    "scenario", type=click.Path(path_type=Path, exists=False, dir_okay=True)
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="territory-opt")
def main() -> None:
    """Balanced sales territories with proof of quality."""


@main.command()
@scenario_argument
@json_option
def validate(scenario: Path, as_json: bool) -> None:
    """Check a scenario file and its tables; report conflicts visible without solving."""

    def run() -> None:
        s = load_scenario(scenario)
        family = family_of(s)
        family.support.require(s, s.spec.solver.backend)  # a rule its backend would ignore
        conflicts = family.conflicts(s)
        counts = family.views.counts(s)
        if as_json:
            click.echo(json.dumps({"valid": not conflicts, "items": s.n_items,
                                   "accounts": counts.get("accounts", 0),
                                   "territories": s.n_territories,
                                   "conflicts": [str(c) for c in conflicts]}, indent=2))
        else:
            extra = "".join(f", {n:,} named {name}" for name, n in counts.items() if n)
            words = family.views.words
            out.print(f"scenario '{s.name}': {s.n_items:,} {words.items}{extra}, "
                      f"{s.n_territories:,} {words.territories} ({s.fte.sum():g} FTE)")
            for name in s.attributes:
                out.print(f"  {name}: total {float(s.targets(name).sum()):,.2f}")
        if conflicts:
            raise InfeasibleError(conflicts)
        if not as_json:
            out.print("[green]valid[/]: no conflicts found before solving")

    _guarded(run)


@main.command(name="solve")
@scenario_argument
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Plan directory to create [default: plans/<scenario>-<timestamp>].")
@click.option("--backend", help="Solver backend [default: the scenario's, else auto].")
@click.option("--time-limit", type=FiniteRange(min=0, min_open=True), help="Seconds.")
@click.option("--gap", type=FiniteRange(min=0), help="Relative gap target, e.g. 0.001.")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed of the solver.")
@click.option("--threads", type=click.IntRange(min=1, max=CORES),
              help=f"Solver threads (at most {CORES}, this machine's cores).")
@click.option("--warm-start", default="construct", show_default=True,
              help="construct (LP rounding + restricted MIP), current (the current alignment), "
                   "none, or a PLAN_DIR whose assignment starts the solve.")
@click.option("--candidates", type=click.IntRange(min=1),
              help="Nearest territories offered per item [default: all pairs up to 1M pairs "
                   "for exact backends, else 8; column generation adds what the LP wants].")
@click.option("--work-limit", type=FiniteRange(min=0, min_open=True),
              help="Stop on this much deterministic effort instead of time (the backend's "
                   "unit, see `territory-opt backends`): the same plan on any machine load.")
@click.option("--verbose", is_flag=True, help="Show the solver's own log.")
@click.option("--regions", help="Solve region by region in parallel and stitch: a number of "
                                "regions to cluster the reps into, or 'auto' (the territories' "
                                "region column, else ~50 reps per region). For very large "
                                "alignments. --threads is then per region (default 1), "
                                "--candidates and --warm-start construct/none apply to each "
                                "region; --work-limit and --warm-start current/PLAN_DIR are "
                                "refused.")
@click.option("--scheduler", help="With --regions: 'serial', or a Dask scheduler address "
                                  "tcp://HOST:PORT [default: a local Dask cluster].")
@click.option("--workers", type=click.IntRange(min=1),
              help="With --regions: processes of the local Dask cluster [default: 2].")
@click.option("--map", "draw_map", is_flag=True,
              help="Also draw the plan: map.png and map.html in the plan directory.")
@click.option("--review", "review_file", type=click.Path(path_type=Path),
              help="A review.csv with decisions (territory-opt review): solve again with the "
                   "rejected moves locked back to the current rep and the others kept, with "
                   "the reviewed plan's settings unless given; writes review-outcome.json.")
@click.option("--plan", "review_plan", type=click.Path(path_type=Path),
              help="With --review: the reviewed plan [default: the review file's folder].")
@json_option
def solve_command(
    scenario: Path,
    out_dir: Path | None,
    backend: str | None,
    time_limit: float | None,
    gap: float | None,
    seed: int | None,
    threads: int | None,
    warm_start: str,
    candidates: int | None,
    work_limit: float | None,
    verbose: bool,
    regions: str | None,
    scheduler: str | None,
    workers: int | None,
    as_json: bool,
    draw_map: bool,
    review_file: Path | None = None,
    review_plan: Path | None = None,
) -> None:
    """Solve a scenario and write a plan directory.

    Ctrl-C stops the solver and writes the best plan found so far (a second Ctrl-C aborts).
    """

    def run() -> None:
        if regions is None:
            for flag, given in (("--scheduler", scheduler), ("--workers", workers)):
                if given is not None:
                    raise TerritoryOptError(f"{flag} applies to decomposed solves only; give "
                                            "--regions too, or leave it out")
        loading = Stopwatch()
        s = load_scenario(scenario)
        # What the user waited for before the solve: start-up (interpreter, imports) included.
        load_seconds = process_age() or loading.seconds()
        target = out_dir or _default_out(s)
        _check_new_output(target)
        chosen: dict[str, Any] = {"backend": backend, "time_limit": time_limit, "gap": gap,
                                  "seed": seed, "threads": threads, "work_limit": work_limit}
        review_round = _review_round(s, review_file, review_plan, regions)
        if review_round is not None:  # its locks, the reviewed plan's settings and start
            s, chosen = review_round.scenario, review_round.settings(**chosen)
        start = (review_round.warm_start if review_round is not None
                 and warm_start == "construct" else _warm_start(s, warm_start))
        solving = Stopwatch()
        if regions is not None:
            plan = _solve_in_regions(s, regions, backend=backend, time_limit=time_limit,
                                     gap=gap, seed=seed, threads=threads, warm_start=start,
                                     candidates=candidates, work_limit=work_limit,
                                     verbose=verbose, workers=workers, scheduler=scheduler,
                                     quiet=as_json)
        else:
            # A live display on a terminal (not beside the solver's own log), lines in a log;
            # it is gone, whatever happens, before the plan or an error prints.
            with _progress_shown(as_json, live=err.is_terminal and not verbose) as progress:
                plan = solve(s, **chosen, warm_start=start, candidates=candidates,
                             progress=progress, verbose=verbose)
        outcome = review_round.finish(plan) if review_round is not None else None
        plan = outcome.plan if outcome is not None else plan
        solve_seconds = solving.seconds()
        writing = Stopwatch()
        try:
            plan, written = plan.timed(load_seconds=load_seconds).written(target)
        except KeyboardInterrupt:  # signals wait for a write under way to finish
            if not target.is_dir():
                raise
            err.print(f"interrupted; the plan was written to {escape(str(target))}")
            sys.exit(130)
        write_seconds = writing.seconds()
        maps = _write_maps(plan, written) if draw_map else []
        if outcome is not None:
            outcome = outcome.with_plan(plan)
            outcome.write(written)
        if as_json:
            extra: dict[str, Any] = {"plan_dir": str(written)} | (
                {"maps": [str(p) for p in maps]} if maps else {})
            if outcome is not None:
                extra["review"] = outcome.as_dict()
            click.echo(json.dumps(plan.summary() | extra, indent=2))
        else:
            _print_plan(plan, written)
            for line in outcome.lines() if outcome is not None else ():
                out.print(escape(line))
            out.print(f"started and loaded in {load_seconds:.1f} s, solved in "
                      f"{solve_seconds:.1f} s, written in {write_seconds:.1f} s")
            for path in maps:
                out.print(f"map written to [bold]{escape(str(path))}[/]")
        if plan.status == Status.VIOLATES:  # written for inspection, but not a plan to use
            broken = [str(v) for v in plan.evaluation.violations if v.hard]
            _fail(f"the plan in {written} breaks {len(broken)} hard rule(s) on the scenario's "
                  "own numbers (within the solver's tolerance, outside the rule):\n"
                  + "\n".join(f"  - {v}" for v in broken[:20]), EXIT_NO_PLAN)

    _guarded(run)


@main.command(name="evaluate")
@scenario_argument
@click.option("--assignment", "assignments", multiple=True,
              type=click.Path(path_type=Path),
              help="An assignment CSV (item, territory) to score; repeat for several.")
@click.option("--territories", "show_territories", is_flag=True,
              help="Also print the per-territory table of each assignment.")
@json_option
def evaluate_command(
    scenario: Path, assignments: Sequence[Path], show_territories: bool, as_json: bool
) -> None:
    """Score the current alignment and any assignments, side by side."""

    def run() -> None:
        s = load_scenario(scenario)
        columns: dict[str, Evaluation] = {}
        if s.has_current:
            columns["current"] = evaluate(s, s.current)
        for path in assignments:
            label = path.parent.name if path.name == "assignment.csv" else path.stem
            while label in columns:
                label += "'"
            columns[label] = _evaluate_assignment(s, path)
        if not columns:
            raise TerritoryOptError("nothing to evaluate: the scenario has no current "
                                    "alignment and no --assignment was given")
        if as_json:
            click.echo(json.dumps({name: evaluation_json(e) for name, e in columns.items()},
                                  indent=2))
            return
        out.print(metric_table(s, columns))
        for name, e in columns.items():
            if show_territories:
                out.print(territory_table(s, e, title=name))
            _print_violations(name, e)

    _guarded(run)


@main.command(name="compare")
@click.argument("plan_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--current/--no-current", default=True, show_default=True,
              help="Put the scenario's current alignment first (when it has one).")
@click.option("--moves", "shown_moves", type=click.IntRange(min=0), default=15,
              show_default=True, help="Moves to print per plan (largest effect first).")
@click.option("--out", "out_file", type=click.Path(path_type=Path),
              help="Write every move to this CSV (new file).")
@json_option
def compare_command(plan_dirs: Sequence[Path], current: bool, shown_moves: int,
                    out_file: Path | None, as_json: bool) -> None:
    """Compare plans of one scenario: KPIs side by side, and the moves between the first
    (the current alignment, unless --no-current) and each other, with what each move changed
    in the objective and the rule that forced it."""

    def run() -> None:
        from territory_opt.kpi.compare import compare

        if not plan_dirs:
            raise TerritoryOptError("give at least one PLAN_DIR")
        plans = [_read_plan(path) for path in plan_dirs]
        s = plans[0].scenario
        for path, plan in zip(plan_dirs[1:], plans[1:], strict=True):
            if plan.scenario.path != s.path:
                raise TerritoryOptError(f"{path} is a plan of {plan.scenario.path}, not of "
                                        f"{s.path}: compare plans of one scenario")
        columns: dict[str, np.ndarray] = {}
        if current and s.has_current:
            columns["current"] = s.current
        for path, plan in zip(plan_dirs, plans, strict=True):
            label = path.name or str(path)
            while label in columns:
                label += "'"
            columns[label] = plan.assignment
        if len(columns) < 2:
            raise TerritoryOptError("nothing to compare: give two plans, or one plan of a "
                                    "scenario with a current alignment")
        if out_file is not None:
            _check_new_output(out_file)
        result = compare(s, columns)
        if out_file is not None:
            partial = out_file.with_name(f".{out_file.name}.partial")
            result.moves.to_csv(partial, index=False)
            partial.replace(out_file)
        if as_json:
            click.echo(json.dumps({
                "plans": {name: evaluation_json(e) for name, e in result.evaluations.items()},
                "moves": json.loads(result.moves.to_json(orient="records"))}, indent=2))
            return
        out.print(metric_table(s, result.evaluations))
        baseline = next(iter(columns))
        for name in list(columns)[1:]:
            moves = result.moves[result.moves["plan"] == name]
            forced = int((moves["forced_by"] != "").sum())
            out.print(f"[bold]{escape(name)}[/] vs {escape(baseline)}: {len(moves):,} items "
                      f"moved; {forced:,} cost objective and were forced by a rule, the rest "
                      "improved it")
            if shown_moves and len(moves):
                out.print(moves_table(moves.head(shown_moves), s))
        if out_file is not None:
            out.print(f"moves written to [bold]{escape(str(out_file))}[/]")

    _guarded(run)


@main.command(name="tradeoff")
@scenario_argument
@click.option("--rule", "setting", required=True,
              help="YAML path of the setting to sweep: rules.disruption.max_share, "
                   "rules.balance.ATTRIBUTE.tolerance, rules.max_distance, "
                   "objective.NAME.weight, ...")
@click.option("--values", "values_text", required=True,
              help="Comma-separated values, at least two, e.g. 0.1,0.2,0.3,0.5,1 (a hard limit "
                   "is solved from tight to loose whatever the order).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Folder to create [default: plans/<scenario>-tradeoff-<timestamp>].")
@click.option("--backend", help="Solver backend [default: the scenario's, else auto].")
@click.option("--time-limit", type=FiniteRange(min=0, min_open=True),
              help="Seconds per point.")
@click.option("--gap", type=FiniteRange(min=0), help="Relative gap target per point.")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed of the solver.")
@click.option("--threads", type=click.IntRange(min=1, max=CORES),
              help=f"Solver threads (at most {CORES}, this machine's cores).")
@click.option("--work-limit", type=FiniteRange(min=0, min_open=True),
              help="Deterministic effort per point instead of time (the backend's unit).")
@click.option("--independent", is_flag=True,
              help="Solve every point on its own (default: each point is solved as on its "
                   "own, then keeps the previous point's plan where that is valid there and "
                   "better, or where it found none of its own).")
@json_option
def tradeoff_command(scenario: Path, setting: str, values_text: str, out_dir: Path | None,
                     backend: str | None, time_limit: float | None, gap: float | None,
                     seed: int | None, threads: int | None, work_limit: float | None,
                     independent: bool, as_json: bool) -> None:
    """Sweep one rule or weight and chart what it costs: writes tradeoff.csv, tradeoff.png and
    tradeoff.json (travel, balance, disruption, objective and bound per value)."""
    from territory_opt.studies.tradeoff import TradeoffPoint, tradeoff

    def run() -> None:
        values = _parse_values(values_text)
        s = load_scenario(scenario)
        target = out_dir or _default_out(s, "tradeoff")
        _check_new_output(target)

        def show(point: TradeoffPoint) -> None:
            if as_json:
                return
            if point.plan is None:
                err.print(f"{setting}={point.value:g}: {point.status}: {escape(point.reason)}")
            else:
                err.print(f"{setting}={point.value:g}: {point.status}   objective "
                          f"{_fmt(point.objective)}   bound {_fmt(point.bound)}   "
                          f"{point.plan.seconds.get('total', 0):.1f} s")

        curve = tradeoff(s, setting, values, backend=backend, time_limit=time_limit, gap=gap,
                         seed=seed, threads=threads, work_limit=work_limit,
                         chain=not independent, progress=show)
        written = curve.write(target)
        if as_json:
            click.echo(json.dumps(curve.summary() | {"out_dir": str(written)}, indent=2))
        else:
            out.print(tradeoff_table(curve))
            for line in curve.monotone_violations():
                out.print(f"[bold red]not monotone:[/] {escape(line)}")
            out.print(f"written to [bold]{escape(str(written))}[/] (tradeoff.csv, tradeoff.png, "
                      "tradeoff.json)")
        if all(p.plan is None for p in curve.points):
            raise TerritoryOptError(
                f"no value of {setting} gave a plan:\n" + "\n".join(
                    f"  {p.value:g}: {p.message}" for p in curve.points))

    _guarded(run)


def _parse_values(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ScenarioError([Problem("--values", "values", repr(text),
                                     "comma-separated numbers, e.g. 0.1,0.2,0.5")]) from None
    if len(values) < 2 or not all(math.isfinite(v) for v in values):
        raise ScenarioError([Problem("--values", "values", repr(text),
                                     "at least two finite numbers, e.g. 0.1,0.2,0.5")])
    return values


@main.command(name="sweep")
@click.argument("sweep_yaml", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--scheduler", help="tcp://HOST:PORT of a running Dask scheduler, or 'serial' "
                                  "(one variant after another in this process) [default: a "
                                  "local cluster started here].")
@click.option("--workers", type=click.IntRange(min=1),
              help="Worker processes of the local cluster [default: min(variants, CPUs)].")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Results folder; rerun with the same one to resume "
                   "[default: plans/<folder>-<sweep file stem>].")
@json_option
def sweep_command(sweep_yaml: Path, scheduler: str | None, workers: int | None,
                  out_dir: Path | None, as_json: bool) -> None:
    """Solve the variants of a sweep.yaml in parallel on Dask; writes sweep.csv, sweep.png,
    sweep.json and results/HASH.json per variant (a rerun skips the variants already done)."""
    from territory_opt.studies.sweep import load_sweep, run_sweep

    def run() -> None:
        sweep = load_sweep(sweep_yaml)
        stem = f"{sweep_yaml.resolve().parent.name}-{sweep_yaml.stem}"
        target = out_dir or Path("plans") / stem
        result = run_sweep(sweep, out_dir=target, scheduler=scheduler, workers=workers,
                           progress=not as_json)
        if as_json:
            click.echo(json.dumps(result.summary() | {"out_dir": str(target)}, indent=2))
        else:
            out.print(result.table())
            if result.skipped:
                out.print(f"skipped {result.skipped} variant(s) already solved in "
                          f"{escape(str(target / 'results'))}")
            out.print(f"written to [bold]{escape(str(target))}[/] (sweep.csv, sweep.png, "
                      "sweep.json, results/)")
        if not any(r.solved for r in result.records):
            raise TerritoryOptError(f"no variant of {sweep_yaml} gave a plan:\n" + "\n".join(
                f"  {r.name}: {r.status}: {r.error.splitlines()[0] if r.error else ''}"
                for r in result.records))

    _guarded(run)


@main.command(name="size")
@scenario_argument
@click.option("--candidates", "candidates_csv", required=True, type=click.Path(path_type=Path),
              help="CSV of candidate base locations: id, lat, lon (name optional); one rep "
                   "at most per location.")
@click.option("--workload", required=True, help="Item attribute that adds up to a rep's "
              "workload, e.g. workload_h.")
@click.option("--capacity", required=True, type=FiniteRange(min=0, min_open=True),
              help="Workload one rep can carry, e.g. 1600.")
@click.option("--max-km", required=True, type=FiniteRange(min=0, min_open=True),
              help="Largest great-circle km from an account to its rep's base.")
@click.option("--weight", help="Item attribute weighting each account's km in the travel "
              "(e.g. visits) [default: plain km].")
@click.option("--extra", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also solve this many headcounts above the fewest.")
@click.option("--time-limit", type=FiniteRange(min=0, min_open=True), default=60.0,
              show_default=True, help="Seconds per solve (each headcount tried).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed of the solver.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Folder to create [default: plans/<scenario>-sizing-<timestamp>].")
@json_option
def size_command(scenario: Path, candidates_csv: Path, workload: str, capacity: float,
                 max_km: float, weight: str | None, extra: int, time_limit: float, seed: int,
                 out_dir: Path | None, as_json: bool) -> None:
    """Size the sales force: the fewest reps, based among the candidates, with every account
    within --max-km of its rep's base and every rep's workload at most --capacity; and the
    bases and assignment with the least travel for that headcount. Writes bases.csv,
    assignment.csv, attempts.csv and sizing.json."""
    from territory_opt.sizing import size_sales_force, write_sizing

    def run() -> None:
        s = load_scenario(scenario)
        target = out_dir or _default_out(s, "sizing")
        _check_new_output(target)
        result = size_sales_force(s, candidates_csv, workload=workload, capacity=capacity,
                                  max_km=max_km, weight=weight, time_limit=time_limit,
                                  seed=seed, extra=extra)
        written = write_sizing(result, target)
        if as_json:
            click.echo(json.dumps(result.summary() | {"out_dir": str(written)}, indent=2))
        else:
            out.print(headcount_table(s.name, result.attempts))
            if result.reps is not None:
                proven = "proven minimum" if result.proven_minimum else "minimum not proven"
                out.print(f"[bold]{result.reps} reps[/] ({proven}); bases: " + escape(
                    ", ".join(result.bases()["name"].astype(str))))
            out.print(f"written to [bold]{escape(str(written))}[/] (bases.csv, assignment.csv, "
                      "attempts.csv, sizing.json)")
        if result.reps is None:
            reasons = "\n".join(f"  {a.p}: {a.reason}" for a in result.attempts[-3:])
            raise TerritoryOptError(f"no headcount gave a plan:\n{reasons}")

    _guarded(run)


@main.command(name="route")
@scenario_argument
@click.option("--policy", "policies", multiple=True,
              type=click.Choice(["round-robin", "best-fit", "optimized"]),
              help="Policy to replay; repeat for several [default: all three].")
@click.option("--window", help="Window of the optimized policy, e.g. 15min, 1h, 1d "
              "[default: the scenario's leads.window].")
@click.option("--backend", default="highs", show_default=True,
              help="Backend of the optimized policy's batch model.")
@click.option("--out", "out_file", type=click.Path(path_type=Path),
              help="Also write each lead's rep under each policy to this CSV (new file).")
@json_option
def route_command(scenario: Path, policies: Sequence[str], window: str | None, backend: str,
                  out_file: Path | None, as_json: bool) -> None:
    """Replay a lead history under routing policies and compare their KPIs."""

    def run() -> None:
        from territory_opt.leads.replay import (
            POLICIES,
            history_metrics,
            replay,
            replay_metrics,
            require_leads,
        )
        from territory_opt.scenario.leads import parse_window

        s = load_scenario(scenario)
        require_leads(s)
        if out_file is not None:
            _check_new_output(out_file)
        try:
            seconds = parse_window(window) if window is not None else None
        except ValueError as exc:
            raise TerritoryOptError(f"--window: {exc}") from None
        results = {p: replay(s, p, window_seconds=seconds, backend=backend)
                   for p in (policies or POLICIES)}
        metrics = {p: replay_metrics(s, r) for p, r in results.items()}
        history = history_metrics(s)
        if out_file is not None:
            _write_routes(s, {p: r.assignment for p, r in results.items()}, out_file)
        if as_json:
            click.echo(json.dumps({"policies": {p: {k: clean(v) for k, v in m.items()}
                                                for p, m in metrics.items()},
                                   "history": {k: clean(v) for k, v in history.items()}},
                                  indent=2))
            return
        out.print(replay_table(metrics, f"{s.name}: {s.n_items:,} leads, "
                               f"{s.n_territories} reps (best per row in bold)", history))
        base, best = metrics.get("round-robin"), metrics.get("optimized")
        if base and best and base["expected_revenue"] > 0:
            gain = best["expected_revenue"] / base["expected_revenue"] - 1
            out.print(f"optimized vs round-robin: {gain:+.1%} expected revenue")
        if "optimized" in results:
            r = results["optimized"]
            out.print(f"optimized: {r.windows:,} windows solved, {r.proven_windows:,} proven "
                      f"optimal, {r.seconds:.1f} s")
        if out_file is not None:
            out.print(f"routes written to [bold]{escape(str(out_file))}[/]")

    _guarded(run)


def _write_routes(s: Scenario, assignments: dict[str, np.ndarray], path: Path) -> None:
    """lead, then one column per policy with the rep id ('' unrouted); written atomically."""
    import pandas as pd

    frame = pd.DataFrame({"lead": s.item_ids}
                         | {p: s.territory_label(a) for p, a in assignments.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    frame.to_csv(partial, index=False)
    partial.replace(path)


@main.command(name="pairs-from-matrix")
@click.argument("matrix", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--scenario", "scenario", required=True,
              type=click.Path(path_type=Path, exists=False, dir_okay=True),
              help="The scenario whose items (sources) and territories (destinations) the "
              "matrix is for, in table order.")
@click.option("--out", "out_file", required=True, type=click.Path(path_type=Path),
              help="The pair table CSV to write (new file).")
@click.option("--measure", type=click.Choice(["duration", "distance"]), default="duration",
              show_default=True, help="duration: drive minutes; distance: road km.")
@click.option("--sources", "sources_csv", type=click.Path(path_type=Path, dir_okay=False),
              help="CSV whose first column lists the item id of each matrix row "
              "[default: every item, in the items table's order].")
@click.option("--destinations", "destinations_csv",
              type=click.Path(path_type=Path, dir_okay=False),
              help="CSV whose first column lists the territory id of each matrix column "
              "[default: every territory, in the territories table's order].")
def pairs_from_matrix_command(matrix: Path, scenario: Path, out_file: Path, measure: str,
                              sources_csv: Path | None, destinations_csv: Path | None) -> None:
    """Turn an OSRM /table or Valhalla sources_to_targets response (JSON) into a pair table:
    item, territory, minutes (or km)."""

    def run() -> None:
        from territory_opt.scenario import route_matrix as rm

        kind: rm.Measure = "duration" if measure == "duration" else "distance"
        _check_new_output(out_file)
        items, territories = rm.scenario_ids(scenario)
        sources = rm.read_id_list(sources_csv, items, "items") if sources_csv else items
        destinations = (rm.read_id_list(destinations_csv, territories, "territories")
                        if destinations_csv else territories)
        data = rm.read_matrix(matrix)
        frame, engine, unreachable = rm.pairs_from_matrix(data, sources, destinations, kind,
                                                          str(matrix))
        out_file.parent.mkdir(parents=True, exist_ok=True)
        partial = out_file.with_name(f".{out_file.name}.partial")
        frame.to_csv(partial, index=False)
        partial.replace(out_file)
        missing = len(items) * len(territories) - len(frame)
        out.print(f"{engine} matrix: {len(frame):,} pairs written to "
                  f"[bold]{escape(str(out_file))}[/] ({rm.MEASURE_COLUMN[kind]}); "
                  f"{unreachable:,} unreachable left out")
        out.print("add to the scenario (path relative to its YAML):")
        out.print(escape(rm.pairs_yaml(out_file, kind, missing)))

    _guarded(run)


@main.command(name="map")
@click.argument("plan_dir", type=click.Path(path_type=Path))
def map_command(plan_dir: Path) -> None:
    """Draw a plan's territories: map.png and map.html in its plan directory."""

    def run() -> None:
        plan = _read_plan(plan_dir)
        if plan.scenario_changed:
            err.print("[yellow]warning:[/] the scenario's files changed since this plan was "
                      "made; the maps show the plan on the scenario as it is now")
        for path in _write_maps(plan, plan_dir):
            out.print(f"map written to [bold]{escape(str(path))}[/]")

    _guarded(run)


def _read_plan(plan_dir: Path) -> Plan:
    """``Plan.read`` with a plain message for a folder that is not a readable plan."""
    if not (plan_dir / "plan.json").is_file():
        raise TerritoryOptError(f"{plan_dir} is not a plan directory: it has no plan.json "
                                "(give a folder that territory-opt solve wrote)")
    try:
        plan = Plan.read(plan_dir)
    except TerritoryOptError as exc:  # its scenario or assignment: say whose they are
        raise TerritoryOptError(f"cannot read the plan in {plan_dir}: {exc}") from None
    except (ValueError, KeyError, TypeError) as exc:  # JSON syntax, missing keys, bad status
        raise TerritoryOptError(f"cannot read the plan in {plan_dir}: plan.json is garbled "
                                f"({type(exc).__name__}: {exc})") from None
    _warn_disagreements(plan_dir, plan)
    return plan


def _warn_disagreements(plan_dir: Path, plan: Plan) -> None:
    """Say where a plan directory disagrees with its plan.json (a file cut short, an edit)."""
    for sentence in plan.disagreements:
        err.print(f"[yellow]warning:[/] {escape(str(plan_dir))}: {escape(sentence)}")
    if plan.status_now != plan.status:
        err.print(f"[yellow]warning:[/] {escape(str(plan_dir))}: its status now is "
                  f"'{plan.status_now}', not '{plan.status}' as plan.json says")


def _evaluate_assignment(s: Scenario, path: Path) -> Evaluation:
    """Score an assignment CSV; one in a plan directory is read with its plan.json, whose
    disagreements are shown."""
    if path.name == "assignment.csv" and (path.parent / "plan.json").is_file():
        try:
            plan = Plan.read(path.parent, scenario=s)
        except (ValueError, KeyError, TypeError):  # a garbled plan.json: the CSV alone
            pass
        else:
            _warn_disagreements(path.parent, plan)
            return plan.evaluation
    return evaluate(s, read_assignment(s, path))


def _write_maps(plan: Plan, plan_dir: Path) -> list[Path]:
    # Imported here: matplotlib and geopandas take a second to import.
    from territory_opt.present.maps import write_maps

    return write_maps(plan_dir, plan.scenario, plan.assignment, plan.evaluation.territories)


@main.command(name="report")
@click.argument("plan_dir", type=click.Path(path_type=Path))
def report_command(plan_dir: Path) -> None:
    """Write report.html, a self-contained HTML report of a plan, into its plan directory."""

    def run() -> None:
        plan = _read_plan(plan_dir)
        if plan.scenario_changed:
            err.print("[yellow]warning:[/] the scenario's files changed since this plan was "
                      "made; the report shows the plan on the scenario as it is now")
        # Imported here: matplotlib, jinja2 (and geopandas for the map) are slow to import.
        from territory_opt.present.report import write_report

        out.print(f"report written to [bold]{escape(str(write_report(plan, plan_dir)))}[/]")

    _guarded(run)


@main.command(name="export")
@click.argument("plan_dir", type=click.Path(path_type=Path))
@click.option("--format", "fmt", required=True, type=click.Choice(EXPORT_FORMATS),
              help="salesforce-owner (Id,OwnerId), salesforce-territory (ObjectId,"
                   "Territory2Id,AssociationCause), hubspot (Record ID,Company owner), csv "
                   "(item,territory,moved,locked), geopackage (.gpkg, layers assignment and "
                   "territories) or geoparquet (.parquet, and NAME-territories.parquet "
                   "beside it).")
@click.option("--moves-only", is_flag=True, help="Only the items the plan moves.")
@click.option("--excel", is_flag=True,
              help="For Excel: UTF-8 with a byte-order mark (accents read right).")
@click.option("--sep", default=",", show_default=True, type=click.Choice([",", ";"]),
              help="Column separator; ';' for European Excel.")
@click.option("--decimal", default=".", show_default=True, type=click.Choice([".", ","]),
              help="Decimal mark of numbers; ',' (with --sep ';') for European Excel.")
@click.option("--out", "out_file", type=click.Path(path_type=Path),
              help="Output file [default: PLAN_DIR/export-FORMAT[-moves].csv, .gpkg for "
                   "geopackage, .parquet for geoparquet].")
def export_command(plan_dir: Path, fmt: str, moves_only: bool, excel: bool, sep: str,
                   decimal: str, out_file: Path | None) -> None:
    """Write a plan as a CRM import file (Salesforce, HubSpot), a plain CSV, or a GIS file
    (GeoPackage, GeoParquet)."""

    def run() -> None:
        style = CsvStyle(sep=sep, decimal=decimal, excel=excel)  # refuses sep == decimal
        plan = _read_plan(plan_dir)
        if plan.scenario_changed:
            err.print("[yellow]warning:[/] the scenario's files changed since this plan was "
                      "made; the export uses the scenario's ids as they are now")
        done = export_plan(plan, plan_dir, fmt, moves_only=moves_only, style=style,
                           out=out_file)
        rows = f"{done.rows:,} row{'' if done.rows == 1 else 's'}"
        out.print(f"{rows} ({fmt}) written to [bold]{escape(str(done.path))}[/]")
        for also in done.also:
            out.print(f"territories written to [bold]{escape(str(also))}[/]")
        if done.unassigned:
            err.print(f"[yellow]warning:[/] {done.unassigned:,} unassigned "
                      f"item{'' if done.unassigned == 1 else 's'} skipped")

    _guarded(run)


@main.command(name="review")
@click.argument("plan_dir", type=click.Path(path_type=Path))
@click.option("--out", "out_file", type=click.Path(path_type=Path),
              help="Output file [default: PLAN_DIR/review.csv].")
@click.option("--force", is_flag=True,
              help="Overwrite a review file whose decisions were filled in.")
@click.option("--sep", default=",", show_default=True, type=click.Choice([",", ";"]),
              help="Column separator; ';' for European Excel.")
@click.option("--decimal", default=".", show_default=True, type=click.Choice([".", ","]),
              help="Decimal mark of numbers; ',' (with --sep ';') for European Excel.")
def review_command(plan_dir: Path, out_file: Path | None, force: bool, sep: str,
                   decimal: str) -> None:
    """Write review.csv: one row per moved account, with the reps it leaves and joins, why it
    moved, its effect on balance and travel, and an empty decision column (accept, reject;
    empty means accept) for `territory-opt solve SCENARIO --review review.csv`."""

    def run() -> None:
        from territory_opt.studies.review import write_review

        style = CsvStyle(sep=sep, decimal=decimal, excel=True)  # refuses sep == decimal
        plan = _read_plan(plan_dir)
        if plan.scenario_changed:
            err.print("[yellow]warning:[/] the scenario's files changed since this plan was "
                      "made; the review shows the plan on the scenario as it is now")
        path, rows = write_review(plan, plan_dir, out=out_file, force=force, style=style)
        out.print(f"{rows:,} move{'' if rows == 1 else 's'} to review written to "
                  f"[bold]{escape(str(path))}[/]")

    _guarded(run)


@main.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback needs an API key.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True)
@click.option("--database", "database_url", default=None,
              help="SQLAlchemy URL of the job database, e.g. postgresql+psycopg://... "
                   "[default: sqlite:///territory-opt-service.db in the current folder].")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Solver processes (jobs solved at once).")
@click.option("--max-body-mb", type=FiniteRange(min=0, min_open=True), default=20.0,
              show_default=True, help="Largest request body, in MB.")
@click.option("--max-time-limit", type=FiniteRange(min=0, min_open=True), default=600.0,
              show_default=True, help="Longest solve a request may ask for, in seconds.")
@click.option("--max-active-jobs", type=click.IntRange(min=1), default=100, show_default=True,
              help="Jobs one API key may have queued or running at once.")
@click.option("--max-queued-seconds", type=FiniteRange(min=0, min_open=True), default=7200.0,
              show_default=True, help="Solve time (the sum of time limits) one API key may have "
              "queued or running at once.")
@click.option("--header-timeout", type=FiniteRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds a client has to send its request headers.")
@click.option("--body-timeout", type=FiniteRange(min=0, min_open=True), default=60.0,
              show_default=True, help="Seconds a client has to send its request body.")
@click.option("--max-connections", type=click.IntRange(min=1), default=64, show_default=True,
              help="Connections served at once; more get 503.")
@click.option("--max-table-rows", type=click.IntRange(min=1), default=1_000_000,
              show_default=True, help="Rows of one table of a request.")
@click.option("--api-key-file", type=click.Path(path_type=Path),
              help="File of API keys, one per line (also: TERRITORY_OPT_API_KEYS, "
                   "comma-separated).")
def serve_command(host: str, port: int, database_url: str | None, workers: int,
                  max_body_mb: float, max_time_limit: float, max_active_jobs: int,
                  max_queued_seconds: float, header_timeout: float, body_timeout: float,
                  max_connections: int, max_table_rows: int,
                  api_key_file: Path | None) -> None:
    """Run the HTTP service (OpenAPI at /openapi.json, docs at /docs; see docs/service.md)."""

    def run() -> None:
        from territory_opt.service.config import (
            DEFAULT_DATABASE,
            KEYS_VARIABLE,
            ServiceConfig,
            read_api_keys,
        )
        from territory_opt.service.server import serve

        config = ServiceConfig(database_url=database_url or DEFAULT_DATABASE, workers=workers,
                               max_body_bytes=int(max_body_mb * 1024 * 1024),
                               max_time_limit=max_time_limit,
                               max_active_jobs=max_active_jobs,
                               max_queued_seconds=max_queued_seconds,
                               header_timeout=header_timeout, body_timeout=body_timeout,
                               max_connections=max_connections,
                               max_table_rows=max_table_rows,
                               api_keys=read_api_keys(api_key_file), host=host, port=port)
        config.check()
        if not config.api_keys:
            err.print(f"[yellow]no API key configured[/] ({KEYS_VARIABLE} or --api-key-file): "
                      f"serving on loopback only ({host}), without authentication")
        serve(config)

    _guarded(run)


@main.command(name="backends")
@json_option
def backends_command(as_json: bool) -> None:
    """List the solver backends, whether each is installed, and what it can do; then, per
    problem family, which rules each solve path honours (a rule a path cannot honour is
    refused when that path is chosen, never ignored)."""
    rows = []
    for b in registered_backends():
        caps = b.capabilities
        rows.append({
            "name": b.name, "installed": b.available(), "mip": caps.mip,
            "warm_start": caps.warm_start, "threads": caps.threads, "bound": caps.bound,
            "deterministic": caps.deterministic, "live_progress": caps.live_progress,
            "stop": caps.stop, "work_unit": caps.work_unit or None, "notes": caps.notes,
        })
    matrices = [get_family(name).support for name in FAMILIES]
    if as_json:
        click.echo(json.dumps({"backends": rows,
                               "rules": {m.family: m.table() for m in matrices}}, indent=2))
        return
    out.print(backends_table(rows))
    out.print(f"highspy {package_version('highspy')}, ortools {package_version('ortools')}, "
              f"pulp {package_version('pulp')}")
    for matrix in matrices:
        out.print(support_table(matrix))


# --- output helpers ---------------------------------------------------------------------------


def _solve_in_regions(s: Scenario, regions: str, *, backend: str | None,
                      time_limit: float | None, gap: float | None, seed: int | None,
                      threads: int | None, warm_start: WarmStart, candidates: int | None,
                      work_limit: float | None, verbose: bool, workers: int | None,
                      scheduler: str | None, quiet: bool) -> Plan:
    """``solve --regions``: every solve option as the user gave it (None when not), merged
    once by :func:`~territory_opt.alignment.decompose.solve_decomposed`, which honours each
    or refuses it by name (exit 2)."""
    from territory_opt.alignment.decompose import solve_decomposed

    if regions != "auto" and not (regions.isdigit() and int(regions) >= 1):
        raise ScenarioError([Problem("--regions", "regions", repr(regions),
                                     "a number of regions >= 1, or 'auto'")])
    plan, _ = solve_decomposed(
        s, regions=None if regions == "auto" else int(regions), backend=backend,
        time_limit=time_limit, gap=gap, seed=seed, threads=threads, warm_start=warm_start,
        candidates=candidates, work_limit=work_limit, verbose=verbose,
        workers=workers if workers is not None else 2, scheduler=scheduler,
        progress=None if quiet else (lambda m: err.print(escape(m))))
    return plan


def _review_round(s: Scenario, review_file: Path | None, review_plan: Path | None,
                  regions: str | None) -> ReviewRound | None:
    """``solve --review``: the reviewed plan and its decisions (None without --review)."""
    if review_file is None:
        if review_plan is not None:
            raise TerritoryOptError("--plan names the plan a --review file reviews; give "
                                    "--review too, or leave it out")
        return None
    if regions is not None:
        raise TerritoryOptError("--review is not supported with --regions: a review "
                                "re-solves the whole plan; leave out --regions")
    from territory_opt.studies.review import read_review_round

    return read_review_round(s, review_file, review_plan)


def _warm_start(s: Scenario, value: str) -> WarmStart:
    """``--warm-start``: a keyword, or a plan directory / assignment CSV of this scenario."""
    if value in ("construct", "current", "none"):
        return cast(WarmStart, value)
    path = Path(value)
    csv = path / "assignment.csv" if path.is_dir() else path
    if not csv.is_file():
        raise TerritoryOptError(f"--warm-start {value}: expected construct, current, none, a plan "
                                "directory or an assignment CSV; found no such file")
    return read_assignment(s, csv)


def _check_new_output(target: Path) -> None:
    """Refuse, before any solving, an output that could not be written: one that exists
    (outputs are never overwritten), one under a file, or one in a folder this process may not
    write (a read-only folder or file system). Found after the solve, these lost the plan."""
    if target.exists() or target.is_symlink():
        raise TerritoryOptError(f"{target} already exists; choose another --out "
                                "(outputs are never overwritten)")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the nearest folder that exists: the rest will be created
    if not folder.is_dir():
        raise TerritoryOptError(f"cannot write {target}: {folder} is a file, not a folder; "
                                "choose another --out")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TerritoryOptError(f"cannot write {target}: {folder} is not writable (read-only "
                                "folder or file system); choose another --out")


def _default_out(s: Scenario, kind: str = "") -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    stem = f"{s.name}-{kind}-{stamp}" if kind else f"{s.name}-{stamp}"
    target = Path("plans") / stem
    n = 1
    while target.exists():
        n += 1
        target = Path("plans") / f"{stem}-{n}"
    return target


def _progress_shown(as_json: bool, *, live: bool
                    ) -> AbstractContextManager[Callable[[Progress], None] | None]:
    """The progress callback of a solve while it runs: none with ``--json``; else a live
    display on a terminal, plain lines in a log (:func:`progress_display`)."""
    if as_json:
        return contextlib.nullcontext(None)
    return progress_display(err, live=live)


def _print_plan(plan: Plan, written: Path) -> None:
    for part in plan_summary(plan):
        out.print(part)
    _print_violations("plan", plan.evaluation)
    out.print(f"plan written to [bold]{written}[/]")


def _print_violations(name: str, e: Evaluation) -> None:
    for line in violation_lines(name, e):
        out.print(escape(line))


if __name__ == "__main__":  # pragma: no cover
    main()
