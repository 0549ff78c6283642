"""Bad input gets a clear error: exit status 2, the place, what was found and what was expected.

Every test writes the tiny valid scenario of ``conftest.py`` with one thing broken, runs the real
CLI and checks, through :func:`run_failing`, that it exits with status 2 without a traceback,
creates no plan directory (nor anything else) and leaves the input files unchanged. One test of
each kind runs the CLI in a subprocess (``subprocess=True``) to prove the real process exits
cleanly; the variations run in-process through click's ``CliRunner`` for speed.
"""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import (
    SPEC,
    TinyScenario,
    assert_mentions,
    run_cli,
    run_failing,
    solve_args,
)

# --- a valid scenario solves ------------------------------------------------------------------


def test_valid_tiny_scenario_solves(tiny: TinyScenario) -> None:
    """Sanity check of the fixture: it solves and writes a complete plan directory."""
    tiny.write()
    result = run_cli(*solve_args(tiny), cwd=tiny.root)
    assert result.code == 0, result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tiny.out_dir.iterdir()) == [
        "assignment.csv", "plan.json", "territories.csv"
    ]
    assert sorted(p.name for p in tiny.out_dir.parent.iterdir()) == ["plan"]  # no temp dir left


def test_valid_tiny_scenario_validates(tiny: TinyScenario) -> None:
    tiny.write()
    result = run_cli("validate", tiny.yaml_path, cwd=tiny.root, subprocess=False)
    assert result.code == 0, result.output
    assert "valid" in result.stdout


def test_existing_out_dir_is_refused_and_kept(tiny: TinyScenario) -> None:
    """A plan never overwrites: --out pointing at an existing directory is refused."""
    tiny.write()
    tiny.out_dir.mkdir()
    (tiny.out_dir / "keep.txt").write_text("mine", encoding="utf-8")
    result = run_cli(*solve_args(tiny), cwd=tiny.root, subprocess=False)
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    assert_mentions(result.stderr, str(tiny.out_dir), "already exists")
    assert [p.name for p in tiny.out_dir.iterdir()] == ["keep.txt"]


# --- 1. malformed YAML ------------------------------------------------------------------------


def _replace_lines(text: str, first: int, last: int, new: list[str]) -> str:
    """Replace 1-based lines ``first..last`` of ``text`` by ``new``."""
    lines = text.splitlines()
    lines[first - 1:last] = new
    return "\n".join(lines) + "\n"


def _line_of(text: str, line: str) -> int:
    return text.splitlines().index(line) + 1


@pytest.mark.parametrize("kind", ["bad indent", "unclosed bracket", "unclosed brace"])
def test_malformed_yaml_names_file_and_line(tiny: TinyScenario, kind: str) -> None:
    good = tiny.yaml_dump()
    if kind == "bad indent":
        n = _line_of(good, "  latitude: lat")
        tiny.yaml_text = _replace_lines(good, n, n, ["   latitude: lat"])
        lines = [n]
    elif kind == "unclosed bracket":
        n = _line_of(good, "  attributes:")
        tiny.yaml_text = _replace_lines(good, n, n + 2, ["  attributes: [potential, workload"])
        lines = [n, n + 1]  # opened on line n, noticed on the next line
    else:
        n = _line_of(good, "  - attribute: workload")
        broken = "  - {attribute: workload, tolerance: 0.2"
        tiny.yaml_text = _replace_lines(good, n, n + 1, [broken])
        lines = [n, n + 1]
    result = run_failing(tiny, subprocess=True)
    assert_mentions(result.stderr, "scenario.yaml", "YAML")
    for line in lines:
        assert re.search(rf"\bline {line}\b", result.stderr), (line, result.stderr)


def test_yaml_that_is_not_a_mapping(tiny: TinyScenario) -> None:
    tiny.yaml_text = "- just\n- a list\n"
    result = run_failing(tiny)
    assert_mentions(result.stderr, "scenario.yaml", "a mapping")


def test_missing_scenario_file(tiny: TinyScenario) -> None:
    tiny.write()
    tiny.yaml_path.unlink()
    result = run_failing(tiny, write=False)
    assert_mentions(result.stderr, "scenario.yaml", "no such file")


# --- 2. missing table file --------------------------------------------------------------------


@pytest.mark.parametrize("table", ["items", "territories"])
def test_missing_table_file(tiny: TinyScenario, table: str) -> None:
    tiny.spec[table]["path"] = "nowhere/missing.csv"
    result = run_failing(tiny, subprocess=True)
    assert_mentions(result.stderr, f"{table}.path", "nowhere/missing.csv", "does not exist")


