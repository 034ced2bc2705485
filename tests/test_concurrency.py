"""Two runs on one store, interrupts and kills, against the fake API server (tests/api_server.py).

Each document's article carries a ``[doc:<id>]`` marker, so the server's request log is keyed
by document id: "paid once" is a count in that log.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from api_server import FakeAPIServer, reply_text

from evalkit.core.fingerprint import document_hash

REPO = Path(__file__).resolve().parents[1]
KEY_ENV, KEY = "EVALKIT_TEST_CONCURRENCY_KEY", "sk-test-concurrency-0123456789"
N_DOCS = 12


@pytest.fixture
def server():
    fake = FakeAPIServer(delay=0.4).start()
    yield fake
    fake.stop()


def _articles() -> dict[str, str]:
    return {f"d{i:02d}": f"[doc:d{i:02d}] Story {i} opened the council meeting on Monday. The vote passed by {i} "
                         f"votes. Residents welcomed the plan. Work starts in spring." for i in range(N_DOCS)}


def _config(tmp_path: Path, server: FakeAPIServer) -> Path:
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps({"id": i, "article": a}) + "\n" for i, a in _articles().items()))
    config = tmp_path / "api.yaml"
    config.write_text(yaml.safe_dump({
        "name": "api", "data": {"path": str(data), "require_references": False}, "target": {"words": 30},
        "output_dir": str(tmp_path / "runs"), "metrics": [{"kind": "length"}],
        "systems": [{"kind": "openai", "name": "gpt", "model": "gpt-4o-mini", "base_url": server.openai_url,
                     "api_key_env": KEY_ENV, "concurrency": 2, "timeout": 10, "backoff": 0.01}],
    }))
    return config


def _start(config: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), KEY_ENV: KEY}
    for name in ("EVALKIT_OFFLINE", "OPENAI_BASE_URL"):
        env.pop(name, None)
    return subprocess.Popen([sys.executable, "-m", "evalkit.cli", "run", str(config), "-q", *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stored(store: Path) -> dict[str, str]:
    """Document id -> stored summary text (successful ones)."""
    by_hash = {document_hash(text): doc_id for doc_id, text in _articles().items()}
    with sqlite3.connect(store, timeout=30) as db:
        return {by_hash[h]: text for h, text in
                db.execute("SELECT document_hash, text FROM summaries WHERE error IS NULL")}


def _stored_quietly(store: Path) -> dict[str, str]:
    """:func:`_stored`, or nothing while the store is being created."""
    try:
        return _stored(store)
    except sqlite3.Error:
        return {}


def _wait_for_replies(server: FakeAPIServer, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while sum(r.delivered for r in server.log()) < count:
        assert time.monotonic() < deadline, "the run sent too few requests"
        time.sleep(0.05)


def test_two_runs_on_one_new_store_pay_for_each_request_once(tmp_path, server):
    config = _config(tmp_path, server)
    first, second = _start(config), _start(config)
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    sent = Counter(r.key for r in server.log())
    assert sent == Counter({doc_id: 1 for doc_id in _articles()})  # 12 requests for 12 documents, none twice
    assert "move it aside" not in "".join(out + err for out, err in outputs)
    stored = _stored(tmp_path / "runs" / "store.sqlite")
    assert stored == {doc_id: reply_text(doc_id) for doc_id in _articles()}
    for run_dir in (tmp_path / "runs").glob("api-*"):  # both runs report every summary
        lines = (run_dir / "summaries.jsonl").read_text().splitlines()
        assert len(lines) == N_DOCS and all(json.loads(line)["error"] is None for line in lines)
    assert len(list((tmp_path / "runs").glob("api-*"))) == 2


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_keeps_every_reply_that_arrived(tmp_path, server, signum, code):
    config = _config(tmp_path, server)
    run = _start(config)
    _wait_for_replies(server, 4)
    run.send_signal(signum)
    out, err = run.communicate(timeout=60)
    assert run.returncode == code, (out, err)
    assert "Traceback" not in err and "interrupted" in err
    delivered = {r.key for r in server.log() if r.fault == "ok" and r.delivered}
    stored = _stored(tmp_path / "runs" / "store.sqlite")
    assert len(delivered) >= 4 and delivered <= set(stored)  # no received reply lost
    # the next run asks only for what is missing
    again = _start(config)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    sent = Counter(r.key for r in server.log())
    assert all(sent[key] == 1 for key in delivered)
    assert set(_stored(tmp_path / "runs" / "store.sqlite")) == set(_articles())


def test_after_a_kill_the_store_is_checked_and_the_run_resumes(tmp_path, server):
    config = _config(tmp_path, server)
    run = _start(config)
    store = tmp_path / "runs" / "store.sqlite"
    deadline = time.monotonic() + 60
    while not (store.exists() and len(_stored_quietly(store)) >= 3):  # kill once 3 replies are in the store
        assert time.monotonic() < deadline and run.poll() is None, "the run stored too few replies"
        time.sleep(0.05)
    run.kill()
    run.communicate(timeout=30)
    kept = _stored(store)
    assert len(kept) >= 3
    again = _start(config)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert "ended without closing the store" in err  # checked with quick_check, found intact
    sent = Counter(r.key for r in server.log())
    assert all(sent[key] == 1 for key in kept)  # what was stored before the kill is not paid again
    assert set(_stored(tmp_path / "runs" / "store.sqlite")) == set(_articles())
