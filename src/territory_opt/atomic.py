"""Write outputs all at once: a reader sees the whole folder (or file) or none of it.

Plans, trade-off curves and reports are written into a temporary sibling folder and renamed into
place; an existing path is never overwritten.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from territory_opt.errors import TerritoryOptError


def write_folder(directory: str | Path, fill: Callable[[Path], None]) -> Path:
    """Create ``directory`` with what ``fill`` writes into a temporary folder, atomically.

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
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
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
    reader sees the old file or the new one, never half of one)."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:  # "x": never clobber; the umask decides permissions
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _umask() -> int:
    """The process's umask (only readable by setting it, so set it back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
