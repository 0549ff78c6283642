"""The HTML report of a plan (``territory_opt.present.report``): its structure parsed with the
standard library (every section, a row per territory, decodable images, nothing loaded from the
network), the quota section with and without quota columns, lead and coordinate-less scenarios,
the atomic write, and the page as headless Chromium renders it."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import math
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from conftest import TinyScenario, snapshot, write_csv
from leads_cases import lead_scenario
from territory_opt import Plan, load_scenario
from territory_opt.backends.contract import Status
from territory_opt.errors import TerritoryOptError
from territory_opt.kpi.metrics import metric
from territory_opt.present.report import quota_table, render_report, write_report

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}"

# --- a small DOM from the standard library's HTML parser --------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


@dataclass
class Node:
    """An element: tag, attributes and its children (nodes and text, in document order)."""

    tag: str
    attrs: dict[str, str]
    parts: list[Node | str] = field(default_factory=list)

    def iter(self) -> Iterator[Node]:
        yield self
        for part in self.parts:
            if isinstance(part, Node):
                yield from part.iter()

    def all(self, tag: str, **attrs: str) -> list[Node]:
        return [n for n in self.iter() if n.tag == tag
                and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def by_id(self, id_: str) -> Node:
        found = [n for n in self.iter() if n.attrs.get("id") == id_]
        assert len(found) == 1, f"{len(found)} elements with id {id_}"
        return found[0]

    def has_id(self, id_: str) -> bool:
        return any(n.attrs.get("id") == id_ for n in self.iter())

    @property
    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.text for p in self.parts)


class _Builder(HTMLParser):
    """Builds :class:`Node` trees; insists that every element is closed in order, so a
    template mistake (an unclosed <td>, a stray </div>) fails the test."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].parts.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].parts.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID, f"end tag of void element <{tag}>"
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)


def parse(page: str) -> Node:
    builder = _Builder()
    builder.feed(page)
    builder.close()
    assert builder.stack == [builder.root], [n.tag for n in builder.stack]
    return builder.root


def table_rows(doc: Node, table_id: str) -> list[Node]:
    return doc.by_id(table_id).all("tbody")[0].all("tr")


def cells(row: Node) -> list[str]:
    return [td.text.strip() for td in row.all("td")]


def header_keys(doc: Node, table_id: str) -> list[str]:
    """The keys of a table's columns (``data-key`` of each header; its text is the label)."""
    return [th.attrs["data-key"] for th in doc.by_id(table_id).all("thead")[0].all("th")]


def column(doc: Node, table_id: str, name: str) -> list[Node]:
    """The <td> elements of one column of a table, by its key."""
    k = header_keys(doc, table_id).index(name)
    return [row.all("td")[k] for row in table_rows(doc, table_id)]


# --- checks every report passes ---------------------------------------------------------------


def check_page(page: str, plan: Plan) -> Node:
    """Parse the report and check what every report must have; return its DOM."""
    assert page.startswith("<!DOCTYPE html>")
    doc = parse(page)
    s = plan.scenario
    assert doc.all("title")[0].text == f"territory-opt report: {s.name}"
    assert doc.all("html")[0].attrs["lang"] == "en"
    assert doc.all("meta", charset="utf-8")
    check_offline(page, doc)
    # header
    facts = {row.all("th")[0].text: row.all("td")[0].text for row in doc.by_id("plan-facts")
             .all("tr")}
    assert facts["status"].startswith(str(plan.status)) and facts["backend"] == plan.backend
    assert facts["seed"] == str(plan.seed)
    for label in ("objective", "bound", "gap", "times", "territory-opt version"):
        assert label in facts
    assert doc.has_id("scenario-changed") == plan.scenario_changed
    # KPIs, objective terms
    kpis = {r.attrs["data-key"]: cells(r)[0] for r in table_rows(doc, "kpi-table")}
    assert kpis == {key: metric(key).label for key in plan.evaluation.metrics}
    terms = [r.attrs["data-key"] for r in table_rows(doc, "objective-terms")]
    assert terms == list(plan.evaluation.objective.as_dict())
    # violations
    violations = plan.evaluation.violations
    if violations:
        assert len(table_rows(doc, "violation-list")) == min(len(violations), 200)
        counted = sum(int(cells(r)[2].replace(",", "")) for r in table_rows(doc,
                                                                           "violation-summary"))
        assert counted == len(violations)
    else:
        assert doc.by_id("no-violations").text == "none"
    # a row per territory, in order, keyed by its id
    rows = table_rows(doc, "territory-table")
    assert [r.attrs["data-key"] for r in rows] == [str(t) for t in s.territory_ids]
    # quotas iff the territory table has quota columns
    has_quota = any(str(c).startswith("quota") for c in plan.evaluation.territories.columns)
    assert doc.has_id("quota-table") == has_quota
    # images decode
    for img in doc.all("img"):
        assert decode_png(img.attrs["src"])[:8] == PNG_SIGNATURE
        assert img.attrs.get("alt")
    svgs = re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)
    assert len(svgs) == len(doc.all("svg"))
    for svg in svgs:
        root = ET.fromstring(svg)  # well-formed XML
        assert root.tag == f"{SVG_NS}svg" and root.attrib.get("viewBox")
    return doc


