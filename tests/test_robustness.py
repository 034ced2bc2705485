"""Issue 30, inputs and secrets: a URL credential is never sent or written, costly inputs are bounded,
and the gate refuses settings or baselines that would let a regression pass.

The fake server is tests/api_server.py on 127.0.0.1. Expected values are stated by hand: the
Basic header a URL's user-info would produce is base64("user:password") (RFC 7617 section 2).
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from api_server import FakeAPIServer

from evalkit.cli.main import main
from evalkit.core import yamlsafe
from evalkit.core.errors import ConfigError, PolicyError
from evalkit.report.gate.policy import Policy
from evalkit.run.experiment import Experiment

REPO = Path(__file__).resolve().parents[1]
V2 = REPO / "tests" / "fixtures" / "v2"
V2_RUN = next(p for p in V2.iterdir() if p.is_dir())
KEY_ENV, KEY = "EVALKIT_TEST_ROBUST_KEY", "sk-robust-test-key-0123456789abcdef"
USER, PASSWORD = "proxyuser", "hunter2-pa55-robust"


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), KEY_ENV: KEY, **extra}
    for name in ("EVALKIT_OFFLINE", "OPENAI_BASE_URL"):
        env.pop(name, None)
    return env


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit.cli", *args], env=_env(**env), capture_output=True,
                          text=True, timeout=180, check=False)


# -- 2. a password in base_url ------------------------------------------------------------------------
def test_a_url_credential_is_not_sent_and_an_echoed_header_is_written_nowhere(tmp_path):
    with FakeAPIServer() as server:
        server.answer = lambda system, user: f"Echo of your header: {server.log()[-1].credential}. The end."
        url = server.openai_url.replace("http://", f"http://{USER}:{PASSWORD}@")
        data = tmp_path / "docs.jsonl"
        data.write_text("".join(json.dumps({"id": f"d{i}", "article": f"[doc:d{i}] The council met on Monday. "
                                            f"Item {i} passed."}) + "\n" for i in range(3)))
        config = tmp_path / "api.yaml"
        config.write_text(yaml.safe_dump({
            "name": "api", "data": {"path": str(data), "require_references": False}, "target": {"words": 30},
            "output_dir": str(tmp_path / "runs"), "metrics": [{"kind": "length"}],
            "systems": [{"kind": "openai", "name": "gpt", "model": "gpt-4o-mini", "base_url": url,
                         "api_key_env": KEY_ENV, "concurrency": 1, "timeout": 10, "backoff": 0.01}]}))
        ran = _cli("-v", "run", str(config), "-q")
        assert ran.returncode == 0, ran.stderr
        credentials = {r.credential for r in server.log()}
    assert credentials == {f"Bearer {KEY}"}  # the key, not Basic auth from the URL's user-info
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()  # RFC 7617: base64(user ":" password)
    report = _cli("report", str(tmp_path / "runs"), "--html", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr
    secrets = (KEY, PASSWORD, basic)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "api.yaml"]
    assert any(p.name == "store.sqlite" for p in written) and any(p.name == "summaries.jsonl" for p in written)
    for path in written:
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, (secret, path)
    for output in (ran.stdout, ran.stderr, report.stdout, report.stderr):
        assert not [s for s in secrets if s in output]
    summaries = next((tmp_path / "runs").glob("api-*/summaries.jsonl")).read_text()
    assert summaries.count("Echo of your header: Bearer [REDACTED]") == 3  # the reply kept, the key removed


# -- 5. inputs that cost resources --------------------------------------------------------------------
def _bomb(levels: int = 9) -> str:
    """A "billion laughs" document: each anchor repeats the previous one 9 times (9**levels values)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("where", ["config", "policy"])
def test_a_yaml_alias_bomb_is_refused_quickly_and_in_little_memory(tmp_path, where):
    text = _bomb()
    assert len(text.encode()) < 500 and 9 ** 9 > 10 ** 8  # a few hundred bytes standing for 387 million strings
    path = tmp_path / f"{where}.yaml"
    path.write_text(text)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(ConfigError if where == "config" else PolicyError, match="aliases") as caught:
        Experiment.from_yaml(path) if where == "config" else Policy.load(path)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < 1 and peak < 100 * 2**20, (seconds, peak)
    assert "\n" not in str(caught.value)


def test_ordinary_aliases_still_read():
    assert yamlsafe.safe_load("base: &b {words: 30}\nother: *b\n") == {"base": {"words": 30}, "other": {"words": 30}}


def test_an_echoed_value_is_cut_in_the_error(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"metrics": {"rouge1_f": {"tolerance": "x" * 5000}}}))
    with pytest.raises(PolicyError) as caught:
        Policy.load(policy)
    assert len(str(caught.value)) < 300 and "\n" not in str(caught.value)


