"""The judge's token budget: how much of an article fits one request, and the article in chunks that fit.

A judge request holds the rubric's system message, the prompt with the article and the summary, and
room for the reply (``max_tokens``); all of it must fit the model's context window. The window comes
from the ``context_tokens`` option, else from :data:`KNOWN_CONTEXTS` (a small table of published
context lengths, matched on the model id's normalized prefix), else :data:`DEFAULT_CONTEXT` with a
note. Tokens are counted with the model's own tokenizer when one is given (``tokenizer:``, a local
folder or hub id, loaded with ``transformers``), else with :func:`evalkit.hosted.pricing.count_tokens`
(tiktoken for OpenAI models when installed, otherwise a conservative ``ceil(characters / 4)``);
``info["token_count"]`` says which.

An article over the budget is split on sentence boundaries (:func:`evalkit.core.text.sentences`)
into consecutive chunks that each fit; a single sentence longer than the budget is split on word
boundaries. Nothing is cut away: every word of the article is in exactly one chunk. How the chunk
verdicts combine is the judge's (:mod:`evalkit.metrics.judge`): the rule of MiniCheck (Tang et al.
2024) and SummaC (Laban et al. 2022), a claim is supported when any chunk supports it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from evalkit.core.errors import ConfigError
from evalkit.core.families import normalize_model
from evalkit.core.text import sentences, word_spans

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = 8192
"""The context assumed for a model that is neither configured nor in :data:`KNOWN_CONTEXTS`."""
TEMPLATE_TOKENS = 32
"""Room kept for the chat template's own tokens (role markers, separators) around the messages."""
MIN_ARTICLE_TOKENS = 64
"""Below this, an article budget is too small to judge anything: a configuration error."""
KNOWN_CONTEXTS: tuple[tuple[str, int], ...] = (
    ("gpt-4o", 128_000), ("gpt-4.1", 1_047_576), ("gpt-4-turbo", 128_000), ("gpt-4-32k", 32_768), ("gpt-4", 8_192),
    ("gpt-3.5-turbo", 16_385), ("gpt-5", 400_000), ("o1", 200_000), ("o3", 200_000), ("o4-mini", 200_000),
    ("claude", 200_000), ("smollm2", 8_192), ("smollm", 2_048), ("llama-3.1", 131_072), ("llama-3.2", 131_072),
    ("llama-3.3", 131_072), ("llama-3", 8_192), ("llama-2", 4_096), ("qwen2.5", 32_768), ("qwen3", 32_768),
    ("mistral", 32_768), ("gemma-3", 131_072), ("gemma-2", 8_192), ("gemma", 8_192),
)
"""(normalized model-id prefix, context tokens) from the providers' model cards; first match wins, so a longer
prefix comes before a shorter one. A model id is normalized as
:func:`evalkit.core.families.normalize_model` does."""


@dataclass(frozen=True)
class Context:
    """How many tokens one judge request may hold, and where that number came from."""

    tokens: int
    """The model's context window in tokens."""
    source: str
    """``option``, ``known model table`` or ``default (model not in the table)``."""


def context_for(model: str, configured: int | None) -> Context:
    """The context window of ``model``: the configured one, the table's, or :data:`DEFAULT_CONTEXT`."""
    if configured is not None:
        return Context(configured, "option")
    name = normalize_model(model)
    for prefix, tokens in KNOWN_CONTEXTS:
        if name.startswith(prefix):
            return Context(tokens, "known model table")
    log.info("judge model %s is not in the context table: assuming %d tokens; set context_tokens to say",
             model, DEFAULT_CONTEXT)
    return Context(DEFAULT_CONTEXT, f"default {DEFAULT_CONTEXT} (model not in the table; set context_tokens)")


@dataclass(frozen=True)
class Counter:
    """Counts tokens of a text, and says how."""

    count: Callable[[str], int]
    """Text -> tokens."""
    method: str
    """``tokenizer:<name>``, ``tiktoken:<encoding>`` or ``chars/4``."""


@lru_cache(maxsize=4)
def _hf_tokenizer(name: str):
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise ConfigError("llm-judge: tokenizer: needs transformers; pip install 'evalkit[local]'") from exc
    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"llm-judge: tokenizer {name!r} could not be loaded ({type(exc).__name__}); give a local "
                          "model folder or hub id with a tokenizer, or drop tokenizer: for a chars/4 estimate") from exc


def token_counter(model: str, tokenizer: str | None) -> Counter:
    """The model's tokenizer when ``tokenizer`` names one, else tiktoken (OpenAI models) or characters / 4."""
    if tokenizer:
        loaded = _hf_tokenizer(tokenizer)
        return Counter(lambda text: len(loaded(text, add_special_tokens=False)["input_ids"]), f"tokenizer:{tokenizer}")
    from evalkit.hosted.pricing import count_tokens, token_method

    return Counter(lambda text: count_tokens(text, model), token_method(model))


def chunk_text(text: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """``text`` as consecutive pieces of at most ``budget`` tokens each, split between sentences where possible.

    The pieces together hold every word of ``text`` in order (sentences joined by one space).
    """
    if budget < 1:
        raise ValueError(f"chunk_text: budget must be at least 1 token, got {budget}")
    if count(text) <= budget:
        return [text]
    pieces: list[str] = []
    for sentence in sentences(text):
        pieces.extend([sentence] if count(sentence) <= budget else _split_words(sentence, budget, count))
    chunks: list[str] = []
    current: list[str] = []
    for piece in pieces:
        if current and count(" ".join([*current, piece])) > budget:
            chunks.append(" ".join(current))
            current = []
        current.append(piece)
    if current:
        chunks.append(" ".join(current))
    return chunks


def _split_words(sentence: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """A sentence longer than the budget, split between words (a single word over budget stays whole)."""
    spans = word_spans(sentence)
    out: list[str] = []
    start = 0
    while start < len(spans):
        end = start + 1
        while end < len(spans) and count(sentence[spans[start][0]:spans[end][1]]) <= budget:
            end += 1
        out.append(sentence[spans[start][0]:spans[end - 1][1]])
        start = end
    return out


def article_budget(context: Context, max_tokens: int, frames: Sequence[str], count: Callable[[str], int],
                   what: str) -> int:
    """Tokens left for the article in the largest of ``frames`` (system + prompt without the article)."""
    used = max((count(f) for f in frames), default=0) + max_tokens + TEMPLATE_TOKENS
    budget = context.tokens - used
    if budget < MIN_ARTICLE_TOKENS:
        raise ConfigError(f"{what}: context_tokens {context.tokens} leaves {budget} tokens for the article after the "
                          f"prompt and reply ({used}); raise context_tokens (the model's context) or shorten the rubric")
    return budget
