"""API models: OpenAI-compatible chat completions and Anthropic messages, through the official SDKs.

``kind: openai`` speaks the OpenAI chat-completions wire format with any ``base_url``, so the
same class serves OpenAI, Azure OpenAI (``https://<resource>.openai.azure.com/openai/v1/``),
OpenRouter, Together, Groq, vLLM, Ollama and llama.cpp. ``kind: anthropic`` speaks Anthropic's
messages API. The prompt carries the length target (``{target}`` becomes
:meth:`LengthTarget.describe`, e.g. "in about 60 words") and ``max_tokens`` is derived from it
unless given.

How requests behave (see ``docs/api-models.md``):

- **Retries** are ours, not the SDK's (its own are switched off): exponential backoff with
  jitter, ``backoff * 2**(n-1)`` seconds capped at ``max_backoff``; a ``Retry-After`` (or
  ``retry-after-ms``) on a 429 or 5xx is honoured, up to ``max_backoff``, and pauses every
  worker of the system. 408, 409, 429, 5xx, timeouts, dropped connections and unreadable replies are
  retried up to ``max_retries`` times; any other error (401, 400 "context too long"...) is
  permanent: it is recorded on the summary with the provider's message and not retried.
- **Concurrency**: up to ``concurrency`` requests in flight (a thread pool); each summary is
  handed to ``sink`` by the worker the moment its reply arrives, so a killed run keeps it.
- **Keys** come only from the environment variable ``api_key_env`` (default
  ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``), read when the first request is about to be
  made: a run served entirely from the store needs no key. A missing key raises
  :class:`MissingKeyError` before any request. The key is never in ``settings()``, the
  fingerprint, ``repr``, a summary, or a log line; provider error text is scrubbed of it.
- **Replay** is the runner's policy (``Experiment.replay_only``, ``EVALKIT_OFFLINE=1``): these
  classes declare ``makes_requests`` and the runner never hands them a request it may not send.
- **Cost**: each summary's ``details`` has ``tokens_prompt``, ``tokens_completion`` (the
  provider's ``usage``), ``cost_usd`` (``None`` with ``cost_note`` for an unpriced model),
  ``latency_s`` (the successful attempt), ``attempts``, ``model`` (as the provider named it),
  ``finish_reason`` and ``truncated``.
"""

from __future__ import annotations

import email.utils
import importlib
import importlib.util
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, ClassVar

from evalkit.pricing import (Price, TOKENS_PER_WORD, expected_words, load_prices, parse_price, price_for,
                             unknown_price_note)
from evalkit.errors import MissingKeyError
from evalkit.summarizers.base import Request, Sink, Summarizer
from evalkit.summarizers.prompts import DEFAULT_PROMPT, DEFAULT_SYSTEM_PROMPT, check_prompt  # noqa: F401  (re-exported)
from evalkit.types import LengthTarget, Summary

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 409, 429})
"""Besides every 5xx (Anthropic's 529 "overloaded" included)."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_PATTERNS = (re.compile(r"(?i)\b(bearer\s+)\S+"), re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"))
_ARTICLE = "\x00article\x00"


def scrub(text: str, secret: str | None) -> str:
    """``text`` without ``secret`` or anything shaped like a bearer token or an ``sk-`` key."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "[REDACTED]")
    text = _SECRET_PATTERNS[0].sub(r"\1[REDACTED]", text)
    return _SECRET_PATTERNS[1].sub("sk-[REDACTED]", text)


def derive_max_tokens(target: LengthTarget) -> int:
    """A completion budget that a summary meeting ``target`` never reaches.

    Twice the expected token count (room for overshoot and for languages that take more
    tokens per word), doubled again for an ``at_least`` word target, plus 64.
    """
    words = expected_words(target) * (2 if target.words is not None and target.bound == "at_least" else 1)
    return math.ceil(2 * words * TOKENS_PER_WORD) + 64


