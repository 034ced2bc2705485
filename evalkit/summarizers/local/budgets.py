"""Token budgets: how many tokens one request may generate, derived from its length target.

The expected length is ``W`` words (:func:`evalkit.hosted.pricing.expected_words`: the target's
``words``, else 25 per sentence, else 100 per paragraph, else 75). ``tokens_per_word`` is
measured on the source (its tokens / its words, rounded *up* to a multiple of 0.25, kept
within 1..4; 1.4 when the source has no words), or fixed by the option. Then
``max_new_tokens = ceil(W * tokens_per_word * 1.5)`` (``* 2.0`` for an ``at_least`` word
target) and, for seq2seq models only, ``min_new_tokens = floor(0.5 * max_new_tokens)`` when
the target counts words with bound ``about``, ``at_least`` or ``exactly``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from evalkit.hosted.pricing import WORDS_PER_PARAGRAPH, WORDS_PER_SENTENCE, WORDS_UNCONSTRAINED, expected_words
from evalkit.core.types import LengthTarget

DEFAULT_TOKENS_PER_WORD = 1.4
"""Tokens per word when the source has no words to measure on."""
TOKENS_PER_WORD_STEP = 0.25
"""A measured ratio is rounded up to a multiple of this, so that requests share budgets (and batches)."""
TOKENS_PER_WORD_RANGE = (1.0, 4.0)
HEADROOM = 1.5
"""``max_new_tokens`` is this many times the expected token count."""
AT_LEAST_HEADROOM = 2.0
"""The same for an ``at_least`` word target, whose summaries may run long."""
MIN_FRACTION = 0.5
"""A seq2seq ``min_new_tokens`` is this fraction of ``max_new_tokens`` (about, at_least, exactly)."""

BUDGET_RULE = {"headroom": HEADROOM, "at_least_headroom": AT_LEAST_HEADROOM, "min_fraction": MIN_FRACTION,
               "tokens_per_word_default": DEFAULT_TOKENS_PER_WORD, "tokens_per_word_step": TOKENS_PER_WORD_STEP,
               "tokens_per_word_range": list(TOKENS_PER_WORD_RANGE), "words_per_sentence": WORDS_PER_SENTENCE,
               "words_per_paragraph": WORDS_PER_PARAGRAPH, "words_unconstrained": WORDS_UNCONSTRAINED}
"""Every constant of the rule, for the fingerprint."""


@dataclass(frozen=True)
class Budget:
    """How many tokens one request may generate."""

    max_new_tokens: int
    min_new_tokens: int | None
    """``None``: the model may stop whenever it likes."""
    tokens_per_word: float
    words: int
    """The expected summary length in words the budget was derived from."""


def measure_tokens_per_word(n_tokens: int, n_words: int) -> float:
    """The source's tokens per word, rounded up to a multiple of 0.25 and kept within 1..4."""
    if n_words <= 0 or n_tokens <= 0:
        return DEFAULT_TOKENS_PER_WORD
    ratio = math.ceil(n_tokens / n_words / TOKENS_PER_WORD_STEP - 1e-9) * TOKENS_PER_WORD_STEP
    return min(max(ratio, TOKENS_PER_WORD_RANGE[0]), TOKENS_PER_WORD_RANGE[1])


def token_budget(target: LengthTarget, tokens_per_word: float, *, with_minimum: bool,
                 max_new_tokens: int | None = None, min_new_tokens: int | None = None) -> Budget:
    """The generation budget for ``target`` (the rule is in the module docstring).

    ``with_minimum`` is True for seq2seq models; explicit ``max_new_tokens`` /
    ``min_new_tokens`` replace the derived values.
    """
    words = expected_words(target)
    headroom = AT_LEAST_HEADROOM if target.words is not None and target.bound == "at_least" else HEADROOM
    maximum = max_new_tokens if max_new_tokens is not None else max(1, math.ceil(words * tokens_per_word * headroom))
    minimum = min_new_tokens
    if minimum is None and with_minimum and target.words is not None and target.bound in ("about", "at_least",
                                                                                          "exactly"):
        minimum = math.floor(MIN_FRACTION * maximum)
    if minimum is not None:
        minimum = min(minimum, maximum) or None
    return Budget(maximum, minimum, tokens_per_word, words)


def share_target(target: LengthTarget, parts: int) -> LengthTarget:
    """The part of ``target`` that one of ``parts`` chunks should produce."""
    words = math.ceil(expected_words(target) / parts)
    bound = target.bound if target.words is not None else "about"
    return LengthTarget(words=max(words, 1), bound=bound)
