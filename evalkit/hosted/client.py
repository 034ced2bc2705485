"""The transport to hosted models, shared by the API summarizers and the LLM-judge metric.

One :class:`Transport` per configured endpoint: OpenAI chat completions (any ``base_url``:
OpenAI, Azure, OpenRouter, vLLM, Ollama, llama.cpp, ``transformers serve``) or Anthropic
messages, through the official SDKs with their own retries switched off. What it does:

- **Retries**: exponential backoff with jitter, ``backoff * 2**(n-1)`` seconds capped at
  ``max_backoff``; a ``Retry-After`` (or ``retry-after-ms``) on a 429 or 5xx is honoured, up
  to ``max_backoff``, and pauses every worker. 408, 409, 429, 5xx, timeouts, dropped connections
  and unreadable replies (a 200 whose body is cut-off JSON, or not JSON at all: a proxy's or a
  login page's HTML) are retried up to ``max_retries`` times.
- **Permanent errors** (any other 4xx: 400 "context too long", 401, 403, 404...) are not
  retried; the failure says ``permanent`` and carries :meth:`Transport.credential_id`, a short
  hash of the key (and of a password in ``base_url``), so a caller can skip re-sending it until
  the credential changes.
- **Deadline**: ``timeout`` bounds each attempt as a whole (connect, send, every read), not each
  read: a server that trickles its reply cannot hold an attempt open past it
  (:class:`~evalkit.hosted.abort.SocketTracker`).
- **Circuit breaker**: after ``breaker`` consecutive attempts with no reply (refused, reset, DNS,
  timeout: a server that accepts and never answers included) with no reply in between, every further request of this transport fails at
  once with one message, instead of retrying each document against a server that is not there.
- **Concurrency**: :meth:`Transport.map` runs up to ``concurrency`` requests in threads and hands
  each result to ``deliver`` the moment it exists. On an interrupt (or a failing ``deliver``) it
  stops sending, waits up to ``grace`` seconds for replies already in flight, hands those over,
  closes the connections and re-raises: nothing that arrived is lost, no thread is left behind.
- **Secrets**: the key is read from ``api_key_env`` only when the first request is about to be
  made. A user name or password in ``base_url`` (``https://user:pass@host/v1``) is never sent
  (an HTTP client would turn it into a Basic ``Authorization`` header in place of the key); a
  reply is cleaned of every registered secret by value before anything reads it, so a server
  that echoes the request's headers writes no key anywhere. Neither the key nor the password appears in
  :meth:`Transport.settings`, a fingerprint, a ``repr``, an error or a log line (SDK and HTTP
  client loggers included). The settings keep ``base_url`` with its user-info replaced by
  ``***``: a credential does not change what a model writes, so changing the password keeps the
  fingerprint (and the store's replies) while :meth:`credential_id` changes.
- **Cost**: :meth:`Transport.usage_details` prices a reply from the provider's ``usage`` with
  :mod:`evalkit.hosted.pricing`.
"""

from __future__ import annotations