def check_offline(page: str, doc: Node) -> None:
    """Nothing in the page points outside it: images are data: URIs, links are fragments, no
    scripts, no stylesheets to fetch, no CSS imports or remote url()s."""
    for node in doc.iter():
        for name, value in node.attrs.items():
            assert not re.match(r"\s*(https?:)?//", value, flags=re.I) or name == "xmlns" \
                or name.startswith("xmlns:"), (node.tag, name, value)
            if name == "src":
                assert value.startswith("data:image/"), value[:60]
            if name in ("href", "xlink:href"):
                assert value.startswith("#"), (node.tag, value)
    assert not doc.all("script") and "<script" not in page.lower()
    assert not doc.all("link") and not doc.all("iframe") and not doc.all("object")
    assert "@import" not in page
    assert all(u.startswith("#") for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", page))
    csp = doc.all("meta", http_equiv="Content-Security-Policy")[0].attrs["content"]
    assert "default-src 'none'" in csp and "img-src data:" in csp


def decode_png(src: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    data = base64.b64decode(src[len(prefix):], validate=True)
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert image.shape[0] > 100 and image.shape[1] > 100
    return data


# --- plans ------------------------------------------------------------------------------------


def current_plan(scenario_yaml: Path, **kw: object) -> Plan:
    s = load_scenario(scenario_yaml)
    return Plan(scenario=s, assignment=s.current, status=Status.FEASIBLE, bound=-math.inf,
                backend="current", **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Path]:
    """The small scenario's current alignment (it breaks its balance bands) as a plan dir."""
    plan = current_plan(SCENARIOS / "small" / "scenario.yaml",
                        seconds={"solve": 1.25, "total": 2.5}, options={"seed": 7})
    return plan, plan.write(tmp_path_factory.mktemp("small") / "plan")


def test_small_report(small_dir: tuple[Plan, Path]) -> None:
    plan, plan_dir = small_dir
    path = write_report(plan, plan_dir)
    assert path == plan_dir / "report.html"
    page = path.read_text(encoding="utf-8")
    doc = check_page(page, plan)
    facts = {row.all("th")[0].text: row.all("td")[0].text for row in doc.by_id("plan-facts")
             .all("tr")}
    assert facts["seed"] == "7" and facts["times"] == "solve 1.25 s, total 2.50 s"
    assert facts["bound"] == "none" and facts["gap"] == "n/a (no bound)"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d[+-]\d\d:\d\d", facts["plan date"])
    assert facts["territory-opt version"]
    # the current alignment breaks hard bands: the header says so, and the cells are marked
    assert "broken" in facts["hard rules"]
    table = plan.evaluation.territories
    for rule in plan.scenario.spec.rules.balance:
        name = f"{rule.attribute}_dev_pct"
        tds = column(doc, "territory-table", name)
        marked = ["out" in td.attrs.get("class", "").split() for td in tds]
        expected = (np.abs(table[name].to_numpy()) > 100 * rule.tolerance + 1e-4).tolist()
        assert marked == expected and any(expected) and not all(expected)
        assert all("hard" in td.attrs["class"] for td, m in zip(tds, marked, strict=True) if m)
    # numbers readable: thousands separators, and the same numbers as the table
    potential = [td.text for td in column(doc, "territory-table", "potential")]
    assert potential[0] == f"{table['potential'].iloc[0]:,.0f}" and "," in potential[0]
    # the chart: one panel per balance rule, the map: a PNG
    assert doc.has_id("balance-chart") and doc.has_id("map-image")
    svg = ET.fromstring(re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)[0])
    assert len(svg.findall(f".//{SVG_NS}g[@id='axes_1']")) == 1
    assert len(svg.findall(f".//{SVG_NS}g[@id='axes_2']")) == 1
    # the same plan gives the same page (no random ids, no render time)
    assert render_report(plan, plan_dir) == page


def test_polygon_report(tmp_path: Path) -> None:
    """nc-counties: polygons and named accounts; counties split into 8 bands by longitude (the
    scenario has no current alignment, and solving it takes minutes)."""
    s = load_scenario(SCENARIOS / "nc-counties" / "scenario.yaml")
    order = np.argsort(s.lon, kind="stable")
    assignment = np.empty(s.n_items, dtype=np.int64)
    assignment[order] = np.arange(s.n_items) * s.n_territories // s.n_items
    plan = Plan(scenario=s, assignment=assignment, status=Status.FEASIBLE, bound=-math.inf,
                backend="current")
    page = render_report(plan)
    doc = check_page(page, plan)
    assert doc.has_id("map-image") and doc.has_id("balance-chart")
    assert "plan date" not in doc.by_id("plan-facts").text  # no plan directory: no date
    # a wide territory table is split in two: balance first, then geography and the rest
    header = header_keys(doc, "territory-table") + header_keys(doc, "territory-table-2")
    assert "polsby_popper" in header and "components" in header
    assert not doc.has_id("quota-table")


def test_leads_report(tmp_path: Path) -> None:
    """A lead scenario: a table of reps with the lead columns, the fairness band charted and
    highlighted, and no map (leads have no locations)."""
    s = lead_scenario(tmp_path, [{"language": "en"}, {"language": "fr"}, {"language": "en"}],
                      [{"skills": "en;fr"}, {"skills": "en"}],
                      leads_section={"fairness": {"tolerance": 0.1, "hard": False}})
    plan = Plan(scenario=s, assignment=np.array([0, 0, 1]), status=Status.OPTIMAL, bound=-60.0,
                backend="highs")
    doc = check_page(render_report(plan), plan)
    assert "leads" in doc.by_id("no-map").text and not doc.all("img")
    assert doc.by_id("territories").all("h2")[0].text == "Per rep"
    header = header_keys(doc, "territory-table")
    assert {"expected_value", "fair_dev_pct", "capacity"} <= set(header)
    fair = column(doc, "territory-table", "fair_dev_pct")
    assert [td.text for td in fair] == ["33.3", "-33.3"]
    assert all(td.attrs["class"] == "num out soft" for td in fair)
    assert [td.text for td in column(doc, "territory-table", "capacity")] == ["∞", "∞"]
    assert doc.has_id("balance-chart")
    assert not doc.has_id("quota-table")


def no_coordinates(tiny: TinyScenario) -> Path:
    """The tiny scenario with no item coordinates: travel from a pairs table instead."""
    del tiny.spec["items"]["latitude"], tiny.spec["items"]["longitude"]
    for account in tiny.accounts:
        del account["lat"], account["lon"]
    tiny.spec["pairs"] = {"path": "pairs.csv", "item": "id", "territory": "rep_id",
                          "distance": "km"}
    path = tiny.write()
    write_csv(tiny.folder / "pairs.csv", [
        {"id": a["id"], "rep_id": r["rep_id"], "km": 10.0 * (n + k + 1)}
        for n, a in enumerate(tiny.accounts) for k, r in enumerate(tiny.reps)])
    return path


def test_report_without_coordinates(tiny: TinyScenario) -> None:
    plan = current_plan(no_coordinates(tiny))
    doc = check_page(render_report(plan), plan)
    assert "no item has coordinates" in doc.by_id("no-map").text
    assert not doc.all("img")


def test_escaping_and_changed_scenario(tiny: TinyScenario) -> None:
    """Names from the user's files are text, never markup (nor matplotlib maths); a plan whose
    scenario changed says so."""
    evil = 'Ann <script>alert("x")</script> & $x^2$'
    tiny.reps[0]["name"] = evil
    for rep in tiny.reps[1:]:
        rep["name"] = rep["rep_id"]
    tiny.spec["territories"]["name"] = "name"
    plan = current_plan(tiny.write(), scenario_digest="sha256:" + "0" * 64)
    assert plan.scenario_changed
    page = render_report(plan)
    doc = check_page(page, plan)  # also: no <script> anywhere
    assert "Scenario changed since this plan" in doc.by_id("scenario-changed").text
    assert cells(table_rows(doc, "territory-table")[0])[1] == evil
    assert "&lt;script&gt;" in page


def with_quota_columns(plan: Plan) -> Plan:
    """The plan with quota columns added to its territory table, as a scenario with ``quotas``
    gives them (the evaluation is cached on the plan: replace it)."""
    table = plan.evaluation.territories.drop(
        columns=[c for c in plan.evaluation.territories if str(c).startswith("quota")])
    table["quota"] = [1000.0, 1500.0, 2500.0]
    table["quota_share_pct"] = [20.0, 30.0, 50.0]
    table["quota_per_fte"] = table["quota"] / table["fte"]
    table["quota_bound"] = ["floor", "", "cap"]
    vars(plan)["evaluation"] = dataclasses.replace(plan.evaluation, territories=table)
    return plan


def test_quota_section_iff_quota_columns(tiny: TinyScenario) -> None:
    plan = current_plan(tiny.write())
    assert not any(str(c).startswith("quota") for c in plan.evaluation.territories)
    assert not parse(render_report(plan)).has_id("quotas")

    plan = with_quota_columns(current_plan(tiny.yaml_path))
    doc = check_page(render_report(plan), plan)
    assert doc.by_id("quotas").all("h2")[0].text == "Quotas"
    header = header_keys(doc, "quota-table")
    assert header == ["territory", "name", "fte", "quota", "quota_share_pct", "quota_per_fte",
                      "quota_bound"]
    assert [cells(r)[3] for r in table_rows(doc, "quota-table")] == ["1,000", "1,500", "2,500"]
    total = [td.text for td in doc.by_id("quota-table").all("tfoot")[0].all("td")]
    assert total == ["total", "", "3", "5,000", "100.0", "1,667", "cap ×1, floor ×1"]
    # quota columns move to the quota section
    territory_header = header_keys(doc, "territory-table")
    assert not any(h.startswith("quota") for h in territory_header)


def test_quota_table_totals() -> None:
    frame = pd.DataFrame({"territory": ["A", "B"], "name": ["a", "b"], "fte": [1.0, 0.5],
                          "potential": [300.0, 100.0], "items": [3, 1],
                          "quota": [600.0, 200.0], "quota_share_pct": [75.0, 25.0],
                          "quota_per_fte": [600.0, 400.0], "quota_to_basis_pct": [200.0, 200.0],
                          "quota_bound": ["", ""]})
    assert quota_table(frame.drop(columns=[c for c in frame if c.startswith("quota")])) is None
    table = quota_table(frame, basis="potential")
    assert table is not None and table.total is not None
    assert table.columns == ["territory", "name", "fte", "potential", "quota", "quota_share_pct",
                             "quota_per_fte", "quota_to_basis_pct", "quota_bound"]
    assert [c.text for c in table.total] == ["total", "", "1.50", "400", "800", "100.0", "533",
                                             "200.0", ""]
    assert table.keys == ["A", "B"]


# --- writing ----------------------------------------------------------------------------------


def test_write_report_is_atomic_and_only_writes_its_file(tmp_path: Path,
                                                         small_dir: tuple[Plan, Path]) -> None:
    plan, source = small_dir
    plan_dir = tmp_path / "plan"
    shutil.copytree(source, plan_dir)
    (plan_dir / "report.html").unlink(missing_ok=True)
    before = snapshot(plan_dir)
    path = write_report(plan, plan_dir)
    after = snapshot(plan_dir)
    assert set(after) - set(before) == {"report.html"}
    assert {k: v for k, v in after.items() if k != "report.html"} == before
    # a report is derived: writing again replaces it, leaving no temporary file behind
    path.write_text("stale", encoding="utf-8")
    assert write_report(plan, plan_dir, name="summary.html") == plan_dir / "summary.html"
    write_report(plan, plan_dir)
    assert path.read_text(encoding="utf-8") == (plan_dir / "summary.html").read_text(
        encoding="utf-8")
    assert sorted(snapshot(plan_dir)) == sorted([*before, "report.html", "summary.html"])
    for bad in ("../escape.html", "sub/report.html", "plan.json", "map.png", "map.html",
                ".hidden.html", "report"):
        with pytest.raises(TerritoryOptError):
            write_report(plan, plan_dir, name=bad)
    with pytest.raises(TerritoryOptError):
        write_report(plan, tmp_path / "missing")
    assert not (tmp_path / "missing").exists() and not (tmp_path / "escape.html").exists()
    assert sorted(snapshot(plan_dir)) == sorted([*before, "report.html", "summary.html"])


# --- headless Chromium ------------------------------------------------------------------------

# Reads what the browser made of the page into the DOM, which --dump-dom then prints: each
# image loaded and its natural size, each inline SVG's rendered size, and every
# Content-Security-Policy violation (a fetch the page attempted and the policy blocked).
PROBE = """<script>
var probeViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  probeViolations.push(e.violatedDirective + " " + e.blockedURI);
});
window.addEventListener("load", function () {
  var out = {
    images: Array.from(document.images).map(function (i) {
      return {id: i.id, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight};
    }),
    svgs: Array.from(document.querySelectorAll("svg")).map(function (s) {
      var r = s.getBoundingClientRect(); return {width: r.width, height: r.height};
    }),
    rows: document.querySelectorAll("#territory-table tbody tr").length,
    violations: probeViolations
  };
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium() -> str:
    """The chromium executable; skip (or fail, where CI requires it) when there is none."""
    exe = shutil.which("chromium")
    if exe is None:
        message = "chromium not installed: the report is not checked in a browser"
        if os.environ.get("TERRITORY_OPT_REQUIRE_CHROMIUM") == "1":
            pytest.fail(message + " (TERRITORY_OPT_REQUIRE_CHROMIUM=1)")
        pytest.skip(message)
    return exe


def run_chromium(exe: str, profile: Path, *args: str) -> str:
    proc = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_report_in_chromium(tmp_path: Path, small_dir: tuple[Plan, Path]) -> None:
    exe = chromium()
    plan, source = small_dir
    report = write_report(plan, source)
    page = report.read_text(encoding="utf-8")
    # A probing copy (the real report has no script): the policy gets script-src for the probe
    # only, so any other blocked fetch still shows as a violation.
    policy = "img-src data:;"
    assert policy in page
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace(policy, policy + " script-src &#39;unsafe-inline&#39;;", 1)
                     .replace("</title>", "</title>\n" + PROBE, 1), encoding="utf-8")
    dom = run_chromium(exe, tmp_path / "profile-dom", "--dump-dom", probe.as_uri())
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom, flags=re.DOTALL)
    assert match, dom[-2000:]
    result = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert result["violations"] == []
    assert result["rows"] == plan.scenario.n_territories
    assert [i["id"] for i in result["images"]] == ["map-image"]
    assert all(i["complete"] and i["width"] > 100 and i["height"] > 100
               for i in result["images"])
    assert len(result["svgs"]) == 1 and result["svgs"][0]["width"] > 100
    assert result["svgs"][0]["height"] > 100
    for text in ("territory-opt report: small", "Plan KPIs", "Rule violations", "Balance",
                 str(plan.scenario.territory_names[0])):
        assert text in dom

    # The real report as the browser draws it: not a blank page.
    shot = tmp_path / "report.png"
    run_chromium(exe, tmp_path / "profile-shot", f"--screenshot={shot}",
                 "--window-size=1200,2000", "--hide-scrollbars", report.as_uri())
    image = matplotlib.image.imread(shot)[..., :3]
    assert image.shape[:2] == (2000, 1200)
    ink = (image.min(axis=2) < 0.9).mean()  # share of pixels that are not (near) white
    assert image.std() > 0.05 and ink > 0.03, (image.std(), ink)
