"""The report as a sales-ops manager reads it: today's KPIs beside the plan's, the balance
chart with today ghosted, items gained and lost per rep, the rep-to-rep transfer matrix, the
moves with their reasons, provenance in an appendix; and the page in headless Chromium with
the network blocked: no sideways scrolling at 1,400 px, printed on A4 landscape with nothing
beyond the page."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from territory_opt import Plan, load_scenario, solve
from territory_opt.backends.contract import Status
from territory_opt.kpi.compare import moves_between
from territory_opt.kpi.evaluate import evaluate
from territory_opt.kpi.metrics import metric
from territory_opt.present.report import MATRIX_MAX, render_report, write_report
from territory_opt.scenario.model import NO_TERRITORY
from test_report import (
    Node,
    cells,
    check_offline,
    check_page,
    chromium,
    header_keys,
    parse,
    run_chromium,
    table_rows,
)

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

# Blocks every fetch outside the page: a proxy that does not exist (loopback included) and no
# name resolution.
OFFLINE = ("--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
           "--host-resolver-rules=MAP * ~NOTFOUND")

A4_LANDSCAPE = (842.0, 595.0)  # points
A4_PRINTABLE_PX = 1047  # 297 mm less two 10 mm margins, at 96 px per inch


@dataclasses.dataclass(frozen=True)
class Solved:
    plan: Plan
    plan_dir: Path
    page: str
    doc: Node
    moves: pd.DataFrame


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> Solved:
    """The small scenario (200 items, 10 reps, a current alignment outside its bands) solved
    briefly by the heuristic, written with its report."""
    s = load_scenario(SCENARIOS / "small" / "scenario.yaml")
    plan = solve(s, backend="heuristic", time_limit=3)
    plan_dir = plan.write(tmp_path_factory.mktemp("manager") / "plan")
    page = write_report(plan, plan_dir).read_text(encoding="utf-8")
    moves = moves_between(s, s.current, plan.assignment, "plan")
    assert len(moves) > 0  # the current alignment breaks its bands: the plan must move items
    # (check_page expects a backend without "found by": parse and check the offline rules.)
    doc = parse(page)
    check_offline(page, doc)
    return Solved(plan, plan_dir, page, doc, moves)


def body(doc: Node, table_id: str) -> dict[str, dict[str, str]]:
    """A table's body cells by row key and column key."""
    keys = header_keys(doc, table_id)
    return {row.attrs["data-key"]: dict(zip(keys, cells(row), strict=True))
            for row in table_rows(doc, table_id)}


def number(text: str) -> float:
    """A cell's number: thousands separators, a true minus sign, blank for zero."""
    text = text.replace(",", "").replace("\u2212", "-").strip()
    return float(text) if text else 0.0


def section_order(doc: Node) -> list[str]:
    return [n.attrs["id"] for n in doc.iter() if n.tag == "section"]


# --- the page's structure ---------------------------------------------------------------------


def test_today_vs_plan_kpis_and_headline(solved: Solved) -> None:
    plan, doc = solved.plan, solved.doc
    s = plan.scenario
    assert header_keys(doc, "kpi-table") == ["KPI", "today", "plan", "change"]
    titles = [th.text for th in doc.by_id("kpi-table").all("th")]
    assert titles == ["KPI", "Today", "Plan", "Change"]
    today = evaluate(s, s.current).metrics
    rows = body(doc, "kpi-table")
    assert list(rows) == list(plan.evaluation.metrics)
    for key, row in rows.items():
        assert row["KPI"] == metric(key).label  # registry labels, not keys
    assert rows["km_mean"]["KPI"] == "mean km to home"
    assert rows["hard_violations"]["today"] == f"{today['hard_violations']:,.0f}"
    assert number(rows["hard_violations"]["plan"]) == plan.evaluation.metrics["hard_violations"]
    assert number(rows["travel"]["today"]) == pytest.approx(today["travel"], abs=0.05)
    assert rows["items"]["change"] == "no change"
    drop = 100 * (plan.evaluation.metrics["travel"] - today["travel"]) / today["travel"]
    assert rows["travel"]["change"].endswith(f"({drop:+.1f}%)".replace("-", "\u2212"))
    moved = int(((s.current != NO_TERRITORY) & (plan.assignment != s.current)).sum())
    headline = doc.by_id("headline").text
    assert headline.startswith(f"The plan moves {moved:,} of {s.n_items:,} items "
                               f"({100 * moved / s.n_items:.1f}%)")
    # A short heuristic run on a busy machine might stop outside a band: the sentence says so.
    if plan.evaluation.feasible:
        assert "brings every territory within the workload_h and potential bands" in headline
    else:
        assert re.search(r"leaves \d+ of 10 territories outside the \w+ band", headline)
    assert f"travel {drop:+.1f}%".replace("-", "\u2212") in headline


