"""The seeded generator of ``scenarios/leads``: deterministic, valid, realistic and feasible,
and the committed scenario is exactly what it writes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
import yaml

from territory_opt.scenario.schema import ScenarioSpec

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "scenarios" / "leads"
FILES = ("leads.csv", "reps.csv", "win_rates.csv", "owners.csv", "scenario.yaml")


@pytest.fixture(scope="module")
def build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("leads_build", FOLDER / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("leads_build", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def written(build: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh ``write()`` with the default arguments."""
    return build.write(tmp_path_factory.mktemp("leads"))


@pytest.fixture(scope="module")
def tables(written: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(written.parent / f"{name}.csv", keep_default_na=False,
                              dtype={"account_id": str, "outcome": str})
            for name in ("leads", "reps", "win_rates", "owners")}


def _skills(reps: pd.DataFrame) -> list[frozenset[str]]:
    return [frozenset(s.split(";")) for s in reps.skills]


def _created(leads: pd.DataFrame) -> np.ndarray:
    return leads.created_at.str.rstrip("Z").to_numpy().astype("datetime64[s]")


def test_committed_files_equal_a_fresh_write(written: Path) -> None:
    for name in FILES:
        fresh = (written.parent / name).read_bytes()
        assert (FOLDER / name).read_bytes() == fresh, f"{name} is stale: re-run build.py"


def test_written_yaml_validates_and_loads(written: Path) -> None:
    spec = ScenarioSpec.model_validate(yaml.safe_load(written.read_text()))
    assert spec.model == "leads" and spec.leads is not None
    assert spec.rules.eligibility == ["language", "product", "segment"]
    from territory_opt import load_scenario

    scenario = load_scenario(written)
    assert scenario.leads is not None
    assert scenario.leads.n_leads == 40_000 and scenario.leads.n_reps == 60
    assert (scenario.leads.owner >= 0).mean() == pytest.approx(0.25, abs=0.01)


def test_same_seed_same_tables_other_seed_differs(build: ModuleType) -> None:
    first = build.generate(n_leads=3_000, n_reps=12, seed=5)
    second = build.generate(n_leads=3_000, n_reps=12, seed=5)
    assert first.keys() == second.keys() == {"leads", "reps", "win_rates", "owners"}
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name])
    other = build.generate(n_leads=3_000, n_reps=12, seed=6)
    assert not first["leads"].equals(other["leads"])
    assert not first["reps"].equals(other["reps"])


def test_ids_are_unique_and_references_resolve(tables: dict[str, pd.DataFrame]) -> None:
    leads, reps, rates, owners = (tables[k] for k in ("leads", "reps", "win_rates", "owners"))
    assert len(leads) == 40_000 and len(reps) == 60
    assert leads.lead_id.is_unique and reps.rep_id.is_unique and reps.name.is_unique
    assert owners.account_id.is_unique
    assert not rates.duplicated(["rep_id", "segment"]).any()
    assert set(rates.rep_id) <= set(reps.rep_id) and set(owners.rep_id) <= set(reps.rep_id)
    accounts = set(leads.account_id) - {""}
    assert accounts <= set(owners.account_id)
    assert 2_000 <= len(owners) <= 5_000


def test_every_lead_has_an_eligible_rep_and_owners_are_eligible(
        tables: dict[str, pd.DataFrame]) -> None:
    leads, reps, owners = tables["leads"], tables["reps"], tables["owners"]
    skills = _skills(reps)
    groups = leads[["language", "product", "segment"]].drop_duplicates()
    for row in groups.itertuples(index=False):
        assert any(set(row) <= s for s in skills), row
    by_rep = dict(zip(reps.rep_id, skills, strict=True))
    owner = dict(zip(owners.account_id, owners.rep_id, strict=True))
    owned = leads[leads.account_id != ""]
    for row in owned[["account_id", "language", "product", "segment"]].drop_duplicates() \
            .itertuples(index=False):
        assert {row.language, row.product, row.segment} <= by_rep[owner[row.account_id]], row
    # One segment and one language per account.
    assert (owned.groupby("account_id")[["segment", "language"]].nunique() == 1).all().all()


def test_weekly_capacity_covers_each_language_with_slack(
        build: ModuleType, tables: dict[str, pd.DataFrame]) -> None:
    leads, reps = tables["leads"], tables["reps"]
    created = _created(leads)
    skills = _skills(reps)
    for language in ("en", "es", "fr"):
        mine = (leads.language == language).to_numpy()
        volume = build.weekly_counts(created[mine], np.zeros(mine.sum(), np.int64), 1).max()
        able = reps.weekly_capacity[[language in s for s in skills]].sum()
        assert able >= build.LANGUAGE_SLACK * volume, (language, volume, able)
    total = build.weekly_counts(created, np.zeros(len(leads), np.int64), 1).max()
    assert 1.3 <= reps.weekly_capacity.sum() / total <= 1.6


