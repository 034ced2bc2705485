"""What a run's API summaries cost, added up from the ``cost_usd`` each summary's details carry.

The price of one request is computed when it arrives (:mod:`evalkit.hosted.pricing`); this
module only adds the recorded numbers up, so the report layer can show cost without the
transport.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from evalkit.core.types import Summary


@dataclass(frozen=True)
class CostTotal:
    """What the API summaries of a run cost, from the usage the providers reported."""

    requests: int
    """Summaries an API model produced (failed requests are not counted: no usage is reported for them)."""
    tokens_prompt: int
    tokens_completion: int
    usd: float | None
    """Sum over the priced summaries; ``None`` when there are API summaries but none is priced."""
    unpriced: int
    """Summaries whose cost is unknown (no price for the model, or no usage reported); not in ``usd``."""
    usd_from_store: float
    """The part of ``usd`` spent by earlier runs (summaries served from the store)."""

    def describe(self) -> str:
        if self.requests == 0:
            return "API cost: none (no API models in this run)"
        tokens = f"{self.tokens_prompt:,} prompt + {self.tokens_completion:,} completion tokens"
        if self.usd is None:
            return f"API cost: unknown ({tokens}; see the summaries' cost_note: usually no price for the model)"
        text = f"API cost: {'at least ' if self.unpriced else ''}${self.usd:.4f} ({tokens})"
        if self.usd_from_store:
            text += f"; ${self.usd_from_store:.4f} of it spent by earlier runs (served from the store)"
        if self.unpriced:
            text += f"; the cost of {self.unpriced} summaries is unknown (see their cost_note)"
        return text


def _details(items: Any) -> Iterable[Mapping[str, Any]]:
    if hasattr(items, "to_dict") and hasattr(items, "columns"):  # a Run.summaries DataFrame
        items = items.to_dict("records")
    for item in items:
        details = item.details if isinstance(item, Summary) else item.get("details", {})
        yield details if isinstance(details, Mapping) else {}


def total_cost(summaries: Iterable[Summary] | Iterable[Mapping[str, Any]] | Any) -> CostTotal:
    """Add up ``details["cost_usd"]`` of API summaries (Summary objects, row dicts or ``Run.summaries``)."""
    requests = prompt = completion = unpriced = 0
    usd = from_store = 0.0
    priced = 0
    for details in _details(summaries):
        if "cost_usd" not in details:
            continue  # not made by an API model
        requests += 1
        prompt += details.get("tokens_prompt") or 0
        completion += details.get("tokens_completion") or 0
        cost = details["cost_usd"]
        if cost is None:
            unpriced += 1
            continue
        priced += 1
        usd += cost
        if details.get("cached"):
            from_store += cost
    return CostTotal(requests, prompt, completion, usd if priced or not unpriced else None, unpriced, from_store)
