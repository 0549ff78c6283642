"""The lead-routing data of a ``model: leads`` scenario: lead times, values, win rates,
ownership, rep capacity per period and availability, as arrays.

Leads are the scenario's items and reps its territories, so eligibility (lead tags against rep
skills, ``rules.eligibility``) and FTE come from :class:`~territory_opt.scenario.model.Scenario`;
this module holds what only routing needs.

Win probability of lead i with rep j::

    p(i, j) = clip(win_rate[j, key(i)] × score(i) / mean score, 0, 1)

where ``key(i)`` is the combination of the lead's tag values the win-rate table is keyed by
(e.g. its segment), and the score factor is 1 without scores. Expected value is ``value(i) ×
p(i, j)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO_REP = -1
"""Rep index meaning 'none' (no owner, not routed)."""

DAY_SECONDS = 86_400
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, eq=False)
class Availability:
    """Working days and a daily shift per rep, in UTC.

    ``days`` is reps × 7 (Monday first); ``start``/``end`` are minutes after midnight. A shift
    whose end is not after its start runs past midnight (it belongs to the day it starts).
    """

    days: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def wait_seconds(self, reps: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Elementwise: seconds from ``times[k]`` (datetime64) until rep ``reps[k]`` is on
        shift (0 when on shift then); ``inf`` for a rep with no working day."""
        reps = np.asarray(reps, dtype=np.int64)
        seconds = np.asarray(times, dtype="datetime64[s]").astype(np.int64)
        day = np.floor_divide(seconds, DAY_SECONDS)
        minute = (seconds - day * DAY_SECONDS) / 60.0
        out = np.full(len(reps), np.inf)
        start, end = self.start[reps], self.end[reps]
        overnight = end <= start
        # Look at yesterday (an overnight shift still running), today and the next 7 days.
        for offset in range(-1, 8):
            weekday = (day + offset + 3) % 7  # 1970-01-01 was a Thursday (3, Monday = 0)
            works = self.days[reps, weekday]
            shift_start = offset * 1440.0 + start
            shift_end = offset * 1440.0 + np.where(overnight, end + 1440.0, end)
            on = works & (minute >= shift_start) & (minute < shift_end)
            wait = np.where(on, 0.0, np.where(works & (shift_start > minute),
                                              (shift_start - minute) * 60.0, np.inf))
            out = np.minimum(out, wait)
        return out


@dataclass(frozen=True, eq=False)
class LeadData:
    """Per lead and per rep arrays for routing (module docstring for the win probability)."""

    created: np.ndarray  # datetime64[s] per lead
    value: np.ndarray  # estimated deal value per lead
    score_factor: np.ndarray  # score / mean score per lead (ones without scores)
    account: np.ndarray  # account id per lead ('' for none)
    owner: np.ndarray  # owning rep per lead, or NO_REP
    rate_key: np.ndarray  # per lead: column of ``win_rate``
    win_rate: np.ndarray  # reps × keys
    rate_keys: tuple[tuple[str, ...], ...]  # the tag values of each key (column)
    default_rate: np.ndarray  # per rep: the rate for a key the win-rate table lacks
    capacity: np.ndarray  # leads per period per rep (inf: no limit)
    period: str  # day, week, month or quarter
    window_seconds: float  # optimized replay window
    availability: Availability | None = None
    outcome: np.ndarray | None = None  # int8 per lead: 1 won, 0 lost, -1 open or unknown
    amount: np.ndarray | None = None  # amount won per lead (NaN where unknown)
    days_to_close: np.ndarray | None = None  # days to close per lead (NaN where unknown)

    @property
    def n_leads(self) -> int:
        """Number of leads."""
        return len(self.value)

    @property
    def n_reps(self) -> int:
        """Number of reps."""
        return int(self.win_rate.shape[0])

    def rate_column(self, values: tuple[str, ...]) -> int | None:
        """The ``win_rate`` column of a combination of tag values (None: not in the table,
        the reps' default rates apply)."""
        try:
            return self.rate_keys.index(values)
        except ValueError:
            return None

    def win_probability(self, leads: np.ndarray, reps: np.ndarray) -> np.ndarray:
        """Elementwise (broadcasting): the chance rep ``reps`` wins lead ``leads``."""
        leads = np.asarray(leads, dtype=np.int64)
        rate = self.win_rate[np.asarray(reps, dtype=np.int64), self.rate_key[leads]]
        return np.asarray(np.clip(rate * self.score_factor[leads], 0.0, 1.0))

    def expected_value(self, leads: np.ndarray, reps: np.ndarray) -> np.ndarray:
        """Elementwise (broadcasting): ``value × win probability``."""
        leads = np.asarray(leads, dtype=np.int64)
        return np.asarray(self.value[leads] * self.win_probability(leads, reps))

    def period_of(self, times: np.ndarray) -> np.ndarray:
        """Capacity period number of each time (UTC): consecutive integers per period."""
        return period_index(times, self.period)


def period_index(times: np.ndarray, period: str) -> np.ndarray:
    """Consecutive period numbers for datetime64 ``times``: days, weeks from Monday, months or
    quarters (UTC)."""
    t = np.asarray(times, dtype="datetime64[s]")
    if period == "day":
        return t.astype("datetime64[D]").astype(np.int64)
    if period == "week":  # day 0 (1970-01-01) was a Thursday: shift so weeks start on Monday
        return np.floor_divide(t.astype("datetime64[D]").astype(np.int64) + 3, 7)
    months = t.astype("datetime64[M]").astype(np.int64)
    if period == "month":
        return months
    if period == "quarter":
        return np.floor_divide(months, 3)
    raise ValueError(f"unknown period {period!r}; expected day, week, month or quarter")


def period_start(period: str, number: int) -> str:
    """The first day (UTC, ISO date) of capacity period ``number`` (see :func:`period_index`)."""
    days = {"day": int(number), "week": int(number) * 7 - 3}
    if period in days:
        return str(np.datetime64(days[period], "D"))
    months = int(number) * (3 if period == "quarter" else 1)
    return str(np.datetime64(months, "M").astype("datetime64[D]"))


def parse_window(text: str) -> float:
    """Seconds in a window such as '15min', '1h', '1.5d' or '90s'."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|min|h|d)\s*", text)
    if match is None:
        raise ValueError(f"window {text!r}: expected a number and s, min, h or d, e.g. '1h'")
    unit = {"s": 1, "min": 60, "h": 3600, "d": DAY_SECONDS}[match.group(2)]
    return float(match.group(1)) * unit