def test_unknown_table_format(tiny: TinyScenario) -> None:
    tiny.write()
    (tiny.folder / "accounts.xlsx").write_bytes(b"not a spreadsheet")
    tiny.spec["items"]["path"] = "accounts.xlsx"
    result = run_failing(tiny)
    assert_mentions(result.stderr, "items.path", ".xlsx", ".csv")


# --- 3. missing column ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key", "column", "file"),
    [
        ("items", "latitude", "latitude", "accounts.csv"),
        ("items", "current", "rep", "accounts.csv"),
        ("territories", "fte", "FTE", "reps.csv"),
    ],
)
def test_missing_column(tiny: TinyScenario, table: str, key: str, column: str, file: str) -> None:
    tiny.spec[table][key] = column
    result = run_failing(tiny)
    assert_mentions(result.stderr, file, f"'{column}'", f"{table}.{key}")


def test_missing_attribute_column(tiny: TinyScenario) -> None:
    tiny.spec["items"]["attributes"] = {"potential": "potential", "workload": "hours"}
    result = run_failing(tiny)
    assert_mentions(result.stderr, "accounts.csv", "'hours'", "items.attributes.workload")


# --- 4. duplicate ids -------------------------------------------------------------------------


def test_duplicate_item_ids(tiny: TinyScenario) -> None:
    tiny.account("A6")["id"] = "A2"
    result = run_failing(tiny, subprocess=True)
    assert_mentions(result.stderr, "accounts.csv", "row 6", "row 2", "'A2'", "duplicate",
                    "unique")


def test_duplicate_territory_ids(tiny: TinyScenario) -> None:
    tiny.reps[2]["rep_id"] = "R1"
    result = run_failing(tiny)
    assert_mentions(result.stderr, "reps.csv", "row 3", "row 1", "'R1'", "duplicate")


def test_empty_item_id(tiny: TinyScenario) -> None:
    tiny.account("A4")["id"] = ""
    result = run_failing(tiny)
    assert_mentions(result.stderr, "accounts.csv", "row 4", "empty id")


# --- 5. non-numeric attribute -----------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "1,000", "12 h"])
def test_non_numeric_attribute(tiny: TinyScenario, value: str) -> None:
    tiny.account("A5")["potential"] = value
    result = run_failing(tiny)
    assert_mentions(result.stderr, "accounts.csv", "row 5", "potential", f"'{value}'",
                    "a number")


def test_non_numeric_attributes_are_all_listed(tiny: TinyScenario) -> None:
    """Problems are collected: two bad rows and a bad coordinate come in one message."""
    tiny.account("A2")["workload"] = "x"
    tiny.account("A7")["workload"] = "y"
    tiny.account("A3")["lon"] = "west"
    result = run_failing(tiny)
    assert_mentions(result.stderr, "(2 problems)", "rows 2, 7", "workload", "row 3", "lon",
                    "'west'")
    assert result.stderr.count("row 3") == 1  # 'west' is not also reported as empty


def test_non_numeric_fte(tiny: TinyScenario) -> None:
    tiny.reps[1]["fte"] = "full"
    result = run_failing(tiny)
    assert_mentions(result.stderr, "reps.csv", "row 2", "fte", "'full'", "a number")


# --- 6. negative attribute --------------------------------------------------------------------


def test_negative_attribute(tiny: TinyScenario) -> None:
    tiny.account("A4")["workload"] = -3
    result = run_failing(tiny, subprocess=True)
    assert_mentions(result.stderr, "accounts.csv", "row 4", "workload", "-3", ">= 0")


@pytest.mark.parametrize("fte", [0, -1])
def test_non_positive_fte(tiny: TinyScenario, fte: float) -> None:
    tiny.reps[2]["fte"] = fte
    result = run_failing(tiny)
    assert_mentions(result.stderr, "reps.csv", "row 3", "fte", f"found {fte}", "> 0")


def test_negative_capacity(tiny: TinyScenario) -> None:
    for rep in tiny.reps:
        rep["cap"] = 40
    tiny.reps[0]["cap"] = -5
    tiny.spec["territories"]["capacity"] = {"workload": "cap"}
    result = run_failing(tiny)
    assert_mentions(result.stderr, "reps.csv", "row 1", "cap", "-5", ">= 0")


