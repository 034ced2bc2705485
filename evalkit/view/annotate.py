"""Human judgments in the viewer: rubric, assignment, pointwise and pairwise labels, agreement."""

from __future__ import annotations

from typing import Any

from evalkit.view.context import ViewContext


def routes(context: ViewContext) -> list[Any]:
    """The annotation pages' and label API's routes."""
    return []
