"""CSV files as Excel saves them: cp1252 text, semicolons, decimal commas, a UTF-8 BOM.

The tiny scenario's ``accounts.csv`` is rewritten in that flavour; the table's ``encoding``,
``sep`` and ``decimal`` settings read it, and without them the error names the file, the row
and the setting to use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import TinyScenario, assert_mentions, run_cli
from territory_opt import load_scenario
from territory_opt.errors import ScenarioError

EXCEL = {"encoding": "cp1252", "sep": ";", "decimal": ","}


def excel_csv(rows: list[dict[str, Any]], *, sep: str = ";", decimal: str = ",",
              encoding: str = "cp1252", header: list[str] | None = None) -> bytes:
    """``rows`` as Excel writes them in Germany: ``sep``, ``decimal``, CRLF, ``encoding``."""
    names = header or list(rows[0])
    lines = [sep.join(names)]
    for row in rows:
        cells = [str(v).replace(".", decimal) if isinstance(v, float) else str(v)
                 for v in row.values()]
        lines.append(sep.join(cells))
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


@pytest.fixture
def excel(tiny: TinyScenario) -> TinyScenario:
    """The tiny scenario with a German-Excel accounts.csv (written by :func:`write_excel`)."""
    tiny.account("A1")["potential"] = 12.5
    tiny.account("A2")["potential"] = 120.25
    for row, contact in zip(tiny.accounts, ("Müller", "Göteborg"), strict=False):
        row["contact"] = contact
    for row in tiny.accounts:
        row.setdefault("contact", "Åsa Öberg")
    tiny.spec["items"]["tags"] = ["segment", "contact"]
    return tiny


def write_excel(s: TinyScenario, data: bytes | None = None, **settings: str) -> Path:
    """Write the scenario with ``settings`` in ``items:``, then the Excel accounts.csv."""
    s.spec["items"].update(settings)
    path = s.write()
    (s.folder / "accounts.csv").write_bytes(data or excel_csv(s.accounts))
    return path


def problem_text(path: Path) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return str(caught.value)


def test_excel_settings_read_numbers_and_text(excel: TinyScenario) -> None:
    scenario = load_scenario(write_excel(excel, **EXCEL))
    np.testing.assert_allclose(scenario.attributes["potential"][:3], [12.5, 120.25, 90])
    np.testing.assert_allclose(scenario.lat[:2], [35.23, 35.30])  # coordinates too
    assert list(scenario.tags["contact"][:3]) == ["Müller", "Göteborg", "Åsa Öberg"]


def test_cp1252_without_encoding_names_file_row_and_setting(excel: TinyScenario) -> None:
    text = problem_text(write_excel(excel))
    assert_mentions(text, "accounts.csv, line 2 (row 1)", "byte 0xfc", "not UTF-8",
                    "`items.encoding: cp1252`", "Excel on Windows")


def test_cp1252_without_encoding_exits_2_from_validate(excel: TinyScenario) -> None:
    yaml_path = write_excel(excel)
    result = run_cli("validate", yaml_path, cwd=excel.root)
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    assert_mentions(result.output, "accounts.csv", "row 1", "items.encoding")


def test_semicolons_read_as_one_column_suggest_sep(excel: TinyScenario) -> None:
    # A comma inside a column name keeps the header from looking semicolon-separated.
    names = list(excel.accounts[0])
    header = [*names[:-1], "contact, name"]
    text = problem_text(write_excel(excel, excel_csv(excel.accounts, header=header),
                                    encoding="cp1252"))
    assert_mentions(text, "accounts.csv, line 1", "semicolons", "`items.sep: ';'`")


def test_decimal_commas_without_decimal_suggest_it(excel: TinyScenario) -> None:
    text = problem_text(write_excel(excel, encoding="cp1252"))  # ';' found from the header
    assert_mentions(text, "accounts.csv, row", "'12,5'", "`items.decimal: ','`")


def test_a_point_in_a_decimal_comma_file_is_refused(excel: TinyScenario) -> None:
    data = excel_csv(excel.accounts).replace(b"12,5", b"1.250")  # a thousands separator?
    text = problem_text(write_excel(excel, data, **EXCEL))
    assert_mentions(text, "accounts.csv, row 1 (line 2)", "'1.250'", "decimal comma")


@pytest.mark.parametrize(("settings", "key", "expected"), [
    ({"decimal": ",", "sep": ","}, "items.decimal", "other than the separator"),
    ({"encoding": "klingon"}, "items.encoding", "a text encoding Python knows"),
    ({"encoding": "base64"}, "items.encoding", "a text encoding Python knows"),
    ({"encoding": "punycode"}, "items.encoding", "a text encoding Python knows"),
    ({"sep": ";;"}, "items.sep", "';'"),
    ({"decimal": "·"}, "items.decimal", "','"),
])
def test_bad_settings_name_the_yaml_path(excel: TinyScenario, settings: dict[str, str],
                                         key: str, expected: str) -> None:
    text = problem_text(write_excel(excel, **settings))
    assert_mentions(text, f"scenario.yaml, at {key}", expected)


def test_settings_on_a_table_that_is_not_csv(tiny: TinyScenario) -> None:
    tiny.spec["pairs"] = {"path": "pairs.parquet", "encoding": "cp1252"}
    tiny.write()
    text = problem_text(tiny.yaml_path)
    assert_mentions(text, "scenario.yaml, at pairs", "for .csv tables only (given here: encoding)")


def test_decimal_comma_with_a_comma_separated_file(tiny: TinyScenario) -> None:
    tiny.spec["items"]["decimal"] = ","
    text = problem_text(tiny.write())
    assert_mentions(text, "accounts.csv, line 1", "items.decimal is ','", "`items.sep`")


def test_utf8_with_bom_loads_without_settings(excel: TinyScenario) -> None:
    data = excel_csv(excel.accounts, sep=",", decimal=".", encoding="utf-8-sig")
    scenario = load_scenario(write_excel(excel, data))
    assert list(scenario.item_ids[:2]) == ["A1", "A2"]  # the BOM is not in the first name
    assert scenario.tags["contact"][0] == "Müller"
    assert scenario.attributes["potential"][0] == 12.5


def test_a_bom_with_another_encoding_is_named(excel: TinyScenario) -> None:
    data = excel_csv(excel.accounts, encoding="utf-8-sig")
    text = problem_text(write_excel(excel, data, **EXCEL))
    assert_mentions(text, "UTF-8 byte-order mark", "items.encoding is 'cp1252'")


def test_bytes_the_encoding_lacks_name_the_row(excel: TinyScenario) -> None:
    # 0x81 has no character in cp1252; the first 'Åsa Öberg' is on row 3.
    data = excel_csv(excel.accounts).replace("Öberg".encode("cp1252"), b"\x81berg", 1)
    text = problem_text(write_excel(excel, data, **EXCEL))
    assert_mentions(text, "accounts.csv, line 4 (row 3)", "byte 0x81", "not cp1252",
                    "items.encoding")


def test_tab_separated_latin1_territories(tiny: TinyScenario) -> None:
    tiny.spec["territories"].update({"sep": "\t", "encoding": "latin-1", "name": "name"})
    tiny.write()
    for rep, name in zip(tiny.reps, ("Jürgen", "Zoë", "Ågot"), strict=True):
        rep["name"] = name
    (tiny.folder / "reps.csv").write_bytes(
        excel_csv(tiny.reps, sep="\t", decimal=".", encoding="latin-1"))
    scenario = load_scenario(tiny.yaml_path)
    assert list(scenario.territory_names) == ["Jürgen", "Zoë", "Ågot"]


def test_a_declared_separator_that_splits_nothing_is_named(tiny: TinyScenario) -> None:
    """``sep: ';'`` on a comma-separated file: one error naming the header and the setting,
    not a "no column" problem for every column the scenario names."""
    tiny.spec["items"]["sep"] = ";"
    text = problem_text(tiny.write())
    assert_mentions(text, "accounts.csv, line 1", "one column", "items.sep says",
                    "`items.sep: ','`")
    assert "found no column" not in text