def test_sections_in_order_with_provenance_in_the_appendix(solved: Solved) -> None:
    doc = solved.doc
    order = section_order(doc)
    assert order == ["today-vs-plan", "balance", "gains", "transfers", "moves", "status",
                     "violations", "territories", "map", "quotas", "appendix"]
    appendix = doc.by_id("appendix")
    assert appendix.all("h2")[0].text == "Appendix: provenance"
    assert [n.attrs.get("id") for n in appendix.all("table")] == ["plan-facts"]
    facts = appendix.by_id("plan-facts").text
    for label in ("backend", "seed", "times", "territory-opt version"):
        assert label in facts
    # nothing of the provenance before the change sections
    first = doc.by_id("today-vs-plan").text
    assert "backend" not in first and "seed" not in first
    assert doc.by_id("plan-status").text.startswith("Status: ")


def test_balance_chart_ghosts_today(solved: Solved) -> None:
    page, s = solved.page, solved.plan.scenario
    svg = re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)
    assert len(svg) == 1
    # Today's bars: outlined, unfilled, one per territory and balance rule.
    outlined = re.findall(r"fill: none; stroke: #777777", svg[0])
    assert len(outlined) == s.n_territories * len(s.spec.rules.balance)
    assert "today (outline)" in solved.doc.by_id("balance-chart").text


def test_gained_and_lost_per_rep(solved: Solved) -> None:
    plan, doc, moves = solved.plan, solved.doc, solved.moves
    s = plan.scenario
    rows = body(doc, "gains-table")
    names = dict(zip(s.territory_ids.astype(str), s.territory_names.astype(str), strict=True))
    assert all(row["territory"] == names[key] for key, row in rows.items())  # names, not ids
    gained = sum(number(r["gained"]) for r in rows.values())
    lost = sum(number(r["lost"]) for r in rows.values())
    assert gained == lost == len(moves)
    for key, row in rows.items():
        assert number(row["gained"]) == (moves["to"] == key).sum()
        assert number(row["lost"]) == (moves["from"] == key).sum()
        assert number(row["net"]) == number(row["gained"]) - number(row["lost"])
    # the amounts of the balance attribute named potential
    potential = pd.Series(s.attributes["potential"], index=s.item_ids.astype(str))
    moved_amount = float(potential[moves["item"].astype(str)].sum())
    assert sum(number(r["potential_gained"]) for r in rows.values()) == pytest.approx(
        moved_amount, abs=len(rows))
    assert sum(number(r["potential_lost"]) for r in rows.values()) == pytest.approx(
        moved_amount, abs=len(rows))
    total = [td.text for td in doc.by_id("gains-table").all("tfoot")[0].all("td")]
    assert total[:4] == ["total", f"{len(moves):,}", f"{len(moves):,}", "0"]


def matrix_counts(doc: Node) -> dict[tuple[str, str], int]:
    """The transfer matrix's cells by (row key, column key), without the totals."""
    return {(src, dst): int(number(text)) for src, row in body(doc, "transfer-matrix").items()
            for dst, text in row.items() if dst not in ("from", "total")}


