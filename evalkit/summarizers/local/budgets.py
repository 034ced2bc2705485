"""Token budgets: how many tokens one request may generate, derived from its length target.

The expected length is ``W`` words (:func:`evalkit.hosted.pricing.expected_words`: the target's
``words``, else 25 per sentence, else 100 per paragraph, else 75). ``tokens_per_word`` is
measured on the source (its tokens / its words, rounded *up* to a multiple of 0.25, kept
within 1..4; 1.4 when the source has no words), or fixed by the option. Then
``max_new_tokens = max(ceil(W * tokens_per_word * 1.5), ceil((W + 25) * tokens_per_word))``
(``* 2.0`` for an ``at_least`` word target): the headroom, but never less than one average
sentence (25 words) past the target, so that a model can end the sentence it is in. For
seq2seq models only, ``min_new_tokens = floor(0.5 * ceil(W * tokens_per_word * headroom))``
when the target counts words with bound ``about``, ``at_least`` or ``exactly``.

A budget also says when to stop on a sentence end: ``stop_after_words = ceil(f * W)`` with
``f`` 0.9 (``about``, ``exactly`` and targets without words: the low end of ``about``'s ±10 %),
1.0 (``at_least``) or 0.75 (``at_most``). Generation stops at the first sentence end after that
many words (:class:`evalkit.summarizers.local.engine.SentenceStop`), and a text that still
reaches ``max_new_tokens`` is trimmed back to its last complete sentence.
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

SENTENCE_ROOM_WORDS = WORDS_PER_SENTENCE
"""``max_new_tokens`` leaves at least this many words past the target, to end the sentence."""
STOP_FRACTION = {"about": 0.9, "exactly": 0.9, "at_least": 1.0, "at_most": 0.75}
"""Generation stops at a sentence end once the text has this fraction of the target's words (by bound)."""
UNCOUNTED_STOP_FRACTION = 0.9
"""The same for a target without a word count (sentences, paragraphs, none): of its expected words."""

BUDGET_RULE = {"headroom": HEADROOM, "sentence_room_words": SENTENCE_ROOM_WORDS, "stop_fraction": STOP_FRACTION,
               "uncounted_stop_fraction": UNCOUNTED_STOP_FRACTION, "at_least_headroom": AT_LEAST_HEADROOM, "min_fraction": MIN_FRACTION,
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
    stop_after_words: int
    """Generation stops at the first sentence end once the text has this many words."""


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
    with_headroom = max(1, math.ceil(words * tokens_per_word * headroom))
    if max_new_tokens is not None:
        maximum = with_headroom = max_new_tokens
    else:
        maximum = max(with_headroom, math.ceil((words + SENTENCE_ROOM_WORDS) * tokens_per_word))
    minimum = min_new_tokens
    if minimum is None and with_minimum and target.words is not None and target.bound in ("about", "at_least",
                                                                                          "exactly"):
        minimum = math.floor(MIN_FRACTION * with_headroom)
    if minimum is not None:
        minimum = min(minimum, maximum) or None
    fraction = STOP_FRACTION[target.bound] if target.words is not None else UNCOUNTED_STOP_FRACTION
    return Budget(maximum, minimum, tokens_per_word, words, max(1, math.ceil(fraction * words - 1e-9)))


def share_target(target: LengthTarget, parts: int) -> LengthTarget:
    """The part of ``target`` that one of ``parts`` chunks should produce."""
    words = math.ceil(expected_words(target) / parts)
    bound = target.bound if target.words is not None else "about"
    return LengthTarget(words=max(words, 1), bound=bound)
