"""The viewer's ASGI application: one Starlette app whose routes come from the page modules.

``pages`` holds the read-only pages (runs, a run, two runs side by side, a document);
``annotate`` holds human judgments (rubric, assignment, labels, agreement). Both receive the
same :class:`ViewContext`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalkit.view.context import ViewContext

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
"""The names a viewer bound to this machine answers to (``evalkit.view.serve`` passes them as ``allowed_hosts``)."""


def create_app(root: str | Path, *, store: str | Path | None = None,
               allowed_hosts: Sequence[str] | None = None) -> Any:
    """The Starlette app for the runs under ``root`` (store default: ``root/store.sqlite``).

    ``allowed_hosts``: answer only requests whose ``Host`` header names one of these (a web page that
    re-points its own domain at 127.0.0.1, "DNS rebinding", then gets 400 instead of the runs); ``None``: any.
    """
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from evalkit.view import annotate, pages

    root = Path(root)
    context = ViewContext(root=root, store=Path(store) if store else root / "store.sqlite")
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))] if allowed_hosts else []
    app = Starlette(routes=[*pages.routes(context), *annotate.routes(context)], middleware=middleware)
    app.state.context = context  # the server waits for its background work on stopping
    return app
