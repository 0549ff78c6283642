"""Write the bad-input corpus: one folder per case, each the tiny scenario of ``conftest.py``
with one thing broken, and a ``case.yaml`` saying what the CLI must answer.

Run ``python tests/bad_input/build.py`` from the repository root after changing a case here;
a case added by hand (a folder with its own files and ``case.yaml``) needs no entry here. What
git cannot hold (a FIFO, a device, a link loop) is made by the test from ``case.yaml``'s
``setup``; see ``tests/test_bad_input_corpus.py``.
"""

from __future__ import annotations

import copy
import csv
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from conftest import ACCOUNTS, REPS, SPEC  # noqa: E402

SOLVE = ["solve", "scenario.yaml", "--out", "plans/plan", "--time-limit", "10"]


def case(name: str, about: str, messages: list[str], *, spec: dict[str, Any] | None = None,
         yaml_text: str | None = None, accounts: list[dict[str, Any]] | None = None,
         accounts_text: str | bytes | None = None, command: list[str] | None = None,
         setup: dict[str, str] | None = None, extra: dict[str, str | bytes] | None = None
         ) -> None:
    """Write one case folder (replacing an older one of the same name)."""
    folder = HERE / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    text = yaml_text if yaml_text is not None else yaml.safe_dump(spec or SPEC, sort_keys=False)
    (folder / "scenario.yaml").write_text(text, encoding="utf-8")
    if accounts_text is not None:
        data = accounts_text if isinstance(accounts_text, bytes) else accounts_text.encode()
        (folder / "accounts.csv").write_bytes(data)
    else:
        _write_csv(folder / "accounts.csv", accounts or ACCOUNTS)
    _write_csv(folder / "reps.csv", REPS)
    for file, content in (extra or {}).items():
        data = content if isinstance(content, bytes) else content.encode()
        (folder / file).write_bytes(data)
    expected = {"about": about, "command": command or SOLVE, "exit": 2, "messages": messages}
    if setup:
        expected["setup"] = setup
    (folder / "case.yaml").write_text(yaml.safe_dump(expected, sort_keys=False,
                                                     allow_unicode=True), encoding="utf-8")


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _spec(**changes: Any) -> dict[str, Any]:
    """SPEC with ``{"a.b.c": value}`` changes (dots walk the YAML path)."""
    spec = copy.deepcopy(SPEC)
    for dotted, value in changes.items():
        node = spec
        *path, last = dotted.split("__")
        for key in path:
            node = node.setdefault(key, {})
        node[last] = value
    return spec


def _csv_text(rows: list[dict[str, Any]]) -> str:
    header = ",".join(rows[0])
    return header + "\n" + "".join(",".join(str(v) for v in r.values()) + "\n" for r in rows)


def _accounts(**column: Any) -> list[dict[str, Any]]:
    rows = copy.deepcopy(ACCOUNTS)
    for row in rows:
        row.update(column)
    return rows


def districting(count: int, bridges: bool) -> tuple[dict[str, Any], str]:
    """Seven square units, one of them an island far from the rest."""
    boxes = [(x, y) for x in (0.0, 0.1, 0.2) for y in (0.0, 0.1)] + [(1.0, 1.0)]
    features = [{"type": "Feature", "properties": {"unit": f"U{i}", "load": 1},
                 "geometry": {"type": "Polygon", "coordinates": [[
                     [x, y], [x + 0.1, y], [x + 0.1, y + 0.1], [x, y + 0.1], [x, y]]]}}
                for i, (x, y) in enumerate(boxes)]
    import json

    spec = {"version": 1, "name": "island", "model": "districting",
            "items": {"path": "units.geojson", "id": "unit", "attributes": ["load"]},
            "territories": {"count": count},
            "adjacency": {"method": "queen", "bridges": bridges},
            "rules": {"balance": [{"attribute": "load", "tolerance": 0.5}], "contiguity": True},
            "objective": {"dispersion": {"attribute": "load"}}, "solver": {"time_limit": 10}}
    return spec, json.dumps({"type": "FeatureCollection", "features": features})


