"""What a request must pass before the application reads it (ASGI middleware): a good API key,
a body within the size limit, and a body that arrives in time.

The key is checked first, from the headers alone, so a client without one cannot make the
server buffer anything; the body is then read (at most ``max_bytes``, within
``body_timeout`` seconds) and handed to the application. A request's headers are timed by the
server's protocol (:mod:`.protocol`): the application never sees a request before them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from territory_opt.deadline import Deadline
from territory_opt.service.auth import MISSING_KEY, WRONG_KEY, owner_of, presented_key


class RequestGuard:
    """Refuse, before the body is read: a missing or wrong key (401) on every path but
    ``public``; a body over ``max_bytes`` (413), at once from its Content-Length and while
    reading a chunked one; a body still arriving after ``body_timeout`` seconds (408)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, body_timeout: float,
                 keys: Iterable[str] = (), public: Iterable[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout = body_timeout
        self.keys = sorted(keys)
        self.public = tuple(public)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers") or []}
        if self.keys and not self._is_public(scope["path"]):
            given = presented_key(headers)
            if not given or owner_of(self.keys, given) is None:
                await _refuse(send, 401, MISSING_KEY if not given else WRONG_KEY,
                              [(b"www-authenticate", b"Bearer")])
                return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        # Read the body first (it is at most max_bytes), then hand it to the app: an error
        # raised half-way through the app's own read would come out as a 400, not a 413.
        messages: list[Message] = []
        seen = 0
        deadline = Deadline(self.body_timeout)
        while True:
            try:
                message = await asyncio.wait_for(receive(), deadline.remaining())
            except TimeoutError:
                await _refuse(send, 408, f"the request body did not arrive within "
                              f"{self.body_timeout:g} seconds (this server's --body-timeout)")
                return
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    def _is_public(self, path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.public)

    async def _too_large(self, send: Send) -> None:
        await _refuse(send, 413, f"request body over {self.max_bytes:,} bytes (this server's "
                      "limit, --max-body-mb)")


async def _refuse(send: Send, status: int, detail: str,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer ``status`` with ``{"detail": ...}`` and close the connection (the rest of the
    body, if any, is never read)."""
    body: dict[str, Any] = {"detail": detail}
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()),
                            (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": data})
