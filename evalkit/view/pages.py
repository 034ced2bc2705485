"""The viewer's read-only pages: runs, one run, two runs side by side, one document."""

from __future__ import annotations

from typing import Any

from evalkit.view.context import ViewContext


def routes(context: ViewContext) -> list[Any]:
    """The read-only pages' routes."""
    return []