import email.utils
import importlib
import json
import importlib.util
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from evalkit.core.errors import ConfigError, MissingKeyError
from evalkit.core.fingerprint import digest
from evalkit.hosted.abort import SocketTracker
from evalkit.hosted.pricing import Price, load_prices, parse_price, price_for, unknown_price_note
from evalkit.core.redact import redact_url, register, remove_secrets, scrub, url_secrets, without_userinfo

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 409, 429})
"""Besides every 5xx (Anthropic's 529 "overloaded" included)."""
DEFAULT_BREAKER = 4
"""Consecutive connection failures after which a transport stops trying."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HTML = re.compile(r"<\s*(?:!doctype\s+html|html|head|body|title)\b", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>([^<]{1,200})", re.IGNORECASE)
T = TypeVar("T")
R = TypeVar("R")


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
    top_logprobs: tuple[tuple[tuple[str, float], ...], ...] = ()
    """Per generated token: the token chosen, then the top alternatives the endpoint reported, each
    ``(token, log-probability)`` (OpenAI-format ``logprobs``); empty when it reported none."""


@dataclass(frozen=True)
class Failure:
    """One failed attempt, classified."""

    message: str
    """Scrubbed of every secret."""
    retryable: bool
    status: int | None = None
    retry_after: float | None = None
    """Seconds the server asked us to wait (``Retry-After``)."""
    connection: bool = False
    """No reply at all (refused, reset, DNS, timeout): what the circuit breaker counts."""
    breaker: bool = False
    """Not sent: the circuit breaker was open."""

    @property
    def permanent(self) -> bool:
        """The server answered with an error that sending the same request again will not fix."""
        return self.status is not None and not self.retryable


@dataclass(frozen=True)
class Outcome:
    """The end of one request with its retries: a reply or the last failure."""

    reply: Reply | None
    failure: Failure | None
    attempts: int
    latency_s: float
    """Duration of the last attempt."""
    seconds: float
    """From the first attempt to the end, waits included."""


def _number(option: str, value: Any, *, low: float = 0, whole: bool = False, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or value < low or \
            (positive and value == 0):
        kind = "a whole number" if whole else "a number of seconds"
        raise ConfigError(f"{option} must be {kind} >= {low:g}{' and not 0' if positive else ''}, got {value!r}")


class NotACompletion(ValueError):
    """A 200 reply whose body is not a completion (an HTML page, plain text): retried like any unreadable reply."""


class Transport:
    """One endpoint and model: client, retries, breaker, thread pool, cost. See the module docstring."""

    provider: ClassVar[str]
    sdk: ClassVar[str]
    default_key_env: ClassVar[str]
    base_url_env: ClassVar[str]
    default_base_url: ClassVar[str]
    base_url_hint: ClassVar[str] = "the API's address"
    """How a right ``base_url`` looks, for the error a reply that is not a completion gets."""
    seedable: ClassVar[bool] = False
    """Whether the API takes a sampling ``seed`` (OpenAI-compatible: yes; Anthropic: no)."""
    grace: float = 2.0
    """Seconds an interrupted :meth:`map` waits for replies already in flight."""

    def __init__(self, *, model: str, base_url: str | None = None, api_key_env: str | None = None,
                 temperature: float | None = 0.0, concurrency: int = 4, max_retries: int = 6,
                 timeout: float = 60.0, backoff: float = 1.0, max_backoff: float = 60.0,
                 prices: Mapping[str, float] | None = None, breaker: int = DEFAULT_BREAKER,
                 label: str | None = None) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"{self.provider}: model must be a model name such as 'gpt-4o-mini', got {model!r}")
        if importlib.util.find_spec(self.sdk) is None:
            raise ConfigError(f"{self.provider} needs the {self.sdk!r} package: pip install \"evalkit[api]\"")
        self.model = model
        self.label = label or self.provider
        self._base_url = (base_url or os.environ.get(self.base_url_env) or self.default_base_url).rstrip("/")
        self._url_secrets = url_secrets(self._base_url)
        register(*self._url_secrets)
        if without_userinfo(self._base_url) != self._base_url:
            log.warning("%s: base_url carries a user name or password; it is not sent (an HTTP client would send "
                        "it as Basic auth in place of the key): the key from %s is", self.label,
                        api_key_env or self.default_key_env)
        self.api_key_env = api_key_env or self.default_key_env
        if not isinstance(self.api_key_env, str) or not _ENV_NAME.match(self.api_key_env):
            # never echo the value: it may be the key itself, pasted in the wrong place
            raise ConfigError("api_key_env must be the NAME of an environment variable (like "
                              f"{self.default_key_env}), not a key; put the key in that variable")
        if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
                                        or not 0 <= temperature <= 2):
            raise ConfigError(f"temperature must be between 0 and 2 (or null to send none), got {temperature!r}")
        self.temperature = None if temperature is None else float(temperature)
        _number("concurrency", concurrency, low=1, whole=True)
        _number("max_retries", max_retries, whole=True)
        _number("breaker", breaker, low=1, whole=True)
        _number("timeout", timeout, positive=True)
        _number("backoff", backoff)
        _number("max_backoff", max_backoff)
        self.concurrency, self.max_retries, self.breaker = concurrency, max_retries, breaker
        self.timeout, self.backoff, self.max_backoff = float(timeout), float(backoff), float(max_backoff)
        try:
            self.price: Price | None = (parse_price(model, prices, f"{self.label} config") if prices is not None
                                        else price_for(model, load_prices()))
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        self._client: Any = None
        self._sockets = SocketTracker()
        self._lock = threading.Lock()
        self._secret: str | None = None
        self._pause_until = 0.0
        self._connection_failures = 0
        self._open: Failure | None = None
        self._rng = random.Random()  # jitter only spaces requests out; it never changes an output

    # -- identity ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The endpoint with any user-info redacted (what settings, logs and errors show)."""
        return redact_url(self._base_url)

    def settings(self) -> dict[str, Any]:
        """What can change a reply. Not the key, its variable, a URL password, concurrency, retries or prices."""
        return {"model": self.model, "base_url": self.base_url, "temperature": self.temperature}

    def credential_id(self) -> str | None:
        """A short hash of the credential in use (key and URL user-info), or None when no key is set.

        It is stored with permanent failures so that a 401 is retried once the key changes.
        """
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            return None
        userinfo = urlsplit(self._base_url).netloc.rpartition("@")[0]
        return digest(f"{key}\x00{userinfo}", 12)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    # -- the client ----------------------------------------------------------------------
    def key(self) -> str:
        key = os.environ.get(self.api_key_env, "").strip()
        if key:
            return key
        raise MissingKeyError(
            f"{self.label}: no API key: set the environment variable {self.api_key_env} (or set api_key_env to the "
            f"variable that holds the key; for a local server that ignores keys, set it to anything). Keys are "
            f"read only from the environment, never from configs."
        )

    def client(self) -> Any:
        """The SDK client, made once (with the SDK's own retries off: the retry loop here counts them)."""
        with self._lock:
            if self._client is None:
                key = self.key()
                self._secret = key
                register(key)
                self._sockets = SocketTracker(deadline=self.timeout)
                self._client = self._make_client(importlib.import_module(self.sdk), key,
                                                 without_userinfo(self._base_url))
            return self._client

    def _http_client(self, sdk: Any) -> dict[str, Any]:
        """``http_client=`` for the SDK: its default client, with sockets an interrupt can shut down."""
        client = self._sockets.client(sdk)
        return {} if client is None else {"http_client": client}

    def close(self, abort: bool = False) -> None:
        """Close the client; ``abort`` also shuts down connections with a request in flight."""
        with self._lock:
            client, self._client = self._client, None
        if abort:
            self._sockets.abort()
        if client is not None:
            client.close()

    def _make_client(self, sdk: Any, key: str, base_url: str) -> Any:
        raise NotImplementedError

    def send(self, client: Any, system: str | None, user: str, max_tokens: int, logprobs: int | None) -> Reply:
        """One attempt; raises the SDK's exception on failure."""
        raise NotImplementedError

    def _completion(self, response: Any) -> Any:
        """The SDK's parsed reply; :class:`NotACompletion` when it handed back the body as text (not JSON)."""
        if isinstance(response, (str, bytes)):
            raise NotACompletion(self._not_a_completion(response))
        return response

    def _not_a_completion(self, body: str | bytes) -> str:
        """One line naming what came back in place of a completion, and what to check."""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        if _HTML.search(text[:4000]):
            title = _TITLE.search(text[:4000])
            what = "an HTML page" + (f" ({' '.join(title.group(1).split())[:80]!r})" if title else "")
        else:
            what = "an empty body" if not text.strip() else f"text that is not JSON ({' '.join(text.split())[:80]!r})"
        return f"the server answered 200 with {what}, not a completion: is base_url {self.base_url_hint}?"

    # -- one request with retries ------------------------------------------------------------
    def request(self, system: str | None, user: str, max_tokens: int, *, stop: threading.Event, what: str,
                logprobs: int | None = None, seed: int | None = None) -> Outcome | None:
        """Send one request, retrying as the module docstring says; None if ``stop`` was set while waiting.

        ``seed`` is sent only by a transport that is :attr:`seedable`, and only when given.
        """
        seeded = {"seed": seed} if seed is not None and self.seedable else {}
        client = self.client()
        started = time.perf_counter()
        attempts = 0
        while True:
            if not self._wait_for_pause(stop):
                return None
            if self._open is not None:
                return Outcome(None, self._open, attempts, 0.0, time.perf_counter() - started)
            attempts += 1
            attempt_started = time.perf_counter()
            try:
                reply = self.send(client, system, user, max_tokens, logprobs, **seeded)
            except Exception as exc:  # classified below: retried, or returned as the failure
                if stop.is_set():
                    return None  # the connection was closed under us by an interrupt
                failure = self._classify(exc)
            else:
                self._note_reply()
                reply = _without_secrets(reply)
                if reply.text:
                    return Outcome(reply, None, attempts, time.perf_counter() - attempt_started,
                                   time.perf_counter() - started)
                failure = Failure(f"the model returned no text (finish_reason={reply.finish_reason})", False)
            if failure.connection:
                self._note_connection_failure(failure)
            elif failure.status is not None:
                self._note_reply()
            if not failure.retryable or attempts > self.max_retries or self._open is not None:
                return Outcome(None, self._open or failure, attempts, time.perf_counter() - attempt_started,
                               time.perf_counter() - started)
            delay = self._delay(attempts, failure.retry_after)
            log.warning("%s: %s, attempt %d of %d failed (%s); retrying in %.2f s", self.label, what, attempts,
                        self.max_retries + 1, failure.message, delay)
            if stop.wait(delay):
                return None

    def _note_reply(self) -> None:
        with self._lock:
            self._connection_failures = 0

    def _note_connection_failure(self, failure: Failure) -> None:
        with self._lock:
            self._connection_failures += 1
            if self._open is not None or self._connection_failures < self.breaker:
                return
            self._open = Failure(
                f"not sent: {self._connection_failures} connection attempts in a row to {self.base_url} failed "
                f"(last: {failure.message}); is the server running and is base_url right? Fix it and re-run: "
                f"nothing failed this way is kept as final", True, connection=True, breaker=True)
        log.error("%s: stopped sending: %s", self.label, self._open.message)

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            delay = min(max(retry_after, 0.0), self.max_backoff)
            with self._lock:  # the server asked everyone to slow down, not just this worker
                self._pause_until = max(self._pause_until, time.monotonic() + delay)
            return delay
        ceiling = min(self.max_backoff, self.backoff * 2 ** min(attempts - 1, 32))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)  # "equal jitter"

    def _wait_for_pause(self, stop: threading.Event) -> bool:
        while True:
            with self._lock:
                remaining = self._pause_until - time.monotonic()
            if remaining <= 0:
                return not stop.is_set()
            if stop.wait(remaining):
                return False

    # -- many requests ---------------------------------------------------------------------------
    def map(self, items: Sequence[T], work: Callable[[T, threading.Event], R | None],
            deliver: Callable[[int, R], None] | None = None) -> list[R | None]:
        """``work(item, stop)`` for every item in up to ``concurrency`` threads; results in order.

        ``deliver(index, result)`` is called under a lock as each result exists. An exception in
        the caller's thread (KeyboardInterrupt, SystemExit) or in ``deliver`` stops the rest; see
        the module docstring for what happens to replies in flight.
        """
        items = list(items)
        results: list[R | None] = [None] * len(items)
        if not items:
            return results
        self.client()  # a missing key fails here, before any request
        stop = threading.Event()
        gate = threading.Lock()
        accepting = [True]

        def job(index: int, item: T) -> None:
            result = work(item, stop)
            if result is None:
                return
            with gate:
                if not accepting[0]:
                    return
                results[index] = result
                if deliver is not None:
                    deliver(index, result)

        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(items)),
                                  thread_name_prefix=f"evalkit-{self.label}")
        futures = [pool.submit(job, i, item) for i, item in enumerate(items)]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()  # re-raise a deliver failure (e.g. the store is unwritable)
        except BaseException:
            stop.set()
            for future in futures:
                future.cancel()
            wait(futures, timeout=self.grace)  # replies already on their way are still handed over
            with gate:
                accepting[0] = False
            self.close(abort=True)  # unblocks workers still waiting on a reply
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return results

    # -- cost ----------------------------------------------------------------------------------------
    def usage_details(self, reply: Reply) -> dict[str, Any]:
        """``tokens_prompt``, ``tokens_completion``, ``cost_usd`` (None with ``cost_note`` if unpriced)."""
        details: dict[str, Any] = {"tokens_prompt": reply.tokens_prompt, "tokens_completion": reply.tokens_completion,
                                   "cost_usd": None}
        price = self.price or (price_for(reply.model, load_prices()) if reply.model else None)
        if reply.tokens_prompt is None or reply.tokens_completion is None:
            details["cost_note"] = "the provider reported no token usage"
        elif price is None:
            details["cost_note"] = unknown_price_note(self.model)
        else:
            details["cost_usd"] = price.cost(reply.tokens_prompt, reply.tokens_completion)
            details["price_source"] = price.source
        return details

    def failure_details(self, failure: Failure, attempts: int) -> dict[str, Any]:
        """What a failed item records: attempts, HTTP status, and for permanent errors the credential hash."""
        details: dict[str, Any] = {"attempts": attempts, "status": failure.status, "model": self.model}
        if failure.permanent:
            details["permanent"] = True
            details["credential"] = self.credential_id()
        if failure.breaker:
            details["breaker"] = True
        return details

    @staticmethod
    def failure_message(failure: Failure, attempts: int) -> str:
        if failure.breaker:
            return failure.message
        if failure.retryable:
            return f"gave up after {attempts} attempts; last error: {failure.message}"
        return f"{failure.message} (not retried)"

    # -- errors ------------------------------------------------------------------------------------------
    def _classify(self, exc: Exception) -> Failure:
        """Sort an exception into retryable or permanent, with the provider's message, secrets scrubbed."""
        sdk = importlib.import_module(self.sdk)
        secrets = [self._secret, *self._url_secrets]
        if isinstance(exc, sdk.APIStatusError):
            status = exc.status_code
            kind, message = _provider_message(exc.body, exc.message)
            text = scrub(f"HTTP {status}{f' {kind}' if kind else ''}: {message}", secrets)[:1000]
            if status == 400 and re.search(r"temperature|max_tokens|logprobs", message):
                text += (" [hint: reasoning and newer models reject temperature, max_tokens or logprobs; set "
                         "temperature: null" + (" and max_tokens_field: max_completion_tokens (or logprobs: false)"
                                                if self.provider == "openai" else "") + "]")
            retryable = status in RETRYABLE_STATUS or status >= 500
            return Failure(text, retryable, status, _retry_after(exc.response.headers) if retryable else None)
        cause = exc.__cause__ or exc.__context__
        if isinstance(exc, sdk.APITimeoutError):  # no reply at all: the breaker counts it like a refusal
            connect = type(cause).__name__ == "ConnectTimeout"
            return Failure(f"no {'connection' if connect else 'complete reply'} within the {self.timeout:g} s "
                           "timeout", True, connection=True)
        if isinstance(exc, sdk.APIConnectionError):
            detail = f": {type(cause).__name__}: {cause}" if cause else ""
            return Failure(scrub(f"connection failed{detail}", secrets), True, connection=True)
        if isinstance(exc, NotACompletion):
            return Failure(scrub(str(exc), secrets)[:500], True)
        if isinstance(exc, json.JSONDecodeError) and _HTML.search(exc.doc[:4000]):  # HTML sent as application/json
            return Failure(scrub(self._not_a_completion(exc.doc), secrets)[:500], True)
        if isinstance(exc, (sdk.APIResponseValidationError, ValueError)):  # malformed JSON is a ValueError
            return Failure(scrub(f"unreadable reply: {type(exc).__name__}: {exc}", secrets)[:500], True)
        return Failure(scrub(f"{type(exc).__name__}: {exc}", secrets)[:500], False)


