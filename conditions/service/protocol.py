"""uvicorn's HTTP protocol with ``TCP_NODELAY`` on every connection.

asyncio sets ``TCP_NODELAY`` on accepted connections only when the listening socket was created
with ``proto=IPPROTO_TCP``.  uvicorn creates its socket without it whenever it binds the socket
itself for several workers (``--workers 2``), and then every response whose headers and body go
out in two writes can wait ~40 ms for the client's delayed ACK (Nagle's algorithm) under load:
measured with 2 workers, h11 and the asyncio loop, 350 instead of 2,300 lookups/s.  uvloop (with
``uvicorn[standard]``) switches Nagle off by itself; the asyncio loop does not.  ``conddb serve``
therefore runs uvicorn with ``http="conditions.service.protocol:NoDelayHTTPProtocol"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol  # httptools if installed, else h11


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """The fastest available uvicorn HTTP protocol, with Nagle's algorithm switched off."""

    def connection_made(self, transport: asyncio.Transport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # e.g. a socket already closed by the peer
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
