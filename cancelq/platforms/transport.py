"""A total deadline under ``requests``: every socket wait of one exchange capped by the time it has left.

``requests`` bounds each socket operation (connect, one ``recv``), never a whole
exchange: a platform that trickles its answer, each piece within the read
timeout, holds the caller for as long as it likes. Two pieces close that gap:

- ``Budget``, a urllib3 ``Timeout`` carrying a ``time.monotonic()`` deadline: the
  connect timeout and the first read timeout never outlast it. Any session
  accepts it, so with any session the header read starts capped and
  ``HttpClient`` checks the deadline between the body's reads.
- ``DeadlineAdapter`` (mounted by ``new_session``): its connections read the
  answer, status line and headers included, through a reader that re-caps the
  socket timeout before every ``recv`` and refuses to wait past the deadline.
  With it a trickle ends at the deadline, give or take one scheduling tick.
"""

from __future__ import annotations

import http.client
import io
import time
from typing import Any, Protocol

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.timeout import Timeout

MIN_WAIT_S = 0.001
"""A socket timeout of 0 means non-blocking: the smallest wait we hand a socket."""


class _Socket(Protocol):
    def makefile(self, mode: str) -> Any: ...

    def settimeout(self, value: float | None) -> None: ...


class ReadBudget(float):
    """The read timeout urllib3 sets on a connection, carrying the deadline it was cut from."""

    deadline: float
    read_s: float

    def __new__(cls, value: float, *, deadline: float, read_s: float) -> ReadBudget:
        budget = super().__new__(cls, value)
        budget.deadline = deadline
        budget.read_s = read_s
        return budget


class Budget(Timeout):
    """Connect and read timeouts that never run past ``deadline`` (a ``time.monotonic()`` instant)."""

    def __init__(self, *, connect_s: float, read_s: float, deadline: float) -> None:
        super().__init__(connect=connect_s, read=read_s)
        self.connect_s = connect_s
        self.read_s = read_s
        self.deadline = deadline

    def clone(self) -> Budget:
        return Budget(connect_s=self.connect_s, read_s=self.read_s, deadline=self.deadline)

    def left_s(self) -> float:
        return self.deadline - time.monotonic()

    @property
    def connect_timeout(self) -> float:
        return max(MIN_WAIT_S, min(self.connect_s, self.left_s()))

    @property
    def read_timeout(self) -> float:
        left = self.left_s()
        if left <= 0:
            return 0.0  # urllib3 answers a zero read timeout with ReadTimeoutError, before any wait
        return ReadBudget(min(self.read_s, left), deadline=self.deadline, read_s=self.read_s)


class _PacedReader(io.RawIOBase):
    """The socket's raw reader, each ``recv`` given at most what is left of the deadline."""

    def __init__(self, raw: io.RawIOBase, sock: _Socket, *, deadline: float, read_s: float) -> None:
        super().__init__()
        self._raw = raw
        self._sock = sock
        self._deadline = deadline
        self._read_s = read_s

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the answer did not complete within its total deadline")
        self._sock.settimeout(max(MIN_WAIT_S, min(self._read_s, left)))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _PacedSocket:
    """What ``http.client.HTTPResponse`` is given instead of the socket: it only calls ``makefile``."""

    def __init__(self, sock: _Socket, budget: ReadBudget) -> None:
        self._sock = sock
        self._budget = budget

    def makefile(self, mode: str) -> io.BufferedReader:
        raw = self._sock.makefile(mode).detach()  # the SocketIO, holding its reference on the socket
        reader = _PacedReader(raw, self._sock, deadline=self._budget.deadline, read_s=self._budget.read_s)
        return io.BufferedReader(reader)


class _Paced:
    """Connection mixin: answers are read through ``_PacedReader`` when the request came with a ``Budget``."""

    timeout: Any

    def response_class(self, sock: Any, *args: Any, **kwargs: Any) -> http.client.HTTPResponse:
        budget = self.timeout
        if isinstance(budget, ReadBudget):
            sock = _PacedSocket(sock, budget)
        return http.client.HTTPResponse(sock, *args, **kwargs)


class _PacedHTTPConnection(_Paced, HTTPConnection):  # type: ignore[misc]
    pass


class _PacedHTTPSConnection(_Paced, HTTPSConnection):  # type: ignore[misc]
    pass


class _PacedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PacedHTTPConnection


class _PacedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PacedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose pools read answers against the request's ``Budget``."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PacedHTTPPool, "https": _PacedHTTPSPool}
