"""The online lead router on hand-made cases: ownership wins, ineligible reps are never chosen,
ties rotate, full reps are skipped, capacity resets each period, nobody eligible is a clear
error, Lead objects route as the scenario's own leads, and decisions are deterministic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leads_cases import lead_scenario
from territory_opt.leads.router import (
    NO_REP,
    POLICIES,
    Decision,
    Lead,
    NoEligibleRepError,
    Policy,
    Router,
    scenario_lead,
)
from territory_opt.scenario.leads import period_index

SEGMENT_RATES = [{"rep": "R1", "segment": "SMB", "win_rate": 0.5},
                 {"rep": "R2", "segment": "SMB", "win_rate": 0.2},
                 {"rep": "R3", "segment": "SMB", "win_rate": 0.3}]


def same_leads(n: int, **row: Any) -> list[dict[str, Any]]:
    """``n`` identical leads (one minute apart, all in the same week)."""
    return [dict(row) for _ in range(n)]


def route_all(router: Router, n: int) -> list[Decision]:
    return [router.route(i) for i in range(n)]


def test_owner_wins_over_a_better_fit(tmp_path: Path) -> None:
    s = lead_scenario(tmp_path, [{"segment": "SMB", "account": "A1"},
                                 {"segment": "SMB", "account": ""}],
                      [{}, {}, {}], win_rates=SEGMENT_RATES,
                      owners=[{"account": "A1", "rep": "R2"}])
    first, second = route_all(Router(s), 2)
    assert (first.rep_id, first.reason) == ("R2", "owner of account A1")
    assert first.expected_value == pytest.approx(100 * 0.2)
    assert second.rep_id == "R1" and second.reason.startswith("best fit")
    assert second.expected_value == pytest.approx(100 * 0.5)
    assert Router(s, ownership=False).route(0).rep_id == "R1"


def test_full_owner_falls_through_to_the_next_best(tmp_path: Path) -> None:
    s = lead_scenario(tmp_path, same_leads(2, segment="SMB", account="A1"),
                      [{}, {"capacity": 1}, {}], win_rates=SEGMENT_RATES,
                      owners=[{"account": "A1", "rep": "R2"}])
    first, second = route_all(Router(s), 2)
    assert first.rep_id == "R2"
    assert second.rep_id == "R1"
    assert second.reason.startswith("owner R2 is at capacity; best fit")


def test_ownership_overrides_eligibility(tmp_path: Path) -> None:
    s = lead_scenario(tmp_path, [{"language": "es", "account": "A1"}],
                      [{"skills": "es"}, {"skills": "en"}],
                      owners=[{"account": "A1", "rep": "R2"}])
    assert Router(s).route(0).rep_id == "R2"


def test_ineligible_reps_are_never_chosen(tmp_path: Path) -> None:
    # R1 speaks only English but has by far the best rate; Spanish leads must still avoid it.
    leads = [{"segment": "SMB", "language": "es" if n % 3 else "en"} for n in range(60)]
    s = lead_scenario(tmp_path, leads,
                      [{"skills": "en"}, {"skills": "es", "capacity": 15},
                       {"skills": "en;es"}],
                      win_rates=[{"rep": "R1", "segment": "SMB", "win_rate": 0.9},
                                 {"rep": "R2", "segment": "SMB", "win_rate": 0.2},
                                 {"rep": "R3", "segment": "SMB", "win_rate": 0.1}])
    for policy in POLICIES:
        decisions = route_all(Router(s, policy), len(leads))
        spanish = [d.rep_id for n, d in enumerate(decisions) if n % 3]
        english = [d.rep_id for n, d in enumerate(decisions) if not n % 3]
        assert "R1" not in spanish and {"R2", "R3"} == set(spanish)
        assert "R2" not in english
    best = route_all(Router(s), len(leads))
    assert {d.rep_id for n, d in enumerate(best) if not n % 3} == {"R1"}


def test_ties_rotate_between_equal_reps(tmp_path: Path) -> None:
    rates = [{"rep": "R1", "segment": "SMB", "win_rate": 0.3},
             {"rep": "R2", "segment": "SMB", "win_rate": 0.3},
             {"rep": "R3", "segment": "SMB", "win_rate": 0.1}]
    s = lead_scenario(tmp_path, same_leads(5, segment="SMB"), [{}, {}, {}], win_rates=rates)
    decisions = route_all(Router(s), 5)
    assert [d.rep_id for d in decisions] == ["R1", "R2", "R1", "R2", "R1"]
    assert "round robin among 2 tied reps" in decisions[0].reason
    assert decisions[0].reason.endswith("win rate 0.30, expected 30")


def test_tied_reps_share_one_rotation_across_groups(tmp_path: Path) -> None:
    # Leads needing English and leads needing nothing tie R1 and R2 in two different groups.
    leads = [{"segment": "SMB", "language": ("en", "")[n % 2]} for n in range(4)]
    s = lead_scenario(tmp_path, leads, [{"skills": "en"}, {"skills": "en"}])
    assert [d.rep_id for d in route_all(Router(s), 4)] == ["R1", "R2", "R1", "R2"]


def test_full_reps_are_skipped(tmp_path: Path) -> None:
    s = lead_scenario(tmp_path, same_leads(3, segment="SMB"),
                      [{"capacity": 1}, {}, {"capacity": 2}], win_rates=SEGMENT_RATES)
    router = Router(s)
    decisions = route_all(router, 3)
    assert [d.rep_id for d in decisions] == ["R1", "R3", "R3"]
    assert decisions[1].reason.startswith("best fit (1 better-fit rep at capacity)")
    assert router.loads.tolist() == [1, 0, 2]
    with pytest.raises(ValueError, match="read-only"):
        router.loads[0] = 0


def test_all_eligible_full_gives_no_rep_with_the_reason(tmp_path: Path) -> None:
    s = lead_scenario(tmp_path, same_leads(3, language="es"),
                      [{"skills": "es", "capacity": 1}, {"skills": "es", "capacity": 1},
                       {"skills": "en"}])
    for policy in POLICIES:
        third = route_all(Router(s, policy), 3)[2]
        assert third == Decision(NO_REP, "", "all 2 eligible reps are at capacity this week",
                                 0.0)


def test_capacity_argument_overrides_the_scenario(tmp_path: Path) -> None:
    s = lead_scenario(tmp_path, same_leads(2, segment="SMB"), [{}, {}, {}],
                      win_rates=SEGMENT_RATES)
    router = Router(s, capacity=np.array([1.0, 0.0, np.inf]))
    assert [d.rep_id for d in route_all(router, 2)] == ["R1", "R3"]
    with pytest.raises(ValueError, match="capacity"):
        Router(s, capacity=np.array([1.0, 2.0]))


def test_nobody_eligible_names_the_lead_and_the_missing_skill(tmp_path: Path) -> None:
    s = lead_scenario(tmp_path, [{"language": "fr", "segment": "SMB"}],
                      [{"skills": "en"}, {"skills": "es"}])
    with pytest.raises(NoEligibleRepError, match=r"lead L1 \(language 'fr'\): no rep has the "
                       r"skill 'fr' \(language\)") as caught:
        Router(s).route(0)
    assert caught.value.missing == ("language",)
    with pytest.raises(NoEligibleRepError, match="lead W9"):
        Router(s).route(Lead({"language": "de"}, 10.0, id="W9"))


def test_no_single_rep_with_every_skill(tmp_path: Path) -> None:
    s = lead_scenario(tmp_path, [{"language": "es", "segment": "ENT"}],
                      [{"skills": "es;SMB"}, {"skills": "en;ENT"}],
                      eligibility=("language", "segment"))
    with pytest.raises(NoEligibleRepError, match="no single rep has all of these skills"):
        Router(s).route(0)


def test_owned_lead_with_full_owner_and_no_skilled_rep_is_not_routed(tmp_path: Path) -> None:
    s = lead_scenario(tmp_path, same_leads(2, language="fr", account="A1"),
                      [{"skills": "en", "capacity": 1}],
                      owners=[{"account": "A1", "rep": "R1"}])
    first, second = route_all(Router(s), 2)
    assert first.rep_id == "R1"
    assert second.rep == NO_REP
    assert second.reason == ("owner R1 is at capacity this week and no other rep has the "
                             "skills (language 'fr')")


def test_capacity_resets_in_the_next_period(tmp_path: Path) -> None:
    # 2026-07-01 is a Wednesday; the week runs to Sunday 07-05, the next starts Monday 07-06.
    times = ["2026-07-01T09:00:00Z", "2026-07-05T23:59:00Z", "2026-07-06T00:00:00Z",
             "2026-07-06T10:00:00Z"]
    s = lead_scenario(tmp_path, [{"segment": "SMB", "created": t} for t in times],
                      [{"capacity": 1}, {}, {}], win_rates=SEGMENT_RATES)
    router = Router(s)
    assert [d.rep_id for d in route_all(router, 4)] == ["R1", "R3", "R1", "R3"]
    assert router.loads.tolist() == [1, 0, 1]
    assert s.leads is not None
    assert router.period == int(period_index(s.leads.created[-1:], "week")[0])


def test_daily_period(tmp_path: Path) -> None:
    times = ["2026-07-01T09:00:00Z", "2026-07-01T17:00:00Z", "2026-07-02T08:00:00Z"]
    s = lead_scenario(tmp_path, [{"segment": "SMB", "created": t} for t in times],
                      [{"capacity": 1}, {}, {}], win_rates=SEGMENT_RATES,
                      leads_section={"period": "day"})
    decisions = route_all(Router(s), 3)
    assert [d.rep_id for d in decisions] == ["R1", "R3", "R1"]


def test_round_robin_cycles_through_eligible_reps(tmp_path: Path) -> None:
    s = lead_scenario(tmp_path, same_leads(8, language="es", segment="SMB"),
                      [{"skills": "es"}, {"skills": "en"}, {"skills": "es", "capacity": 1},
                       {"skills": "es"}], win_rates=SEGMENT_RATES)
    decisions = route_all(Router(s, "round-robin"), 8)
    assert [d.rep_id for d in decisions] == ["R1", "R3", "R4", "R1", "R4", "R1", "R4", "R1"]
    assert decisions[0].reason == "round robin among 3 eligible reps"
    assert decisions[4].reason == "round robin among 3 eligible reps, 1 at capacity skipped"
    assert decisions[0].expected_value == pytest.approx(100 * 0.5)


def mixed_scenario(folder: Path) -> tuple[Any, int]:
    """Owners, two languages, two segments (one without table rates), capacities, ties and
    two weeks: a bit of everything."""
    leads = []
    for n in range(40):
        leads.append({"segment": ("SMB", "ENT")[n % 2], "language": ("en", "es", "")[n % 3],
                      "account": f"A{n % 5}" if n % 4 == 0 else "", "value": 100 + 10 * n,
                      "created": f"2026-07-0{3 + n // 10}T{10 + n % 10:02d}:00:00Z"})
    reps = [{"skills": "en", "capacity": 4, "win_rate": 0.3},
            {"skills": "es;en", "capacity": 6, "win_rate": 0.3},
            {"skills": "es", "win_rate": 0.25}, {"skills": "en", "capacity": 3}]
    rates = [{"rep": "R1", "segment": "SMB", "win_rate": 0.4},
             {"rep": "R2", "segment": "SMB", "win_rate": 0.4},
             {"rep": "R3", "segment": "SMB", "win_rate": 0.2},
             {"rep": "R4", "segment": "SMB", "win_rate": 0.35}]
    owners = [{"account": "A0", "rep": "R3"}, {"account": "A2", "rep": "R4"}]
    return lead_scenario(folder, leads, reps, win_rates=rates, owners=owners), len(leads)


@pytest.mark.parametrize("policy", POLICIES)
def test_lead_objects_route_as_the_scenario_leads(tmp_path: Path, policy: Policy) -> None:
    s, n = mixed_scenario(tmp_path)
    by_index = route_all(Router(s, policy), n)
    router = Router(s, policy)
    by_lead = [router.route(scenario_lead(s, i)) for i in range(n)]
    assert by_lead == by_index
    assert {d.rep for d in by_index} >= {0, 1, 2, 3}  # the case exercises every rep
    assert any(d.reason.startswith("owner of account") for d in by_index)
    # Times as text with an offset, or as datetime64, land in the same periods.
    router = Router(s, policy)
    assert s.leads is not None
    texts = [np.datetime_as_string(t) + "+00:00" for t in s.leads.created]
    again = [router.route(Lead(**{**scenario_lead(s, i).__dict__, "created": texts[i]}))
             for i in range(n)]
    assert again == by_index


def test_lead_objects_with_new_tag_values(tmp_path: Path) -> None:
    s = lead_scenario(tmp_path, [{"segment": "SMB", "language": "en"}],
                      [{"skills": "en", "win_rate": 0.1}, {"skills": "en;de", "win_rate": 0.4}],
                      win_rates=[{"rep": "R1", "segment": "SMB", "win_rate": 0.6},
                                 {"rep": "R2", "segment": "SMB", "win_rate": 0.2}],
                      owners=[{"account": "A1", "rep": "R2"}, {"account": "A7", "rep": "R1"}])
    router = Router(s)
    # A language no scenario lead has, that only R2 speaks.
    assert router.route(Lead({"segment": "SMB", "language": "de"}, 50.0)).rep_id == "R2"
    # A segment the win-rate table lacks: each rep's default rate (R2's 0.4 beats R1's 0.1).
    gov = router.route(Lead({"segment": "GOV", "language": "en"}, 50.0))
    assert gov.rep_id == "R2" and gov.expected_value == pytest.approx(20.0)
    # An account of the owner table that no scenario lead comes from still goes to its owner.
    owned = router.route(Lead({"segment": "SMB", "language": "de"}, 50.0, account="A7"))
    assert (owned.rep_id, owned.reason) == ("R1", "owner of account A7")
    # A high score factor clips the win probability at 1.
    sure = router.route(Lead({"segment": "SMB"}, 50.0, score_factor=3.0))
    assert sure.rep_id == "R1" and sure.expected_value == pytest.approx(50.0)
    with pytest.raises(ValueError, match="not a time in ISO 8601"):
        router.route(Lead({"segment": "SMB"}, 1.0, created="yesterday", id="X"))


def test_lead_without_time_counts_in_the_current_period(tmp_path: Path) -> None:
    s = lead_scenario(tmp_path, same_leads(1, segment="SMB"), [{"capacity": 1}, {}, {}],
                      win_rates=SEGMENT_RATES)
    router = Router(s)
    router.route(0)
    assert router.route(Lead({"segment": "SMB"}, 100.0)).rep_id == "R3"  # R1 is full
    later = Lead({"segment": "SMB"}, 100.0, created="2026-07-20T09:00:00")
    assert router.route(later).rep_id == "R1"  # a later week: loads start afresh


def test_decisions_are_deterministic_and_reset_starts_over(tmp_path: Path) -> None:
    s, n = mixed_scenario(tmp_path)
    for policy in POLICIES:
        router = Router(s, policy)
        first = route_all(router, n)
        assert route_all(Router(s, policy), n) == first
        router.reset()
        assert router.loads.tolist() == [0, 0, 0, 0] and router.period is None
        assert route_all(router, n) == first


def test_reset_with_loads_already_taken(tmp_path: Path) -> None:
    s = lead_scenario(tmp_path, same_leads(1, segment="SMB"), [{"capacity": 2}, {}, {}],
                      win_rates=SEGMENT_RATES)
    router = Router(s)
    router.reset(loads=[2, 0, 0])
    assert router.route(0).rep_id == "R3"
    with pytest.raises(ValueError, match="loads"):
        router.reset(loads=[1])


def test_bad_policy_and_scenario(tmp_path: Path) -> None:
    s = lead_scenario(tmp_path, same_leads(1), [{}])
    with pytest.raises(ValueError, match="unknown routing policy"):
        Router(s, "random")  # type: ignore[arg-type]
