"""Tokens and dollars: the price table, the cost of a finished request, an estimate before sending.

Prices are US dollars per million tokens, input (prompt) and output (completion) priced
apart, as the providers bill them. The default table is ``configs/prices.yaml`` (dated; edit
it, or point ``EVALKIT_PRICES`` at a YAML file of the same shape whose entries replace the
defaults, or give a system ``prices: {input: ..., output: ...}``). A model the table does not
know has an unknown cost: ``None`` with a note saying how to add it, never ``0``.

The cost of a request is ``(prompt_tokens * input + completion_tokens * output) / 1e6`` with
the token counts the provider reported in its ``usage``. Before a run, :func:`estimate_cost`
guesses the same from the prompts: tiktoken's count when tiktoken is installed and knows the
model, else one token per four characters (OpenAI's rule of thumb for English text), and the
length target for the completion (about 4/3 tokens per English word), bounded by ``max_tokens``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from evalkit.core.types import LengthTarget

DEFAULT_PRICES = Path(__file__).resolve().parents[1] / "configs" / "prices.yaml"
PRICES_ENV = "EVALKIT_PRICES"
"""Environment variable naming a YAML price file whose entries replace the default ones."""

TOKENS_PER_WORD = 4 / 3
"""Rough tokens per English word (OpenAI: "1 token ~= 3/4 of a word")."""
CHARS_PER_TOKEN = 4
"""Rough characters per token when no tokenizer is available."""
WORDS_PER_SENTENCE = 25
"""Assumed words per sentence when a target counts only sentences (news sentences run 20-30 words)."""
WORDS_PER_PARAGRAPH = 100
"""Assumed words per paragraph when a target counts only paragraphs."""
WORDS_UNCONSTRAINED = 75
"""Assumed length of a summary with no target: three news sentences."""

_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


@dataclass(frozen=True)
class Price:
    """What one model costs."""

    input: float
    """USD per million prompt tokens."""
    output: float
    """USD per million completion tokens."""
    source: str
    """Where the numbers came from, e.g. ``"evalkit default table, as of 2025-08-15"``."""

    def cost(self, tokens_prompt: int, tokens_completion: int) -> float:
        """The cost in USD of a request with these token counts."""
        return (tokens_prompt * self.input + tokens_completion * self.output) / 1_000_000


def parse_price(name: str, entry: Any, label: str, as_of: Any = None) -> Price:
    """A :class:`Price` from ``{input: ..., output: ...}`` (USD per million tokens), checked."""
    source = label
    if not isinstance(entry, Mapping) or set(entry) - {"input", "output", "as_of"} or \
            not {"input", "output"} <= set(entry):
        raise ValueError(f"price for {name!r} ({source}) must be {{input: USD/Mtok, output: USD/Mtok}}, got {entry!r}")
    values = []
    for field in ("input", "output"):
        value = entry[field]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or math.isnan(value):
            raise ValueError(f"price for {name!r} ({source}): {field} must be a number >= 0 (USD per million "
                             f"tokens), got {value!r}")
        values.append(float(value))
    as_of = entry.get("as_of") or as_of
    return Price(values[0], values[1], f"{label}, as of {as_of}" if as_of else label)


def read_price_file(path: str | Path, label: str | None = None) -> dict[str, Price]:
    """The ``models:`` table of one price YAML file."""
    from evalkit.core import yamlsafe

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such price file (set by {PRICES_ENV}?)")
    doc = yamlsafe.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(doc, Mapping) or not isinstance(doc.get("models", {}), Mapping):
        raise ValueError(f"{path}: expected 'models:' mapping model names to {{input: ..., output: ...}}")
    label = label or str(path)
    return {str(name): parse_price(str(name), entry, label, doc.get("as_of"))
            for name, entry in (doc.get("models") or {}).items()}


def load_prices(path: str | Path | None = None) -> dict[str, Price]:
    """The price table: the bundled defaults, then ``path`` (or ``$EVALKIT_PRICES``) over them."""
    table = read_price_file(DEFAULT_PRICES, "evalkit default table")
    extra = path or os.environ.get(PRICES_ENV)
    if extra:
        table.update(read_price_file(extra))
    return table


def price_for(model: str, table: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model``: its own entry, else its base name's for a dated snapshot; None if unknown."""
    table = load_prices() if table is None else table
    if model in table:
        return table[model]
    base = _SNAPSHOT.sub("", model)
    return table.get(base) if base != model else None


