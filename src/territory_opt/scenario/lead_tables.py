"""Read the ``leads:`` section of a ``model: leads`` scenario into :class:`LeadData`.

The items table holds the leads and the territories table the reps (read by the main loader);
this module reads their routing columns and the win-rate and owner tables, and reports problems
the loader's way: file, row, column, what was found and what was expected.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from territory_opt.errors import Problem, ScenarioError
from territory_opt.scenario.columns import (
    id_column,
    missing_columns,
    no_rows,
    number_column,
    table_path,
    text_column,
)
from territory_opt.scenario.leads import NO_REP, WEEKDAYS, Availability, LeadData, parse_window
from territory_opt.scenario.schema import LeadsSection, Owners, WinRates
from territory_opt.scenario.tables import read_table, row_label

DEFAULT_WIN_RATE = 0.2
"""A rep's win rate where neither the win-rate table nor a win_rate column gives one."""
OUTCOMES = {"won": 1, "lost": 0, "": -1, "open": -1}
TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def read_leads(spec: LeadsSection, base: Path, source: str, leads: pd.DataFrame,
               leads_path: Path, reps: pd.DataFrame, reps_path: Path,
               tags: dict[str, np.ndarray], rep_index: dict[str, int]) -> LeadData:
    """The routing arrays of a leads scenario (module docstring).

    Raises
    ------
    ScenarioError
        Naming every problem found.
    """
    c, r = spec.columns, spec.reps
    needed = {f"leads.columns.{key}": value for key, value in c.model_dump().items()
              if value is not None}
    rep_needed = {f"leads.reps.{key}": value for key, value in r.model_dump().items()
                  if value is not None}
    problems = (missing_columns(leads, leads_path, needed, "leads")
                + missing_columns(reps, reps_path, rep_needed, "reps"))
    if problems:
        raise ScenarioError(problems)

    created = _times(leads, c.created, leads_path, problems)
    value = number_column(leads, c.value, leads_path, problems)
    score_factor = np.ones(len(leads))
    if c.score is not None:
        score = _unit_interval(leads, c.score, leads_path, problems)
        mean = float(np.nanmean(score)) if len(score) else 0.0
        score_factor = score / mean if mean > 0 else score_factor
    account = text_column(leads, c.account) if c.account is not None else np.full(len(leads), "",
                                                                             dtype=object)
    outcome = _outcomes(leads, c.outcome, leads_path, problems) if c.outcome else None
    amount = (number_column(leads, c.amount, leads_path, problems, blank=math.nan)
              if c.amount else None)
    days_to_close = (number_column(leads, c.days_to_close, leads_path, problems, blank=math.nan)
                     if c.days_to_close else None)

    n_reps = len(reps)
    capacity = (number_column(reps, r.capacity, reps_path, problems, blank=math.inf)
                if r.capacity else np.full(n_reps, np.inf))
    default_rate = (_unit_interval(reps, r.win_rate, reps_path, problems,
                                   blank=DEFAULT_WIN_RATE)
                    if r.win_rate else np.full(n_reps, DEFAULT_WIN_RATE))
    availability = _availability(reps, r.days, r.start, r.end, reps_path, problems)
    if problems:
        raise ScenarioError(problems)

    rate_key, keys, win_rate = _win_rates(spec.win_rates, base, source, tags, rep_index,
                                          default_rate, problems)
    owner = np.full(len(leads), NO_REP, dtype=np.int64)
    if spec.owners is not None and spec.ownership:
        owner = _owners(spec.owners, base, source, account, rep_index, problems)
    if problems:
        raise ScenarioError(problems)
    return LeadData(
        created=created, value=value, score_factor=score_factor, account=account, owner=owner,
        rate_key=rate_key, win_rate=win_rate, rate_keys=keys, default_rate=default_rate,
        capacity=capacity, period=spec.period, window_seconds=parse_window(spec.window),
        availability=availability, outcome=outcome, amount=amount,
        days_to_close=days_to_close)


