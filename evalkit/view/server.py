"""Serving the viewer: uvicorn on a socket bound here, in the foreground (the command) or a thread (notebooks, tests).

The socket is bound before uvicorn starts, so a port already in use is one clear error
(:class:`PortInUse`, naming a free port to pass instead) rather than a log line from inside the server.
The viewer has no authentication: it binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.core.errors import ConfigError
from evalkit.report.history import find_runs
from evalkit.view.app import LOCAL_HOSTS, create_app

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
EXTRA_HINT = "pip install 'evalkit[view]'"


class PortInUse(ConfigError):
    """The port the viewer was asked to listen on is taken; the message names a free one."""


def _require() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"evalkit view needs starlette and uvicorn ({exc.name} is missing): {EXTRA_HINT}") from exc


def free_port(host: str = DEFAULT_HOST, start: int = DEFAULT_PORT, tries: int = 50) -> int | None:
    """The first port from ``start`` on that can be bound on ``host`` now, or ``None`` among ``tries``."""
    for port in range(start, min(start + tries, 65536)):
        with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    return None


def context_of(server: Any) -> Any:
    """The :class:`~evalkit.view.context.ViewContext` of a server :func:`make_server` made."""
    return server.config.app.state.context


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> socket.socket:
    """A listening socket on ``host:port`` (``port=0``: any free port); :class:`PortInUse` when it is taken."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"port {port!r}: a port is a whole number from 1 to 65535 (0: any free one); pass --port 8765")
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a listening port still refuses
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            other = free_port(host, port + 1)
            hint = f" (port {other} is free)" if other else ""
            raise PortInUse(f"port {port} on {host} is already in use; pass another with --port{hint}") from None
        if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
            raise ConfigError(f"cannot listen on {host}: not an address of this machine; pass --host 127.0.0.1") from None
        raise
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    """The URL a bound socket serves at."""
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


@dataclass
class Viewer:
    """A viewer serving in a background thread: its URL, and :meth:`stop` / :meth:`show`."""

    url: str
    """Where it serves, such as ``http://127.0.0.1:8765/``."""
    root: Path
    """The folder of runs it shows."""
    _server: Any = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self, timeout: float = 120.0) -> None:
        """Stop serving, and wait (at most ``timeout`` seconds) for the thread and for pages still being computed
        in the background (numerical libraries can abort the interpreter when it exits under a running thread)."""
        self._server.should_exit = True
        self._thread.join(timeout)
        context_of(self._server).runs.wait(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def show(self, width: str | int = "100%", height: int = 800) -> Any:
        """An ``IPython.display.IFrame`` of the viewer: the last line of a notebook cell shows it inline."""
        try:
            from IPython.display import IFrame
        except ImportError as exc:
            raise ConfigError("Viewer.show needs IPython (a notebook); open the URL in a browser instead: "
                              f"{self.url}") from exc
        return IFrame(self.url, width=width, height=height)


def allowed_hosts(host: str) -> list[str] | None:
    """The ``Host`` names a viewer listening on ``host`` answers to: this machine's names, and ``host`` itself;
    ``None`` (any) for a wildcard address (0.0.0.0, ::), where the user chose to serve other machines."""
    if host in ("0.0.0.0", "::", ""):
        return None
    return list(dict.fromkeys([*LOCAL_HOSTS, host.strip("[]"), f"[{host.strip('[]')}]" if ":" in host else host,
                               "[::1]"]))


def make_server(root: str | Path, store: str | Path | None = None, host: str = DEFAULT_HOST) -> Any:
    """A uvicorn server of the viewer app for the runs under ``root`` (not started), answering as ``host``."""
    _require()
    import uvicorn


    find_runs([Path(root)])  # RUNS missing or holding no run: one clear error before anything listens
    app = create_app(Path(root), store=store, allowed_hosts=allowed_hosts(host))
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    return uvicorn.Server(config)


def serve(root: str | Path, *, store: str | Path | None = None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          background: bool = True) -> Viewer | None:
    """Serve the runs under ``root``: in a thread (``background=True``, returns a :class:`Viewer` once it
    answers) or in this thread until interrupted (returns ``None``). ``port=0`` picks a free port."""
    root = Path(root)
    server = make_server(root, store, host)
    sock = bind(host, port)
    url = url_of(sock, host)
    if not background:
        log.info("evalkit view serving %s at %s", root, url)
        server.run(sockets=[sock])
        return None
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"evalkit-view-{url}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the viewer did not start at {url}; run 'evalkit view {root} -v' to see why")
        time.sleep(0.02)
    return Viewer(url, root, server, thread)


_SHOWN: dict[Path, Viewer] = {}


def show(root: str | Path, *, width: str | int = "100%", height: int = 800, **options: Any) -> Any:
    """One call from a notebook: serve ``root`` in the background (once per folder) and return its IFrame."""
    key = Path(root).resolve()
    viewer = _SHOWN.get(key)
    if viewer is None or not viewer.running:
        viewer = serve(root, background=True, **{"port": 0, **options})
        _SHOWN[key] = viewer
    return viewer.show(width=width, height=height)
