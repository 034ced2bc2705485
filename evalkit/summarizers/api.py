"""API models: OpenAI-compatible chat completions and Anthropic messages, through the official SDKs.

``kind: openai`` speaks the OpenAI chat-completions wire format with any ``base_url``, so the
same class serves OpenAI, Azure OpenAI (``https://<resource>.openai.azure.com/openai/v1/``),
OpenRouter, Together, Groq, vLLM, Ollama and llama.cpp. ``kind: anthropic`` speaks Anthropic's
messages API. The prompt carries the length target (``{target}`` becomes
:meth:`LengthTarget.describe`, e.g. "in about 60 words") and ``max_tokens`` is derived from it
unless given.

How requests behave (see ``docs/api-models.md``): retries with backoff and ``Retry-After``,
permanent errors marked ``details["permanent"]`` with ``details["credential"]`` (a hash of the
key, see :meth:`APISummarizer.credential_id`), a circuit breaker after repeated connection
failures, a thread pool that hands each summary to ``sink`` the moment its reply arrives and
stops cleanly on an interrupt, keys read only from ``api_key_env`` and never written anywhere,
and a password in ``base_url`` redacted everywhere: all in :mod:`evalkit.hosted.client`, shared with
the LLM-judge metric. **Replay** is the runner's policy (``Experiment.replay_only``,
``EVALKIT_OFFLINE=1``): these classes declare ``makes_requests`` and the runner never hands them
a request it may not send. **Cost**: each summary's ``details`` has ``tokens_prompt``,
``tokens_completion`` (the provider's ``usage``), ``cost_usd`` (``None`` with ``cost_note`` for an
unpriced model), ``latency_s`` (the successful attempt), ``attempts``, ``model`` (as the provider
named it), ``finish_reason`` and ``truncated``, and, as local models record them, ``stop_reason``
(``length`` when the provider says the budget ended the reply: OpenAI ``finish_reason: length``,
Anthropic ``stop_reason: max_tokens``; else ``stop``). Whether a reply that hit the budget ends
mid-sentence is read from its text where it matters (the entities metric), not recorded here: an
API summary depends on no text rule of evalkit's, so its fingerprint carries none, and a change
to the sentence rules never re-sends a paid request.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator

from evalkit.core.fingerprint import document_hash
from evalkit.core.options import Number, Text, Whole
from evalkit.core.seeds import sample_seed
from evalkit.core.types import LengthTarget, Summary
from evalkit.hosted.client import AnthropicTransport, OpenAITransport, Outcome, Transport
from evalkit.hosted.options import TransportOptions
from evalkit.hosted.pricing import TOKENS_PER_WORD, Price, expected_words
from evalkit.summarizers.base import Request, Sink, Summarizer
from evalkit.summarizers.prompts import DEFAULT_PROMPT, DEFAULT_SYSTEM_PROMPT, check_prompt

log = logging.getLogger(__name__)

_ARTICLE = "\x00article\x00"


def derive_max_tokens(target: LengthTarget) -> int:
    """A completion budget that a summary meeting ``target`` never reaches.

    Twice the expected token count (room for overshoot and for languages that take more
    tokens per word), doubled again for an ``at_least`` word target, plus 64.
    """
    words = expected_words(target) * (2 if target.words is not None and target.bound == "at_least" else 1)
    return math.ceil(2 * words * TOKENS_PER_WORD) + 64


class APIOptions(TransportOptions):
    """Options of an API summarizer: the transport's, and the prompts."""

    system_prompt: Text | None = DEFAULT_SYSTEM_PROMPT
    """The system message; null or empty for none."""
    prompt: Text = DEFAULT_PROMPT
    """The user message; ``{article}`` and ``{target}`` are filled in."""
    max_tokens: Annotated[Whole, Field(ge=1)] | None = None
    """The completion budget; null derives it from the target (:func:`derive_max_tokens`)."""

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        check_prompt(value)
        return value


class OpenAIOptions(APIOptions):
    """Options of :class:`OpenAISummarizer`."""

    max_tokens_field: Text = "max_tokens"
    """``max_completion_tokens`` for OpenAI reasoning models (o-series, gpt-5)."""
    extra_body: dict[str, Any] | None = None
    """More request fields for a server's own parameters, e.g. ``{top_k: 40}`` (vLLM) or, for ``transformers
    serve`` (which samples only when asked), ``{generation_config: '{"do_sample": true}'}``."""

    def transport_options(self) -> dict[str, Any]:
        return {**super().transport_options(), "max_tokens_field": self.max_tokens_field,
                "extra_body": self.extra_body}


class AnthropicOptions(APIOptions):
    """Options of :class:`AnthropicSummarizer`."""

    temperature: Annotated[Number, Field(ge=0, le=2)] | None = None
    """Not sent unless given: Anthropic deprecated it, and newer models answer 400."""


