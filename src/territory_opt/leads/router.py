"""Online lead routing: one lead in, one rep and the reason out.

:class:`Router` decides for each lead, in this order:

1. **Ownership.** A lead from an owned account goes to its owner if the owner has capacity
   left this period. Ownership overrides eligibility, as locks do everywhere in territory-opt.
   A scenario lead's owner is ``scenario.lock`` (owners, a lock column, ``rules.locks``); a
   :class:`Lead`'s is its ``account`` looked up in the owner table (``leads.owners``, plus the
   accounts of the scenario's owned leads). If the owner is full, routing falls through to the
   next steps and the reason says so.
2. **Eligibility.** Only reps whose skills cover every eligibility tag value of the lead
   (``rules.eligibility``; an empty value needs nothing) may take it. If no rep at all does,
   :class:`NoEligibleRepError` names the lead, its values and the skills nobody has (an owned
   lead whose owner is full gets a :data:`NO_REP` decision instead: it has a rep, just a busy
   one). Other hard rules of the scenario (distance, pair table) do not apply to leads.
3. **Capacity.** Reps whose load this period reached their capacity are skipped. If every
   eligible rep is full the decision is :data:`NO_REP`, with the reason.
4. **Best fit** (``policy="best-fit"``): the rep with the highest expected value, i.e. the
   highest win rate for the lead's rate key (value and score factor are common to all reps;
   a key the win-rate table lacks uses each rep's default rate). Reps with equal rates form a
   tie set, and a pointer per tie set rotates through it, so identical leads alternate between
   tied reps. ``policy="round-robin"`` skips the fit: a pointer per eligibility group rotates
   through the group's reps, skipping full ones.

Loads count the leads routed to each rep in the current capacity period
(``leads.period``); a lead created in a later period starts a new one, with zero loads (leads
are expected in time order: an earlier one counts in the current period). There is no
randomness: the same leads in the same order give the same decisions.

Speed: everything a decision needs is precomputed into plain Python lists and tuples (per
eligibility group and rate key, the eligible reps in descending rate order, cut into tie sets),
so a decision is a few list look-ups and no numpy call. A router is not thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from territory_opt.errors import TerritoryOptError
from territory_opt.scenario.leads import NO_REP, LeadData, period_index
from territory_opt.scenario.model import Scenario

__all__ = ["NO_REP", "POLICIES", "Decision", "Lead", "NoEligibleRepError", "Policy",
           "Router", "scenario_lead"]

Policy = Literal["best-fit", "round-robin"]
POLICIES: tuple[Policy, ...] = ("best-fit", "round-robin")
EPOCH = datetime(1970, 1, 1)
THIS_PERIOD = {"day": "today", "week": "this week", "month": "this month",
               "quarter": "this quarter"}


@dataclass(frozen=True)
class Lead:
    """A lead from outside the scenario (a CRM, an HTTP request).

    Parameters
    ----------
    tags
        Tag values, e.g. ``{"segment": "SMB", "language": "es"}``; a missing tag counts as
        empty (it needs no skill).
    value
        Estimated deal value.
    created
        Creation time (ISO 8601 text, ``datetime`` or ``np.datetime64``; naive times are UTC).
        None: now, i.e. the router's current capacity period.
    score_factor
        Lead score / mean score (1 without scores), as in :class:`LeadData`.
    account
        Account id, for ownership ('' for none).
    id
        Lead id, for messages.
    """

    tags: Mapping[str, str]
    value: float
    created: np.datetime64 | datetime | str | None = None
    score_factor: float = 1.0
    account: str = ""
    id: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a lead goes and why.

    ``rep`` indexes ``scenario.territory_ids`` (:data:`NO_REP` when nobody can take the lead
    now, ``rep_id`` then ''); ``expected_value`` is value × win probability with that rep
    (0 for :data:`NO_REP`).
    """

    rep: int
    rep_id: str
    reason: str
    expected_value: float


class NoEligibleRepError(TerritoryOptError):
    """No rep has the skills a lead needs (a gap in the reps' skills, not a busy moment).

    Attributes
    ----------
    lead
        The lead's id.
    needs
        The lead's eligibility tag values, ``{tag: value}``.
    missing
        The tags whose value no rep has as a skill (empty when each value is somebody's skill
        but no single rep has them all).
    """

    def __init__(self, lead: str, needs: dict[str, str], missing: tuple[str, ...]) -> None:
        self.lead, self.needs, self.missing = lead, needs, missing
        values = ", ".join(f"{tag} '{value}'" for tag, value in needs.items())
        if missing:
            nobody = ", ".join(f"'{needs[t]}' ({t})" for t in missing)
            why = f"no rep has the skill {nobody}" if len(missing) == 1 else (
                f"no rep has the skills {nobody}")
        else:
            why = "no single rep has all of these skills"
        super().__init__(f"no rep can take lead {lead or '(no id)'} ({values}): {why}; add "
                         "the skill to a rep's skills column or route the lead by hand")


