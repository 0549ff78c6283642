"""API keys: where a request carries its key, and which owner a key stands for.

Used twice: by the request guard, which refuses a request without a good key before its body
is read, and by the routes, which need the owner to keep tenants apart.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

MISSING_KEY = ("missing API key: send it as 'X-API-Key: KEY' or 'Authorization: Bearer KEY'")
WRONG_KEY = "wrong API key"


def presented_key(headers: Mapping[str, str]) -> str:
    """The key a request presents (``X-API-Key``, else a bearer token); empty when none.
    ``headers`` are keyed in lower case."""
    key = headers.get("x-api-key", "")
    if key:
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def owner_of(keys: Iterable[str], given: str) -> str | None:
    """The owner id of ``given`` (a hash of the key), or None when it is not one of ``keys``.

    Every key is compared in constant time: no timing hint of how much matched."""
    match = [k for k in keys if hmac.compare_digest(k.encode(), given.encode())]
    return hashlib.sha256(match[0].encode()).hexdigest()[:16] if match else None