@dataclass(frozen=True)
class Reply:
    """What a provider sent back for one request."""

    text: str
    tokens_prompt: int | None
    tokens_completion: int | None
    model: str | None
    finish_reason: str | None
    truncated: bool
    """True when the reply stopped at ``max_tokens``."""
    response_id: str | None


@dataclass(frozen=True)
class Failure:
    """One failed attempt, classified."""

    message: str
    """Scrubbed of the key."""
    retryable: bool
    status: int | None = None
    retry_after: float | None = None
    """Seconds the server asked us to wait (``Retry-After``)."""


class APISummarizer(Summarizer):
    """What OpenAI-format and Anthropic summarizers share: prompts, retries, threads, keys, cost."""

    makes_requests: ClassVar[bool] = True
    """The experiment's replay-only mode refuses to call a summarizer with this set."""
    version = "1"
    sdk: ClassVar[str]
    """The SDK package (imported only when needed)."""
    default_key_env: ClassVar[str]
    base_url_env: ClassVar[str]
    default_base_url: ClassVar[str]

    def __init__(self, name: str | None = None, *, model: str, base_url: str | None = None,
                 api_key_env: str | None = None, system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
                 prompt: str = DEFAULT_PROMPT, temperature: float | None = 0.0, max_tokens: int | None = None,
                 concurrency: int = 4, max_retries: int = 6, timeout: float = 60.0, backoff: float = 1.0,
                 max_backoff: float = 60.0, prices: Mapping[str, float] | None = None) -> None:
        super().__init__(name)
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"{self.kind}: model must be a model name such as 'gpt-4o-mini', got {model!r}")
        if importlib.util.find_spec(self.sdk) is None:
            raise ValueError(f"{self.kind} needs the {self.sdk!r} package: pip install \"evalkit[api]\"")
        self.model = model
        self.base_url = (base_url or os.environ.get(self.base_url_env) or self.default_base_url).rstrip("/")
        self.api_key_env = api_key_env or self.default_key_env
        if not _ENV_NAME.match(self.api_key_env):
            # never echo the value: it may be the key itself, pasted in the wrong place
            raise ValueError("api_key_env must be the NAME of an environment variable (like "
                             f"{self.default_key_env}), not a key; put the key in that variable")
        self.system_prompt = system_prompt or None
        self.prompt = prompt
        check_prompt(prompt)
        if temperature is not None and (isinstance(temperature, bool) or not 0 <= temperature <= 2):
            raise ValueError(f"temperature must be between 0 and 2 (or null to send none), got {temperature!r}")
        self.temperature = None if temperature is None else float(temperature)
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                       or max_tokens < 1):
            raise ValueError(f"max_tokens must be a positive whole number or null (derived from the target), "
                             f"got {max_tokens!r}")
        self.max_tokens = max_tokens
        for option, value, low in (("concurrency", concurrency, 1), ("max_retries", max_retries, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{option} must be a whole number >= {low}, got {value!r}")
        for option, value in (("timeout", timeout), ("backoff", backoff), ("max_backoff", max_backoff)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or \
                    (option == "timeout" and value == 0):
                raise ValueError(f"{option} must be a positive number of seconds, got {value!r}")
        self.concurrency, self.max_retries = concurrency, max_retries
        self.timeout, self.backoff, self.max_backoff = float(timeout), float(backoff), float(max_backoff)
        if prices is not None:
            self.price: Price | None = parse_price(model, prices, f"system {self.name!r} config")
        else:
            self.price = price_for(model, load_prices())
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._secret: str | None = None
        self._pause_until = 0.0
        self._pause_lock = threading.Lock()
        self._rng = random.Random()  # jitter only spaces requests out; it never changes an output

    # -- identity ---------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """What can change the output. Not the key, its variable, concurrency, retries or prices."""
        return {"model": self.model, "base_url": self.base_url, "system_prompt": self.system_prompt,
                "prompt": self.prompt, "temperature": self.temperature,
                "max_tokens": self.max_tokens if self.max_tokens is not None else "auto"}

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

    # -- the client --------------------------------------------------------------------
    def _key(self) -> str:
        key = os.environ.get(self.api_key_env, "").strip()
        if key:
            return key
        raise MissingKeyError(
            f"{self.name}: no API key: set the environment variable {self.api_key_env} (or set api_key_env to the "
            f"variable that holds the key; for a local server that ignores keys, set it to anything). Keys are "
            f"read only from the environment, never from configs."
        )

    def client(self) -> Any:
        """The SDK client, made once (with the SDK's own retries off: the retry loop here counts them)."""
        with self._client_lock:
            if self._client is None:
                key = self._key()
                self._secret = key
                self._client = self._make_client(importlib.import_module(self.sdk), key)
            return self._client

    def _make_client(self, sdk: Any, key: str) -> Any:
        raise NotImplementedError

    def _call(self, client: Any, system: str | None, user: str, max_tokens: int) -> Reply:
        raise NotImplementedError

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- work ------------------------------------------------------------------------------
    def summarize(self, requests: Sequence[Request], sink: Sink | None = None) -> list[Summary]:
        requests = list(requests)
        if not requests:
            return []
        client = self.client()  # a missing key fails here, before any request
        results: list[Summary | None] = [None] * len(requests)
        stop = threading.Event()

        def work(index: int, request: Request) -> None:
            summary = self._attempt_all(client, request, stop)
            if summary is None:  # cancelled while waiting to retry
                return
            if sink is not None:
                sink(summary)
            results[index] = summary

        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests)),
                                  thread_name_prefix=f"evalkit-{self.name}")
        try:
            futures = [pool.submit(work, i, r) for i, r in enumerate(requests)]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()  # re-raise a sink failure (e.g. the store is unwritable)
        except BaseException:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return [s for s in results if s is not None]

    def _attempt_all(self, client: Any, request: Request, stop: threading.Event) -> Summary | None:
        """One request with retries: a summary, a failed summary, or None if the run is stopping."""
        system, user = self.prompt_parts(request)
        max_tokens = self.max_tokens_for(request.target)
        started = time.perf_counter()
        attempts = 0
        while True:
            if not self._wait_for_pause(stop):
                return None
            attempts += 1
            attempt_started = time.perf_counter()
            try:
                reply = self._call(client, system, user, max_tokens)
            except Exception as exc:  # classified below: retried, or recorded on the summary
                failure = self._classify(exc)
            else:
                if reply.text:
                    return self._success(request, reply, attempts, time.perf_counter() - attempt_started,
                                         time.perf_counter() - started, max_tokens)
                failure = Failure(f"the model returned no text (finish_reason={reply.finish_reason})", False)
            if not failure.retryable or attempts > self.max_retries:
                return self._failed(request, failure, attempts, time.perf_counter() - started)
            delay = self._delay(attempts, failure.retry_after)
            log.warning("%s: document %s, attempt %d of %d failed (%s); retrying in %.2f s", self.name,
                        request.document.id, attempts, self.max_retries + 1, failure.message, delay)
            if stop.wait(delay):
                return None

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            delay = min(max(retry_after, 0.0), self.max_backoff)
            with self._pause_lock:  # the server asked everyone to slow down, not just this worker
                self._pause_until = max(self._pause_until, time.monotonic() + delay)
            return delay
        ceiling = min(self.max_backoff, self.backoff * 2 ** min(attempts - 1, 32))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)  # "equal jitter"

    def _wait_for_pause(self, stop: threading.Event) -> bool:
        while True:
            with self._pause_lock:
                remaining = self._pause_until - time.monotonic()
            if remaining <= 0:
                return not stop.is_set()
            if stop.wait(remaining):
                return False

    def _success(self, request: Request, reply: Reply, attempts: int, latency: float, seconds: float,
                 max_tokens: int) -> Summary:
        details: dict[str, Any] = {
            "model": reply.model or self.model, "tokens_prompt": reply.tokens_prompt,
            "tokens_completion": reply.tokens_completion, "cost_usd": None, "latency_s": round(latency, 4),
            "attempts": attempts, "finish_reason": reply.finish_reason, "truncated": reply.truncated,
            "max_tokens": max_tokens, "response_id": reply.response_id,
        }
        price = self.price or (price_for(reply.model, load_prices()) if reply.model else None)
        if reply.tokens_prompt is None or reply.tokens_completion is None:
            details["cost_note"] = "the provider reported no token usage"
        elif price is None:
            details["cost_note"] = unknown_price_note(self.model)
        else:
            details["cost_usd"] = price.cost(reply.tokens_prompt, reply.tokens_completion)
            details["price_source"] = price.source
        if reply.truncated:
            log.warning("%s: the summary of %s stopped at max_tokens=%d", self.name, request.document.id, max_tokens)
        return Summary(document_id=request.document.id, system=self.name, text=reply.text,
                       fingerprint=self.fingerprint, seconds=seconds, details=details)

    def _failed(self, request: Request, failure: Failure, attempts: int, seconds: float) -> Summary:
        if failure.retryable:
            message = f"gave up after {attempts} attempts; last error: {failure.message}"
        else:
            message = f"{failure.message} (not retried)"
        log.warning("%s failed on document %s: %s", self.name, request.document.id, message)
        return self.failure(request, message, seconds,
                            {"attempts": attempts, "status": failure.status, "model": self.model})

    # -- errors ---------------------------------------------------------------------------------
    def _classify(self, exc: Exception) -> Failure:
        """Sort an exception into retryable or permanent, with the provider's message, key scrubbed."""
        sdk = importlib.import_module(self.sdk)
        if isinstance(exc, sdk.APIStatusError):
            status = exc.status_code
            kind, message = _provider_message(exc.body, exc.message)
            text = scrub(f"HTTP {status}{f' {kind}' if kind else ''}: {message}", self._secret)[:1000]
            if status == 400 and re.search(r"temperature|max_tokens", message):
                text += (" [hint: reasoning and newer models reject temperature or max_tokens; set temperature: null"
                         + (" and max_tokens_field: max_completion_tokens" if self.kind == "openai" else "") + "]")
            retryable = status in RETRYABLE_STATUS or status >= 500
            return Failure(text, retryable, status, _retry_after(exc.response.headers) if retryable else None)
        if isinstance(exc, sdk.APITimeoutError):
            return Failure(f"no reply within the {self.timeout:g} s timeout", True)
        if isinstance(exc, sdk.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f": {type(cause).__name__}: {cause}" if cause else ""
            return Failure(scrub(f"connection failed{detail}", self._secret), True)
        if isinstance(exc, (sdk.APIResponseValidationError, ValueError)):  # malformed JSON is a ValueError
            return Failure(scrub(f"unreadable reply: {type(exc).__name__}: {exc}", self._secret)[:500], True)
        return Failure(scrub(f"{type(exc).__name__}: {exc}", self._secret)[:500], False)


def _provider_message(body: Any, fallback: str) -> tuple[str | None, str]:
    """``(error type, message)`` from an OpenAI ``{"error": {...}}`` or Anthropic ``{"type": "error", ...}`` body."""
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and error.get("message"):
            return error.get("type") or error.get("code"), str(error["message"])
        if isinstance(error, str):
            return None, error
    if isinstance(body, str) and body:
        return None, body[:500]
    return None, fallback


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


class OpenAISummarizer(APISummarizer):
    """Any model served over the OpenAI chat-completions API (``base_url`` picks the service)."""

    kind = "openai"
    sdk = "openai"
    default_key_env = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    default_base_url = "https://api.openai.com/v1"

    def __init__(self, name: str | None = None, *, model: str, base_url: str | None = None,
                 api_key_env: str | None = None, system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
                 prompt: str = DEFAULT_PROMPT, temperature: float | None = 0.0, max_tokens: int | None = None,
                 max_tokens_field: str = "max_tokens", concurrency: int = 4, max_retries: int = 6,
                 timeout: float = 60.0, backoff: float = 1.0, max_backoff: float = 60.0,
                 prices: Mapping[str, float] | None = None) -> None:
        """``max_tokens_field``: ``max_completion_tokens`` for OpenAI reasoning models (o-series, gpt-5)."""
        if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise ValueError(f"max_tokens_field must be 'max_tokens' or 'max_completion_tokens', "
                             f"got {max_tokens_field!r}")
        self.max_tokens_field = max_tokens_field
        super().__init__(name, model=model, base_url=base_url, api_key_env=api_key_env, system_prompt=system_prompt,
                         prompt=prompt, temperature=temperature, max_tokens=max_tokens, concurrency=concurrency,
                         max_retries=max_retries, timeout=timeout, backoff=backoff, max_backoff=max_backoff,
                         prices=prices)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "max_tokens_field": self.max_tokens_field}

    def _make_client(self, sdk: Any, key: str) -> Any:
        return sdk.OpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout, max_retries=0)

    def _call(self, client: Any, system: str | None, user: str, max_tokens: int) -> Reply:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        options: dict[str, Any] = {self.max_tokens_field: max_tokens}
        if self.temperature is not None:
            options["temperature"] = self.temperature
        response = client.chat.completions.create(model=self.model, messages=messages, **options)
        if not response.choices:
            raise ValueError("the reply has no choices")
        choice = response.choices[0]
        usage = response.usage
        return Reply(
            text=(choice.message.content or "").strip(),
            tokens_prompt=getattr(usage, "prompt_tokens", None),
            tokens_completion=getattr(usage, "completion_tokens", None),
            model=response.model, finish_reason=choice.finish_reason, truncated=choice.finish_reason == "length",
            response_id=response.id,
        )