def test_leads_look_like_a_quarter_of_real_leads(tables: dict[str, pd.DataFrame]) -> None:
    leads = tables["leads"]
    created = pd.to_datetime(leads.created_at, utc=True)
    assert created.is_monotonic_increasing
    assert created.min() >= pd.Timestamp("2026-07-01", tz="UTC")
    assert created.max() < pd.Timestamp("2026-10-01", tz="UTC")
    weekend = created.dt.day_of_week >= 5
    assert weekend.mean() < 0.12  # 2 of 7 days, but far quieter
    hours = created[~weekend].dt.hour
    assert ((hours >= 13) & (hours < 23)).mean() > 0.6  # US office hours in UTC
    first, last = created < pd.Timestamp("2026-08-01", tz="UTC"), \
        created >= pd.Timestamp("2026-09-01", tz="UTC")
    assert last.sum() > first.sum()  # growth
    assert leads.lat.between(18, 72).all() and leads.lon.between(-180, -66).all()  # US + AK, HI

    share = leads.segment.value_counts(normalize=True)
    assert share["SMB"] == pytest.approx(0.65, abs=0.02)
    assert share["MidMarket"] == pytest.approx(0.27, abs=0.02)
    assert share["Enterprise"] == pytest.approx(0.08, abs=0.01)
    language = leads.language.value_counts(normalize=True)
    assert language["en"] == pytest.approx(0.85, abs=0.02)
    assert language["es"] == pytest.approx(0.12, abs=0.02)
    assert language["fr"] == pytest.approx(0.03, abs=0.01)
    assert set(leads["product"]) == {"Core", "Analytics", "Payments"}
    assert set(leads.source) == {"web", "event", "partner", "outbound"}
    median = leads.groupby("segment").value.median()
    assert median["SMB"] < median["MidMarket"] < median["Enterprise"]
    assert median["Enterprise"] == pytest.approx(150_000, rel=0.15)
    assert leads.score.between(0, 1).all()
    assert (leads.account_id != "").mean() == pytest.approx(0.25, abs=0.01)


def test_history_is_consistent(tables: dict[str, pd.DataFrame]) -> None:
    leads = tables["leads"]
    assert set(leads.outcome) == {"won", "lost", ""}
    won, closed = leads.outcome == "won", leads.outcome != ""
    assert (leads.amount[won] != "").all() and (leads.amount[~won] == "").all()
    assert (leads.days_to_close[closed] != "").all() and (leads.days_to_close[~closed] == "").all()
    created = pd.to_datetime(leads.created_at, utc=True)
    age = (pd.Timestamp("2026-10-01", tz="UTC") - created).dt.total_seconds() / 86_400
    assert closed[age >= 45].all()  # old leads are settled
    assert not closed[age < 45].all()  # recent ones partly open
    days = pd.to_numeric(leads.days_to_close[closed])
    assert (days >= 1).all() and (days <= age[closed]).all()  # closed by the end
    assert 0.15 < won[closed].mean() < 0.35
    amount = pd.to_numeric(leads.amount[won])
    assert (amount / leads.value[won]).median() == pytest.approx(1.0, abs=0.1)


def test_reps_are_plausible(tables: dict[str, pd.DataFrame]) -> None:
    reps, rates = tables["reps"], tables["win_rates"]
    skills = _skills(reps)
    assert all("en" in s for s in skills)
    assert sum("es" in s for s in skills) == pytest.approx(0.2 * len(reps), abs=3)
    assert 1 <= sum("fr" in s for s in skills) <= 6
    assert all(2 <= len(s & {"Core", "Analytics", "Payments"}) <= 3 for s in skills)
    assert set(reps.fte) <= {1.0, 0.8, 0.5} and (reps.fte == 1.0).mean() > 0.6
    assert set(reps.work_days) <= {"Mon-Fri", "Tue-Sat", "Mon-Thu", "Mon;Wed;Fri"}
    assert reps.shift_start.str.fullmatch(r"\d\d:\d\d").all()
    assert reps.shift_end.str.fullmatch(r"\d\d:\d\d").all()
    assert (reps.shift_end < reps.shift_start).any()  # western shifts run past midnight UTC
    assert (reps.weekly_capacity >= 1).all() and reps.win_rate.between(0.1, 0.35).all()
    for segment, low, high in (("SMB", 0.09, 0.40), ("MidMarket", 0.06, 0.30),
                               ("Enterprise", 0.03, 0.20)):
        assert rates.win_rate[rates.segment == segment].between(low, high).all()
    sells = rates.groupby("rep_id").segment.apply(frozenset)
    for rep, s in zip(reps.rep_id, skills, strict=True):
        assert sells[rep] == s & {"SMB", "MidMarket", "Enterprise"}


def test_benchmark_batch_size(build: ModuleType) -> None:
    frames = build.generate(n_leads=10_000, n_reps=200, seed=1)
    leads, reps = frames["leads"], frames["reps"]
    assert len(leads) == 10_000 and len(reps) == 200 and reps.rep_id.is_unique
    skills = _skills(reps)
    for row in leads[["language", "product", "segment"]].drop_duplicates().itertuples(
            index=False):
        assert any(set(row) <= s for s in skills), row
