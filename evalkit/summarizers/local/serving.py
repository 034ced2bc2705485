"""Serve a local model folder over the OpenAI wire format with ``transformers serve``, for ``kind: openai``.

    with transformers_serve(smollm2.folder()) as server:
        spec = {"kind": "openai", "model": server.model, "base_url": server.base_url, ...}

The server listens on 127.0.0.1 at a free port (``transformers[serving]`` provides the
command); :func:`transformers_serve` waits until ``/health`` answers and stops the process
group when the block ends. ``transformers serve`` needs a saved model folder, not a GGUF:
:func:`evalkit.summarizers.local.smollm2.folder` / :func:`.sources.convert_gguf` make one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from evalkit.core.errors import ModelLoadError

START_TIMEOUT = 300.0
"""Seconds to wait for ``/health``: a cold start imports torch and loads the model."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Served:
    """A running server."""

    process: subprocess.Popen
    port: int
    model: str
    """The model name requests send: the folder the server was started with."""
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def serve_command() -> list[str]:
    """``transformers serve`` from this interpreter's environment."""
    script = Path(sys.executable).with_name("transformers")
    found = str(script) if script.exists() else shutil.which("transformers")
    if found is None:
        raise ModelLoadError('the `transformers` command is missing: pip install "transformers[serving]"')
    return [found, "serve"]


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@contextmanager
def transformers_serve(folder: str | Path, *, port: int | None = None, log_path: str | Path | None = None,
                       timeout: float = START_TIMEOUT, device: str = "cpu") -> Iterator[Served]:
    """Run ``transformers serve FOLDER`` on 127.0.0.1 until the block ends (see the module docstring)."""
    folder = Path(folder)
    port = port or free_port()
    log_file = Path(log_path) if log_path else Path(tempfile.mkdtemp(prefix="evalkit-serve-")) / "serve.log"
    command = serve_command() + [str(folder), "--host", "127.0.0.1", "--port", str(port), "--device", device,
                                 "--default-seed", "0"]
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "TOKENIZERS_PARALLELISM": "false"}
    with open(log_file, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise ModelLoadError(f"transformers serve exited with {process.returncode}: {_tail(log_file)}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:  # not listening yet (URLError and connection errors derive from it)
                pass
            if time.monotonic() > deadline:
                raise ModelLoadError(f"transformers serve did not answer /health within {timeout:.0f} s: "
                                     f"{_tail(log_file)}")
            time.sleep(0.5)
        yield Served(process, port, str(folder), log_file)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
