"""One metric registry (issue 19): the terminal tables, the notebook HTML and the report show a
KPI and a territory column with the same label and the same number of decimals."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from territory_opt import Plan, load_scenario, solve
from territory_opt.family import family_of
from territory_opt.kpi.metrics import column, magnitude_digits, metric
from territory_opt.present.report import render_report
from territory_opt.present.terminal import metric_table, territory_table

SMALL = Path(__file__).resolve().parents[1] / "scenarios" / "small" / "scenario.yaml"
KPI = "workload_h_max_abs_dev_pct"
COLUMN = "workload_h_dev_pct"


@pytest.fixture(scope="module")
def plan() -> Plan:
    return solve(load_scenario(SMALL), time_limit=2, seed=0)


def decimals(text: str) -> int:
    return len(text.split(".", 1)[1]) if "." in text else 0


def number(text: str) -> float:
    return float(text.replace(",", "").replace("+", ""))


# --- the three renderings, read back as {label: texts} ---------------------------------------


def terminal_rows(plan: Plan) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The KPI table as label -> value, the territory table as column title -> cells."""
    console = Console(record=True, width=400, color_system=None)
    s = plan.scenario
    console.print(metric_table(s, {"plan": plan.evaluation}))
    kpis = {}
    for line in console.export_text().splitlines():
        parts = [p.strip() for p in line.split("│") if p.strip()]
        if len(parts) == 2:
            kpis[parts[0]] = parts[1]
    console = Console(record=True, width=400, color_system=None)
    console.print(territory_table(s, plan.evaluation, "territories"))
    lines = console.export_text().splitlines()
    header = [p.strip() for p in next(ln for ln in lines if "┃" in ln).split("┃")[1:-1]]
    body = [[p.strip() for p in ln.split("│")[1:-1]] for ln in lines if ln.startswith("│")]
    return kpis, {title: [row[k] for row in body] for k, title in enumerate(header)}


def notebook_rows(plan: Plan) -> tuple[dict[str, str], dict[str, list[str]]]:
    root = ET.fromstring(plan._repr_html_())
    tables = [[["".join(c.itertext()) for c in row] for row in table.iter("tr")]
              for table in root.iter("table")]
    kpis = next(t for t in tables if t[0][0] == "kpi")
    territories = next(t for t in tables if t[0][0] == "territory")
    return ({row[0]: row[1] for row in kpis[1:]},
            {title: [row[k] for row in territories[1:]]
             for k, title in enumerate(territories[0])})


class _Tables(HTMLParser):
    """Each table of the report by id: its header cells (key, text) and its rows
    (key, cell texts)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[object]]] = {}
        self._table: str | None = None
        self._row_key = ""
        self._cell: list[str] | None = None
        self._key = ""
        self._row: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[str(self._table)] = {"header": [], "rows": []}
        elif tag == "tr":
            self._row_key, self._row = a.get("data-key") or "", []
        elif tag in ("th", "td"):
            self._cell, self._key = [], a.get("data-key") or ""

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._table is None:
            return
        table = self.tables[self._table]
        if tag in ("th", "td") and self._cell is not None:
            text = "".join(self._cell).strip()
            if tag == "th" and self._key:
                table["header"].append((self._key, text))
            else:
                self._row.append(text)
            self._cell = None
        elif tag == "tr" and self._row:
            table["rows"].append((self._row_key, self._row))
        elif tag == "table":
            self._table = None


def report_rows(plan: Plan) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, list[str]]]]:
    """The KPI table as key -> (label, value), the territory table as key -> (title, cells)."""
    parser = _Tables()
    parser.feed(render_report(plan))
    # The report shows today beside the plan (label, today, plan, change) when the scenario has a
    # current alignment, else (label, plan).
    kpis = {key: (row[0], row[2] if len(row) >= 4 else row[1])
            for key, row in parser.tables["kpi-table"]["rows"]}
    territory = parser.tables["territory-table"]
    rows = [row for _, row in territory["rows"]]
    return kpis, {key: (title, [row[k] for row in rows])
                  for k, (key, title) in enumerate(territory["header"])}


# --- the tests --------------------------------------------------------------------------------


def test_a_kpi_and_a_column_look_the_same_everywhere(plan: Plan) -> None:
    label, title = metric(KPI).label, column(COLUMN).label
    assert (label, title) == ("workload_h max |dev| %", "workload_h dev %")
    term_kpis, term_columns = terminal_rows(plan)
    book_kpis, book_columns = notebook_rows(plan)
    report_kpis, report_columns = report_rows(plan)

    # the KPI: one label, one text (same decimals, same value)
    assert report_kpis[KPI][0] == label
    texts = [term_kpis[label], book_kpis[label], report_kpis[KPI][1]]
    assert len(set(texts)) == 1, texts
    assert decimals(texts[0]) == metric(KPI).digits == 1
    assert number(texts[0]) == pytest.approx(plan.evaluation.metrics[KPI], abs=0.05)

    # the territory column: one title, the same decimals and values (the terminal signs them)
    assert report_columns[COLUMN][0] == title
    cells = [term_columns[title], book_columns[title], report_columns[COLUMN][1]]
    for texts in zip(*cells, strict=True):
        assert {decimals(t) for t in texts} == {column(COLUMN).digits}, texts
        assert len({number(t) for t in texts}) == 1, texts


def test_every_shown_kpi_has_one_label_and_decimals(plan: Plan) -> None:
    """All KPIs the terminal shows appear in the notebook and the report with the same text."""
    s = plan.scenario
    term_kpis, _ = terminal_rows(plan)
    book_kpis, _ = notebook_rows(plan)
    report_kpis, _ = report_rows(plan)
    keys = family_of(s).views.metric_keys(s)
    assert keys and all(metric(k).label in term_kpis for k in keys)
    for key in keys:
        label = metric(key).label
        assert book_kpis[label] == report_kpis[key][1] == term_kpis[label], key


def test_registry_resolves_attribute_patterns_and_unknown_keys() -> None:
    assert metric("visits_cv").label == "visits CV" and metric("visits_cv").digits == 4
    assert metric("moved_share_visits").digits == 4
    assert column("visits_capacity_use_pct").label == "visits cap %"
    assert column("quota_to_basis_pct").digits == metric("quota_to_basis_min_pct").digits == 1
    assert metric("hard_violations").digits == 0 and metric("objective").digits == 1
    unknown = metric("something_new")
    assert unknown.label == "something_new" and unknown.digits is None
    assert unknown.digits_for([1234.5]) == 0 and unknown.digits_for([0.0123]) == 4
    assert magnitude_digits(np.array([3.0, 4.0])) == 0 and magnitude_digits(12.5) == 1
    assert re.fullmatch(r"\w+ max \|dev\| %", metric("workload_max_abs_dev_pct").label)
