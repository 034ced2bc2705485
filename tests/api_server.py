"""A fake OpenAI + Anthropic HTTP server for tests: both wire formats, scheduled faults, a request log.

It listens on 127.0.0.1 at a free port, in a daemon thread, and answers

- ``POST /v1/chat/completions`` like OpenAI (``choices``, ``usage.prompt_tokens``...), and
- ``POST /v1/messages`` like Anthropic (``content`` blocks, ``usage.input_tokens``...).

Each request is identified by a **key**: the ``[doc:<id>]`` marker in the user message, or
else the first 16 hex digits of the SHA-256 of the user message. A **schedule** says what to
do with the n-th request for a key: a dict ``{key: [fault, fault, ...]}`` (attempts past the
list succeed) or a function ``(key, n) -> fault``. Faults:

``ok``         a valid reply (after ``delay`` seconds, or ``delays[key]`` for that key)
``429``        rate limited, with ``Retry-After: <retry_after>``
``500``, ``503``, ``529``  server errors (529 is Anthropic's "overloaded")
``timeout``    waits ``hang`` seconds (longer than the client's timeout), then drops the connection
``malformed``  a 200 whose JSON body is cut off
``html``       a 200 with a proxy's HTML error page (``text/html``) in place of a completion
``html-json``  the same page labelled ``application/json`` (as some proxies send it)
``reset``      closes the connection with a TCP reset before answering
``401``        bad key; the message echoes the credential received (real servers mask it; this
               one does not, so tests can check that the client scrubs it)
``400``        the prompt is longer than the context window

Every request is logged as a :class:`Record` (key, attempt, fault, times, body, credential,
the usage reported). ``ok`` is the only fault that counts as a success. The server stops at
:meth:`FakeAPIServer.stop` (or leaving its ``with`` block), and by itself after ``lifetime``
seconds.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

FAULTS = ("ok", "429", "500", "503", "529", "timeout", "malformed", "html", "html-json", "reset", "401", "400")
PROXY_PAGE = (b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
              b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n")
"""What ``html`` and ``html-json`` send: an nginx error page, as a proxy in front of an API answers."""
Schedule = Mapping[str, Sequence[str]] | Callable[[str, int], str] | None
_MARKER = re.compile(r"\[doc:([^\]\s]+)\]")


@dataclass
class Record:
    """One request the server received."""

    key: str
    path: str
    attempt: int
    """1 for the first request with this key, 2 for the next..."""
    fault: str
    """What the server did; ``"ok"`` means it sent a valid reply."""
    started: float
    """``time.monotonic()`` when the request arrived."""
    finished: float | None = None
    """When the server was done with it (reply sent or connection dropped)."""
    body: dict[str, Any] = field(default_factory=dict)
    credential: str = ""
    """The ``x-api-key`` or else the ``Authorization`` header value received."""
    reply_text: str | None = None
    usage: dict[str, int] | None = None
    """The token counts the reply reported (``ok`` only)."""
    delivered: bool = False
    """True when the whole reply was written to the socket."""


def reply_text(key: str) -> str:
    """The summary the fake model writes for a key (deterministic, so reruns agree)."""
    return f"The fake model summarized document {key}. It kept to the facts of the article."


class FakeAPIServer:
    """See the module docstring. Use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(self, schedule: Schedule = None, *, delay: float = 0.0, hang: float = 2.0,
                 retry_after: float | str = 1, lifetime: float = 120.0, delays: Mapping[str, float] | None = None,
                 answer: Callable[[str, str], str] | None = None, logprobs: Callable[[str], Any] | None = None) -> None:
        self.schedule = schedule
        self.delays = dict(delays or {})
        self.answer = answer
        """``answer(system, user) -> text`` replaces :func:`reply_text` (a judge's replies, for instance)."""
        self.logprobs = logprobs
        """``logprobs(text)`` -> an OpenAI ``logprobs`` object for the reply, sent when the request asks for it."""
        self.delay, self.hang, self.retry_after, self.lifetime = delay, hang, retry_after, lifetime
        self.records: list[Record] = []
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> FakeAPIServer:
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-api-server", daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._httpd is not None:
            httpd, self._httpd = self._httpd, None
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> FakeAPIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake server is not running")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL for Anthropic (``base_url``); OpenAI's is :attr:`openai_url`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    # -- the log ------------------------------------------------------------------------------
    def log(self) -> list[Record]:
        with self._lock:
            return list(self.records)

    def requests_for(self, key: str) -> list[Record]:
        return [r for r in self.log() if r.key == key]

    def successes(self) -> Counter[str]:
        """How many valid replies were sent per key."""
        return Counter(r.key for r in self.log() if r.fault == "ok")

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until every request received so far has been dealt with."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(r.finished is not None for r in self.log()):
                return
            time.sleep(0.02)

    # -- deciding -------------------------------------------------------------------------------
    def _fault(self, key: str, attempt: int) -> str:
        if self.schedule is None:
            fault = "ok"
        elif callable(self.schedule):
            fault = self.schedule(key, attempt)
        else:
            planned = self.schedule.get(key, ())
            fault = planned[attempt - 1] if attempt <= len(planned) else "ok"
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; use one of {FAULTS}")
        return fault

    def _register(self, key: str, path: str, body: dict[str, Any], credential: str) -> Record:
        with self._lock:
            self._attempts[key] += 1
            attempt = self._attempts[key]
            record = Record(key, path, attempt, self._fault(key, attempt), time.monotonic(), body=body,
                            credential=credential)
            self.records.append(record)
        return record


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # dropped connections are expected
        pass