# -- 6. the gate ------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule, needle", [
    ("metrics: {rouge1_f: {tolerance: .nan}}", "finite"),
    ("metrics: {rouge1_f: {tolerance: .inf}}", "finite"),
    ("systems: {lead: {rouge1_f: {tolerance: .nan}}}", "finite"),
    ("n_resamples: 1000000000", "n_resamples"),
    ("n_resamples: 1e9", "n_resamples"),
], ids=["nan", "inf", "system-nan", "resamples", "resamples-float"])
def test_a_gate_setting_that_would_disable_or_stall_it_is_refused(tmp_path, capsys, rule, needle):
    policy = tmp_path / "policy.yaml"
    policy.write_text(rule + "\n")
    code = main(["check", str(V2_RUN), "--baseline", str(V2 / "baseline.json"), "--policy", str(policy)])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def _v2_copy(tmp_path):
    """The v2 fixture run, copied: 'evalkit check' records its verdict in the run folder, never in the repo's."""
    return shutil.copytree(V2_RUN, tmp_path / V2_RUN.name)


def _mutate(change):
    baseline = json.loads((V2 / "baseline.json").read_text())
    change(baseline)
    return baseline


MALFORMED = {
    "scores-list": lambda b: b.__setitem__("scores", []),
    "metric-scores-list": lambda b: b["scores"]["lead"].__setitem__("rouge1_f", [1, 2]),
    "score-text": lambda b: b["scores"]["lead"]["rouge1_f"].__setitem__("evk-001", "abc"),
    "metrics-list": lambda b: b.__setitem__("metrics", []),
    "metric-entry-text": lambda b: b["metrics"].__setitem__("rouge1_f", "x"),
    "data-text": lambda b: b.__setitem__("data", "x"),
    "ids-number": lambda b: b["data"].__setitem__("ids", 5),
    "hashes-list": lambda b: b["data"].__setitem__("hashes", [1]),
    "systems-list": lambda b: b.__setitem__("systems", []),
    "run-text": lambda b: b.__setitem__("run", "x"),
    "signatures-list": lambda b: b.__setitem__("metric_signatures", [1]),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_baseline_could_not_be_compared(tmp_path, capsys, name):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(_mutate(MALFORMED[name])))
    assert main(["check", str(_v2_copy(tmp_path)), "--baseline", str(path)]) == 3  # not 1 ("regressed"), not 0
    assert "malformed baseline" in capsys.readouterr().out


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_baseline_with_a_non_finite_score_could_not_be_compared(tmp_path, capsys, constant):
    text = (V2 / "baseline.json").read_text()
    first = next(v for v in _mutate(lambda b: None)["scores"]["lead"]["rouge1_f"].values() if v is not None)
    assert math.isfinite(first) and repr(first) in text
    path = tmp_path / "baseline.json"
    path.write_text(text.replace(repr(first), constant, 1))
    assert main(["check", str(_v2_copy(tmp_path)), "--baseline", str(path)]) == 3
    assert constant.lstrip("-") in capsys.readouterr().out


# -- 9. a deadline for the whole attempt ------------------------------------------------------------
class _RawServer:
    """A TCP server on 127.0.0.1 that reads a request and then trickles a reply, or never answers."""

    def __init__(self, mode: str) -> None:
        import socket
        import threading

        self.mode, self.accepted, self._stop = mode, 0, threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        import threading

        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by close()
                return
            self.accepted += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn) -> None:
        with conn:
            conn.recv(65536)
            if self.mode == "trickle":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n")
            while not self._stop.wait(0.2):
                if self.mode == "trickle":
                    try:
                        conn.sendall(b" ")  # one byte per 0.2 s: every read succeeds well within 1 s
                    except OSError:
                        return

    def close(self) -> None:
        self._stop.set()
        self.thread.join()
        self.sock.close()


def _transport(url: str, **options):
    from evalkit.hosted.client import make_transport

    os.environ[KEY_ENV] = KEY
    return make_transport("openai", model="gpt-4o-mini", base_url=url, api_key_env=KEY_ENV, backoff=0.01,
                          max_backoff=0.01, **options)


def test_a_trickling_server_cannot_hold_an_attempt_past_its_timeout():
    import threading

    server = _RawServer("trickle")
    transport = _transport(server.url, timeout=1.0, max_retries=0)
    try:
        started = time.monotonic()
        outcome = transport.request(None, "hello", 5, stop=threading.Event(), what="a test")
        seconds = time.monotonic() - started
    finally:
        transport.close(abort=True)
        server.close()
    assert outcome.reply is None and "timeout" in outcome.failure.message
    assert seconds < 3, seconds  # 1 s deadline (the server would trickle for 800 s: 4000 bytes at 5 per s)


def test_a_server_that_never_answers_trips_the_breaker():
    import threading

    server = _RawServer("silent")
    transport = _transport(server.url, timeout=0.3, max_retries=10, breaker=3)
    try:
        outcome = transport.request(None, "hello", 5, stop=threading.Event(), what="a test")
    finally:
        transport.close(abort=True)
        server.close()
    assert outcome.failure.breaker and outcome.attempts == 3  # not the 11 attempts retries would allow
