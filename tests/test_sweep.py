"""Scenario sweeps: the sweep.yaml format, failures, resume, and a Dask cluster losing a worker."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import TinyScenario, run_cli
from territory_opt import load_scenario
from territory_opt.errors import ScenarioError
from territory_opt.studies.sweep import SweepResult, VariantRecord, run_sweep, variant_task
from territory_opt.studies.sweep_schema import load_sweep
from territory_opt.studies.variants import with_settings

ROOT = Path(__file__).resolve().parents[1]


def _write_sweep(folder: Path, doc: dict[str, Any] | str, name: str = "sweep.yaml") -> Path:
    path = folder / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False),
                    encoding="utf-8")
    return path


def _swapped_tiny(tiny: TinyScenario) -> Path:
    """The tiny scenario with A2 (Charlotte) and A3 (Raleigh) at each other's rep: undoing the
    swap saves ~2 × 200 km but takes two moves, so the disruption cap decides the plan."""
    tiny.account("A2")["current_rep"], tiny.account("A3")["current_rep"] = "R2", "R1"
    return tiny.write()


def _same_results(a: SweepResult, b: SweepResult) -> None:
    assert [r.name for r in a.records] == [r.name for r in b.records]
    for x, y in zip(a.records, b.records, strict=True):
        assert (x.name, x.status, x.hash) == (y.name, y.status, y.hash)
        assert x.assignment == y.assignment, x.name
        assert x.objective == pytest.approx(y.objective, rel=1e-9), x.name


# --- the file ---------------------------------------------------------------------------------


def test_a_grid_expands_to_every_combination_then_the_listed_variants(
        tiny: TinyScenario) -> None:
    tiny.write()
    sweep = load_sweep(_write_sweep(tiny.root, {
        "base": "in",  # a folder holding scenario.yaml will do
        "solver": {"gap": 0, "time_limit": 20},
        "grid": {"rules.disruption.max_share": [0, 0.25, 1],
                 "rules.balance.workload.tolerance": [0.2, 0.3]},
        "variants": [{"name": "no moves cost", "settings": {"objective.disruption.weight": 0}}],
    }))
    assert sweep.base == tiny.yaml_path.resolve()
    assert len(sweep.variants) == 3 * 2 + 1
    assert [v.name for v in sweep.variants[:3]] == [
        "max_share=0 tolerance=0.2", "max_share=0 tolerance=0.3", "max_share=0.25 tolerance=0.2"]
    assert sweep.variants[-1].name == "no moves cost"
    assert {(v.settings["rules.disruption.max_share"],
             v.settings["rules.balance.workload.tolerance"]) for v in sweep.variants[:6]} == {
        (c, t) for c in (0, 0.25, 1) for t in (0.2, 0.3)}
    assert sweep.solver_settings() == {"solver.time_limit": 20, "solver.gap": 0}


@pytest.mark.parametrize(("doc", "where", "found", "expected"), [
    ({"base": "in", "gird": {"rules.disruption.max_share": [0.1]}},
     "at gird", "an unknown key", "docs/sweeps.md"),
    ({"base": "in", "grid": {"rules.locks": [1]}},
     "at grid.rules.locks", "'rules.locks'", "a setting that can be swept"),
    ({"base": "in", "variants": [{"name": "x", "settings": {"items.path": "a.csv"}}]},
     "at variants.0.settings.items.path", "'items.path'", "a setting that can be swept"),
    ({"base": "in", "grid": {"rules.disruption.max_share": 0.1}},
     "at grid.rules.disruption.max_share", "0.1", "a valid list"),
    ({"base": "in", "solver": {"time_limit": -1}, "grid": {"objective.travel.weight": [1]}},
     "at solver.time_limit", "-1", "a number greater than 0"),
    ({"base": "in", "variants": [{"name": "x", "setings": {"rules.disruption.max_share": 1}}]},
     "at variants.0.setings", "an unknown key", "docs/sweeps.md"),
    ({"base": "nowhere.yaml", "grid": {"objective.travel.weight": [1]}},
     "at base", "'nowhere.yaml'", "a scenario.yaml"),
    ({"base": "in", "variants": [{"name": "a", "settings": {"objective.travel.weight": 1}},
                                 {"name": "a", "settings": {"objective.travel.weight": 2}}]},
     "at variants.1", "'a'", "a name no other variant has"),
    ({"base": "in", "grid": {"objective.travel.weight": [1]},
      "variants": [{"name": "again", "settings": {"objective.travel.weight": 1.0}}]},
     "at variants.0", "the settings of 'weight=1'", "settings no other variant has"),
    ({"base": "in"}, "", "no variants", "a grid:"),
])
def test_a_bad_sweep_file_is_named(tiny: TinyScenario, doc: dict[str, Any], where: str,
                                   found: str, expected: str) -> None:
    tiny.write()
    path = _write_sweep(tiny.root, doc)
    with pytest.raises(ScenarioError) as info:
        load_sweep(path)
    text = str(info.value)
    assert text.startswith("invalid sweep") and f"{path}" in text and where in text, text
    assert f"found {found}" in text and expected in text, text


def test_the_demo_sweep_validates_and_every_variant_applies() -> None:
    demo = ROOT / "scenarios" / "demo" / "sweep.yaml"
    doc = (ROOT / "docs" / "sweeps.md").read_text(encoding="utf-8")
    assert re.findall(r"```yaml\n(.+?)```", doc, re.DOTALL)[0] == demo.read_text(
        encoding="utf-8"), "docs/sweeps.md must show scenarios/demo/sweep.yaml as it is"
    sweep = load_sweep(demo)
    assert len(sweep.variants) >= 8
    base = load_scenario(sweep.base)
    for variant in sweep.variants:
        with_settings(base, {**sweep.solver_settings(), **variant.settings})


def test_solver_settings_and_district_counts_are_sweepable() -> None:
    districts = load_scenario(ROOT / "scenarios" / "nc-counties" / "scenario.yaml")
    fewer = with_settings(districts, {"territories.count": 5, "solver.backend": "highs",
                                      "solver.time_limit": 7})
    assert fewer.n_territories == 5 and districts.n_territories == 8
    assert fewer.spec.solver.backend == "highs" and fewer.spec.solver.time_limit == 7
    assert fewer.digest == districts.digest  # same files: the sweep's hash tells them apart


def test_the_sweeps_solver_settings_reach_the_solve_as_given(
        tiny: TinyScenario, monkeypatch: pytest.MonkeyPatch) -> None:
    # The sweep's solver: block and a variant's solver.* settings are explicit arguments of
    # solve() (which merges them once with the base scenario's solver: block); a setting the
    # sweep does not give is not passed at all.
    from territory_opt.studies import sweep as sweep_module

    tiny.write()
    sweep = load_sweep(_write_sweep(tiny.root, {
        "base": "in/scenario.yaml", "solver": {"time_limit": 20, "work_limit": 5000},
        "variants": [{"name": "a", "settings": {"solver.seed": 3, "solver.threads": 1}}]}))
    given: list[dict[str, Any]] = []
    real = sweep_module.solve

    def spy(scenario: Any, **kwargs: Any) -> Any:
        given.append(kwargs)
        return real(scenario, **{k: v for k, v in kwargs.items() if k != "work_limit"})

    monkeypatch.setattr(sweep_module, "solve", spy)
    result = run_sweep(sweep, out_dir=tiny.root / "out", scheduler="serial", progress=False)
    assert result.records[0].solved, result.records[0].error
    assert {k: v for k, v in given[0].items() if k != "stop"} == {
        "time_limit": 20.0, "work_limit": 5000.0, "seed": 3, "threads": 1}
    assert type(given[0]["seed"]) is int and given[0]["stop"] is not None


def test_a_stopped_serial_sweep_stops_its_solve_and_keeps_nothing_half_done(
        tiny: TinyScenario, monkeypatch: pytest.MonkeyPatch) -> None:
    # The sweep's shutdown sets the solve's stop signal (Ctrl-C does, through solve()); the
    # variant it cut short and those not begun are "interrupted": kept for no rerun.
    from territory_opt.studies import sweep as sweep_module

    tiny.write()
    sweep = load_sweep(_write_sweep(tiny.root, {
        "base": "in/scenario.yaml", "solver": {"time_limit": 20},
        "variants": [{"name": n, "settings": {"solver.seed": i}}
                     for i, n in enumerate(("first", "second", "third"))]}))
    real = sweep_module.solve

    def stopped_during_the_second(scenario: Any, **kwargs: Any) -> Any:
        if kwargs["seed"] == 1:
            kwargs["stop"].set()  # what Ctrl-C does during a solve
        return real(scenario, **kwargs)

    monkeypatch.setattr(sweep_module, "solve", stopped_during_the_second)
    out = tiny.root / "out"
    result = run_sweep(sweep, out_dir=out, scheduler="serial", progress=False)
    assert [r.status for r in result.records] == ["optimal", "interrupted", "interrupted"]
    assert {p.stem for p in (out / "results").glob("*.json")} == {result.records[0].hash}


# --- running ----------------------------------------------------------------------------------


def test_a_failed_variant_is_recorded_and_the_others_complete(tiny: TinyScenario) -> None:
    _swapped_tiny(tiny)
    sweep = load_sweep(_write_sweep(tiny.root, {
        "base": "in/scenario.yaml", "solver": {"gap": 0, "time_limit": 20},
        "variants": [
            {"name": "frozen", "settings": {"rules.disruption.max_share": 0}},
            {"name": "nowhere near", "settings": {"rules.max_distance_km": 1}},
            {"name": "share above 1", "settings": {"rules.disruption.max_share": 1.5}},
            {"name": "no such solver", "settings": {"solver.backend": "nosuch"}},
            {"name": "free", "settings": {"rules.disruption.max_share": 1}},
        ]}))
    out = tiny.root / "out"
    result = run_sweep(sweep, out_dir=out, scheduler="serial", progress=False)
    status = {r.name: r.status for r in result.records}
    assert status == {"frozen": "optimal", "nowhere near": "infeasible",
                      "share above 1": "invalid", "no such solver": "invalid",
                      "free": "optimal"}
    by_name = {r.name: r for r in result.records}
    assert "max distance 1 km" in by_name["nowhere near"].error
    assert "max_share" in by_name["share above 1"].error
    assert "nosuch" in by_name["no such solver"].error
    # Undoing the swap takes two moves: only the free variant may.
    assert by_name["free"].objective < by_name["frozen"].objective - 300
    # Settled outcomes are kept for a rerun; refusals are simply tried again.
    kept = {p.stem for p in (out / "results").glob("*.json")}
    assert kept == {by_name[n].hash for n in ("frozen", "nowhere near", "free")}
    frame = result.frame()
    assert list(frame["status"]) == [status[n] for n in frame["variant"]]
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(result.failed) == 3


def test_a_rerun_skips_the_variants_already_done(tiny: TinyScenario,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import territory_opt.studies.sweep as sweep_module

    _swapped_tiny(tiny)
    doc = {"base": "in/scenario.yaml", "solver": {"gap": 0, "time_limit": 20},
           "grid": {"rules.disruption.max_share": [0, 0.25, 1]}}
    path = _write_sweep(tiny.root, doc)
    solves: list[str] = []
    real = sweep_module.solve

    def counting(scenario: Any, **kwargs: Any) -> Any:
        solves.append(scenario.spec.rules.disruption.max_share)
        return real(scenario, **kwargs)

    monkeypatch.setattr(sweep_module, "solve", counting)
    out = tiny.root / "out"
    first = run_sweep(path, out_dir=out, scheduler="serial", progress=False)
    assert len(solves) == 3 and first.skipped == 0
    again = run_sweep(path, out_dir=out, scheduler="serial", progress=False)
    assert len(solves) == 3 and again.skipped == 3
    _same_results(first, again)
    # One more value: only it is solved; a lost result file: only that one again.
    doc["grid"]["rules.disruption.max_share"].append(0.5)
    _write_sweep(tiny.root, doc)
    (out / "results" / f"{first.records[0].hash}.json").unlink()
    third = run_sweep(path, out_dir=out, scheduler="serial", progress=False)
    assert sorted(solves[3:]) == [0, 0.5] and third.skipped == 2
    # A changed base scenario changes every hash: nothing is skipped.
    tiny.account("A8")["potential"] = 96
    tiny.write()
    fourth = run_sweep(path, out_dir=out, scheduler="serial", progress=False)
    assert fourth.skipped == 0 and len(solves) == 9


# --- Dask ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_embedded_cluster_agrees_with_a_serial_run_and_shares_its_results(
        tiny: TinyScenario) -> None:
    _swapped_tiny(tiny)
    path = _write_sweep(tiny.root, {
        "base": "in/scenario.yaml", "solver": {"gap": 0, "time_limit": 20},
        "grid": {"rules.disruption.max_share": [0, 0.25, 1],
                 "objective.disruption.weight": [0, 10]}})
    parallel = run_sweep(path, out_dir=tiny.root / "dask", workers=2, progress=False)
    workers = {r.worker for r in parallel.records}
    assert all(w and int(w.rsplit(":", 1)[1]) != os.getpid() for w in workers)
    serial = run_sweep(path, out_dir=tiny.root / "serial", scheduler="serial", progress=False)
    _same_results(parallel, serial)
    # The serial run into the cluster's folder finds every result there.
    resumed = run_sweep(path, out_dir=tiny.root / "dask", scheduler="serial", progress=False)
    assert resumed.skipped == 6


def _killer(address: str, key: str, killed: dict[str, Any], stop: threading.Event) -> None:
    """Kill (SIGKILL) the worker process that runs ``key``, once, as soon as it runs it."""
    from distributed import Client

    def running(dask_worker: Any) -> list[str]:
        return [str(ts.key) for ts in dask_worker.state.executing]

    with Client(address) as client:
        pids = client.run(os.getpid)
        while not stop.is_set() and not killed:
            for worker, keys in client.processing().items():
                if key in map(str, keys) and key in client.run(running, workers=[worker]).get(
                        worker, []):
                    os.kill(pids[worker], signal.SIGKILL)
                    killed.update(worker=worker, pid=pids[worker], at=time.monotonic())
                    break
            time.sleep(0.02)


@pytest.mark.slow
def test_a_killed_worker_loses_no_variant(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    # scenarios/small, each variant to a gap target it reaches well within its time limit (so
    # solves are deterministic): the first takes a few seconds, long enough to be caught.
    path = _write_sweep(tmp_path, {
        "base": str(ROOT / "scenarios" / "small" / "scenario.yaml"),
        "solver": {"gap": 0.1, "time_limit": 120, "seed": 0},
        "variants": [
            {"name": "slow", "settings": {"rules.balance.workload_h.tolerance": 0.1,
                                          "solver.gap": 0.02}},
            {"name": "cheap moves", "settings": {"objective.disruption.weight": 10}},
            {"name": "loose workload", "settings": {"rules.balance.workload_h.tolerance": 0.1}},
            {"name": "capped", "settings": {"rules.disruption.max_share": 0.2}},
        ]})
    sweep = load_sweep(path)
    slow = variant_task(sweep, load_scenario(sweep.base), sweep.variants[0])
    killed: dict[str, Any] = {}
    stop = threading.Event()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        watcher = threading.Thread(target=_killer,
                                   args=(cluster.scheduler_address, slow.key, killed, stop))
        watcher.start()
        try:
            parallel = run_sweep(sweep, out_dir=tmp_path / "dask",
                                 scheduler=cluster.scheduler_address, progress=False)
        finally:
            stop.set()
            watcher.join()
        with Client(cluster) as client:
            client.wait_for_workers(2, timeout=60)  # the nanny brought the killed one back
    assert killed, "the slow variant was never seen running"
    records = {r.name: r for r in parallel.records}
    assert records["slow"].worker.rsplit(":", 1)[1] != str(killed["pid"])
    assert all(r.solved for r in parallel.records), [r.error for r in parallel.records]
    serial = run_sweep(sweep, out_dir=tmp_path / "serial", scheduler="serial", progress=False)
    _same_results(parallel, serial)


def test_records_round_trip_through_json() -> None:
    record = VariantRecord("a", "h" * 64, {"rules.disruption.max_share": 0.5}, "optimal",
                           objective=1.5, bound=float("-inf"), gap=float("inf"), seconds=0.25,
                           kpis={"travel": 1.0, "fairness": float("nan")},
                           assignment=["R1", "R2"])
    back = VariantRecord.from_json(json.loads(json.dumps(record.to_json())))
    assert back.assignment == record.assignment and back.objective == 1.5
    assert back.settings == record.settings and back.kpis["travel"] == 1.0


def test_cli_sweep_prints_the_table_and_resumes(tiny: TinyScenario) -> None:
    from territory_opt.cli import main

    if "sweep" not in main.commands:
        pytest.skip("territory-opt sweep is not wired into the CLI yet")
    _swapped_tiny(tiny)
    path = _write_sweep(tiny.root, {
        "base": "in/scenario.yaml", "solver": {"gap": 0, "time_limit": 20},
        "grid": {"rules.disruption.max_share": [0, 1]}})
    args = ["sweep", path, "--scheduler", "serial", "--out", tiny.root / "out"]
    first = run_cli(*args, cwd=tiny.root, subprocess=False)
    assert first.code == 0, first.output
    assert "max_share=0" in first.stdout and "optimal" in first.stdout
    again = run_cli(*args, "--json", cwd=tiny.root, subprocess=False)
    assert again.code == 0, again.output
    assert '"skipped": 2' in again.stdout
    bad = run_cli("sweep", _write_sweep(tiny.root, {"base": "in", "grid": {"rules.locks": [1]}},
                                        "bad.yaml"), cwd=tiny.root, subprocess=False)
    assert bad.code == 2 and "grid.rules.locks" in bad.output and "Traceback" not in bad.output
