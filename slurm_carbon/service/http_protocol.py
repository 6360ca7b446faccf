"""The service's HTTP/1.1 protocol: uvicorn's httptools one, with a bound on a request's head.

httptools (llhttp, in C) parses requests for about half the CPU of uvicorn's
pure-Python h11 (README, "Ingest at scale"). Unlike h11, which refuses a request
line and headers over 16 KiB, llhttp sets no bound: a client could make the service
hold whatever head it sends. :class:`BoundedHttpToolsProtocol` puts h11's bound
back, with h11's answer: 400, then the connection is closed.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_HEAD_BYTES", "BoundedHttpToolsProtocol"]

#: A request's line and headers, in bytes, beyond which it is refused (400): h11's
#: own default, so nothing h11 served is refused. A node's head is a few hundred
#: bytes; the dashboard's adds a session cookie, the read API's a munge credential.
MAX_HEAD_BYTES = 16 * 1024
# Bytes a header costs on the wire besides its name and value: ": " and CRLF.
_HEADER_FRAMING = 4
_REFUSAL = "Invalid HTTP request received."


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol refusing a head over :data:`MAX_HEAD_BYTES`.

    A complete head is measured before the app sees it. A head still arriving is
    measured by the bytes received since it began, so what the parser holds of it
    stays within the bound plus one read of the socket.
    """

    _in_head = True  # until the first head is complete
    _head_bytes = 0  # received while the current head is incomplete

    def data_received(self, data: bytes) -> None:
        """Parse what arrived; refuse a head still incomplete past the bound."""
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse()

    def on_message_begin(self) -> None:
        """A new request: its head is measured from here."""
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        """Refuse a complete head over the bound before the app sees it."""
        self._in_head = False
        head = len(self.url) + sum(
            len(name) + len(value) + _HEADER_FRAMING for name, value in self.headers
        )
        if head > MAX_HEAD_BYTES:
            # Raised inside the parser's callback: uvicorn answers 400 and closes.
            raise ValueError(f"request head over {MAX_HEAD_BYTES} bytes")
        super().on_headers_complete()

    def _refuse(self) -> None:
        self.logger.warning("%s (head over %d bytes)", _REFUSAL, MAX_HEAD_BYTES)
        self.send_400_response(_REFUSAL)
