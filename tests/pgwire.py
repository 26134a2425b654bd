"""A TCP proxy in front of the test cluster that counts the round trips its clients make.

A round trip is a message after which a PostgreSQL client waits for the server's answer: a Sync (every statement
sent alone ends with one; a pipeline sends one for all its statements), a Flush request (psycopg's, to read a
pipeline's answers so far; not one right behind a Sync, which psycopg sends as a pipeline ends: the server answers
both at once) or a simple Query. The proxy reads the protocol's messages from the client's side (after the untyped
start-up ones: SSL and GSS requests, the start-up message) and counts those, whatever code sent them.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from assistant import pg

WAITED_FOR = {b"S", b"H", b"Q"}  # Sync, Flush, Query
_REQUESTS = {80877103, 80877104}  # SSLRequest, GSSENCRequest: the server answers one byte, start-up follows


class RoundTrips:
    """Counts every client's round trips through 127.0.0.1:`port` to `target_port`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.count = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, name="pgwire-accept", daemon=True).start()

    def location(self, location: pg.Location) -> pg.Location:
        """`location` reached through the proxy."""
        url = location.url.replace(f":{self.target_port}/", f":{self.port}/")
        return pg.Location(url, location.password)

    def close(self) -> None:
        self._closed = True
        for sock in [self._server, *self._sockets]:
            sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, server]
            threading.Thread(target=self._client_side, args=(client, server), daemon=True).start()
            threading.Thread(target=_pump, args=(server, client), daemon=True).start()

    def _client_side(self, client: socket.socket, server: socket.socket) -> None:
        """Forward what the client sends, counting the messages it then waits on."""
        buffer = b""
        started = False
        last = b""
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                _close(server)
                return
            buffer += data
            while True:
                if not started:  # untyped: length, then a request code or the protocol version
                    if len(buffer) < 8:
                        break
                    length, code = struct.unpack("!ii", buffer[:8])
                    if len(buffer) < length:
                        break
                    buffer = buffer[length:]
                    started = code not in _REQUESTS
                    continue
                if len(buffer) < 5:
                    break
                kind, length = buffer[:1], struct.unpack("!i", buffer[1:5])[0]
                if len(buffer) < 1 + length:
                    break
                buffer = buffer[1 + length :]
                if kind in WAITED_FOR and not (kind == b"H" and last == b"S"):
                    with self._lock:
                        self.count += 1
                last = kind
            # Forwarded only once counted: the server's answer, so the client's next step, cannot come before the
            # count (a test reading the count right after a statement read it one short, then one over after a batch).
            try:
                server.sendall(data)
            except OSError:
                _close(client)
                return


def _pump(source: socket.socket, target: socket.socket) -> None:
    while True:
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        if not data:
            _close(target)
            return
        try:
            target.sendall(data)
        except OSError:
            _close(source)
            return


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the other side closed it already: the connection is over either way
        sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def round_trips(target_port: int) -> Iterator[RoundTrips]:
    proxy = RoundTrips(target_port)
    try:
        yield proxy
    finally:
        proxy.close()
