"""Range checks for the gate's numeric settings: a value that would disable or stall the gate is refused.

A tolerance of ``.nan`` compares false with everything, so a regression would pass; an
infinite one accepts any loss; ``n_resamples: 1000000000`` runs for hours. The policy calls
these before it keeps a value; each raises :class:`PolicyError` with one line that says what
to write instead.
"""

from __future__ import annotations

import math
from typing import Any

from evalkit.core.errors import PolicyError
from evalkit.core.redact import shown

MAX_RESAMPLES = 1_000_000
"""More resamples than this change a p-value by less than its Monte Carlo error at alpha 0.001 yet take minutes."""


def tolerance(value: Any, where: str) -> float:
    """A tolerance: a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise PolicyError(f"{where} must be a finite number >= 0 (e.g. 0.005), got {shown(value)}")
    return float(value)


def whole(value: Any, where: str, *, low: int, high: int | None = None) -> int:
    """A whole number in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"from {low} to {high:,}".replace(",", "_") if high is not None else f">= {low}"
        raise PolicyError(f"{where} must be a whole number {bound}, got {shown(value)}")
    return value


def n_resamples(value: Any, where: str) -> int:
    """Resamples of the permutation or bootstrap test: 1 to :data:`MAX_RESAMPLES`."""
    return whole(value, where, low=1, high=MAX_RESAMPLES)
