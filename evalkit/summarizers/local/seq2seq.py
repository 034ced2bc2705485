"""``kind: hf-seq2seq``: an encoder-decoder summarizer (BART, PEGASUS, T5...) run with ``generate``."""

from __future__ import annotations

import math
from typing import Any

from evalkit.core.errors import ModelLoadError
from evalkit.summarizers.base import Request
from evalkit.core.options import Text
from evalkit.summarizers.local.base import T5_FAMILY, LocalOptions, LocalSummarizer
from evalkit.summarizers.local.engine import Part
from evalkit.summarizers.local.loading import Loaded
from evalkit.core.text import count_words

T5_PREFIX = "summarize: "


def _with_specials(tokenizer: Any, text: str, limit: int | None = None) -> list[int]:
    """A seq2seq input: the model's special tokens around ``text`` (whose own ``</s>`` is just text),
    cut to ``limit`` tokens keeping the head."""
    options: dict[str, Any] = {"split_special_tokens": True, "verbose": False}
    if limit is not None:
        options.update(truncation=True, max_length=limit)
    return list(tokenizer(text, **options)["input_ids"])



class Seq2SeqOptions(LocalOptions):
    """Options of :class:`Seq2SeqSummarizer`: a local model's, and the input prefix."""

    prefix: Text | None = None
    """Put before the article (e.g. 'summarize: '); null for automatic (see the class docstring)."""


class Seq2SeqSummarizer(LocalSummarizer):
    """An encoder-decoder model (BART, PEGASUS, T5...) fine-tuned to summarize: article in, summary out.

    ``prefix`` is put before the article; by default ("auto") it is the model config's
    ``task_specific_params.summarization.prefix`` if there is one, else ``"summarize: "`` for
    T5-family models (t5, mt5, umt5, longt5), else nothing.
    """

    kind = "hf-seq2seq"
    auto_class = "AutoModelForSeq2SeqLM"
    uses_minimum = True

    Options = Seq2SeqOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        """Options: see :class:`Seq2SeqOptions`."""
        super().__init__(name, **options)
        self.prefix = self.options.prefix

    def prompt_settings(self) -> dict[str, Any]:
        return {"prefix": self.prefix if self.prefix is not None else "auto"}

    def check_config(self, config: Any) -> None:
        if not getattr(config, "is_encoder_decoder", False):
            raise ModelLoadError(f"{self.kind}: {self._where()} is a decoder-only model ({config.model_type}); "
                                 "use kind: hf-chat for instruct models")

    def prefix_for(self, config: Any) -> str:
        if self.prefix is not None:
            return self.prefix
        task = (getattr(config, "task_specific_params", None) or {}).get("summarization") or {}
        if task.get("prefix"):
            return task["prefix"]
        return T5_PREFIX if getattr(config, "model_type", None) in T5_FAMILY else ""

    def plan(self, loaded: Loaded, request: Request) -> tuple[list[Part], dict[str, Any]]:
        tokenizer, config = loaded.tokenizer, loaded.config
        article = request.document.text
        prefix = self.prefix_for(config)
        article_ids = self.encode(loaded, article)
        budget = self.budget_for(request.target, len(article_ids), count_words(article))
        limit = self.context_limit(config, tokenizer)
        full = _with_specials(tokenizer, prefix + article)
        details: dict[str, Any] = {"input_tokens": len(full), "truncated_tokens": 0, "max_input_tokens": limit,
                                   "max_new_tokens": budget.max_new_tokens, "min_new_tokens": budget.min_new_tokens,
                                   "stop_after_words": budget.stop_after_words,
                                   "tokens_per_word": budget.tokens_per_word, "truncation": self.truncation}
        if prefix:
            details["prefix"] = prefix
        max_new, min_new, after = budget.max_new_tokens, budget.min_new_tokens, budget.stop_after_words
        decoder_limit = self._decoder_limit(config)
        if decoder_limit is not None and max_new > decoder_limit:
            details["max_new_tokens_capped"] = decoder_limit
            max_new = decoder_limit
            min_new = min(min_new, max_new) if min_new is not None else None
        if len(full) <= limit:
            return [(list(full), max_new, min_new, after)], details
        if self.truncation == "truncate":
            kept = _with_specials(tokenizer, prefix + article, limit)
            details["truncated_tokens"] = len(full) - len(kept)
            return [(list(kept), max_new, min_new, after)], details
        overhead = len(full) - len(article_ids)  # special tokens and the prefix
        texts = self.pieces(loaded, article_ids, limit - overhead - 2)
        n = len(texts)
        parts, cut = [], 0
        for text in texts:
            ids = _with_specials(tokenizer, prefix + text)
            if len(ids) > limit:  # decoding and re-encoding a piece can grow it by a token or two
                cut += len(ids) - limit
                ids = _with_specials(tokenizer, prefix + text, limit)
            share_min = math.floor(min_new / n) if min_new else 0
            parts.append((list(ids), max(1, max_new // n), share_min or None, math.ceil(after / n)))
        details.update(chunks=n, truncated_tokens=cut)
        return parts, details

    @staticmethod
    def _decoder_limit(config: Any) -> int | None:
        """How many tokens the decoder can write (None: no absolute positions, as in T5)."""
        if getattr(config, "model_type", None) in T5_FAMILY:
            return None
        positions = getattr(config, "max_position_embeddings", None)
        return positions - 1 if isinstance(positions, int) and positions > 1 else None  # one for the start token