def main() -> None:
    for kind, words in (("symlink_loop", ["loops back on itself"]),
                        ("fifo", ["named pipe (FIFO)"]), ("device", ["a device"]),
                        ("directory", ["a directory"])):
        case(f"table-{kind.replace('_', '-')}", f"accounts.csv is a {kind.replace('_', ' ')}",
             ["items.path", "accounts.csv", *words], setup={kind: "accounts.csv"})
    case("duplicate-header", "the header names 'potential' twice (a ZIP column renamed)",
         ["accounts.csv, line 1", "'potential' twice (columns 4 and 6)"],
         accounts_text=_csv_text(ACCOUNTS).replace("segment,", "potential,", 1))
    case("overflowing-sum", "every potential 1e308: each is finite, their sum is not",
         ["accounts.csv", "potential", "overflows"], accounts=_accounts(potential="1e308"),
         spec=_spec(rules__balance=[{"attribute": "workload", "tolerance": 0.2},
                                    {"attribute": "potential", "tolerance": 0.5}]))
    case("overflowing-fte", "every FTE 1e308", ["reps.csv", "fte", "overflows"],
         extra={"reps.csv": _csv_text([dict(r, fte="1e308") for r in REPS])})
    case("infinite-quota-target", "quotas.target: .inf",
         ["quotas.target", "finite"],
         yaml_text=yaml.safe_dump(SPEC, sort_keys=False)
         + "quotas:\n  target: .inf\n  basis: potential\n")
    case("infinite-travel-weight", "objective.travel.weight: .inf",
         ["objective.travel.weight", "finite"],
         yaml_text=yaml.safe_dump(SPEC, sort_keys=False).replace("weight: 1.0", "weight: .inf"))
    case("infinite-time-limit", "solver.time_limit: .inf would remove the limit",
         ["solver.time_limit", "finite"],
         yaml_text=yaml.safe_dump(SPEC, sort_keys=False).replace("time_limit: 10",
                                                                "time_limit: .inf"))
    for option, value in (("--time-limit", "nan"), ("--time-limit", "inf"), ("--gap", "nan")):
        case(f"option{option}-{value}", f"{option} {value}", [option, "not a finite number"],
             command=["solve", "scenario.yaml", "--out", "plans/plan", option, value])
    case("option-threads-beyond-the-machine", "--threads 100000 aborted HiGHS after 86 s",
         ["--threads", "100000"],
         command=["solve", "scenario.yaml", "--out", "plans/plan", "--threads", "100000"])
    case("out-under-a-file", "--out names a folder under a file", ["is a file, not a folder"],
         command=["solve", "scenario.yaml", "--out", "blocker/plan"], extra={"blocker": "x\n"})
    spec, units = districting(count=20, bridges=True)
    case("districting-more-territories-than-units", "territories.count 20 over 7 units",
         ["territories.count", "20 territories from 7 units"], spec=spec,
         extra={"units.geojson": units})
    spec, units = districting(count=1, bridges=False)
    case("districting-island-without-bridges", "an island, bridges: false, one territory",
         ["adjacency.bridges", "2 separate pieces", "U6"], spec=spec,
         extra={"units.geojson": units})
    latin = _csv_text(_accounts()).replace("A3,", "Ä3,", 1).encode("cp1252")
    case("not-utf8", "accounts.csv saved as Windows-1252",
         ["accounts.csv, line 4 (row 3)", "not UTF-8", "Windows-1252", "CSV UTF-8"],
         accounts_text=latin)
    case("utf16", "accounts.csv saved as UTF-16 (Excel 'Unicode Text')",
         ["accounts.csv, line 1", "UTF-16"], accounts_text=_csv_text(ACCOUNTS).encode("utf-16"))
    rows = _accounts()
    rows[1]["segment"] = '"smb\nwith a note"'  # a quoted cell over two lines
    rows[4]["workload"] = "lots"
    text = _csv_text(rows).replace('"smb\nwith a note"', '"smb\nwith a note"')
    case("line-numbers-count-physical-lines", "a quoted newline before a bad number",
         ["row 5 (line 7)", "'lots'"], accounts_text=text)
    case("vrt-in-geojson", "a .geojson holding OGR VRT XML that names /etc/passwd",
         ["accounts.geojson", "GeoJSON FeatureCollection"],
         spec=_spec(items__path="accounts.geojson"),
         extra={"accounts.geojson": "<OGRVRTDataSource><OGRVRTLayer name='x'><SrcDataSource>"
                "/etc/passwd</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>\n"})
    case("gpkg-that-is-not-a-geopackage", "a .gpkg holding CSV text",
         ["accounts.gpkg", "GeoPackage"], spec=_spec(items__path="accounts.gpkg"),
         extra={"accounts.gpkg": _csv_text(ACCOUNTS)})
    bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    bomb += [f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]"
             for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
    case("yaml-alias-bomb", "nine levels of nine aliases: 9^9 nodes in 1.4 KB",
         ["scenario.yaml, line 2", "aliases"], yaml_text="\n".join(bomb) + "\n",
         command=["validate", "scenario.yaml"])
    case("yaml-duplicate-key", "name given twice", ["duplicate key 'name' (first at line 2)"],
         yaml_text=yaml.safe_dump(SPEC, sort_keys=False).replace(
             "name: tiny\n", "name: tiny\nname: again\n"))
    case("yaml-python-tag", "a !!python tag", ["!!python/object/apply:os.system"],
         yaml_text="version: 1\nname: !!python/object/apply:os.system ['true']\n")


if __name__ == "__main__":
    main()
