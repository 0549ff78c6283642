"""Service settings: where jobs are kept, how many solver processes, limits and API keys."""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from territory_opt.errors import TerritoryOptError

KEYS_VARIABLE = "TERRITORY_OPT_API_KEYS"
"""Environment variable with the accepted API keys, separated by commas."""

DEFAULT_DATABASE = "sqlite:///territory-opt-service.db"


@dataclass(frozen=True)
class ServiceConfig:
    """Settings of one server.

    ``api_keys`` empty means no authentication, which is only allowed on a loopback host.
    """

    database_url: str = DEFAULT_DATABASE
    workers: int = 2
    max_body_bytes: int = 20 * 1024 * 1024
    max_time_limit: float = 600.0
    max_active_jobs: int = 100  # queued or running, per API key
    max_queued_seconds: float = 7200.0
    """Solve time one API key may have queued or running at once (the sum of time limits)."""
    header_timeout: float = 10.0
    """Seconds a client has to send its request line and headers."""
    body_timeout: float = 60.0
    """Seconds a client has to send its whole body, once its headers are in."""
    max_connections: int = 64
    """Connections served at once; more get 503 (uvicorn's limit_concurrency)."""
    max_table_rows: int = 1_000_000
    """Rows of one table of a request (each row costs memory in every later step)."""
    max_decoded_bytes: int = 1024 * 1024 * 1024
    """Bytes a compressed table (Parquet) may decode to, judged from its footer."""
    api_keys: frozenset[str] = field(default_factory=frozenset)
    host: str = "127.0.0.1"
    port: int = 8000

    def check(self) -> None:
        """Refuse settings that would be unsafe: no API key on a non-loopback host."""
        if not self.api_keys and not is_loopback(self.host):
            raise TerritoryOptError(
                f"no API key is configured, so the server only binds to loopback (127.0.0.1 "
                f"or ::1), not {self.host}; set {KEYS_VARIABLE} or pass --api-key-file")
        if self.workers < 1:
            raise TerritoryOptError(f"--workers must be at least 1, not {self.workers}")
        for name in ("max_body_bytes", "max_time_limit", "max_active_jobs",
                     "max_queued_seconds", "header_timeout", "body_timeout", "max_connections",
                     "max_table_rows", "max_decoded_bytes"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise TerritoryOptError(f"{name} must be a finite number > 0, not {value}")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_api_keys(key_file: Path | None = None) -> frozenset[str]:
    """API keys from ``TERRITORY_OPT_API_KEYS`` (comma-separated) and ``key_file`` (one per
    line, ``#`` comments). Keys shorter than 16 characters are refused: they can be guessed."""
    keys = [k.strip() for k in os.environ.get(KEYS_VARIABLE, "").split(",") if k.strip()]
    if key_file is not None:
        try:
            lines = key_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise TerritoryOptError(f"cannot read the API key file {key_file}: "
                                    f"{exc.strerror}") from None
        keys += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    short = [k for k in keys if len(k) < 16]
    if short:
        raise TerritoryOptError(f"{len(short)} API key(s) shorter than 16 characters; use long "
                                "random keys, e.g. python -c 'import secrets; "
                                "print(secrets.token_urlsafe(32))'")
    return frozenset(keys)
