"""``kind: hf-chat``: an instruct causal model (Qwen, Llama, SmolLM2...) prompted through its chat template.

The prompt and system prompt default to the API models' (:mod:`evalkit.summarizers.prompts`),
so that a local model and an API model are asked the same thing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from pydantic import field_validator

from evalkit.core.errors import ModelLoadError
from evalkit.core.fingerprint import digest
from evalkit.core.options import Text
from evalkit.summarizers.base import Request
from evalkit.summarizers.local.base import LocalOptions, LocalSummarizer, plain_values
from evalkit.summarizers.local.budgets import share_target
from evalkit.summarizers.local.engine import Part
from evalkit.summarizers.local.loading import Loaded
from evalkit.summarizers.prompts import DEFAULT_PROMPT, DEFAULT_SYSTEM_PROMPT, ARTICLE_PLACEHOLDER, check_prompt, user_message
from evalkit.core.text import count_words
from evalkit.core.types import LengthTarget

_THINKING = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)


class ChatOptions(LocalOptions):
    """Options of :class:`ChatSummarizer`: a local model's, and the prompts."""

    system_prompt: Text | None = DEFAULT_SYSTEM_PROMPT
    """The system message; null or empty for none."""
    prompt: Text = DEFAULT_PROMPT
    """The user message; ``{article}`` and ``{target}`` are filled in."""
    chat_template: Text | None = None
    """A Jinja chat template that replaces the tokenizer's; null for the tokenizer's own."""
    chat_template_kwargs: Mapping[str, Any] | None = None
    """Passed to the template (plain values), e.g. ``{enable_thinking: false}``."""

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        check_prompt(value)
        return value

    @field_validator("chat_template")
    @classmethod
    def _chat_template(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("chat_template must be a Jinja template string or null (the tokenizer's own)")
        return value

    @field_validator("chat_template_kwargs")
    @classmethod
    def _chat_template_kwargs(cls, value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        plain_values("chat_template_kwargs", value)
        return value


class ChatSummarizer(LocalSummarizer):
    """A chat-tuned causal model, prompted through its tokenizer's chat template.

    The user message is ``prompt`` with ``{target}`` replaced by the target's description
    ("in about 60 words, in 2 paragraphs") and ``{article}`` by the article; ``system_prompt``
    (``null`` for none) goes first. A template that rejects a system role gets the system
    prompt at the top of the user message instead. ``chat_template`` replaces the tokenizer's
    template; ``chat_template_kwargs`` are passed to it (e.g. ``{enable_thinking: false}``). A
    leading ``<think>...</think>`` block is removed from the reply.
    """

    kind = "hf-chat"
    auto_class = "AutoModelForCausalLM"
    uses_minimum = False

    Options = ChatOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        """Options: see :class:`ChatOptions`."""
        super().__init__(name, **options)
        self.system_prompt = self.options.system_prompt or None
        self.prompt = self.options.prompt
        self.chat_template = self.options.chat_template
        self.chat_template_kwargs = dict(self.options.chat_template_kwargs or {})

    def prompt_settings(self) -> dict[str, Any]:
        return {"system_prompt": self.system_prompt, "prompt": self.prompt,
                "chat_template": digest(self.chat_template) if self.chat_template else "tokenizer",
                "chat_template_kwargs": self.chat_template_kwargs}

    def check_config(self, config: Any) -> None:
        if getattr(config, "is_encoder_decoder", False):
            raise ModelLoadError(f"{self.kind}: {self._where()} is an encoder-decoder model ({config.model_type}); "
                                 "use kind: hf-seq2seq")

    def user_message(self, target: LengthTarget, article: str) -> str:
        return user_message(self.prompt, target, article)

    def render(self, loaded: Loaded, target: LengthTarget) -> tuple[str, str, bool]:
        """The chat-templated prompt around the article: ``(text before, text after, system folded in)``."""
        tokenizer = loaded.tokenizer
        template = self.chat_template or getattr(tokenizer, "chat_template", None)
        if not template:
            raise ModelLoadError(f"{self.kind}: {self._where()} has no chat template (not an instruct model?); give "
                                 "one with the chat_template option, or use hf-seq2seq for a summarization model")
        user = self.user_message(target, ARTICLE_PLACEHOLDER)
        conversations = []
        if self.system_prompt:
            conversations.append(([{"role": "system", "content": self.system_prompt},
                                   {"role": "user", "content": user}], False))
            conversations.append(([{"role": "user", "content": f"{self.system_prompt}\n\n{user}"}], True))
        else:
            conversations.append(([{"role": "user", "content": user}], False))
        error: Exception | None = None
        for messages, folded in conversations:
            try:
                text = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                                     add_generation_prompt=True, **self.chat_template_kwargs)
            except Exception as exc:  # jinja raises its own errors, e.g. "System role not supported"
                error = exc
                continue
            if text.count(ARTICLE_PLACEHOLDER) != 1:
                raise ValueError(f"{self.kind}: the chat template of {self._where()} does not place the user message "
                                 "verbatim; give a chat_template that does")
            before, after = text.split(ARTICLE_PLACEHOLDER)
            return before, after, folded
        raise ValueError(f"{self.kind}: the chat template of {self._where()} failed: {error}")

    def plan(self, loaded: Loaded, request: Request) -> tuple[list[Part], dict[str, Any]]:
        article = request.document.text
        article_ids = self.encode(loaded, article)
        budget = self.budget_for(request.target, len(article_ids), count_words(article))
        context = self.context_limit(loaded.config, loaded.tokenizer)
        positional = getattr(loaded.config, "max_position_embeddings", None) or context
        max_new, stop_after = budget.max_new_tokens, budget.stop_after_words
        details: dict[str, Any] = {"max_new_tokens": max_new, "min_new_tokens": None, "stop_after_words": stop_after,
                                   "tokens_per_word": budget.tokens_per_word, "truncation": self.truncation}
        before, after, folded = self.render(loaded, request.target)
        head, tail = self.encode_template(loaded, before), self.encode_template(loaded, after)
        room = min(context, positional - max_new)  # the prompt and the reply share the positions
        details.update(input_tokens=len(head) + len(article_ids) + len(tail), truncated_tokens=0,
                       max_input_tokens=room)
        if folded:
            details["system_prompt_in_user_message"] = True
        space = room - len(head) - len(tail)
        if space < 1:
            raise ValueError(f"the prompt ({len(head) + len(tail)} tokens without the article) and max_new_tokens "
                             f"({max_new}) do not fit the model's {positional}-token context; shorten the prompt "
                             f"or lower max_new_tokens")
        if len(article_ids) <= space:
            return [(head + article_ids + tail, max_new, None, stop_after)], details
        if self.truncation == "truncate":
            details["truncated_tokens"] = len(article_ids) - space
            return [(head + article_ids[:space] + tail, max_new, None, stop_after)], details
        texts = self.pieces(loaded, article_ids, space - 8)  # room for a longer "{target}" phrase per piece
        n = len(texts)
        piece_target = share_target(request.target, n)
        before, after, _ = self.render(loaded, piece_target)
        head, tail = self.encode_template(loaded, before), self.encode_template(loaded, after)
        space = room - len(head) - len(tail)
        parts, cut = [], 0
        for text in texts:
            ids = self.encode(loaded, text)
            cut += max(0, len(ids) - space)
            parts.append((head + ids[:max(space, 1)] + tail, max(1, max_new // n), None, math.ceil(stop_after / n)))
        details.update(chunks=n, truncated_tokens=cut, chunk_target=piece_target.describe())
        return parts, details

    @staticmethod
    def encode_template(loaded: Loaded, text: str) -> list[int]:
        """Template text, whose control tokens (``<|im_start|>``) are meant as tokens."""
        return list(loaded.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def decode(self, loaded: Loaded, token_ids: list[int]) -> str:
        return _THINKING.sub("", super().decode(loaded, token_ids)).strip()