def test_transfer_matrix_matches_the_moves(solved: Solved) -> None:
    doc, moves = solved.doc, solved.moves
    counts = matrix_counts(doc)
    assert sum(counts.values()) == len(moves)
    expected = moves.groupby(["from", "to"]).size().to_dict()
    assert {k: v for k, v in counts.items() if v} == expected
    # zero cells are blank, rows named by rep, the totals add up
    matrix = body(doc, "transfer-matrix")
    assert all(row[key] == "" for key, row in matrix.items())  # no move to the same rep
    s = solved.plan.scenario
    assert [row["from"] for row in matrix.values()] == [str(n) for n in s.territory_names]
    for key, row in matrix.items():
        assert number(row["total"]) == (moves["from"] == key).sum()


def test_moves_table_with_reasons(solved: Solved) -> None:
    doc, moves = solved.doc, solved.moves
    rows = body(doc, "move-table")
    assert len(rows) == min(len(moves), 200)
    by_item = moves.set_index(moves["item"].astype(str))
    names = dict(zip(solved.plan.scenario.territory_ids.astype(str),
                     solved.plan.scenario.territory_names.astype(str), strict=True))
    forced = 0
    for item, row in rows.items():
        move = by_item.loc[item]
        assert row["from"] == names[move["from"]] and row["to"] == names[move["to"]]
        if move["forced_by"]:
            assert row["reason"] == f"forced by {move['forced_by']}"
            forced += 1
        elif move["delta_objective"] < 0:
            assert re.fullmatch(r"improves the objective \(mainly [a-z ]+\)", row["reason"])
        else:
            assert row["reason"]
    assert forced == (moves["forced_by"] != "").sum()


def test_plan_alone_without_a_current_alignment(solved: Solved) -> None:
    s = solved.plan.scenario
    alone = dataclasses.replace(s, current=np.full(s.n_items, NO_TERRITORY, dtype=np.int64))
    plan = Plan(scenario=alone, assignment=solved.plan.assignment, status=Status.FEASIBLE,
                bound=-math.inf, backend="heuristic")
    doc = check_page(render_report(plan), plan)
    assert "no current alignment" in doc.by_id("no-current").text
    assert header_keys(doc, "kpi-table") == ["KPI", "value"]
    for gone in ("headline", "gains", "transfers", "moves"):
        assert not doc.has_id(gone)
    assert section_order(doc)[-1] == "appendix"


def test_transfer_matrix_of_many_reps_keeps_the_busiest(tmp_path: Path) -> None:
    """demo: 20 reps; every 5th item moves to the next rep, and every 3rd of rep 0's to rep 1."""
    s = load_scenario(SCENARIOS / "demo" / "scenario.yaml")
    assert s.n_territories > MATRIX_MAX
    assignment = s.current.copy()
    step = np.arange(s.n_items) % 5 == 0
    assignment[step] = (s.current[step] + 1) % s.n_territories
    plan = Plan(scenario=s, assignment=assignment, status=Status.FEASIBLE, bound=-math.inf,
                backend="current")
    doc = check_page(render_report(plan), plan)
    moves = moves_between(s, s.current, assignment, "plan")
    counts = matrix_counts(doc)
    assert sum(counts.values()) == len(moves)
    keys = list(body(doc, "transfer-matrix"))
    assert len(keys) == MATRIX_MAX + 1 and keys[-1] == "others"
    busy = pd.concat([moves["from"], moves["to"]]).value_counts()
    top = set(busy.sort_values(ascending=False, kind="stable").index[:MATRIX_MAX])
    assert set(keys[:-1]) <= set(busy.index) and len(set(keys[:-1]) & top) >= MATRIX_MAX - 2
    # each shown pair as in the moves; the rest in "others"
    pairs = moves.groupby(["from", "to"]).size().reset_index(name="n")
    for src, dst, n in zip(pairs["from"], pairs["to"], pairs["n"], strict=True):
        if src in keys and dst in keys:
            assert counts[src, dst] == n


# --- headless Chromium, network blocked -------------------------------------------------------