def _without_secrets(reply: Reply) -> Reply:
    """``reply`` with every registered secret removed from its strings (a server may echo a header back)."""
    fields = {name: remove_secrets(getattr(reply, name)) for name in ("text", "model", "finish_reason", "response_id")
              if isinstance(getattr(reply, name), str)}
    return replace(reply, **fields)


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


class OpenAITransport(Transport):
    """The OpenAI chat-completions wire format, at any ``base_url``."""

    provider = "openai"
    seedable = True
    sdk = "openai"
    default_key_env = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    default_base_url = "https://api.openai.com/v1"
    base_url_hint = "the API's /v1 address (like https://api.openai.com/v1)"

    def __init__(self, *, max_tokens_field: str = "max_tokens", extra_body: Mapping[str, Any] | None = None,
                 **options: Any) -> None:
        """``max_tokens_field``: ``max_completion_tokens`` for OpenAI reasoning models (o-series, gpt-5).
        ``extra_body``: more fields for the request body, for a server's own parameters (vLLM's ``top_k``,
        ``transformers serve``'s ``generation_config``)."""
        if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise ConfigError(f"max_tokens_field must be 'max_tokens' or 'max_completion_tokens', "
                              f"got {max_tokens_field!r}")
        self.max_tokens_field = max_tokens_field
        self.extra_body = dict(extra_body or {})
        super().__init__(**options)

    def settings(self) -> dict[str, Any]:  # extra_body only when set: fingerprints made before it stay
        return {**super().settings(), "max_tokens_field": self.max_tokens_field,
                **({"extra_body": self.extra_body} if self.extra_body else {})}

    def _make_client(self, sdk: Any, key: str, base_url: str) -> Any:
        return sdk.OpenAI(api_key=key, base_url=base_url, timeout=self.timeout, max_retries=0,
                          **self._http_client(sdk))

    def send(self, client: Any, system: str | None, user: str, max_tokens: int, logprobs: int | None,
             seed: int | None = None) -> Reply:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        options: dict[str, Any] = {self.max_tokens_field: max_tokens}
        if seed is not None:  # best effort on OpenAI's side; servers that ignore it still sample
            options["seed"] = seed
        if self.extra_body:
            options["extra_body"] = dict(self.extra_body)
        if self.temperature is not None:
            options["temperature"] = self.temperature
        if logprobs:
            options.update(logprobs=True, top_logprobs=logprobs)
        response = self._completion(client.chat.completions.create(model=self.model, messages=messages, **options))
        if not response.choices:
            raise ValueError("the reply has no choices")
        choice = response.choices[0]
        usage = response.usage
        content = getattr(getattr(choice, "logprobs", None), "content", None) or []
        top = tuple(((item.token, float(item.logprob)),
                     *((alt.token, float(alt.logprob)) for alt in (getattr(item, "top_logprobs", None) or [])))
                    for item in content)
        return Reply(
            text=(choice.message.content or "").strip(),
            tokens_prompt=getattr(usage, "prompt_tokens", None),
            tokens_completion=getattr(usage, "completion_tokens", None),
            model=response.model, finish_reason=choice.finish_reason, truncated=choice.finish_reason == "length",
            response_id=response.id, top_logprobs=top,
        )


