"""uvicorn's h11 protocol with a deadline for request headers (against slowloris).

uvicorn times out an idle keep-alive connection, but not a client that trickles the bytes of its
request line and headers: each byte cancels the keep-alive timer, and nothing re-arms it, so a
few hundred such sockets hold the server's connections forever. The ASGI app cannot help: it is
only called once the headers are complete. So the deadline lives in the protocol: a timer armed
when a connection opens (or when the first byte of a later request arrives) and cancelled when
h11 has the whole head; if it fires first the client gets ``408`` and the connection is closed.
The timer is never pushed back by new bytes, so trickling does not extend it.

Use ``uvicorn.run(app, http=guarded_h11(seconds), ...)``. Bodies are the app's business (it
sees them arrive); TLS handshakes happen before :meth:`connection_made` and keep asyncio's own
handshake timeout.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_BODY_408 = b"Request headers not received in time.\n"


class GuardedH11Protocol(H11Protocol):
    """:class:`H11Protocol` that closes connections whose request head is late.

    ``header_timeout`` (seconds) is a class attribute because uvicorn builds the protocol itself;
    take a subclass with :func:`guarded_h11`.
    """

    header_timeout: ClassVar[float] = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(  # type: ignore[override]  # as H11Protocol
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        # A connection that sends nothing at all is cut off too.
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        # Runs after each data_received and after each response (for pipelined requests).
        super().handle_events()
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            # The head is complete (or the connection is done, or switched to WebSockets).
            self._cancel_header_timer()
        elif self.conn.trailing_data[0]:
            # Part of a request head is buffered. Between requests with nothing buffered the
            # keep-alive timer watches the connection instead (data_received cancels that one).
            self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        # Only if not armed: the deadline counts from the request's first byte, not its latest.
        if self._header_timer is None and not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        prefix = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
        self.logger.warning("%sRequest headers not complete after %g s; closing the connection.",
                            prefix, self.header_timeout)
        # h11 lets a server answer before any request has arrived (408 is meant for this).
        if self.conn.our_state is h11.IDLE:
            headers = [(b"content-type", b"text/plain; charset=utf-8"),
                       (b"content-length", str(len(_BODY_408)).encode()),
                       (b"connection", b"close")]
            try:
                for event in (h11.Response(status_code=408, headers=headers,
                                           reason=b"Request Timeout"),
                              h11.Data(data=_BODY_408), h11.EndOfMessage()):
                    self.transport.write(self.conn.send(event) or b"")
            except h11.LocalProtocolError:
                pass  # h11 refused the answer: closing says enough
        self.transport.close()


def guarded_h11(header_timeout: float) -> type[GuardedH11Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` / ``uvicorn.run(http=...)``.

    Parameters
    ----------
    header_timeout
        Seconds a client has, from a request's first byte (or from connecting), to finish its
        request line and headers.

    Raises
    ------
    ValueError
        For a timeout that is not a positive number.
    """
    if not header_timeout > 0:  # also refuses NaN
        raise ValueError(f"header_timeout must be positive, got {header_timeout!r}")
    timeout = float(header_timeout)

    class GuardedH11(GuardedH11Protocol):
        header_timeout = timeout

    return GuardedH11