def _user_text(path: str, body: Mapping[str, Any]) -> tuple[str, str]:
    """``(system, user)`` text of a request in either format."""
    def text_of(content: Any) -> str:
        if isinstance(content, str):
            return content
        return "".join(part.get("text", "") for part in content or [] if isinstance(part, Mapping))

    messages = body.get("messages") or []
    users = [m for m in messages if m.get("role") == "user"]
    user = text_of(users[-1]["content"]) if users else ""
    if path.endswith("/messages"):
        return text_of(body.get("system", "")), user
    return "".join(text_of(m.get("content")) for m in messages if m.get("role") == "system"), user


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeAPIServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        anthropic = self.path.rstrip("/").endswith("/v1/messages")
        if not anthropic and not self.path.rstrip("/").endswith("/v1/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        system, user = _user_text(self.path, body)
        marker = _MARKER.search(user)
        key = marker.group(1) if marker else hashlib.sha256(user.encode("utf-8")).hexdigest()[:16]
        credential = self.headers.get("x-api-key") or self.headers.get("Authorization", "")
        record = self.fake._register(key, self.path, body, credential or "")
        try:
            self._answer(record, anthropic, system, user)
        finally:
            record.finished = time.monotonic()

    def _answer(self, record: Record, anthropic: bool, system: str, user: str) -> None:
        fake, fault = self.fake, record.fault
        if fault == "ok":
            delay = fake.delays.get(record.key, fake.delay)
            if delay:
                fake._stopping.wait(delay)
            text = fake.answer(system, user) if fake.answer else reply_text(record.key)
            prompt_tokens = (len(system) + len(user)) // 4 + 9
            completion_tokens = len(text.split()) + 2
            record.reply_text = text
            record.usage = {"prompt": prompt_tokens, "completion": completion_tokens}
            model = record.body.get("model", "?")
            if anthropic:
                payload = {"id": f"msg_{record.key}_{record.attempt}", "type": "message", "role": "assistant",
                           "model": model, "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                           "stop_sequence": None,
                           "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens}}
            else:
                payload = {"id": f"chatcmpl-{record.key}-{record.attempt}", "object": "chat.completion",
                           "created": int(time.time()), "model": model,
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                        "finish_reason": "stop",
                                        "logprobs": fake.logprobs(text) if fake.logprobs and
                                        record.body.get("logprobs") else None}],
                           "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                     "total_tokens": prompt_tokens + completion_tokens}}
            record.delivered = self._json(200, payload)
        elif fault == "429":
            self._error(429, anthropic, "rate_limit_error", "Rate limit reached; please try again later.",
                        {"Retry-After": str(fake.retry_after)})
        elif fault in ("500", "503", "529"):
            kind = {"500": "api_error", "503": "api_error", "529": "overloaded_error"}[fault]
            self._error(int(fault), anthropic, kind, "The server had an error while processing your request.")
        elif fault == "401":
            key = record.credential.removeprefix("Bearer ")
            if anthropic:
                self._error(401, True, "authentication_error", f"invalid x-api-key: {key}")
            else:
                self._error(401, False, "invalid_request_error", f"Incorrect API key provided: {key}.")
        elif fault == "400":
            if anthropic:
                self._error(400, True, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")
            else:
                self._error(400, False, "invalid_request_error",
                            "This model's maximum context length is 128000 tokens. However, your messages "
                            "resulted in 131072 tokens. Please reduce the length of the messages.",
                            code="context_length_exceeded")
        elif fault in ("malformed", "html", "html-json"):
            data = PROXY_PAGE if fault != "malformed" else \
                b'{"id": "cut-off", "choices": [{"index": 0, "message": {"role": "assis'
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if fault == "html" else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif fault == "timeout":
            fake._stopping.wait(fake.hang)
            self._drop(reset=False)
        elif fault == "reset":
            self._drop(reset=True)

    def _drop(self, reset: bool) -> None:
        self.close_connection = True
        try:
            if reset:  # SO_LINGER 0: close() sends RST instead of FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
        except OSError:
            pass

    def _error(self, status: int, anthropic: bool, kind: str, message: str,
               headers: Mapping[str, str] | None = None, code: str | None = None) -> None:
        if anthropic:
            payload = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        self._json(status, payload, headers)

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> bool:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the client gave up (e.g. it was killed)
            self.close_connection = True
            return False
        return True


@pytest.fixture
def serve():
    """``serve(schedule, **options)`` starts a :class:`FakeAPIServer`; all are stopped at teardown.

    Test modules use it with ``from api_server import serve``.
    """
    servers = []

    def start(schedule: Schedule = None, **options: Any) -> FakeAPIServer:
        server = FakeAPIServer(schedule, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
