"""``territory-opt export``: CRM import files (Salesforce, HubSpot) and a plain CSV of a plan.

Each test solves the tiny scenario (started unbalanced, so the plan moves items) and exports
it: exact headers, ``--moves-only``, ids that map back to the plan's assignment, the CSV read
back by ``evaluate``, spreadsheet-safe cells, Excel's BOM and European numbers, and clean
refusals (a missing ``crm`` column, an input as ``--out``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from conftest import TinyScenario, run_cli, snapshot
from territory_opt.present.export import (
    HEADERS,
    cell_text,
    number_text,
    spreadsheet_safe,
)

CRM_FORMATS = ("salesforce-owner", "salesforce-territory", "hubspot")
BOM = b"\xef\xbb\xbf"


def _unbalanced(s: TinyScenario) -> None:
    """Start A3 and A7 with R1 (44 h against 12 and 16): a plan within ±20% moves items."""
    s.account("A3")["current_rep"] = "R1"
    s.account("A7")["current_rep"] = "R1"


def _with_crm_columns(s: TinyScenario) -> None:
    """CRM ids unlike the scenario's: accounts 001…, users 005…, territories 0MI…."""
    for a in s.accounts:
        a["sf_account"] = f"001{a['id']}"
    for r in s.reps:
        r["sf_user"] = f"005{r['rep_id']}"
        r["sf_territory"] = f"0MI{r['rep_id']}"
    s.spec["crm"] = {"account_id": "sf_account", "owner_id": "sf_user",
                     "territory_id": "sf_territory"}


def _solve(s: TinyScenario, *, write: bool = True) -> Path:
    if write:
        s.write()
    result = run_cli("solve", s.yaml_path, "--out", s.out_dir, "--time-limit", "2",
                     cwd=s.root, subprocess=False)
    assert result.code == 0, result.output
    return s.out_dir


def _export(s: TinyScenario, *args: str | Path) -> str:
    result = run_cli("export", s.out_dir, *args, cwd=s.root, subprocess=False)
    assert result.code == 0, result.output
    return result.output


def _rows(path: Path, sep: str = ",") -> list[list[str]]:
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=sep))


def _plan_assignment(plan_dir: Path) -> pd.DataFrame:
    return pd.read_csv(plan_dir / "assignment.csv", dtype=str, keep_default_na=False)


@pytest.fixture
def crm_plan(tiny: TinyScenario) -> TinyScenario:
    """The tiny scenario with CRM columns, solved into ``tiny.out_dir``."""
    _unbalanced(tiny)
    _with_crm_columns(tiny)
    _solve(tiny)
    return tiny


@pytest.mark.parametrize("fmt", [*CRM_FORMATS, "csv"])
def test_export_writes_exact_header_to_default_path(crm_plan: TinyScenario, fmt: str) -> None:
    _export(crm_plan, "--format", fmt)
    rows = _rows(crm_plan.out_dir / f"export-{fmt}.csv")
    assert tuple(rows[0]) == HEADERS[fmt]
    assert len(rows) - 1 == len(crm_plan.accounts)
    assert not (crm_plan.out_dir / f"export-{fmt}.csv").read_bytes().startswith(BOM)


@pytest.mark.parametrize("fmt", CRM_FORMATS)
def test_crm_ids_map_back_to_the_plans_assignment(crm_plan: TinyScenario, fmt: str) -> None:
    _export(crm_plan, "--format", fmt)
    _, *rows = _rows(crm_plan.out_dir / f"export-{fmt}.csv")
    item_of = {a["sf_account"]: a["id"] for a in crm_plan.accounts}
    column = "sf_territory" if fmt == "salesforce-territory" else "sf_user"
    territory_of = {r[column]: r["rep_id"] for r in crm_plan.reps}
    exported = {item_of[row[0]]: territory_of[row[1]] for row in rows}
    plan = _plan_assignment(crm_plan.out_dir)
    assert exported == dict(zip(plan["item"], plan["territory"], strict=True))
    if fmt == "salesforce-territory":
        assert {row[2] for row in rows} == {"Territory2Manual"}