class APISummarizer(Summarizer):
    """What OpenAI-format and Anthropic summarizers share: prompts and the transport."""

    makes_requests: ClassVar[bool] = True
    """The experiment's replay-only mode refuses to call a summarizer with this set."""
    version = "1"
    transport_class: ClassVar[type[Transport]]
    Options: ClassVar[type[APIOptions]] = APIOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        """Options: see :class:`APIOptions` and :class:`~evalkit.hosted.options.TransportOptions`."""
        super().__init__(name)
        self.options = self.Options.parse(options, self.kind)
        self.transport = self.transport_class(**self.options.transport_options(), label=self.name)
        self.system_prompt = self.options.system_prompt or None
        self.prompt = self.options.prompt
        self.max_tokens = self.options.max_tokens

    @property
    def model(self) -> str:
        return self.transport.model

    @property
    def price(self) -> Price | None:
        return self.transport.price

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    # -- identity ---------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """What can change the output. Not the key, its variable, concurrency, retries or prices."""
        return {**self.transport.settings(), "system_prompt": self.system_prompt, "prompt": self.prompt,
                "max_tokens": self.max_tokens if self.max_tokens is not None else "auto"}

    def credential_id(self) -> str | None:
        """A short hash of the key (and URL user-info) now in the environment; None when none is set.

        Permanent failures store it as ``details["credential"]``: a stored 401 is worth re-sending
        only when this differs.
        """
        return self.transport.credential_id()

    # -- prompts ---------------------------------------------------------------------
    def prompt_parts(self, request: Request) -> tuple[str | None, str]:
        """``(system prompt, user message)`` for one request."""
        phrase = request.target.describe()
        head = self.prompt.format(article=_ARTICLE, target=phrase)
        if not phrase:  # "the article ." -> "the article."
            head = re.sub(r"[ \t]+(?=[.,;:!?])", "", head)
            head = re.sub(r"[ \t]{2,}", " ", head)
        return self.system_prompt, head.replace(_ARTICLE, request.document.text)

    def max_tokens_for(self, target: LengthTarget) -> int:
        return self.max_tokens if self.max_tokens is not None else derive_max_tokens(target)

    def close(self) -> None:
        self.transport.close()

    # -- work ------------------------------------------------------------------------------
    def summarize(self, requests: Sequence[Request], sink: Sink | None = None) -> list[Summary]:
        requests = list(requests)

        def work(request: Request, stop: threading.Event) -> Summary | None:
            system, user = self.prompt_parts(request)
            max_tokens = self.max_tokens_for(request.target)
            seed = self.seed_for(request)
            outcome = self.transport.request(system, user, max_tokens, stop=stop,
                                             what=f"document {request.document.id}", seed=seed)
            if outcome is None:  # stopped while waiting to retry
                return None
            if outcome.reply is None:
                return self._failed(request, outcome)
            return self._success(request, outcome, max_tokens, seed)

        results = self.transport.map(requests, work, None if sink is None else lambda _, summary: sink(summary))
        return [s for s in results if s is not None]

    def seed_for(self, request: Request) -> int | None:
        """The ``seed`` sent with a request: for samples 1 and up of a sampling, seedable system only.

        Sample 0 is sent exactly as a system without ``samples`` sends it, since it shares that
        request's store key; a later sample gets :func:`~evalkit.core.seeds.sample_seed` of base seed 0,
        the document's hash and its index, so a re-run asks for the same reply.
        """
        if not request.sample or not self.transport.seedable or not self.draws_samples():
            return None
        return sample_seed(0, document_hash(request.document.text), request.sample)

    def draws_samples(self) -> bool:
        """Sampling unless the temperature is 0 (no temperature sent: the provider's default, which samples)."""
        return self.transport.temperature is None or self.transport.temperature > 0

    def seed_policy(self) -> str:
        if not self.draws_samples():
            return "none: temperature 0, every sample is the same reply"
        if not self.transport.seedable:
            return f"not seedable ({self.kind} takes no seed): samples differ by sampling alone"
        return "seed = sample_seed(0, document hash, sample) sent for samples >= 1; sample 0 sent without one"

    def _success(self, request: Request, outcome: Outcome, max_tokens: int, seed: int | None = None) -> Summary:
        reply = outcome.reply
        details: dict[str, Any] = {
            "model": reply.model or self.model, **self.transport.usage_details(reply),
            "latency_s": round(outcome.latency_s, 4), "attempts": outcome.attempts,
            "finish_reason": reply.finish_reason, "truncated": reply.truncated, "max_tokens": max_tokens,
            "stop_reason": "length" if reply.truncated else "stop",
            "response_id": reply.response_id,
            **({"seed": seed} if seed is not None else {}),
        }
        if reply.truncated:
            log.warning("%s: the summary of %s stopped at max_tokens=%d", self.name, request.document.id, max_tokens)
        return Summary(document_id=request.document.id, system=self.name, text=reply.text,
                       fingerprint=self.fingerprint, seconds=outcome.seconds, details=details, sample=request.sample)

    def _failed(self, request: Request, outcome: Outcome) -> Summary:
        message = self.transport.failure_message(outcome.failure, outcome.attempts)
        if not outcome.failure.breaker:  # the breaker logged its one message already
            log.warning("%s failed on document %s: %s", self.name, request.document.id, message)
        return self.failure(request, message, outcome.seconds,
                            self.transport.failure_details(outcome.failure, outcome.attempts))


class OpenAISummarizer(APISummarizer):
    """Any model served over the OpenAI chat-completions API (``base_url`` picks the service)."""

    kind = "openai"
    transport_class = OpenAITransport
    Options = OpenAIOptions


class AnthropicSummarizer(APISummarizer):
    """Claude models over Anthropic's messages API."""

    kind = "anthropic"
    transport_class = AnthropicTransport
    Options = AnthropicOptions