class AnthropicTransport(Transport):
    """Claude models over Anthropic's messages API (no log-probabilities)."""

    provider = "anthropic"
    sdk = "anthropic"
    default_key_env = "ANTHROPIC_API_KEY"
    base_url_env = "ANTHROPIC_BASE_URL"
    default_base_url = "https://api.anthropic.com"
    base_url_hint = "the API's address without /v1 (like https://api.anthropic.com)"

    def _make_client(self, sdk: Any, key: str, base_url: str) -> Any:
        return sdk.Anthropic(api_key=key, base_url=base_url, timeout=self.timeout, max_retries=0,
                             **self._http_client(sdk))

    def send(self, client: Any, system: str | None, user: str, max_tokens: int, logprobs: int | None) -> Reply:
        options: dict[str, Any] = {}
        if system:
            options["system"] = system
        if self.temperature is not None:  # no longer a typed argument of the SDK
            options["extra_body"] = {"temperature": self.temperature}
        response = self._completion(client.messages.create(model=self.model, max_tokens=max_tokens,
                                                           messages=[{"role": "user", "content": user}], **options))
        text = "".join(block.text for block in response.content if getattr(block, "type", None) == "text")
        usage = response.usage
        return Reply(
            text=text.strip(), tokens_prompt=getattr(usage, "input_tokens", None),
            tokens_completion=getattr(usage, "output_tokens", None), model=response.model,
            finish_reason=response.stop_reason, truncated=response.stop_reason == "max_tokens",
            response_id=response.id,
        )


TRANSPORTS: dict[str, type[Transport]] = {"openai": OpenAITransport, "anthropic": AnthropicTransport}


def make_transport(provider: str, **options: Any) -> Transport:
    """A transport for ``provider`` (``openai`` or ``anthropic``) with the given options."""
    if provider not in TRANSPORTS:
        raise ConfigError(f"provider must be one of {', '.join(TRANSPORTS)} (openai covers every OpenAI-compatible "
                          f"server through base_url), got {provider!r}")
    return TRANSPORTS[provider](**options)