@dataclass(frozen=True, slots=True)
class _TieSet:
    """Eligible reps with the same win rate for one (group, key) slot."""

    pointer: int  # index into Router._pointers: where the rotation resumes (shared)
    reps: tuple[int, ...]
    rate: float


class Router:
    """Route leads one at a time (module docstring for the rules).

    Parameters
    ----------
    scenario
        A ``model: leads`` scenario: its reps, skills, win rates, owners and capacities.
    policy
        ``"best-fit"`` (highest win rate, ties rotate) or ``"round-robin"`` (rotate through
        the eligible reps).
    capacity
        Leads per period per rep, overriding the scenario's (``inf``: no limit).
    ownership
        Honour owners and locks; False routes owned leads like any other.

    Attributes
    ----------
    scenario, policy
        As given.
    """

    def __init__(self, scenario: Scenario, policy: Policy = "best-fit", *,
                 capacity: np.ndarray | None = None, ownership: bool = True) -> None:
        if scenario.leads is None:
            raise TerritoryOptError(f"scenario '{scenario.name}' has no leads section: the "
                                    "router needs a `model: leads` scenario")
        if policy not in POLICIES:
            raise ValueError(f"unknown routing policy {policy!r}; expected one of {POLICIES}")
        leads: LeadData = scenario.leads
        self.scenario, self.policy = scenario, policy
        self._leads = leads
        n_reps = scenario.n_territories
        limit = leads.capacity if capacity is None else np.asarray(capacity, dtype=float)
        if limit.shape != (n_reps,) or bool(np.any(np.isnan(limit) | (limit < 0))):
            raise ValueError(f"capacity: expected {n_reps} numbers >= 0 (one per rep), "
                             f"got shape {limit.shape}")
        self._capacity: list[float] = limit.tolist()
        self._rep_ids: list[str] = [str(r) for r in scenario.territory_ids]
        self._this_period = THIS_PERIOD[leads.period]
        self._ownership = ownership

        # Eligibility groups: the scenario's, plus any new combination a Lead brings.
        self._elig_tags: tuple[str, ...] = tuple(scenario.spec.rules.eligibility)
        self._rate_tags: tuple[str, ...] = (
            tuple(scenario.spec.leads.win_rates.by)
            if scenario.spec.leads is not None and scenario.spec.leads.win_rates is not None
            else ())
        group, table = scenario.eligibility_groups
        first = np.unique(group, return_index=True)[1] if len(group) else np.zeros(0, int)
        self._group_of: dict[tuple[str, ...], int] = {}
        self._group_reps: list[tuple[int, ...]] = []
        self._group_needs: list[tuple[str, ...]] = []
        for g in range(table.shape[0]):
            needs = tuple(str(scenario.tags[t][first[g]]) for t in self._elig_tags) if (
                self._elig_tags and g < len(first)) else ("",) * len(self._elig_tags)
            self._group_of[needs] = g
            self._group_needs.append(needs)
            self._group_reps.append(tuple(int(k) for k in np.flatnonzero(table[g])))

        # Rate keys: the win-rate table's columns, plus one for "not in the table" (defaults).
        self._rates: list[list[float]] = leads.win_rate.T.tolist()
        self._default_key = len(self._rates)
        self._rates.append(leads.default_rate.tolist())

        # Slots: one per (group, key) pair, each its tie sets in descending rate order.
        self._slot_of: dict[tuple[int, int], int] = {}
        self._slots: list[tuple[int, int, tuple[_TieSet, ...]]] = []  # (group, key, ties)
        self._pointers: list[int] = []  # tie-set rotation pointers (best fit)
        self._pointer_of: dict[tuple[int, ...], int] = {}  # tied reps -> their pointer
        self._group_pointers: list[int] = [0] * len(self._group_reps)  # round robin
        self._lead_cache: dict[tuple[str, ...], int] = {}

        # Scenario leads: per lead its slot, period, owner and numbers, as Python lists.
        n_leads = leads.n_leads
        keys = leads.rate_key.astype(np.int64)
        pairs = group.astype(np.int64) * (self._default_key + 1) + keys
        unique, inverse = np.unique(pairs, return_inverse=True)
        slot_ids = [self._slot(int(p) // (self._default_key + 1), int(p) % (self._default_key + 1))
                    for p in unique]
        self._lead_slot: list[int] = np.asarray(slot_ids, dtype=np.int64)[
            inverse.reshape(-1)].tolist() if n_leads else []
        self._lead_key: list[int] = keys.tolist()
        self._lead_period: list[int] = (period_index(leads.created, leads.period).tolist()
                                        if n_leads else [])
        self._lead_value: list[float] = leads.value.tolist()
        self._lead_score: list[float] = leads.score_factor.tolist()
        self._lead_lock: list[int] = (scenario.lock.tolist() if ownership
                                      else [NO_REP] * n_leads)
        self._lead_account: list[str] = [str(a) for a in leads.account]
        self._lead_owner: list[int] = leads.owner.tolist()
        self._item_ids: list[str] = [str(i) for i in scenario.item_ids]
        self._owner_of: dict[str, int] = self._owners() if ownership else {}

        self._loads: list[int] = [0] * n_reps
        self._period: int | None = None

    # --- public -------------------------------------------------------------------------------

    @property
    def loads(self) -> np.ndarray:
        """Leads routed per rep in the current capacity period (a read-only copy)."""
        out = np.asarray(self._loads, dtype=np.int64)
        out.setflags(write=False)
        return out

    @property
    def period(self) -> int | None:
        """The current capacity period's number (:func:`period_index`); None before the first
        dated lead."""
        return self._period

    def reset(self, loads: Sequence[int] | np.ndarray | None = None) -> None:
        """Start over: zero loads (or ``loads``, e.g. what reps already took this period),
        no current period, rotation pointers at the start. A reset router decides exactly as
        a new one."""
        n_reps = len(self._loads)
        if loads is None:
            self._loads = [0] * n_reps
        else:
            given = [int(x) for x in loads]
            if len(given) != n_reps or min(given, default=0) < 0:
                raise ValueError(f"loads: expected {n_reps} counts >= 0 (one per rep)")
            self._loads = given
        self._period = None
        self._pointers = [0] * len(self._pointers)
        self._group_pointers = [0] * len(self._group_pointers)

    def route(self, lead: int | Lead) -> Decision:
        """Decide where ``lead`` goes: a scenario lead's index (the fast path, for replays)
        or a :class:`Lead`; its load counts against the chosen rep.

        Raises
        ------
        NoEligibleRepError
            No rep has the skills the lead needs (and it has no owner with capacity).
        """
        if isinstance(lead, Lead):
            return self._route_lead(lead)
        i = int(lead)
        period = self._lead_period[i]
        if period != self._period:
            self._advance(period)
        owner = self._lead_lock[i]
        if owner >= 0 and self._loads[owner] < self._capacity[owner]:
            self._loads[owner] += 1
            account = self._lead_account[i]
            why = (f"owner of account {account}" if account and self._lead_owner[i] == owner
                   else f"locked to {self._rep_ids[owner]}")  # a lock column or rules.locks
            return Decision(owner, self._rep_ids[owner], why,
                            self._value(self._lead_value[i], self._lead_score[i],
                                        self._rates[self._lead_key[i]][owner]))
        return self._choose(self._lead_slot[i], self._lead_value[i], self._lead_score[i],
                            owner, self._item_ids[i])

    # --- routing ------------------------------------------------------------------------------

    def _route_lead(self, lead: Lead) -> Decision:
        tags = lead.tags
        values = tuple([tags.get(t, "") for t in self._elig_tags + self._rate_tags])
        slot = self._lead_cache.get(values)
        if slot is None:
            slot = self._lead_slot_for(values)
        if lead.created is not None:
            period = self._period_of(lead.created, lead.id)
            if period != self._period:
                self._advance(period)
        owner = self._owner_of.get(lead.account, NO_REP) if lead.account else NO_REP
        if owner >= 0 and self._loads[owner] < self._capacity[owner]:
            self._loads[owner] += 1
            key = self._slots[slot][1]
            return Decision(owner, self._rep_ids[owner], f"owner of account {lead.account}",
                            self._value(lead.value, lead.score_factor, self._rates[key][owner]))
        return self._choose(slot, lead.value, lead.score_factor, owner, lead.id)

    def _choose(self, slot: int, value: float, score: float, owner: int, lead_id: str
                ) -> Decision:
        """Steps 2 to 4 for a lead of ``slot`` (``owner``: its full owner, or NO_REP)."""
        group, key, ties = self._slots[slot]
        loads, capacity = self._loads, self._capacity
        if not ties:
            if owner >= 0:
                return Decision(NO_REP, "", f"owner {self._rep_ids[owner]} is at capacity "
                                f"{self._this_period} and no other rep has the skills "
                                f"({self._describe(group)})", 0.0)
            needs = self._group_needs[group]
            raise self._no_eligible(lead_id, needs)
        prefix = (f"owner {self._rep_ids[owner]} is at capacity; " if owner >= 0 else "")
        if self.policy == "round-robin":
            reps = self._group_reps[group]
            n = len(reps)
            start = self._group_pointers[group]
            for step in range(n):
                rep = reps[(start + step) % n]
                if loads[rep] < capacity[rep]:
                    self._group_pointers[group] = (start + step + 1) % n
                    loads[rep] += 1
                    full = f", {step} at capacity skipped" if step else ""
                    rate = self._rates[key][rep]
                    return Decision(rep, self._rep_ids[rep],
                                    f"{prefix}round robin among {n} eligible "
                                    f"rep{'s' if n > 1 else ''}{full}",
                                    self._value(value, score, rate))
            return self._all_full(prefix, n)
        skipped = 0
        for tie in ties:
            reps = tie.reps
            n = len(reps)
            if n == 1:  # the common case: no rotation to keep
                rep = reps[0]
                if loads[rep] < capacity[rep]:
                    loads[rep] += 1
                    return self._fit(rep, tie, prefix, skipped, value, score)
                skipped += 1
                continue
            start = self._pointers[tie.pointer]
            for step in range(n):
                rep = reps[(start + step) % n]
                if loads[rep] < capacity[rep]:
                    self._pointers[tie.pointer] = (start + step + 1) % n
                    loads[rep] += 1
                    return self._fit(rep, tie, prefix, skipped, value, score)
            skipped += n
        return self._all_full(prefix, skipped)

    def _fit(self, rep: int, tie: _TieSet, prefix: str, skipped: int, value: float,
             score: float) -> Decision:
        expected = self._value(value, score, tie.rate)
        better = (f" ({skipped} better-fit rep{'s' if skipped > 1 else ''} at capacity)"
                  if skipped else "")
        tied = f", round robin among {len(tie.reps)} tied reps" if len(tie.reps) > 1 else ""
        return Decision(rep, self._rep_ids[rep],
                        f"{prefix}best fit{better}{tied}: win rate {tie.rate:.2f}, "
                        f"expected {expected:,.0f}", expected)

    def _all_full(self, prefix: str, n: int) -> Decision:
        who = "the only eligible rep is" if n == 1 else f"all {n} eligible reps are"
        return Decision(NO_REP, "", f"{prefix}{who} at capacity {self._this_period}", 0.0)

    @staticmethod
    def _value(value: float, score: float, rate: float) -> float:
        """Expected value: value × clip(rate × score, 0, 1), in plain floats (fast)."""
        p = rate * score
        return value * (0.0 if p < 0.0 else 1.0 if p > 1.0 else p)

    def _advance(self, period: int) -> None:
        """A lead of ``period`` arrived: a later period starts afresh (zero loads). An earlier
        one (leads out of order) counts in the current period; the first dated lead adopts
        its period, keeping loads counted so far ("now")."""
        if self._period is None:
            self._period = period
        elif period > self._period:
            self._period = period
            self._loads = [0] * len(self._loads)

    # --- precomputation -----------------------------------------------------------------------

    def _slot(self, group: int, key: int) -> int:
        """The slot of (eligibility group, rate key), building its tie sets on first use."""
        found = self._slot_of.get((group, key))
        if found is not None:
            return found
        rates = self._rates[key]
        # Descending rate; among equals, rep order (a fixed order keeps the rotation
        # deterministic). Rates clipped by a high score factor still rank by the raw rate.
        order = sorted(self._group_reps[group], key=lambda k: (-rates[k], k))
        ties: list[_TieSet] = []
        start = 0
        for end in range(1, len(order) + 1):
            if end == len(order) or rates[order[end]] != rates[order[start]]:
                reps = tuple(order[start:end])
                # One pointer per set of tied reps, shared by every slot where they tie: the
                # same reps alternate even when their leads differ in group or key.
                pointer = self._pointer_of.setdefault(reps, len(self._pointers))
                if pointer == len(self._pointers):
                    self._pointers.append(0)
                ties.append(_TieSet(pointer, reps, float(rates[order[start]])))
                start = end
        slot = len(self._slots)
        self._slots.append((group, key, tuple(ties)))
        self._slot_of[(group, key)] = slot
        return slot

    def _lead_slot_for(self, values: tuple[str, ...]) -> int:
        """The slot of a Lead's eligibility and rate tag values (cached)."""
        needs, rate_values = values[:len(self._elig_tags)], values[len(self._elig_tags):]
        group = self._group_of.get(needs)
        if group is None:  # a combination no scenario lead has: find its reps now
            group = len(self._group_reps)
            skills = self.scenario.skills
            self._group_of[needs] = group
            self._group_needs.append(needs)
            self._group_reps.append(tuple(
                k for k in range(len(skills))
                if all(v == "" or v in skills[k] for v in needs)))
            self._group_pointers.append(0)
        column = self._leads.rate_column(rate_values) if self._rate_tags else 0
        slot = self._slot(group, self._default_key if column is None else column)
        self._lead_cache[values] = slot
        return slot

    def _owners(self) -> dict[str, int]:
        """Account -> owning rep, for :class:`Lead` objects.

        The accounts of the scenario's owned leads, plus every row of the owner table
        (``leads.owners``) when it can still be read, so a lead from an owned account with no
        earlier lead still goes to its owner. (The loader keeps owners per lead only; a table
        gone since loading leaves the leads' accounts.)
        """
        owner_of = {str(a): int(o) for a, o in zip(self._leads.account, self._leads.owner,
                                                   strict=True) if o >= 0 and a}
        spec = self.scenario.spec.leads
        if (spec is None or spec.owners is None or not spec.ownership
                or self.scenario.path is None):
            return owner_of
        from territory_opt.scenario.columns import text_column
        from territory_opt.scenario.tables import read_table

        path = self.scenario.path.parent / spec.owners.path
        try:
            table = read_table(path, "leads.owners.path")
        except (OSError, TerritoryOptError):
            return owner_of
        if spec.owners.account not in table or spec.owners.rep not in table:
            return owner_of
        rep_index = {rep: k for k, rep in enumerate(self._rep_ids)}
        accounts = text_column(table, spec.owners.account)
        for account, rep in zip(accounts, text_column(table, spec.owners.rep), strict=True):
            if account and rep in rep_index:
                owner_of.setdefault(str(account), rep_index[rep])
        return owner_of

    # --- messages and times -------------------------------------------------------------------

    def _describe(self, group: int) -> str:
        needs = self._group_needs[group]
        return ", ".join(f"{t} '{v}'" for t, v in zip(self._elig_tags, needs, strict=True) if v)

    def _no_eligible(self, lead_id: str, needs: tuple[str, ...]) -> NoEligibleRepError:
        skills = self.scenario.skills
        asked = {t: v for t, v in zip(self._elig_tags, needs, strict=True) if v}
        missing = tuple(t for t, v in asked.items() if not any(v in s for s in skills))
        return NoEligibleRepError(lead_id, asked, missing)

    def _period_of(self, created: np.datetime64 | datetime | str, lead_id: str) -> int:
        """Capacity period of a Lead's creation time, in plain Python (as :func:`period_index`)."""
        if isinstance(created, str):
            try:
                when = datetime.fromisoformat(created.strip())
            except ValueError:
                raise ValueError(f"lead {lead_id or '(no id)'}: created '{created}' is not a "
                                 "time in ISO 8601, e.g. 2026-07-01T14:03:00Z") from None
        elif isinstance(created, datetime):
            when = created
        else:
            item = np.asarray(created, dtype="datetime64[s]").item()
            if not isinstance(item, datetime):
                raise ValueError(f"lead {lead_id or '(no id)'}: created {created!r} is not a "
                                 "time")
            when = item
        if when.tzinfo is not None:
            when = when.astimezone(UTC).replace(tzinfo=None)
        period = self._leads.period
        if period == "day":
            return (when - EPOCH).days
        if period == "week":  # weeks from Monday; day 0 (1970-01-01) was a Thursday
            return ((when - EPOCH).days + 3) // 7
        months = (when.year - 1970) * 12 + when.month - 1
        return months if period == "month" else months // 3


def scenario_lead(scenario: Scenario, i: int) -> Lead:
    """Scenario lead ``i`` as a :class:`Lead` (all its tags, value, time, score, account), e.g.
    to route it the way a CRM would send it."""
    leads = scenario.leads
    if leads is None:
        raise TerritoryOptError(f"scenario '{scenario.name}' has no leads section")
    return Lead(tags={t: str(v[i]) for t, v in scenario.tags.items()},
                value=float(leads.value[i]), created=leads.created[i],
                score_factor=float(leads.score_factor[i]), account=str(leads.account[i]),
                id=str(scenario.item_ids[i]))
