"""Small hand-made lead scenarios for tests: write the tables and the YAML into a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from territory_opt import load_scenario
from territory_opt.scenario.model import Scenario

BASE_LEADS = {"columns": {"created": "created", "value": "value"},
              "reps": {"capacity": "capacity", "win_rate": "win_rate"}}


def lead_scenario(folder: Path, leads: list[dict[str, Any]], reps: list[dict[str, Any]], *,
                  win_rates: list[dict[str, Any]] | None = None,
                  owners: list[dict[str, Any]] | None = None,
                  leads_section: dict[str, Any] | None = None,
                  tags: tuple[str, ...] = ("segment", "language"),
                  eligibility: tuple[str, ...] = ("language",)) -> Scenario:
    """Write ``leads.csv`` (id, created, value, the ``tags``...), ``reps.csv`` (id, skills,
    capacity, win_rate, fte...), optional ``win_rates.csv`` (rep, segment, win_rate) and
    ``owners.csv`` (account, rep), and a ``model: leads`` YAML; return the loaded scenario.

    Missing cells are filled: created 2026-07-01T12:00Z + row minutes, tags '' (needs nothing),
    skills '', capacity '' (no limit), win_rate 0.2, fte 1.
    """
    lead_rows = []
    for n, row in enumerate(leads):
        full = {"id": f"L{n + 1}", "created": f"2026-07-01T12:{n % 60:02d}:00Z", "value": 100}
        full |= {t: "" for t in tags}
        lead_rows.append(full | row)
    rep_rows = [{"id": f"R{n + 1}", "skills": "", "capacity": "", "win_rate": 0.2, "fte": 1}
                | row for n, row in enumerate(reps)]
    pd.DataFrame(lead_rows).to_csv(folder / "leads.csv", index=False)
    pd.DataFrame(rep_rows).to_csv(folder / "reps.csv", index=False)
    section: dict[str, Any] = {key: dict(value) for key, value in BASE_LEADS.items()}
    lead_columns = set(lead_rows[0])
    for key in ("score", "account", "outcome", "amount", "days_to_close"):
        if key in lead_columns:
            section["columns"][key] = key
    if win_rates is not None:
        pd.DataFrame(win_rates).to_csv(folder / "win_rates.csv", index=False)
        section["win_rates"] = {"path": "win_rates.csv", "rep": "rep", "by": ["segment"],
                                "rate": "win_rate"}
    if owners is not None:
        pd.DataFrame(owners).to_csv(folder / "owners.csv", index=False)
        section["owners"] = {"path": "owners.csv", "account": "account", "rep": "rep"}
    section |= leads_section or {}
    spec = {"model": "leads",
            "items": {"path": "leads.csv", "id": "id", "tags": list(tags)},
            "territories": {"path": "reps.csv", "id": "id", "skills": "skills", "fte": "fte"},
            "rules": {"eligibility": list(eligibility)},
            "leads": section}
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_scenario(path)