def unknown_price_note(model: str) -> str:
    return (f"no price for model {model!r}: add it to a price file named by {PRICES_ENV} "
            f"(USD per million tokens) or give the system prices: {{input: ..., output: ...}}")


# -- token counts -------------------------------------------------------------------
@lru_cache(maxsize=32)
def _encoder(model: str | None):
    if not model:
        return None
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        return tiktoken.encoding_for_model(model)
    except Exception:  # unknown model, or the encoding file cannot be fetched offline
        return None


def token_method(model: str | None) -> str:
    """How :func:`count_tokens` counts for this model: ``tiktoken:<encoding>`` or ``chars/4``."""
    encoder = _encoder(model)
    return f"tiktoken:{encoder.name}" if encoder is not None else f"chars/{CHARS_PER_TOKEN}"


def count_tokens(text: str, model: str | None = None) -> int:
    """A token count for ``text``: exact with tiktoken for OpenAI models, else characters / 4."""
    encoder = _encoder(model)
    if encoder is not None:
        return len(encoder.encode(text, disallowed_special=()))
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def expected_words(target: LengthTarget) -> int:
    """How many words a summary aiming at ``target`` will have, roughly."""
    if target.words is not None:
        return target.words
    if target.sentences is not None:
        return target.sentences * WORDS_PER_SENTENCE
    if target.paragraphs is not None:
        return target.paragraphs * WORDS_PER_PARAGRAPH
    return WORDS_UNCONSTRAINED


# -- before a run ---------------------------------------------------------------------
@dataclass(frozen=True)
class CostEstimate:
    """A guess at what summarizing some requests with one system will cost, before anything is sent."""

    system: str
    model: str | None
    requests: int
    """Requests that would be sent (0 for a system that calls no API)."""
    tokens_prompt: int
    tokens_completion: int
    """Expected completion tokens, from the length targets."""
    tokens_completion_max: int
    """The ceiling: the sum of ``max_tokens``."""
    usd: float | None
    """Expected cost; ``None`` when the model has no price."""
    usd_max: float | None
    """Cost if every completion used all of ``max_tokens``."""
    method: str
    """How prompt tokens were counted (``tiktoken:o200k_base`` or ``chars/4``)."""
    note: str | None = None

    def describe(self) -> str:
        if self.requests == 0:
            return f"{self.system}: no API requests" + (f" ({self.note})" if self.note else "")
        tokens = (f"{self.requests} requests, ~{self.tokens_prompt:,} prompt + ~{self.tokens_completion:,} "
                  f"completion tokens (at most {self.tokens_completion_max:,}; counted by {self.method})")
        if self.usd is None:
            return f"{self.system} ({self.model}): {tokens}; cost unknown: {self.note}"
        return f"{self.system} ({self.model}): {tokens}; about ${self.usd:.4f} (at most ${self.usd_max:.4f})"


def estimate_cost(summarizer: Any, requests: Sequence[Any]) -> CostEstimate:
    """Estimate the cost of sending ``requests`` to ``summarizer`` (pass only those the store lacks).

    Works for any summarizer: one that calls no API (``makes_requests`` false) costs nothing.
    """
    name = getattr(summarizer, "name", type(summarizer).__name__)
    if not getattr(summarizer, "makes_requests", False):
        return CostEstimate(name, None, 0, 0, 0, 0, 0.0, 0.0, "", "runs locally")
    model = summarizer.model
    prompt = completion = completion_max = 0
    for request in requests:
        system, user = summarizer.prompt_parts(request)
        prompt += count_tokens(f"{system}\n\n{user}" if system else user, model)
        ceiling = summarizer.max_tokens_for(request.target)
        completion_max += ceiling
        completion += min(ceiling, math.ceil(expected_words(request.target) * TOKENS_PER_WORD))
    price = summarizer.price
    note = None if price is not None else unknown_price_note(model)
    return CostEstimate(
        system=name, model=model, requests=len(requests), tokens_prompt=prompt, tokens_completion=completion,
        tokens_completion_max=completion_max,
        usd=None if price is None else price.cost(prompt, completion),
        usd_max=None if price is None else price.cost(prompt, completion_max),
        method=token_method(model), note=note,
    )
