"""Issue 30, paid work: one lease, replay and store-on-arrival path for judges on any executor; leases
of dead holders taken over; a full disk keeps the store.

Concurrent runs and Ray runs are real processes (``python -m evalkit.cli run``) against the fake
server of tests/api_server.py; "paid once" is a count in its request log. Each document's article
carries a ``[doc:<id>]`` marker, so with one judge criterion there is exactly one prompt, and one
log key, per document.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from api_server import FakeAPIServer

from evalkit.cli.main import describe_error
from evalkit.core.errors import StoreError
from evalkit.core.types import Document, LengthTarget, Request, Summary
from evalkit.run import store as store_module
from evalkit.run.store import Store, summary_key

REPO = Path(__file__).resolve().parents[1]
KEY_ENV, KEY = "EVALKIT_TEST_ROBUST_KEY", "sk-robust-runs-key-0123456789"
N_DOCS = 12


def _config(tmp_path: Path, server: FakeAPIServer, **extra) -> Path:
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps({"id": f"d{i:02d}", "article": f"[doc:d{i:02d}] Story {i} opened the council "
                                        f"meeting on Monday. The vote passed by {i} votes. Work starts in spring."})
                            + "\n" for i in range(N_DOCS)))
    config = tmp_path / "judge.yaml"
    config.write_text(yaml.safe_dump({
        "name": "judge", "data": {"path": str(data), "require_references": False}, "target": "1 sentence",
        "output_dir": str(tmp_path / "runs"), "systems": [{"kind": "lead"}],
        "metrics": [{"kind": "llm-judge", "model": "gpt-4o-mini", "base_url": server.openai_url,
                     "api_key_env": KEY_ENV, "criteria": ["consistency"], "logprobs": 0, "concurrency": 2,
                     "timeout": 10, "backoff": 0.01}], **extra}))
    return config


def _start(config: Path, *extra: str, **env: str) -> subprocess.Popen:
    environ = {**os.environ, "PYTHONPATH": str(REPO), KEY_ENV: KEY, **env}
    for name in ("OPENAI_BASE_URL",) + (() if "EVALKIT_OFFLINE" in env else ("EVALKIT_OFFLINE",)):
        environ.pop(name, None)
    return subprocess.Popen([sys.executable, "-m", "evalkit.cli", "run", str(config), "-q", *extra], env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# -- 3. concurrent runs pay once per judge request ----------------------------------------------------
@pytest.mark.parametrize("runs", [2, 3])
def test_concurrent_judge_runs_send_each_prompt_once(tmp_path, runs):
    with FakeAPIServer(delay=0.4, answer=lambda system, user: "4") as server:
        config = _config(tmp_path, server)
        processes = [_start(config) for _ in range(runs)]
        outputs = [p.communicate(timeout=180) for p in processes]
        assert all(p.returncode == 0 for p in processes), outputs
        sent = Counter(r.key for r in server.log())
    assert sent == Counter({f"d{i:02d}": 1 for i in range(N_DOCS)})  # 12 prompts, 12 requests, whatever the runs
    for run_dir in (tmp_path / "runs").glob("judge-*"):  # every run has every judge value
        scores = (run_dir / "scores.csv").read_text()
        assert scores.count("judge_consistency") == N_DOCS


# -- 1. replay holds on Ray for judges ----------------------------------------------------------------
@pytest.mark.parametrize("how", ["--replay", "EVALKIT_OFFLINE=1"])
def test_replay_on_ray_sends_no_judge_request(tmp_path, how):
    pytest.importorskip("ray")
    with FakeAPIServer(answer=lambda system, user: "4") as server:
        config = _config(tmp_path, server, executor="ray")
        process = (_start(config, "--replay") if how == "--replay" else _start(config, EVALKIT_OFFLINE="1"))
        _, err = process.communicate(timeout=240)
        sent = len(server.log())
    assert process.returncode == 2, err
    assert sent == 0 and "may not call its API" in err


# -- 7. a dead lease holder -------------------------------------------------------------------------
_HOLDER = textwrap.dedent("""
    import os, sys, time
    from evalkit.run.store import Store
    store = Store(sys.argv[1])
    store.claim(["the-key"])
    print("claimed", flush=True)
    if sys.argv[2] == "die":
        os.kill(os.getpid(), 9)
    time.sleep(60)