def _times(frame: pd.DataFrame, column: str, path: Path, problems: list[Problem]) -> np.ndarray:
    """ISO 8601 times as UTC ``datetime64[s]`` (naive times are taken as UTC)."""
    text = pd.Series(text_column(frame, column))
    parsed = pd.to_datetime(text.where(text != "", None), utc=True, errors="coerce",
                            format="ISO8601")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        found = text.iloc[bad[0]]
        problems.append(Problem(row_label(path, bad), column,
                                f"'{found}'" if found else "an empty value",
                                "a time in ISO 8601, e.g. 2026-07-01T14:03:00Z"))
        return np.zeros(len(frame), dtype="datetime64[s]")
    return np.asarray(parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[s]"))


def _unit_interval(frame: pd.DataFrame, column: str, path: Path, problems: list[Problem],
                   blank: float | None = None) -> np.ndarray:
    """A column of numbers in [0, 1] (a rate or a score)."""
    values = number_column(frame, column, path, problems, blank=blank)
    above = np.flatnonzero(values > 1)
    if len(above):
        problems.append(Problem(row_label(path, above), column, f"{values[above[0]]:g}",
                                "a number between 0 and 1"))
    return values


def _outcomes(frame: pd.DataFrame, column: str, path: Path, problems: list[Problem]
              ) -> np.ndarray:
    text = [v.lower() for v in text_column(frame, column)]
    bad = [i for i, v in enumerate(text) if v not in OUTCOMES]
    if bad:
        problems.append(Problem(row_label(path, bad), column, f"'{text[bad[0]]}'",
                                "won, lost, or an empty cell (open or unknown)"))
    return np.asarray([OUTCOMES.get(v, -1) for v in text], dtype=np.int8)


def _availability(frame: pd.DataFrame, days: str | None, start: str | None, end: str | None,
                  path: Path, problems: list[Problem]) -> Availability | None:
    """Working days and shifts per rep; None when the scenario gives neither."""
    if days is None and start is None:
        return None
    n = len(frame)
    mask = np.ones((n, 7), dtype=bool)
    if days is not None:
        for row, text in enumerate(text_column(frame, days)):
            parsed = parse_days(text)
            if parsed is None:
                problems.append(Problem(row_label(path, [row]), days, f"'{text}'",
                                        "days such as 'Mon-Fri', 'Mon;Wed;Fri' or empty (every "
                                        "day)"))
            else:
                mask[row] = parsed
    begin, finish = np.zeros(n), np.full(n, 1440.0)
    if start is not None and end is not None:
        begin = _clock(frame, start, path, problems)
        finish = _clock(frame, end, path, problems)
    return Availability(days=mask, start=begin, end=finish)


def parse_days(text: str) -> np.ndarray | None:
    """'Mon-Fri', 'Tue-Sat', 'Mon;Wed;Fri' (also ',' or '|'), '' (every day) -> 7 booleans,
    Monday first; None if unreadable."""
    mask = np.zeros(7, dtype=bool)
    if not text.strip():
        return ~mask
    for part in re.split(r"[;,|]", text.lower()):
        ends = [p.strip()[:3] for p in part.split("-")]
        if any(e not in WEEKDAYS for e in ends) or len(ends) > 2:
            return None
        first, last = WEEKDAYS.index(ends[0]), WEEKDAYS.index(ends[-1])
        for k in range(7):
            if (k - first) % 7 <= (last - first) % 7:  # ranges may wrap: 'Sat-Mon'
                mask[k] = True
    return mask


def _clock(frame: pd.DataFrame, column: str, path: Path, problems: list[Problem]) -> np.ndarray:
    """'HH:MM' -> minutes after midnight."""
    out = np.zeros(len(frame))
    bad = []
    for row, text in enumerate(text_column(frame, column)):
        match = TIME.match(text)
        if match is None or int(match.group(1)) > 24 or int(match.group(2)) > 59:
            bad.append(row)
        else:
            out[row] = min(int(match.group(1)) * 60 + int(match.group(2)), 1440)
    if bad:
        problems.append(Problem(row_label(path, bad), column,
                                f"'{text_column(frame, column)[bad[0]]}'", "a time 'HH:MM' (UTC)"))
    return out


def _win_rates(spec: WinRates | None, base: Path, source: str, tags: dict[str, np.ndarray],
               rep_index: dict[str, int], default_rate: np.ndarray, problems: list[Problem]
               ) -> tuple[np.ndarray, tuple[tuple[str, ...], ...], np.ndarray]:
    """Per lead its key (column), the keys, and the reps × keys win rates (each rep's
    default where the table has no row)."""
    n_leads = len(next(iter(tags.values()))) if tags else 0
    if spec is None:
        return (np.zeros(n_leads, dtype=np.int64), ((),), default_rate[:, None].copy())
    unknown = [t for t in spec.by if t not in tags]
    if unknown:
        problems.append(Problem(f"{source}, at leads.win_rates.by", "by", repr(unknown[0]),
                                f"one of the item tags {sorted(tags)}"))
        return np.zeros(n_leads, dtype=np.int64), ((),), default_rate[:, None].copy()
    path = table_path(base, spec.path, "leads.win_rates.path", source)
    table = read_table(path, "leads.win_rates.path", source)
    problems += no_rows(table, path, "leads.win_rates.path", "win rate")
    problems += missing_columns(table, path, {"leads.win_rates.rep": spec.rep,
                                               **{f"leads.win_rates.by.{t}": t
                                                  for t in spec.by},
                                               "leads.win_rates.rate": spec.rate}, "win rates")
    if problems:
        return np.zeros(n_leads, dtype=np.int64), ((),), default_rate[:, None].copy()
    lead_keys = list(zip(*(tags[t] for t in spec.by), strict=True))
    table_keys = list(zip(*(text_column(table, t) for t in spec.by), strict=True))
    keys = tuple(sorted(set(lead_keys) | set(table_keys)))
    column = {key: j for j, key in enumerate(keys)}
    win_rate = np.repeat(default_rate[:, None], len(keys), axis=1)
    rates = _unit_interval(table, spec.rate, path, problems)
    reps = text_column(table, spec.rep)
    seen: dict[tuple[str, tuple[str, ...]], int] = {}
    bad_rep = [i for i, rep in enumerate(reps) if rep not in rep_index]
    if bad_rep:
        problems.append(Problem(row_label(path, bad_rep), spec.rep,
                                f"rep '{reps[bad_rep[0]]}', which is not in the reps table",
                                "a rep id of the territories table"))
    for i, (rep, key) in enumerate(zip(reps, table_keys, strict=True)):
        if rep not in rep_index:
            continue
        if (rep, key) in seen:
            problems.append(Problem(row_label(path, [i]), f"{spec.rep}/{'/'.join(spec.by)}",
                                    f"a second rate for ('{rep}', {', '.join(key)}) (first at "
                                    f"row {seen[(rep, key)] + 1})", "one row per rep and key"))
        seen.setdefault((rep, key), i)
        win_rate[rep_index[rep], column[key]] = rates[i]
    rate_key = np.asarray([column[key] for key in lead_keys], dtype=np.int64)
    return rate_key, keys, win_rate


def _owners(spec: Owners, base: Path, source: str, account: np.ndarray,
            rep_index: dict[str, int], problems: list[Problem]) -> np.ndarray:
    """Owning rep per lead (through its account), or :data:`NO_REP`."""
    path = table_path(base, spec.path, "leads.owners.path", source)
    table = read_table(path, "leads.owners.path", source)
    problems += missing_columns(table, path, {"leads.owners.account": spec.account,
                                               "leads.owners.rep": spec.rep}, "owners")
    if problems:
        return np.full(len(account), NO_REP, dtype=np.int64)
    accounts = id_column(table, spec.account, path, problems)
    reps = text_column(table, spec.rep)
    bad = [i for i, rep in enumerate(reps) if rep not in rep_index]
    if bad:
        problems.append(Problem(row_label(path, bad), spec.rep,
                                f"rep '{reps[bad[0]]}', which is not in the reps table",
                                "a rep id of the territories table"))
    owner_of = {a: rep_index.get(rep, NO_REP) for a, rep in zip(accounts, reps, strict=True)}
    return np.asarray([owner_of.get(a, NO_REP) if a else NO_REP for a in account],
                      dtype=np.int64)
