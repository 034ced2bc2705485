"""Interruptible, deadline-bound HTTP for the SDK clients.

Closing an httpx client does not wake a thread blocked reading a reply; shutting its socket
down does. :class:`SocketTracker` builds the SDK's default client with a network backend that
remembers its streams, for whichever httpx the SDK is built on. The same streams bound each
request as a whole: httpx's timeout bounds each read, so a server trickling a byte a second
kept a 2 s-timeout request open for minutes; here the reads of one request share one deadline,
counted from its first write, and the read that would pass it fails as a read timeout.
"""

from __future__ import annotations

import importlib
import threading
import time
from typing import Any


class SocketTracker:
    """Remembers the sockets of one HTTP client so that an interrupt can shut down requests in flight.

    Closing an httpx client does not wake a thread blocked reading a reply; shutting its socket
    down does. httpx has no public hook for the network backend, so :meth:`client` sets the
    transport pool's backend (of whichever httpx the SDK is built on); where that is not
    possible, the SDK's own client is used and an interrupted run waits for its requests
    instead (up to the timeout).
    """

    def __init__(self, deadline: float | None = None) -> None:
        """``deadline``: seconds one request (its writes and all its reads) may take, or None for no bound."""
        self._streams: list[Any] = []
        self._lock = threading.Lock()
        self.deadline = deadline

    def client(self, sdk: Any) -> Any | None:
        try:
            base = next(c for c in sdk.DefaultHttpxClient.__mro__[1:] if c.__name__ == "Client")
            httpx = importlib.import_module(base.__module__.split(".")[0])
            transport = httpx.HTTPTransport(limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100))
            pool = transport._pool
            core = importlib.import_module(type(pool).__module__.split(".")[0])
            backend_class = type(pool._network_backend)
        except (AttributeError, ImportError, StopIteration):
            return None
        tracker = self

        class Stream(core.NetworkStream):
            def __init__(self, inner: Any) -> None:
                self.inner = inner
                self.ends: float | None = None
                """When the request now on this connection must be done (set by its first write)."""
                self.reading = True
                with tracker._lock:
                    tracker._streams.append(inner)

            def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
                self.reading = True
                if self.ends is not None:
                    left = self.ends - time.monotonic()
                    if left <= 0:
                        raise core.ReadTimeout(f"no complete reply within the {tracker.deadline:g} s deadline")
                    timeout = left if timeout is None else min(timeout, left)
                return self.inner.read(max_bytes, timeout)

            def write(self, buffer: bytes, timeout: float | None = None) -> None:
                if self.reading and tracker.deadline is not None:  # a new request on this connection
                    self.ends = time.monotonic() + tracker.deadline
                self.reading = False
                self.inner.write(buffer, timeout)

            def close(self) -> None:
                with tracker._lock:
                    if self.inner in tracker._streams:
                        tracker._streams.remove(self.inner)
                self.inner.close()

            def start_tls(self, *args: Any, **kwargs: Any) -> Any:
                return Stream(self.inner.start_tls(*args, **kwargs))

            def get_extra_info(self, info: str) -> Any:
                return self.inner.get_extra_info(info)

        class Backend(backend_class):
            def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
                return Stream(super().connect_tcp(*args, **kwargs))

        pool._network_backend = Backend()
        return sdk.DefaultHttpxClient(transport=transport)

    def abort(self) -> None:
        import socket

        with self._lock:
            streams, self._streams = self._streams, []
        for stream in streams:
            try:
                stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
            except (OSError, AttributeError):
                pass
