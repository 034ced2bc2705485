"""The viewer's ASGI application: one Starlette app whose routes come from the page modules.

``pages`` holds the read-only pages (runs, a run, two runs side by side, a document);
``annotate`` holds human judgments (rubric, assignment, labels, agreement). Both receive the
same :class:`ViewContext`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from evalkit.view.context import ViewContext

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
"""The names a viewer bound to this machine answers to (``evalkit.view.serve`` passes them as ``allowed_hosts``)."""


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
"""Methods that change nothing; every other request (a label POST) must come from the viewer's own pages."""


def foreign_origin(method: str, scheme: str, headers: Any) -> str | None:
    """Why a request that writes (any method but GET, HEAD, OPTIONS) did not come from the viewer's own pages, or
    ``None`` when it did: its ``Origin`` (else its ``Referer``) must be ``scheme://Host`` of the request itself.

    A browser sends ``Origin`` with every cross-site POST, so a page elsewhere cannot post labels here
    ("cross-site request forgery"); a request with neither header is not a browser's form (a script, curl) and
    passes, unless the browser's ``Sec-Fetch-Site`` says it came from another site.
    """
    if method.upper() in SAFE_METHODS:
        return None
    own = f"{scheme}://{headers.get('host', '')}".lower()
    origin = headers.get("origin")
    if origin is None and headers.get("referer"):
        parts = urlsplit(headers["referer"])
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin is None:
        site = headers.get("sec-fetch-site", "same-origin").lower()
        return None if site in ("same-origin", "none") else f"a {site} request"
    return None if origin.rstrip("/").lower() == own else f"a form posted from {origin}"


class SameOriginWrites:
    """ASGI middleware: a write request from another site (:func:`foreign_origin`) gets 403 and one line."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            from starlette.datastructures import Headers
            from starlette.responses import PlainTextResponse

            headers = Headers(scope=scope)
            problem = foreign_origin(scope["method"], scope.get("scheme", "http"), headers)
            if problem:
                message = (f"refused: {problem}, not from this viewer ({scope.get('scheme', 'http')}://"
                           f"{headers.get('host', '?')}); nothing was saved: open the viewer's own page and submit there")
                await PlainTextResponse(message + "\n", status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(root: str | Path, *, store: str | Path | None = None,
               allowed_hosts: Sequence[str] | None = None) -> Any:
    """The Starlette app for the runs under ``root`` (store default: ``root/store.sqlite``).

    ``allowed_hosts``: answer only requests whose ``Host`` header names one of these (a web page that
    re-points its own domain at 127.0.0.1, "DNS rebinding", then gets 400 instead of the runs); ``None``: any.
    A write (a label POST) from another site's page gets 403 (:class:`SameOriginWrites`).
    """
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from evalkit.view import annotate, pages

    root = Path(root)
    context = ViewContext(root=root, store=Path(store) if store else root / "store.sqlite")
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))] if allowed_hosts else []
    middleware.append(Middleware(SameOriginWrites))  # label POSTs only from the viewer's own pages
    app = Starlette(routes=[*pages.routes(context), *annotate.routes(context)], middleware=middleware)
    app.state.context = context  # the server waits for its background work on stopping
    return app
