"""Write outputs all at once: a reader sees the whole folder (or file) or none of it.

Plans, trade-off curves and reports are written into a temporary hidden sibling and renamed into
place; an existing folder is never overwritten.

While a write runs in the main thread, SIGINT (Ctrl-C) and SIGTERM wait: they are delivered as
soon as the output is complete and renamed, so an interrupted write leaves the whole output (and
then ends the process) rather than nothing. A process killed outright (``kill -9``) leaves its
temporary sibling behind; the name of that sibling says whose it is
(``.NAME.tmp-PID-START-HOST-RANDOM``), and the next write into the same folder removes the
siblings whose owner is gone.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from territory_opt.errors import TerritoryOptError

DEFERRED_SIGNALS = (signal.SIGTERM, signal.SIGINT)
"""Signals held back during a write; delivered afterwards in this order (SIGTERM first: it is
the final one, and a KeyboardInterrupt raised for SIGINT would otherwise pre-empt it)."""

_TEMP_NAME = re.compile(r"^\..+\.tmp-(\d+)-(\d+)-([0-9a-f]{8})-[^/]+$")
"""A temporary sibling: ``.NAME.tmp-PID-START-HOST-RANDOM`` (START digits: a known owner)."""


def write_folder(directory: str | Path, fill: Callable[[Path], None]) -> Path:
    """Create ``directory`` with what ``fill`` writes into a temporary folder, atomically.

    SIGINT and SIGTERM arriving meanwhile are delivered once the folder is in place (see
    :func:`_signals_deferred`). Orphaned temporary siblings of dead processes are removed first.

    Raises
    ------
    TerritoryOptError
        When ``directory`` already exists (outputs are never overwritten).
    """
    target = Path(directory)
    if target.exists():
        raise TerritoryOptError(f"{target} already exists; choose another --out "
                                "(outputs are never overwritten)")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(target.parent)
    with _signals_deferred():
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), dir=target.parent))
        try:
            fill(tmp)
            # mkdtemp makes the folder private (0700); an output gets a folder's usual mode.
            os.chmod(tmp, 0o777 & ~_umask())
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def write_file(target: Path, data: bytes) -> Path:
    """Write ``data`` to a fresh hidden file beside ``target``, then rename it into place (a
    reader sees the old file or the new one, never half of one).

    Signals wait and orphans are removed as in :func:`write_folder`.
    """

    def fill(tmp: Path) -> None:
        with open(tmp, "xb") as f:  # "x": never clobber; the umask decides permissions
            f.write(data)

    return write_file_with(target, fill)


def write_file_with(target: Path, fill: Callable[[Path], None]) -> Path:
    """:func:`write_file` for a writer that needs a path (a GeoPackage through GDAL): ``fill``
    writes the hidden sibling it is given (which ends in ``target``'s suffix, for writers that
    go by it), then that is renamed into place. Anything ``fill`` leaves beside it under the
    sibling's name (a database's journal) is removed."""
    _remove_orphans(target.parent)
    with _signals_deferred():
        tmp = target.with_name(f"{_temp_prefix(target)}{secrets.token_hex(4)}{target.suffix}")
        try:
            fill(tmp)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            for left in target.parent.glob(f"{glob.escape(tmp.name)}?*"):
                left.unlink(missing_ok=True)
    return target


# --- signals ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block ends, then deliver those that came.

    Only the main thread can change signal handling; elsewhere the block just runs. Two guards,
    because a process-wide signal goes to any thread that does not block it: the signal mask
    keeps it off the main thread (no system call of the write is interrupted), and a recording
    handler catches one that a solver's or a timer's thread received (Python runs handlers in
    the main thread, which would otherwise raise KeyboardInterrupt mid-write). On the way out
    the mask and handlers are restored and each signal caught is raised again, so the
    original handler acts on it: KeyboardInterrupt, or the default end of the process.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = _record_signals(caught)
    masks = hasattr(signal, "pthread_sigmask")  # not on Windows: the handlers alone defer
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, DEFERRED_SIGNALS) if masks else set()
    try:
        yield
    finally:
        # Unblocking runs the recording handler for what was pending on the main thread; only
        # then are the original handlers back, and the signals raised again for them.
        if masks:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in DEFERRED_SIGNALS:
            if signum in caught:
                signal.raise_signal(signum)


def _record_signals(caught: list[int]) -> dict[int, Any]:
    """Point SIGINT and SIGTERM at a handler that appends them to ``caught``; return the
    handlers replaced. A signal that is ignored keeps being ignored, and one whose handler
    was set outside Python (unknown to :func:`signal.getsignal`) is left alone."""
    previous: dict[int, Any] = {}
    for signum in DEFERRED_SIGNALS:
        handler = signal.getsignal(signum)
        if handler is None or handler == signal.SIG_IGN:
            continue
        previous[signum] = handler
        signal.signal(signum, lambda received, _frame: caught.append(received))
    return previous


# --- owners of temporary siblings -------------------------------------------------------------


def _temp_prefix(target: Path) -> str:
    """``.NAME.tmp-PID-START-HOST-`` for a temporary sibling of ``target`` (a random part
    follows)."""
    return f".{target.name}.tmp-{_owner_tag()}-"


def _owner_tag() -> str:
    """This process as ``PID-START-HOST``.

    START is the process's start time (:func:`_process_start`), so a pid reused by a later
    process does not pass for the owner; ``nostart`` where it is unknown (no ``/proc``), which
    no clean-up ever matches. HOST (:func:`_host_tag`) keeps processes of other machines and
    containers apart: on a shared disk their pids mean nothing here.
    """
    pid = os.getpid()
    start = _process_start(pid)
    return f"{pid}-{'nostart' if start is None else start}-{_host_tag()}"


def _owner_alive(pid: int, start: int) -> bool:
    """Whether process ``pid``, started at ``start`` (see :func:`_process_start`), still runs.

    A pid that exists with another start time is a different process (the pid was reused). A
    pid hidden from ``/proc`` (mounted with ``hidepid``) but existing is taken as alive.
    """
    if pid <= 0:  # no process's pid (and kill(0) would ask about this process group)
        return False
    now = _process_start(pid)
    if now is not None:
        return now == start
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):  # gone, or a pid no system has
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _process_start(pid: int) -> int | None:
    """Start time of process ``pid`` in clock ticks since boot (field 22 of
    ``/proc/PID/stat``), or None when there is no such file (no process, or no ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # Field 2, the command name, is in parentheses and may hold spaces or ")": count the
    # fields after its last ")" (field 3 onwards).
    fields = stat[stat.rfind(")") + 1:].split()
    try:
        return int(fields[22 - 3])
    except (IndexError, ValueError):
        return None


def _host_tag() -> str:
    """Eight hex digits naming this machine and PID namespace (hostname, and the namespace
    where ``/proc`` tells it)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    name = f"{socket.gethostname()}\0{namespace}".encode("utf-8", "replace")
    return hashlib.sha256(name).hexdigest()[:8]


def _remove_orphans(parent: Path) -> None:
    """Remove the temporary siblings in ``parent`` (folders and files) left by dead processes
    of this host. Nothing is removed where this process's start time is unknown (no
    ``/proc``): without it no owner can be judged."""
    if _process_start(os.getpid()) is None:
        return
    host = _host_tag()
    try:
        with os.scandir(parent) as scan:
            entries = list(scan)
    except OSError:
        return
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or match[3] != host or _owner_alive(int(match[1]), int(match[2])):
            continue
        with contextlib.suppress(OSError):  # another writer may be removing it too
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)


def _umask() -> int:
    """The process's umask (only readable by setting it, so set it back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
