"""API summarizers against a fake server (tests/api_server.py) that speaks both wire formats.

Faults are injected by schedule; the server's own log is the witness for what was requested
and what succeeded. Every expected number (token counts, costs, max_tokens) is computed here
by hand from what the server reported or from the rule in the docstring, not read back from
the code under test.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from api_server import FakeAPIServer, reply_text, serve  # noqa: F401  (serve is a fixture)
from conftest import stored_document_ids

from evalkit.core.errors import ReplayMissError
from evalkit.run.experiment import Experiment
from evalkit.core.cost import total_cost
from evalkit.hosted.pricing import Price, estimate_cost, load_prices, price_for
from evalkit.run.registry import ConfigError, build_summarizer
from evalkit.core.fingerprint import document_hash
from evalkit.core.errors import MissingKeyError
from evalkit.summarizers.api import AnthropicSummarizer, OpenAISummarizer
from evalkit.summarizers.base import Request
from evalkit.core.types import Document, LengthTarget

REPO = Path(__file__).resolve().parents[1]
KEY_ENV = "EVALKIT_TEST_API_KEY"
KEY = "sk-evalkit-test-5ecret-c0ffee-0123456789abcdef"
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-20241022"}
FAST = {"timeout": 0.5, "backoff": 0.01, "max_backoff": 0.05, "concurrency": 4, "max_retries": 4}
"""Short timeouts and backoff so the fault tests run in seconds."""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("EVALKIT_OFFLINE", "EVALKIT_PRICES", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(KEY_ENV, KEY)


def documents(n: int, prefix: str = "d") -> list[Document]:
    """Small articles whose ``[doc:<id>]`` marker lets the server key requests by document."""
    return [Document(id=f"{prefix}{i:02d}",
                     text=f"[doc:{prefix}{i:02d}] The council met on day {i}. It approved budget number {i}. "
                          f"Residents protested outside the hall.",
                     references=(f"The council approved budget {i}.",))
            for i in range(n)]


def spec(provider: str, server: FakeAPIServer, **options) -> dict:
    url = server.openai_url if provider == "openai" else server.url
    return {"kind": provider, "name": f"{provider}-test", "model": MODELS[provider], "base_url": url,
            "api_key_env": KEY_ENV, **FAST, **options}


def summarizer(provider: str, server: FakeAPIServer, **options):
    return build_summarizer(spec(provider, server, **options))


def experiment(tmp_path: Path, systems: list[dict], **options) -> Experiment:
    return Experiment(systems=systems, metrics=[{"kind": "length"}], target=LengthTarget(words=30),
                      output_dir=tmp_path / "runs", progress=False, **options)


def stored_rows(store: Path) -> list[tuple]:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT document_hash, text, error, details FROM summaries").fetchall()


# -- retries ------------------------------------------------------------------------------------------
TRANSIENT = {
    "d00": ["429"], "d01": ["500", "503"], "d02": ["timeout"], "d03": ["malformed"], "d04": ["reset"],
    "d05": ["503", "429", "500"], "d06": ["529"], "d07": ["reset", "timeout"], "d08": ["malformed", "503"],
}
"""Nine of twelve documents meet one to three transient faults before they succeed."""


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_transient_faults_end_with_exactly_one_summary_per_document(provider, serve, tmp_path):
    server = serve(TRANSIENT, hang=1.0, retry_after=0.05)
    docs = documents(12)
    run = experiment(tmp_path, [spec(provider, server)]).run(docs)

    assert run.summaries["error"].isna().all()
    rows = stored_rows(tmp_path / "runs" / "store.sqlite")
    assert len(rows) == 12 and all(error is None for _, _, error, _ in rows)
    assert {h for h, *_ in rows} == {document_hash(d.text) for d in docs}
    log = server.log()
    assert server.successes() == {d.id: 1 for d in docs}  # each document succeeded exactly once...
    for doc in docs:
        records = [r for r in log if r.key == doc.id]
        assert records[-1].fault == "ok"  # ...and was never requested after that
        assert [r.fault for r in records[:-1]] == TRANSIENT.get(doc.id, [])
    attempts = {row["document_id"]: run.details(row["document_id"], row["system"])["attempts"]
                for _, row in run.summaries.iterrows()}
    assert attempts == {d.id: len(TRANSIENT.get(d.id, [])) + 1 for d in docs}

    again = experiment(tmp_path, [spec(provider, server)]).run(docs)  # everything is in the store now
    assert len(server.log()) == len(log)
    assert again.manifest.counts.summaries_cached == 12


def test_retry_after_is_honoured(serve):
    server = serve({"d00": ["429"]}, retry_after=1)
    api = summarizer("openai", server, max_backoff=5)
    [summary] = api.summarize([Request(documents(1)[0], LengthTarget(words=30))])
    first, second = server.log()
    assert (first.fault, second.fault) == ("429", "ok")
    assert second.started - first.finished >= 0.95
    assert summary.ok and summary.details["attempts"] == 2


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_retries_are_bounded(provider, serve):
    server = serve({"d00": ["503"] * 10})
    api = summarizer(provider, server, max_retries=2)
    [summary] = api.summarize([Request(documents(1)[0], LengthTarget(words=30))])
    assert len(server.log()) == 3
    assert summary.error.startswith("gave up after 3 attempts; last error: HTTP 503")
    assert summary.details["attempts"] == 3


@pytest.mark.parametrize(("provider", "fault", "message"), [
    ("openai", "401", "Incorrect API key provided"),
    ("openai", "400", "maximum context length is 128000 tokens"),
    ("anthropic", "401", "invalid x-api-key"),
    ("anthropic", "400", "prompt is too long: 210000 tokens > 200000 maximum"),
])
def test_permanent_errors_are_recorded_with_the_provider_message_and_not_retried(provider, fault, message, serve,
                                                                                   tmp_path):
    server = serve({"d01": [fault]})
    run = experiment(tmp_path, [spec(provider, server)]).run(documents(3))
    assert [r.fault for r in server.requests_for("d01")] == [fault]
    row = run.summaries.set_index("document_id").loc["d01"]
    assert message in row["error"] and row["error"].endswith("(not retried)")
    assert f"HTTP {fault}" in row["error"]
    assert KEY not in row["error"]  # the 401 echoes the key; the summary must not
    details = run.details("d01", row["system"])
    assert (details["attempts"], details["status"]) == (1, int(fault))
    assert run.summaries["error"].notna().sum() == 1
    stored_errors = [error for _, _, error, _ in stored_rows(tmp_path / "runs" / "store.sqlite") if error]
    assert len(stored_errors) == 1 and message in stored_errors[0]


# -- requests -----------------------------------------------------------------------------------------------
def test_openai_request_carries_the_target_and_a_derived_max_tokens(serve):
    server = serve()
    api = summarizer("openai", server)
    doc = documents(1)[0]
    api.summarize([Request(doc, LengthTarget(words=40))])
    body = server.log()[0].body
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0
    assert body["max_tokens"] == math.ceil(2 * 40 * 4 / 3) + 64  # twice the expected tokens, plus 64
    system, user = body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert user["content"] == ("Summarize the following news article in about 40 words. Reply with the summary "
                               "only.\n\n" + doc.text)


def test_anthropic_request_sends_system_apart_and_no_temperature(serve):
    server = serve()
    api = summarizer("anthropic", server, max_tokens=300)
    doc = documents(1)[0]
    api.summarize([Request(doc, LengthTarget(sentences=2, paragraphs=1))])
    body = server.log()[0].body
    assert body["max_tokens"] == 300 and "temperature" not in body
    assert body["system"].startswith("You are a careful news editor")
    assert body["messages"] == [{"role": "user", "content": "Summarize the following news article in 2 sentences, "
                                 "in 1 paragraph. Reply with the summary only.\n\n" + doc.text}]


def test_an_empty_target_leaves_no_dangling_space(serve):
    api = summarizer("openai", serve())
    _, user = api.prompt_parts(Request(Document(id="x", text="Text."), LengthTarget()))
    assert user == "Summarize the following news article. Reply with the summary only.\n\nText."


def test_requests_run_concurrently_up_to_the_limit_and_each_summary_is_sunk_on_arrival(serve):
    server = serve(delay=0.3)
    api = summarizer("openai", server, concurrency=2)
    sunk = []
    started = time.monotonic()
    results = api.summarize([Request(d, LengthTarget(words=30)) for d in documents(6)],
                            sink=lambda s: sunk.append((time.monotonic(), s.document_id)))
    finished = time.monotonic()
    assert [s.document_id for s in results] == [d.id for d in documents(6)]  # in request order
    assert sorted(doc for _, doc in sunk) == [d.id for d in documents(6)]
    assert sunk[0][0] < finished - 0.5  # the first was written long before the batch ended
    log = server.log()
    overlap = max(sum(1 for other in log if other.started <= r.started < other.finished) for r in log)
    assert overlap == 2
    assert 0.85 < finished - started < 3  # 6 requests x 0.3 s, two at a time


# -- cost -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_tokens_and_cost_are_what_the_server_reported(provider, serve, tmp_path):
    server = serve({"d02": ["500"]})
    run = experiment(tmp_path, [spec(provider, server, prices={"input": 1.5, "output": 6.0})]).run(documents(4))
    reported = {r.key: r.usage for r in server.log() if r.fault == "ok"}
    expected_total = 0.0
    for _, row in run.summaries.iterrows():
        details = run.details(row["document_id"], row["system"])
        usage = reported[row["document_id"]]
        assert (details["tokens_prompt"], details["tokens_completion"]) == (usage["prompt"], usage["completion"])
        cost = (usage["prompt"] * 1.5 + usage["completion"] * 6.0) / 1e6
        assert details["cost_usd"] == pytest.approx(cost)
        assert details["model"] == MODELS[provider] and details["latency_s"] > 0
        assert row["text"] == reply_text(row["document_id"])
        expected_total += cost
    total = total_cost(run.summaries)
    assert total.usd == pytest.approx(expected_total) and total.requests == 4 and total.unpriced == 0
    assert total.tokens_prompt == sum(u["prompt"] for u in reported.values())
    cached = total_cost(experiment(tmp_path, [spec(provider, server, prices={"input": 1.5, "output": 6.0})])
                        .run(documents(4)).summaries)
    assert cached.usd_from_store == pytest.approx(expected_total)  # spent by the first run, not this one
    assert "$" in total.describe()


def test_an_unknown_model_has_no_cost_not_zero(serve):
    server = serve()
    api = summarizer("openai", server, model="my-local-llama")
    [summary] = api.summarize([Request(documents(1)[0], LengthTarget(words=30))])
    assert summary.details["cost_usd"] is None
    assert "no price for model 'my-local-llama'" in summary.details["cost_note"]
    total = total_cost([summary])
    assert total.usd is None and total.unpriced == 1
    assert "unknown" in total.describe()


def test_price_table_lookups(tmp_path, monkeypatch):
    table = load_prices()
    assert price_for("gpt-4o-mini", table) == Price(0.15, 0.60, "evalkit default table, as of 2025-08-15")
    assert price_for("gpt-4o-mini-2024-07-18", table) == table["gpt-4o-mini"]  # a dated snapshot
    assert price_for("claude-3-5-haiku-20241022", table) == table["claude-3-5-haiku"]
    assert price_for("claude-3-5-haiku-latest", table) == table["claude-3-5-haiku"]
    assert price_for("gpt-4o-audio-preview", table) is None  # no loose prefix matching
    extra = tmp_path / "prices.yaml"
    extra.write_text("as_of: '2030-01-01'\nmodels:\n  gpt-4o-mini: {input: 9, output: 10}\n"
                     "  mine: {input: 0, output: 0}\n")
    monkeypatch.setenv("EVALKIT_PRICES", str(extra))
    table = load_prices()
    assert price_for("gpt-4o-mini", table) == Price(9.0, 10.0, f"{extra}, as of 2030-01-01")
    assert price_for("mine", table).cost(1000, 1000) == 0.0  # a price of 0 only when someone wrote 0
    extra.write_text("models:\n  bad: {input: -1, output: 2}\n")
    with pytest.raises(ValueError, match="input must be a number >= 0"):
        load_prices()


def test_estimate_cost_before_sending(serve):
    server = serve()
    api = summarizer("openai", server, model="unpriced-model", prices={"input": 2.0, "output": 8.0})
    docs = [Document(id="a", text="A short article."), Document(id="b", text="Another, slightly longer article.")]
    requests = [Request(d, LengthTarget(words=30)) for d in docs]
    estimate = estimate_cost(api, requests)
    assert estimate.method == "chars/4"  # tiktoken does not know this model
    system = "You are a careful news editor. You write accurate, neutral summaries that state only facts given in " \
             "the article."
    prompts = [f"{system}\n\nSummarize the following news article in about 30 words. Reply with the summary "
               f"only.\n\n{d.text}" for d in docs]
    tokens = sum(math.ceil(len(p) / 4) for p in prompts)
    assert estimate.tokens_prompt == tokens
    assert estimate.tokens_completion == 2 * 40  # 30 words x 4/3 tokens per word, per request
    assert estimate.tokens_completion_max == 2 * (80 + 64)
    assert estimate.usd == pytest.approx((tokens * 2 + 80 * 8) / 1e6)
    assert estimate.usd_max == pytest.approx((tokens * 2 + 288 * 8) / 1e6)
    assert server.log() == []  # nothing was sent
    local = estimate_cost(build_summarizer("lead"), requests)
    assert (local.requests, local.usd) == (0, 0.0)
    unpriced = estimate_cost(summarizer("openai", server, model="unpriced-model"), requests)
    assert unpriced.usd is None and "no price" in unpriced.describe()


# -- keys ---------------------------------------------------------------------------------------------------------
def test_the_key_appears_in_no_file_log_or_repr(serve, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # SDK and HTTP-client debug logs too
    faults = {"d00": ["401"], "d01": ["429"], "d02": ["400"], "d03": ["reset"]}
    servers = {provider: serve(faults, retry_after=0.05) for provider in ("openai", "anthropic")}
    exp = experiment(tmp_path, [spec(provider, server) for provider, server in servers.items()])
    run = exp.run(documents(5))
    for server in servers.values():  # the key was really used...
        assert len(server.log()) == 7 and all(r.credential.endswith(KEY) for r in server.log())
    assert run.summaries["error"].notna().sum() == 4  # ...and the 401 echoed it back, twice
    written = [p for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    assert {"store.sqlite", "manifest.json", "scores.csv", "summaries.jsonl"} <= {p.name for p in written}
    for path in written:
        assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in caplog.text and "[REDACTED]" in caplog.text
    assert KEY_ENV not in json.dumps(run.manifest.to_json()["systems"])  # settings hold neither the key nor its variable
    for system_spec in exp.systems:
        api = build_summarizer(system_spec)
        assert KEY not in repr(api) and KEY not in json.dumps(api.settings())


def test_a_missing_key_fails_before_any_request_and_names_the_variable(serve, monkeypatch, tmp_path):
    server = serve()
    monkeypatch.delenv(KEY_ENV)
    api = summarizer("anthropic", server)
    with pytest.raises(MissingKeyError, match=f"set the environment variable {KEY_ENV}"):
        api.summarize([Request(documents(1)[0], LengthTarget(words=30))])
    with pytest.raises(MissingKeyError, match=KEY_ENV):
        experiment(tmp_path, [spec("openai", server)]).run(documents(2))
    assert server.log() == []


def test_a_key_pasted_as_the_variable_name_is_refused_without_echoing_it(serve):
    with pytest.raises(ConfigError) as error:
        summarizer("openai", serve(), api_key_env=KEY)
    assert "NAME of an environment variable" in str(error.value) and KEY not in str(error.value)
    with pytest.raises(ConfigError, match="does not take 'api_key'") as error:
        build_summarizer({**spec("openai", serve()), "api_key": KEY})
    assert KEY not in str(error.value)


def test_the_fingerprint_covers_outputs_not_keys_or_plumbing(serve):
    server = serve()
    base = summarizer("openai", server)
    assert isinstance(base, OpenAISummarizer) and isinstance(summarizer("anthropic", server), AnthropicSummarizer)
    same = summarizer("openai", server, api_key_env="OTHER_VAR", concurrency=9, timeout=30, max_retries=1,
                      prices={"input": 1, "output": 1})
    assert base.fingerprint == same.fingerprint
    assert summarizer("openai", server, temperature=0.7).fingerprint != base.fingerprint
    assert summarizer("openai", server, prompt="{target}: {article}").fingerprint != base.fingerprint
    with pytest.raises(ConfigError, match=r"must contain \{target\}"):
        summarizer("openai", server, prompt="Summarize: {article}")
    with pytest.raises(ConfigError, match="did you mean 'model'"):
        build_summarizer({**spec("openai", server), "modle": "x"})


# -- replay -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["env", "flag"])
def test_replay_serves_the_store_and_fails_loudly_on_a_miss(how, serve, tmp_path, monkeypatch):
    server = serve({"d01": ["401"]})
    first = experiment(tmp_path, [spec("openai", server)]).run(documents(3))
    requests_made = len(server.log())
    monkeypatch.delenv(KEY_ENV)  # CI has no key
    options = {"replay_only": True} if how == "flag" else {}
    if how == "env":
        monkeypatch.setenv("EVALKIT_OFFLINE", "1")
    replay = experiment(tmp_path, [spec("openai", server)], **options).run(documents(3))
    assert len(server.log()) == requests_made  # nothing sent, the stored failure included
    columns = ["document_id", "text", "error"]
    assert replay.summaries[columns].equals(first.summaries[columns])
    more = documents(3) + documents(2, prefix="new")
    with pytest.raises(ReplayMissError) as error:
        experiment(tmp_path, [spec("openai", server)], **options).run(more)
    message = str(error.value)
    assert "'openai-test'" in message and "2 of 5 document(s): new00, new01" in message
    assert len(server.log()) == requests_made


def _config(tmp_path: Path, server: FakeAPIServer, data: Path, name: str) -> Path:
    import yaml

    config = {
        "name": name, "data": {"path": str(data)}, "target": {"words": 30},
        "output_dir": str(tmp_path / name), "metrics": [{"kind": "length"}, {"kind": "rouge"}],
        "systems": [{"kind": "openai", "name": "gpt", "model": "gpt-4o-mini", "base_url": server.openai_url,
                     "api_key_env": KEY_ENV, "concurrency": 2, "timeout": 10, "backoff": 0.01}],
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _cli(config: Path, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), KEY_ENV: KEY}
    return subprocess.Popen([sys.executable, "-m", "evalkit.cli", "run", str(config), "-q"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _results(run_dir: Path) -> tuple[list, list]:
    summaries = [json.loads(line) for line in (run_dir / "summaries.jsonl").read_text().splitlines()]
    texts = sorted((s["document_id"], s["text"], s["error"]) for s in summaries)
    scores = sorted((run_dir / "scores.csv").read_text().splitlines())
    return texts, scores


def test_a_run_killed_mid_flight_resumes_without_repeating_a_received_request(serve, tmp_path):
    server = serve(delay=0.4)
    docs = documents(12)
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps({"id": d.id, "article": d.text, "references": list(d.references)}) + "\n"
                            for d in docs), encoding="utf-8")
    config = _config(tmp_path, server, data, "killed")
    store = tmp_path / "killed" / "store.sqlite"

    process = _cli(config, tmp_path)
    deadline = time.monotonic() + 30
    while len(stored_document_ids(store, docs)) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, f"the run ended before it could be killed: {process.communicate()}"
    # Workers store a reply before sending their next request: give the next requests time to
    # reach the server (well inside the server's 0.4 s delay), so some are in flight at the kill.
    time.sleep(0.15)
    os.kill(process.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    process.wait(timeout=10)
    process.communicate()
    received = stored_document_ids(store, docs)
    assert 4 <= len(received) < 12
    server.wait_idle()
    before = server.log()
    assert any(r.started < killed_at and r.key not in received for r in before)  # requests were in flight

    resumed = _cli(config, tmp_path)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    again = [r.key for r in server.log()[len(before):]]
    assert not set(again) & received  # nothing received before the kill was requested again
    assert set(again) | received == {d.id for d in docs}
    assert stored_document_ids(store, docs) == {d.id for d in docs}
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM summaries").fetchone()[0] == 12

    undisturbed = Experiment.from_yaml(_config(tmp_path, server, data, "undisturbed"))
    undisturbed.progress = False
    reference = undisturbed.run()
    killed_dir = tmp_path / "killed" / (tmp_path / "killed" / "LATEST").read_text().strip()
    assert _results(killed_dir) == _results(reference.run_dir)


# -- failing fast, failing for good, stopping cleanly (issue 14) ------------------------------------------------
def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_closed_port_trips_the_circuit_breaker_with_one_message(caplog):
    port = _closed_port()
    api = build_summarizer({"kind": "openai", "name": "closed", "model": "gpt-4o-mini", "api_key_env": KEY_ENV,
                            "base_url": f"http://127.0.0.1:{port}/v1"})  # default retries: 7 attempts, 1 s backoff
    started = time.monotonic()
    summaries = api.summarize([Request(d, LengthTarget(words=30)) for d in documents(6)])
    elapsed = time.monotonic() - started
    # 4 failures in a row open the breaker: at most two rounds of the 6 workers and one backoff of <= 1 s,
    # where seven attempts per document would have waited 0.5 + 1 + 2 + 4 + 8 + 16 s at least
    assert elapsed < 5, elapsed
    assert len(summaries) == 6 and all(not s.ok for s in summaries)
    assert {s.error for s in summaries} == {summaries[0].error}
    assert "connection attempts in a row" in summaries[0].error and f"127.0.0.1:{port}" in summaries[0].error
    assert all(s.details["breaker"] and "permanent" not in s.details for s in summaries)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "stopped sending" in errors[0].getMessage()


@pytest.mark.parametrize("fault", ["401", "400"])
def test_permanent_errors_carry_a_hash_of_the_credential_not_the_key(fault, serve, monkeypatch):
    server = serve({"d00": [fault], "d01": ["429"] * 9}, retry_after=0.01)
    api = summarizer("openai", server, max_retries=1)
    failed, gave_up = api.summarize([Request(d, LengthTarget(words=30)) for d in documents(2)])
    assert failed.details["permanent"] is True and failed.details["status"] == int(fault)
    credential = failed.details["credential"]
    assert credential == api.credential_id() and len(credential) == 12 and KEY not in credential
    assert "permanent" not in gave_up.details and gave_up.details["status"] == 429  # transient: ask again later
    monkeypatch.setenv(KEY_ENV, KEY + "-rotated")
    assert api.credential_id() not in (None, credential)
    monkeypatch.delenv(KEY_ENV)
    assert api.credential_id() is None


def test_an_interrupt_hands_over_every_reply_that_arrived_and_leaves_no_thread(serve):
    import threading

    delays = {"d00": 0.0, "d01": 0.0, "d02": 0.6, "d03": 30, "d04": 30, "d05": 30}
    server = serve(delays=delays)
    api = summarizer("openai", server, concurrency=6, timeout=60)
    sunk, pressed = [], []

    def ctrl_c():
        pressed.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    def sink(summary):
        sunk.append(summary.document_id)
        if len(sunk) == 2:  # the user presses Ctrl-C while four requests are in flight
            threading.Timer(0.05, ctrl_c).start()

    with pytest.raises(KeyboardInterrupt):
        api.summarize([Request(d, LengthTarget(words=30)) for d in documents(6)], sink=sink)
    elapsed = time.monotonic() - pressed[0]
    assert sorted(sunk) == ["d00", "d01", "d02"]  # d02's reply came during the grace period
    assert elapsed < api.transport.grace + 1.5  # not the 30 s the slow requests would take
    assert not [t for t in threading.enumerate() if t.name.startswith("evalkit-openai-test")]


def test_a_password_in_base_url_is_in_no_file_log_error_or_fingerprint(serve, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    password = "hunter2-pa55word-zz"
    server = serve({"d00": ["401"], "d01": ["reset"]})
    url = server.openai_url.replace("http://", f"http://alice:{password}@")
    exp = experiment(tmp_path, [spec("openai", server, base_url=url)])
    run = exp.run(documents(3))
    assert len(server.log()) == 4 and run.summaries["error"].notna().sum() == 1
    for path in (p for p in (tmp_path / "runs").rglob("*") if p.is_file()):
        assert password.encode() not in path.read_bytes(), path
    assert password not in caplog.text and "alice" not in caplog.text
    assert password not in json.dumps(run.manifest.to_json())
    api = summarizer("openai", server, base_url=url)
    assert password not in repr(api) and api.settings()["base_url"] == f"http://***@127.0.0.1:{server.port}/v1"
    other = summarizer("openai", server, base_url=url.replace(password, "another-password"))
    assert other.fingerprint == api.fingerprint  # a credential does not change what the model writes...
    assert other.credential_id() != api.credential_id()  # ...but a stored 401 is worth retrying with it