@pytest.mark.parametrize("value", ["inf", "-inf"])
def test_infinite_attribute(tiny: TinyScenario, value: str) -> None:
    tiny.account("A8")["potential"] = value
    result = run_failing(tiny)
    assert_mentions(result.stderr, "accounts.csv", "row 8", "potential", "finite")
    assert result.stderr.count("row 8") == 1  # -inf is not also reported as negative


# --- 7. empty, NaN or out-of-range coordinates ------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "found", "expected"),
    [
        ("lat", "", "empty", "between -90 and 90"),
        ("lon", "NaN", "NaN", "between -180 and 180"),
        ("lat", 123.4, "123.4", "between -90 and 90"),
        ("lon", -181, "-181", "between -180 and 180"),
    ],
)
def test_bad_item_coordinate(
    tiny: TinyScenario, column: str, value: object, found: str, expected: str
) -> None:
    tiny.account("A3")[column] = value
    result = run_failing(tiny)
    assert_mentions(result.stderr, "accounts.csv", "row 3", f": {column}:", found, expected)


def test_bad_home_coordinate(tiny: TinyScenario) -> None:
    tiny.reps[1]["home_lat"] = 95
    result = run_failing(tiny)
    assert_mentions(result.stderr, "reps.csv", "row 2", "home_lat", "95", "between -90 and 90")


def test_home_with_only_one_coordinate(tiny: TinyScenario) -> None:
    tiny.reps[1]["home_lon"] = ""
    result = run_failing(tiny)
    assert_mentions(result.stderr, "reps.csv", "row 2", "latitude", "longitude")


# --- 8. locks naming an unknown territory or item ---------------------------------------------


def test_yaml_lock_to_unknown_rep(tiny: TinyScenario) -> None:
    tiny.spec["rules"]["locks"] = {"A2": "R9"}
    result = run_failing(tiny, subprocess=True)
    assert_mentions(result.stderr, "scenario.yaml", "rules.locks.A2", "'R9'", "territory id")


def test_yaml_lock_of_unknown_item(tiny: TinyScenario) -> None:
    tiny.spec["rules"]["locks"] = {"A99": "R1"}
    result = run_failing(tiny)
    assert_mentions(result.stderr, "scenario.yaml", "rules.locks.A99", "'A99'", "item id")


def test_lock_column_to_unknown_rep(tiny: TinyScenario) -> None:
    tiny.account("A7")["lock"] = "R9"
    result = run_failing(tiny, subprocess=True)
    assert_mentions(result.stderr, "accounts.csv", "row 7", "lock", "'R9'", "territory id")


def test_current_column_to_unknown_rep(tiny: TinyScenario) -> None:
    tiny.account("A1")["current_rep"] = "R7"
    result = run_failing(tiny)
    assert_mentions(result.stderr, "accounts.csv", "row 1", "current_rep", "'R7'")


def test_yaml_lock_disagrees_with_lock_column(tiny: TinyScenario) -> None:
    tiny.account("A5")["lock"] = "R2"
    tiny.spec["rules"]["locks"] = {"A5": "R3"}
    result = run_failing(tiny)
    assert_mentions(result.stderr, "rules.locks.A5", "'R3'", "'R2'", "one lock per item")


# --- 9. out-of-range rule values --------------------------------------------------------------


def test_negative_tolerance(tiny: TinyScenario) -> None:
    tiny.spec["rules"]["balance"][0]["tolerance"] = -0.1
    result = run_failing(tiny, subprocess=True)
    assert_mentions(result.stderr, "scenario.yaml", "rules.balance.0.tolerance", "found -0.1",
                    "expected a number greater than or equal to 0")


@pytest.mark.parametrize(
    ("path", "value", "shown"),
    [
        (("rules", "disruption"), {"attribute": "items", "max_share": 1.5}, "max_share"),
        (("rules", "max_distance_km"), 0, "max_distance_km"),
        (("solver", "time_limit"), -1, "time_limit"),
        (("rules", "balance"), [{"attribute": "workload", "tolerance": "5%"}], "tolerance"),
    ],
)
def test_out_of_range_rule_value(
    tiny: TinyScenario, path: tuple[str, str], value: object, shown: str
) -> None:
    tiny.spec[path[0]][path[1]] = value
    result = run_failing(tiny)
    assert_mentions(result.stderr, "scenario.yaml", f"{path[0]}.{path[1]}", shown)


