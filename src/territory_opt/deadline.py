"""The one clock of a solve: a :class:`Deadline` made once from the limit, handed to every phase,
which asks it for its share and whether to stop; and :class:`Stopwatch` for reporting seconds.

This module (and the progress reporter) is the only code that reads the clock: a phase never
makes up its own budget from ``perf_counter``. A deadline ends at a fixed instant, so a share
of it never runs past its parent, and the time one phase did not use passes to the next. Its
``stop`` event is Ctrl-C's, the service's cancel and a sweep's shutdown alike: setting it ends
every phase that holds the deadline.

With a **work limit** (:attr:`Deadline.work`), a solve stops on deterministic effort instead of
time (each backend documents its unit, :class:`~territory_opt.backends.contract.Capabilities`):
the clock then decides nothing, so the same inputs give the same plan on any machine load.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Deadline", "Stopwatch", "process_age", "stop_on_ctrl_c", "wall_clock"]


def wall_clock() -> float:
    """Seconds since the epoch, for timestamps that are records, not budgets (job queues)."""
    return time.time()


def process_age() -> float | None:
    """Seconds since this process started, where the system says (Linux ``/proc``), else None:
    a command's start-up (interpreter, imports) is part of what its user waits for."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return None


class Stopwatch:
    """Seconds since it was made: what a phase took, for reports."""

    def __init__(self) -> None:
        self._started = time.perf_counter()

    def seconds(self) -> float:
        """Seconds since the stopwatch was made."""
        return time.perf_counter() - self._started


@dataclass
class Deadline:
    """A fixed end in time, a stop signal, and optionally a work budget (module docstring).

    Parameters
    ----------
    seconds
        The time limit from now (``inf`` for none).
    stop
        Set from elsewhere (Ctrl-C, a cancel) to end the solve early; shared by every share.
    work
        Deterministic effort allowed (None: stop on time). With a work limit, :meth:`remaining`
        is infinite and :meth:`expired` only asks the stop signal and the work left.
    reserve
        Seconds at the end of ``seconds`` kept back from the phases, for what follows them
        (choosing, checking and writing the plan): the phases end ``reserve`` early.
    """

    seconds: float
    stop: threading.Event = field(default_factory=threading.Event)
    work: float | None = None
    reserve: float = 0.0
    _started: float = field(default_factory=time.perf_counter, repr=False)
    _end: float = field(init=False, repr=False)
    _used: list[float] = field(default_factory=lambda: [0.0], repr=False)
    _ancestors: tuple[list[float], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        self._end = self._started + self.seconds - self.reserve

    # --- time ---------------------------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds since the deadline was made (for reports and progress events)."""
        return time.perf_counter() - self._started

    def remaining(self) -> float:
        """Seconds left (0 when past the end); infinite under a work limit."""
        if self.work is not None:
            return math.inf
        return max(self._end - time.perf_counter(), 0.0)

    def expired(self) -> bool:
        """Whether to stop now: the stop signal, the end passed, or the work spent."""
        if self.stop.is_set():
            return True
        if self.work is not None:
            return self.work_left() <= 0
        return time.perf_counter() >= self._end

    def over(self, margin: float = 0.0) -> bool:
        """Whether not to start another step: :meth:`expired`, or at most ``margin`` seconds
        left (a solver's set-up alone takes that long)."""
        return self.expired() or self.remaining() <= margin

    def limit_reason(self) -> str:
        """Which limit ends a search that stopped short: ``interrupted`` (the stop signal),
        ``work limit`` or ``time limit``."""
        if self.stop.is_set():
            return "interrupted"
        return "work limit" if self.work is not None else "time limit"

    @property
    def interrupted(self) -> bool:
        """Whether the stop signal (Ctrl-C, a cancel) ended the solve."""
        return self.stop.is_set()

    def share(self, fraction: float, *, at_most: float = math.inf,
              at_most_work: float = math.inf) -> Deadline:
        """A deadline for one phase: ``fraction`` of the whole limit (and of the work), at most
        ``at_most`` seconds (``at_most_work`` units), never past this deadline's end; the same
        stop signal and the same work account (what the phase spends, the whole has spent)."""
        now = time.perf_counter()  # one reading: the share ends no later than this deadline
        seconds = min(fraction * (self.seconds - self.reserve), at_most,
                      max(self._end - now, 0.0))
        work = (None if self.work is None
                else min(fraction * self.work, at_most_work, self.work_left()))
        return Deadline(seconds, stop=self.stop, work=work, _started=now,
                        _ancestors=(self._used, *self._ancestors))

    def rest(self) -> Deadline:
        """A deadline for the last phase: whatever is left of this one."""
        return self.share(1.0)

    # --- work ---------------------------------------------------------------------------------

    def work_left(self) -> float:
        """Work units left (infinite without a work limit)."""
        if self.work is None:
            return math.inf
        return self.work - self._used[0]

    def spend(self, units: float) -> None:
        """Record ``units`` of deterministic effort done (here and in every enclosing deadline)."""
        for account in (self._used, *self._ancestors):
            account[0] += units

    @property
    def spent(self) -> float:
        """Work units spent so far."""
        return self._used[0]


@contextlib.contextmanager
def stop_on_ctrl_c(stop: threading.Event) -> Iterator[threading.Event]:
    """While solving, the first Ctrl-C sets ``stop`` (the solve ends and returns its best plan);
    a second one aborts as usual. Only the main thread can own signal handlers; elsewhere (a
    service worker thread, a Dask task) the caller sets ``stop`` itself."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