# Writes the page's widths into the DOM once it has laid out: the document's scroll width,
# the viewport's and the right edge of the widest table.
WIDTH_PROBE = """<script>
window.addEventListener("load", function () {
  var right = 0;
  document.querySelectorAll("table, svg, img").forEach(function (t) {
    right = Math.max(right, t.getBoundingClientRect().right);
  });
  var pre = document.createElement("pre");
  pre.id = "width-probe";
  pre.textContent = JSON.stringify({scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth, right: right});
  document.body.appendChild(pre);
});
</script>"""


def test_dom_shows_today_vs_plan_and_transfers(tmp_path: Path, solved: Solved) -> None:
    exe = chromium()
    report = solved.plan_dir / "report.html"
    dom = run_chromium(exe, tmp_path / "profile", *OFFLINE, "--dump-dom", report.as_uri())
    for text in ('id="kpi-table"', ">Today<", ">Plan<", ">Change<", 'id="transfer-matrix"',
                 "The plan moves", 'id="move-table"', "Appendix: provenance"):
        assert text in dom, text


@pytest.mark.parametrize("width", [1400, A4_PRINTABLE_PX])
def test_no_sideways_scrolling(tmp_path: Path, solved: Solved, width: int) -> None:
    """At 1,400 px, and at the width of an A4 landscape page's print area, nothing is wider
    than the window (a copy of the report with a probe script; the report has none)."""
    exe = chromium()
    page = solved.page
    policy = "img-src data:;"
    assert policy in page
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace(policy, policy + " script-src &#39;unsafe-inline&#39;;", 1)
                     .replace("</title>", "</title>\n" + WIDTH_PROBE, 1), encoding="utf-8")
    dom = run_chromium(exe, tmp_path / "profile", *OFFLINE, f"--window-size={width},1000",
                       "--hide-scrollbars", "--dump-dom", probe.as_uri())
    match = re.search(r'<pre id="width-probe">(.*?)</pre>', dom, flags=re.DOTALL)
    assert match, dom[-2000:]
    widths = json.loads(match.group(1).replace("&quot;", '"'))
    assert widths["client"] == width
    assert widths["scroll"] <= width and widths["right"] <= width + 0.5, widths


def test_prints_on_a4_landscape_within_the_page(tmp_path: Path, solved: Solved) -> None:
    exe = chromium()
    pypdf = pytest.importorskip("pypdf")
    pdf = tmp_path / "report.pdf"
    run_chromium(exe, tmp_path / "profile", *OFFLINE, f"--print-to-pdf={pdf}",
                 "--no-pdf-header-footer", (solved.plan_dir / "report.html").as_uri())
    reader = pypdf.PdfReader(pdf)
    assert len(reader.pages) >= 3
    title_size: list[float] = []
    for number_, page in enumerate(reader.pages):
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert width == pytest.approx(A4_LANDSCAPE[0], abs=2)
        assert height == pytest.approx(A4_LANDSCAPE[1], abs=2)
        xs: list[float] = []

        def visit(text: str, cm: list[float], tm: list[float], font: object, size: float,
                  xs: list[float] = xs) -> None:
            if not text.strip():
                return
            # Text space to page space: the text matrix, then the current transformation.
            xs.append(tm[4] * cm[0] + tm[5] * cm[2] + cm[4])
            if "territory-opt report" in text:
                title_size.append(size * math.hypot(tm[0], tm[1]) * math.hypot(cm[0], cm[1]))

        page.extract_text(visitor_text=visit)
        assert xs, f"page {number_ + 1} has no text"
        # Inside the 10 mm (28.3 pt) margins, with a little room for glyph bearings.
        assert min(xs) >= 28.3 - 2 and max(xs) <= width - 28.3, (number_ + 1, min(xs),
                                                                    max(xs))
    # Printed at full size: Chromium shrinks a page whose content is too wide, and 22 px
    # (16.5 pt) would then come out smaller.
    assert title_size and title_size[0] == pytest.approx(16.5, abs=0.6), title_size