@pytest.mark.parametrize("fmt", [*CRM_FORMATS, "csv"])
def test_moves_only_keeps_the_moved_items(crm_plan: TinyScenario, fmt: str) -> None:
    _export(crm_plan, "--format", fmt, "--moves-only")
    moved = (_plan_assignment(crm_plan.out_dir)["moved"] == "True").sum()
    assert moved > 0, "the tiny scenario was meant to start unbalanced"
    rows = _rows(crm_plan.out_dir / f"export-{fmt}-moves.csv")
    assert len(rows) - 1 == moved
    if fmt == "csv":
        assert {row[2] for row in rows[1:]} == {"true"}


def test_csv_export_reads_back_through_evaluate(crm_plan: TinyScenario) -> None:
    out = crm_plan.root / "exports" / "plan.csv"
    _export(crm_plan, "--format", "csv", "--out", out)
    _, *rows = _rows(out)
    assert {row[2] for row in rows} <= {"true", "false"}
    assert {row[3] for row in rows} <= {"true", "false"}
    result = run_cli("evaluate", crm_plan.yaml_path, "--assignment", out, "--json",
                     cwd=crm_plan.root, subprocess=False)
    assert result.code == 0, result.output
    metrics = json.loads(result.stdout)["plan"]["metrics"]
    recorded = json.loads((crm_plan.out_dir / "plan.json").read_text())["kpis"]
    assert set(metrics) == set(recorded)
    for key, value in recorded.items():
        if value is None:
            assert metrics[key] is None, key
        else:
            assert metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key


def test_formula_like_ids_are_escaped(tiny: TinyScenario) -> None:
    _unbalanced(tiny)
    tiny.account("A1")["id"] = '=HYPERLINK("x")'
    tiny.account("A2")["id"] = "+1"
    for r in tiny.reps:
        r["owner"] = f"@{r['rep_id']}"
    tiny.spec["crm"] = {"owner_id": "owner"}
    _solve(tiny)
    _export(tiny, "--format", "csv")
    _export(tiny, "--format", "hubspot")
    items = [row[0] for row in _rows(tiny.out_dir / "export-csv.csv")[1:]]
    assert items[:2] == ["'=HYPERLINK(\"x\")", "'+1"]
    assert items[2:] == [f"A{n}" for n in range(3, 9)]
    owners = {row[1] for row in _rows(tiny.out_dir / "export-hubspot.csv")[1:]}
    assert owners and all(o.startswith("'@R") for o in owners)


def test_spreadsheet_safe_cells() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_safe(text) == "'" + text
    assert spreadsheet_safe("A-1") == "A-1"
    assert cell_text(True) == "true" and cell_text(False) == "false"
    assert cell_text(None) == ""
    assert cell_text(-3) == "-3"  # a number, not text: no quote


def test_numbers_in_full_without_exponent() -> None:
    assert number_text(1.05e7) == "10500000"
    assert number_text(0.1) == "0.1"
    assert number_text(1e-7) == "0.0000001"
    big = number_text(2.0**60)  # repr's digits (shortest that read back), then zeros
    assert big == "1152921504606847000" and float(big) == 2.0**60
    assert number_text(1 / 3) == repr(1 / 3)
    assert number_text(12.5, ",") == "12,5"
    assert float(number_text(math.pi)) == math.pi


def _parquet_items(s: TinyScenario, column: str, values: list[float]) -> None:
    """The items as Parquet (typed columns), with a numeric CRM account id column."""
    s.write()
    frame = pd.DataFrame(s.accounts)
    frame[column] = values
    frame.to_parquet(s.folder / "accounts.parquet", index=False)
    s.spec["items"]["path"] = "accounts.parquet"
    s.spec["crm"] = {"account_id": column}


def test_excel_has_bom_and_european_numbers(tiny: TinyScenario) -> None:
    _unbalanced(tiny)
    _parquet_items(tiny, "crm_number", [15_000_000.25 + n for n in range(len(tiny.accounts))])
    _solve(tiny)
    _export(tiny, "--format", "salesforce-owner", "--excel", "--sep", ";", "--decimal", ",",
            "--out", "eu.csv")
    raw = (tiny.root / "eu.csv").read_bytes()
    assert raw.startswith(BOM)
    header, *rows = _rows(tiny.root / "eu.csv", sep=";")
    assert header == ["Id", "OwnerId"]
    assert [row[0] for row in rows] == [f"{15_000_000 + n},25" for n in range(len(rows))]
    _export(tiny, "--format", "salesforce-owner", "--out", "plain.csv")
    plain = (tiny.root / "plain.csv").read_bytes()
    assert not plain.startswith(BOM) and b"e+" not in plain
    assert _rows(tiny.root / "plain.csv")[1][0] == "15000000.25"


