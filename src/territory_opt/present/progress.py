"""Progress a user can read: one :class:`ProgressTracker` turns a solve's progress events into
what is shown — the phase, a clock that only moves forward, the time limit, the best plan so
far, the best bound and their gap — for the command line (a live ``rich`` display on a
terminal, plain lines in a log: :func:`progress_display`) and the service's job progress
(:meth:`ProgressTracker.as_json`).

Events come from every phase of every family (:class:`~territory_opt.backends.contract.Progress`):
their seconds may step back (a sub-phase timing itself), their objective may be worse than one
an earlier phase found (a backend starting afresh). The tracker keeps the largest seconds, the
lowest objective and the highest bound seen.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table

from territory_opt.backends.contract import Progress, relative_gap
from territory_opt.deadline import Stopwatch

__all__ = ["LOG_EVERY", "ProgressTracker", "progress_display", "progress_text"]

LOG_EVERY = 10.0
"""Seconds at most between two progress lines in a log (a better plan prints at once)."""

QUIET_START = 2.0
"""A log gets no "no plan yet" line before this many seconds (quick solves stay quiet)."""


class ProgressTracker:
    """What a user is shown of a solve's progress events (module docstring): the clock only
    moves forward, the best objective only down, the best bound only up. Thread-safe (a
    backend may report from its own thread)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.objective = math.inf
        self.bound = -math.inf
        self.phase = ""
        self.limit: float | None = None
        self.events = 0
        self._lock = threading.Lock()

    def see(self, event: Progress) -> Progress:
        """Take in one event; the state shown after it (:attr:`current`)."""
        with self._lock:
            self.events += 1
            if event.seconds > self.seconds:  # NaN never moves the clock
                self.seconds = float(event.seconds)
            if event.objective < self.objective:
                self.objective = float(event.objective)
            if event.bound > self.bound:
                self.bound = float(event.bound)
            if event.phase:
                self.phase = event.phase
            if event.limit is not None and math.isfinite(event.limit):
                self.limit = float(event.limit)
            return self.current

    @property
    def current(self) -> Progress:
        """The state shown: forward clock, best objective and bound, latest phase and limit."""
        return Progress(self.objective, self.bound, self.seconds, self.phase, self.limit)

    @property
    def gap(self) -> float:
        """The relative gap of the best plan to the best bound (``inf``: not both known)."""
        return relative_gap(self.objective, self.bound)

    def as_json(self) -> dict[str, Any]:
        """The service's job progress: phase, seconds (forward clock), limit, objective,
        bound and gap (null when not known)."""

        def number(value: float | None, digits: int | None = None) -> float | None:
            if value is None or not math.isfinite(value):
                return None
            return round(value, digits) if digits is not None else value

        p = self.current
        return {"phase": p.phase, "seconds": round(p.seconds, 2), "limit": number(p.limit),
                "objective": number(p.objective), "bound": number(p.bound),
                "gap": number(p.gap, 6)}


def _clock(seconds: float, limit: float | None) -> str:
    return f"{seconds:6.1f} / {limit:g} s" if limit is not None else f"{seconds:6.1f} s"


def progress_text(p: Progress) -> str:
    """One progress line: the clock (of the limit, when there is one), the plan's objective
    (or none yet), bound, gap and the phase, e.g.
    ``   12.3 / 60 s   plan 108,156.8   bound 107,261.9   gap 0.82%   (local search)``."""
    bound = f"bound {p.bound:,.1f}" if math.isfinite(p.bound) else "bound n/a"
    phase = f"   ({p.phase})" if p.phase else ""
    clock = _clock(p.seconds, p.limit)
    if not math.isfinite(p.objective):
        return f"  {clock}   no plan yet   {bound}{phase}"
    gap = p.gap
    shown = f"gap {gap:.2%}" if math.isfinite(gap) else "gap n/a"
    return f"  {clock}   plan {p.objective:,.1f}   {bound}   {shown}{phase}"


class _LiveView:
    """The live display's renderable: drawn at each refresh from the tracker, with the clock
    ticking between events (never behind the events' own clock)."""

    def __init__(self, tracker: ProgressTracker) -> None:
        self.tracker = tracker
        self.watch = Stopwatch()

    def seconds(self) -> float:
        return max(self.tracker.seconds, self.watch.seconds())

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        t = self.tracker
        p = t.current
        seconds = self.seconds()
        grid = Table.grid(padding=(0, 2))
        cells: list[Any] = []
        if p.limit is not None and p.limit > 0:
            grid.add_column(width=24)
            cells.append(ProgressBar(total=p.limit, completed=min(seconds, p.limit), width=24))
        grid.add_column(justify="right", no_wrap=True)
        cells.append(_clock(seconds, p.limit).strip())
        grid.add_column(no_wrap=True)
        cells.append(f"[bold]{escape(p.phase or 'starting')}[/]")
        grid.add_column(no_wrap=True)
        if math.isfinite(p.objective):
            gap = p.gap
            cells.append(f"best {p.objective:,.1f}   bound "
                         + (f"{p.bound:,.1f}" if math.isfinite(p.bound) else "n/a")
                         + "   gap " + (f"{gap:.2%}" if math.isfinite(gap) else "n/a"))
        else:
            cells.append("no plan yet   bound "
                         + (f"{p.bound:,.1f}" if math.isfinite(p.bound) else "n/a"))
        grid.add_row(*cells)
        yield grid


def _log_lines(console: Console, tracker: ProgressTracker) -> Callable[[Progress], None]:
    """Plain lines for a log: each better plan, and at least every :data:`LOG_EVERY` seconds
    (no "no plan yet" line before :data:`QUIET_START` seconds)."""
    last = [-math.inf, math.inf]  # clock and objective of the last line printed

    def show(event: Progress) -> None:
        p = tracker.see(event)
        if p.objective >= last[1] and p.seconds - last[0] < LOG_EVERY:
            return
        if not math.isfinite(p.objective) and p.seconds < QUIET_START:
            return
        last[:] = [p.seconds, p.objective]
        console.print(escape(progress_text(p)), highlight=False, soft_wrap=True)

    return show


@contextlib.contextmanager
def progress_display(console: Console, *, live: bool) -> Iterator[Callable[[Progress], None]]:
    """The progress callback to give a solve, shown on ``console`` while the block runs.

    ``live`` (a terminal): one ``rich`` line redrawn in place — a bar of the time limit (when
    there is one), the clock, the phase, the best plan, bound and gap — removed when the block
    ends, normally or by an exception, so what prints next starts on a clean line. Otherwise
    (a log, CI, a pipe): plain lines (:func:`progress_text`), each better plan and at least
    every :data:`LOG_EVERY` seconds.
    """
    tracker = ProgressTracker()
    if not live:
        yield _log_lines(console, tracker)
        return
    view = _LiveView(tracker)
    with Live(view, console=console, refresh_per_second=4, transient=True,
              redirect_stdout=False, redirect_stderr=False):

        def show(event: Progress) -> None:
            tracker.see(event)

        yield show
