"""The viewer's ASGI application: one Starlette app whose routes come from the page modules.

``pages`` holds the read-only pages (runs, a run, two runs side by side, a document);
``annotate`` holds human judgments (rubric, assignment, labels, agreement). Both receive the
same :class:`ViewContext`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.view.context import ViewContext


def create_app(root: str | Path, *, store: str | Path | None = None) -> Any:
    """The Starlette app for the runs under ``root`` (store default: ``root/store.sqlite``)."""
    from starlette.applications import Starlette

    from evalkit.view import annotate, pages

    root = Path(root)
    context = ViewContext(root=root, store=Path(store) if store else root / "store.sqlite")
    return Starlette(routes=[*pages.routes(context), *annotate.routes(context)])