""")


def _holder(path: Path, how: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path), how], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    assert process.stdout.readline().strip() == "claimed"
    return process


def test_a_live_holders_lease_is_respected_and_a_killed_unreaped_one_is_taken_over(tmp_path):
    path = tmp_path / "store.sqlite"
    live = _holder(path, "live")
    try:
        with Store(path) as store:
            assert store.claim(["the-key"]) == ([], {"the-key": live.pid})
    finally:
        live.kill()
        live.wait()
    dead = _holder(path, "die")  # killed and, until wait() below, not reaped: a zombie that answers kill(pid, 0)
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{dead.pid}/stat").read_text().split(")")[-1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        started = time.monotonic()
        with Store(path) as store:
            mine, others = store.claim(["the-key"])
        assert mine == ["the-key"] and not others and time.monotonic() - started < 10
    finally:
        dead.wait()


def test_a_lease_from_another_host_lasts_only_until_its_holder_stops_renewing(tmp_path):
    path = tmp_path / "store.sqlite"
    with Store(path) as store:
        with sqlite3.connect(path) as db:
            db.execute("INSERT INTO leases VALUES ('renewed', 1, 'elsewhere', ?)", (time.time() + 30,))
            db.execute("INSERT INTO leases VALUES ('stale', 1, 'elsewhere', ?)", (time.time() - 1,))
        assert store.claim(["renewed", "stale"]) == (["stale"], {"renewed": 1})
    assert store_module.LEASE_SECONDS <= 120 and store_module.RENEW_SECONDS < store_module.LEASE_SECONDS / 2


def test_a_holder_renews_its_leases(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "RENEW_SECONDS", 0.1)
    path = tmp_path / "store.sqlite"
    with Store(path) as store:
        store.claim(["k"])
        with sqlite3.connect(path) as db:
            (first,) = db.execute("SELECT expires FROM leases WHERE key = 'k'").fetchone()
        time.sleep(0.6)
        with sqlite3.connect(path) as db:
            (later,) = db.execute("SELECT expires FROM leases WHERE key = 'k'").fetchone()
    assert later > first


# -- 8. a full disk ------------------------------------------------------------------------------
def _summary(i: int) -> tuple[str, Summary, Request]:
    doc = Document(id=f"d{i}", text=f"Article number {i}. " * 40)
    request = Request(doc, LengthTarget(words=30))
    summary = Summary(document_id=doc.id, system="s", text=f"Summary {i}. " * 30, fingerprint="fp@0")
    return summary_key("fp@0", request), summary, request


def test_a_full_disk_says_so_and_keeps_every_stored_row(tmp_path):
    """ENOSPC stand-in: SQLite's own SQLITE_FULL, made by capping the file's pages (PRAGMA max_page_count)."""
    path = tmp_path / "store.sqlite"
    stored = []
    with pytest.raises(StoreError) as caught:
        with Store(path) as store:
            (pages,) = store._db.execute("PRAGMA page_count").fetchone()
            store._db.execute(f"PRAGMA max_page_count = {pages + 2}")
            for i in range(500):
                key, summary, request = _summary(i)
                store.put_summary(key, summary, request)
                stored.append(key)
    message, code = describe_error(caught.value)
    assert "disk full" in message and "re-run the same command" in message and "damaged" not in message
    assert code == 2 and 0 < len(stored) < 500
    with Store(path) as store:  # reopened without the cap: intact, every row that was stored is there
        assert set(store.get_summaries(stored)) == set(stored)


def test_a_full_disk_while_writing_the_run_folder_is_not_called_a_damaged_store():
    """ENOSPC stand-in: the OSError a write to a full disk raises, handed to the command line's reporter."""
    import errno

    message, code = describe_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "runs/x/scores.csv"))
    assert code == 2 and "disk full" in message and "re-run the same command" in message
