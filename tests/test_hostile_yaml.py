"""YAML a scenario or sweep file must not get away with, through the real command line: alias
bombs refused before expansion (well inside 10 s), duplicate keys named with both lines, YAML 1.1
guesses read as text, non-finite numbers refused with their YAML path — exit 2, no traceback."""

from __future__ import annotations

import itertools
import time

import pytest
import yaml

from conftest import TinyScenario, run_cli


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A scenario-shaped "billion laughs": ``width``**``levels`` strings once expanded."""
    names = "abcdefghi"[:levels]
    lines = ["name: bomb", "version: 1", f"a: &a [{', '.join(['lol'] * width)}]"]
    lines += [f"{name}: &{name} [{', '.join([f'*{prev}'] * width)}]"
              for prev, name in itertools.pairwise(names)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("command", ["validate", "solve"])
def test_an_alias_bomb_scenario_is_refused_at_once(tiny: TinyScenario, command: str) -> None:
    tiny.yaml_text = alias_bomb()
    tiny.write()
    started = time.monotonic()
    args = [command, tiny.yaml_path] + (["--out", tiny.out_dir] if command == "solve" else [])
    result = run_cli(*args, cwd=tiny.root)
    assert time.monotonic() - started < 10
    assert result.code == 2, result.output
    assert "aliases" in result.output and "line 4" in result.output
    assert "Traceback" not in result.output
    assert "'lol', 'lol', 'lol', 'lol', 'lol'" not in result.output  # nothing rendered whole


def test_an_alias_bomb_sweep_is_refused_at_once(tiny: TinyScenario) -> None:
    tiny.write()
    sweep = tiny.folder / "sweep.yaml"
    sweep.write_text(f"base: {tiny.yaml_path.name}\n" + alias_bomb().split("\n", 2)[2])
    started = time.monotonic()
    result = run_cli("sweep", sweep, "--out", tiny.root / "sweep-out", cwd=tiny.root,
                     subprocess=False)
    assert time.monotonic() - started < 10
    assert result.code == 2 and "aliases" in result.output, result.output


def test_anchors_within_the_cap_still_work(tiny: TinyScenario) -> None:
    text = yaml.safe_dump(tiny.spec, sort_keys=False)
    assert "time_limit: 10\n" in text and "seed: 0\n" in text
    tiny.yaml_text = text.replace("time_limit: 10\n", "time_limit: &ten 10\n").replace(
        "seed: 0\n", "seed: *ten\n")
    tiny.write()
    assert run_cli("validate", tiny.yaml_path, cwd=tiny.root, subprocess=False).code == 0


def test_a_duplicate_key_names_both_lines(tiny: TinyScenario) -> None:
    tiny.yaml_text = yaml.safe_dump(tiny.spec, sort_keys=False).replace(
        "name: tiny\n", "name: tiny\nname: other\n")
    tiny.write()
    result = run_cli("validate", tiny.yaml_path, cwd=tiny.root, subprocess=False)
    assert result.code == 2
    assert "line 3" in result.output and "duplicate key 'name' (first at line 2)" in result.output


@pytest.mark.parametrize("key", ["NO", "on", "off", "yes"])
def test_yaml_1_1_booleans_are_ids(tiny: TinyScenario, key: str) -> None:
    """``NO`` is Norway: an item id, never False."""
    tiny.account("A1")["id"] = key
    tiny.spec["rules"]["locks"] = {key: "R1"}
    tiny.yaml_text = yaml.safe_dump(tiny.spec, sort_keys=False).replace(f"'{key}'", key)
    assert f"    {key}: R1" in tiny.yaml_text  # written plain, as a person would
    tiny.write()
    result = run_cli("validate", tiny.yaml_path, cwd=tiny.root, subprocess=False)
    assert result.code == 0, result.output


@pytest.mark.parametrize(("path", "value"), [
    (("solver", "time_limit"), ".inf"), (("solver", "gap"), ".nan"),
    (("objective", "travel", "weight"), ".inf"),
])
def test_non_finite_numbers_are_refused_with_their_path(tiny: TinyScenario,
                                                        path: tuple[str, ...],
                                                        value: str) -> None:
    node = tiny.spec
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "PLACEHOLDER"
    tiny.yaml_text = yaml.safe_dump(tiny.spec, sort_keys=False).replace("PLACEHOLDER", value)
    tiny.write()
    result = run_cli("validate", tiny.yaml_path, cwd=tiny.root, subprocess=False)
    assert result.code == 2, result.output
    assert ".".join(path) in result.output and "finite" in result.output


def test_threads_beyond_the_machine_are_capped_from_a_scenario(tiny: TinyScenario) -> None:
    """A scenario written on a large server still runs here: its solver.threads is capped to
    this machine's cores (an explicit --threads beyond them is refused instead)."""
    import os

    from territory_opt import load_scenario, solve

    tiny.spec["solver"]["threads"] = 100_000
    tiny.write()
    plan = solve(load_scenario(tiny.yaml_path), time_limit=10)
    assert plan.options["threads"] == (os.cpu_count() or 1)