def test_missing_crm_column_is_refused_cleanly(crm_plan: TinyScenario) -> None:
    crm_plan.spec["crm"]["owner_id"] = "salesforce_user"
    crm_plan.yaml_path.write_text(crm_plan.yaml_dump(), encoding="utf-8")
    before = snapshot(crm_plan.root)
    result = run_cli("export", crm_plan.out_dir, "--format", "salesforce-owner",
                     cwd=crm_plan.root)
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    for part in ("crm.owner_id", "salesforce_user", "reps.csv"):
        assert part in result.stderr, result.stderr
    assert snapshot(crm_plan.root) == before


def test_empty_crm_id_is_refused(crm_plan: TinyScenario) -> None:
    crm_plan.reps[1]["sf_user"] = ""
    crm_plan.write()
    result = run_cli("export", crm_plan.out_dir, "--format", "hubspot", cwd=crm_plan.root,
                     subprocess=False)
    assert result.code == 2, result.output
    assert "reps.csv, row 2" in result.stderr and "crm.owner_id" in result.stderr
    assert not (crm_plan.out_dir / "export-hubspot.csv").exists()


@pytest.mark.parametrize("target", ["in/accounts.csv", "in/scenario.yaml",
                                    "plans/plan/assignment.csv", "plans/plan/plan.json"])
def test_export_never_overwrites_an_input(crm_plan: TinyScenario, target: str) -> None:
    before = snapshot(crm_plan.root)
    result = run_cli("export", crm_plan.out_dir, "--format", "csv", "--out", target,
                     cwd=crm_plan.root, subprocess=False)
    assert result.code == 2, result.output
    assert "refusing" in result.stderr
    assert snapshot(crm_plan.root) == before


def test_same_separator_and_decimal_is_refused(crm_plan: TinyScenario) -> None:
    result = run_cli("export", crm_plan.out_dir, "--format", "csv", "--decimal", ",",
                     cwd=crm_plan.root, subprocess=False)
    assert result.code == 2 and "--sep" in result.stderr, result.output


def test_unassigned_items_are_skipped_and_counted(crm_plan: TinyScenario) -> None:
    path = crm_plan.out_dir / "assignment.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # the last item loses its row: unassigned
    output = _export(crm_plan, "--format", "salesforce-owner")
    assert "1 unassigned item skipped" in output
    rows = _rows(crm_plan.out_dir / "export-salesforce-owner.csv")
    assert len(rows) - 1 == len(crm_plan.accounts) - 1


def test_crm_columns_are_read_with_the_tables_csv_settings(tiny: TinyScenario) -> None:
    _unbalanced(tiny)
    for r in tiny.reps:
        r["owner_email"] = f"jürgen.{r['rep_id'].lower()}@example.de"
    tiny.spec["territories"] |= {"encoding": "cp1252", "sep": ";"}
    tiny.spec["crm"] = {"owner_id": "owner_email"}
    tiny.write()
    frame = pd.DataFrame(tiny.reps)
    frame.to_csv(tiny.folder / "reps.csv", sep=";", index=False, encoding="cp1252")
    _solve(tiny, write=False)
    _export(tiny, "--format", "hubspot")
    owners = {row[1] for row in _rows(tiny.out_dir / "export-hubspot.csv")[1:]}
    assert owners <= {f"jürgen.r{n}@example.de" for n in (1, 2, 3)} and owners


def test_one_account_sent_to_two_owners_is_refused(crm_plan: TinyScenario) -> None:
    plan = _plan_assignment(crm_plan.out_dir)
    first = plan.iloc[0]
    other = plan[plan["territory"] != first["territory"]].iloc[0]
    for item in (first["item"], other["item"]):
        crm_plan.account(item)["sf_account"] = "001SHARED"
    crm_plan.write()
    result = run_cli("export", crm_plan.out_dir, "--format", "salesforce-owner",
                     cwd=crm_plan.root, subprocess=False)
    assert result.code == 2, result.output
    assert "001SHARED" in result.stderr and "crm.account_id" in result.stderr