def test_rule_naming_unknown_attribute(tiny: TinyScenario) -> None:
    tiny.spec["rules"]["balance"].append({"attribute": "revenue", "tolerance": 0.1})
    result = run_failing(tiny)
    assert_mentions(result.stderr, "rules.balance.1.attribute", "'revenue'", "'workload'")


def test_eligibility_naming_unknown_tag(tiny: TinyScenario) -> None:
    tiny.spec["rules"]["eligibility"] = ["language"]
    result = run_failing(tiny)
    assert_mentions(result.stderr, "rules.eligibility.0", "'language'", "'segment'")


def test_numeric_lock_key(tiny: TinyScenario) -> None:
    """YAML reads ``1001:`` as a number; the item ids are text, so the key must be quoted."""
    tiny.yaml_text = tiny.yaml_dump().replace("rules:\n", "rules:\n  locks:\n    1001: R1\n")
    result = run_failing(tiny)
    assert_mentions(result.stderr, "scenario.yaml, at rules.locks.1001: (key): found 1001",
                    "a valid string", "quote it", "'1001'")


def test_model_level_yaml_error(tiny: TinyScenario) -> None:
    tiny.spec["items"]["x"] = "lat"
    result = run_failing(tiny)
    assert_mentions(result.stderr, "scenario.yaml, at items",
                    "expected a consistent section: give either latitude/longitude or x/y, "
                    "not both")
    assert "Value error" not in result.stderr


def test_messages_name_the_yaml_file_as_given(tiny: TinyScenario) -> None:
    """A scenario file not called scenario.yaml is named by its own name in every message."""
    tiny.spec["rules"]["balance"][0]["attribute"] = "hours"
    tiny.write()
    q3 = tiny.yaml_path.rename(tiny.folder / "q3.yaml")
    result = run_failing(tiny, "solve", q3, "--out", tiny.out_dir, write=False)
    assert_mentions(result.stderr, "q3.yaml, at rules.balance.0.attribute", "'hours'")
    assert "scenario.yaml" not in result.stderr


def test_missing_required_key(tiny: TinyScenario) -> None:
    del tiny.spec["model"]
    result = run_failing(tiny)
    assert_mentions(result.stderr, "scenario.yaml", "model", "nothing")


# --- 10. unknown YAML keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "typo", "yaml_path"),
    [
        ("balance", "tolerence", "rules.balance.0.tolerence"),
        ("items", "latitute", "items.latitute"),
        ("top", "rule", "rule"),
    ],
)
def test_unknown_yaml_key(tiny: TinyScenario, section: str, typo: str, yaml_path: str) -> None:
    if section == "balance":
        tiny.spec["rules"]["balance"][0] = {"attribute": "workload", typo: 0.1}
    elif section == "items":
        tiny.spec["items"][typo] = tiny.spec["items"].pop("latitude")
    else:
        tiny.spec[typo] = tiny.spec.pop("rules")
    result = run_failing(tiny)
    assert_mentions(result.stderr, "scenario.yaml", yaml_path, typo, "unknown key")


# --- other malformed tables -------------------------------------------------------------------


def test_ragged_csv(tiny: TinyScenario) -> None:
    tiny.write()
    path = tiny.folder / "accounts.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] += ",surplus,cells"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_failing(tiny, write=False, subprocess=True)
    assert_mentions(result.stderr, "accounts.csv", "line 4")


@pytest.mark.parametrize("table", ["accounts", "reps"])
def test_table_without_rows(tiny: TinyScenario, table: str) -> None:
    if table == "accounts":
        tiny.accounts = [dict.fromkeys(tiny.accounts[0], "")]
    else:
        tiny.reps = [dict.fromkeys(tiny.reps[0], "")]
    tiny.write()
    path = tiny.folder / f"{table}.csv"
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    result = run_failing(tiny, write=False, subprocess=True)
    assert_mentions(result.stderr, f"{table}.csv", "no rows")


def test_validate_reports_bad_input_too(tiny: TinyScenario) -> None:
    tiny.account("A5")["potential"] = "abc"
    result = run_failing(tiny, "validate", tiny.yaml_path)
    assert_mentions(result.stderr, "accounts.csv", "row 5", "'abc'")


def test_json_spec_is_what_the_fixture_writes() -> None:
    """Guard against the fixture drifting from the schema: the base spec itself validates."""
    from territory_opt.scenario.document import read_spec_dict

    read_spec_dict(yaml.safe_load(yaml.safe_dump(SPEC)), "scenario.yaml")
