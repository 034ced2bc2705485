"""``evalkit view [RUNS]``: browse stored runs in a local web app (runs, a run, two runs, a document).

Serves :func:`evalkit.view.app.create_app` with uvicorn in the foreground until Ctrl-C, bound to
127.0.0.1 unless ``--host`` says otherwise (the viewer has no authentication: docs/view.md).
"""

from __future__ import annotations

import os
import sys
import threading
import webbrowser
from typing import Any

from evalkit.view.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    bind,
    context_of,
    make_server,
    url_of,
)


def add_commands(subparsers: Any) -> None:
    """``evalkit view [RUNS] [--store S] [--host H] [--port P] [--open]`` (see the module docstring)."""
    parser = subparsers.add_parser("view", help="browse runs in a local web app: runs, a run, two runs, a document")
    parser.add_argument("runs", nargs="?", default="runs", metavar="RUNS",
                        help="a folder of runs, or one run folder (default: runs/)")
    parser.add_argument("--store", help="the SQLite store of the runs (default: RUNS/store.sqlite)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default: {DEFAULT_HOST}, this machine only: there is no login)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    parser.add_argument("--open", action="store_true", help="open the viewer in a web browser")
    parser.set_defaults(func=cmd_view)


def cmd_view(args: Any) -> int:
    server = make_server(args.runs, args.store, args.host)
    sock = bind(args.host, args.port)
    url = url_of(sock, args.host)
    print(f"evalkit view: serving {args.runs} at {url} (Ctrl-C to stop)", flush=True)
    if args.open:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    print("evalkit view: stopped", file=sys.stderr)
    if context_of(server).runs.busy():  # a page still computing: nothing to keep, and an exit under a numerical
        sys.stdout.flush()              # library's running thread can abort; every request was answered by now
        sys.stderr.flush()
        os._exit(0)
    return 0