class AnthropicSummarizer(APISummarizer):
    """Claude models over Anthropic's messages API."""

    kind = "anthropic"
    sdk = "anthropic"
    default_key_env = "ANTHROPIC_API_KEY"
    base_url_env = "ANTHROPIC_BASE_URL"
    default_base_url = "https://api.anthropic.com"

    def __init__(self, name: str | None = None, *, model: str, base_url: str | None = None,
                 api_key_env: str | None = None, system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
                 prompt: str = DEFAULT_PROMPT, temperature: float | None = None, max_tokens: int | None = None,
                 concurrency: int = 4, max_retries: int = 6, timeout: float = 60.0, backoff: float = 1.0,
                 max_backoff: float = 60.0, prices: Mapping[str, float] | None = None) -> None:
        """``temperature`` is not sent unless given: Anthropic deprecated it, and newer models answer 400."""
        super().__init__(name, model=model, base_url=base_url, api_key_env=api_key_env, system_prompt=system_prompt,
                         prompt=prompt, temperature=temperature, max_tokens=max_tokens, concurrency=concurrency,
                         max_retries=max_retries, timeout=timeout, backoff=backoff, max_backoff=max_backoff,
                         prices=prices)

    def _make_client(self, sdk: Any, key: str) -> Any:
        return sdk.Anthropic(api_key=key, base_url=self.base_url, timeout=self.timeout, max_retries=0)

    def _call(self, client: Any, system: str | None, user: str, max_tokens: int) -> Reply:
        options: dict[str, Any] = {}
        if system:
            options["system"] = system
        if self.temperature is not None:  # no longer a typed argument of the SDK
            options["extra_body"] = {"temperature": self.temperature}
        response = client.messages.create(model=self.model, max_tokens=max_tokens,
                                          messages=[{"role": "user", "content": user}], **options)
        text = "".join(block.text for block in response.content if getattr(block, "type", None) == "text")
        usage = response.usage
        return Reply(
            text=text.strip(), tokens_prompt=getattr(usage, "input_tokens", None),
            tokens_completion=getattr(usage, "output_tokens", None), model=response.model,
            finish_reason=response.stop_reason, truncated=response.stop_reason == "max_tokens",
            response_id=response.id,
        )
