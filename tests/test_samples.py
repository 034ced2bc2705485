"""Repeated samples (``samples: k``) and sweeps (``grid:``): the store key, the runner, the run record.

Fast cases use extractive systems and the fake API server (``api_server.py``); the real cases use
SmolLM2 behind ``transformers serve`` (session fixture ``real_server``, whose proxy counts every
request on the wire) and SmolLM2 through ``hf-chat``.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: nothing may wait on the hub

import hashlib
import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from api_server import serve  # noqa: F401  (a fixture)
from conftest import REPO

from evalkit.core.errors import ConfigError
from evalkit.core.fingerprint import document_hash
from evalkit.core.seeds import sample_seed
from evalkit.core.types import Document, LengthTarget, Request
from evalkit.run.experiment import Experiment
from evalkit.run.record import Run
from evalkit.run.store import summary_key

KEY_ENV = "EVALKIT_SAMPLES_TEST_KEY"


def _docs(n: int) -> list[Document]:
    """Small articles whose ``[doc:<id>]`` marker lets the fake server key requests by document."""
    return [Document(id=f"d{i}", text=f"[doc:d{i}] The council met on day {i}. It approved budget number {i}. "
                                      f"Residents protested outside the hall on day {i}.",
                     references=(f"The council approved budget {i}.",)) for i in range(n)]


def _sha(data: dict, length: int = 32) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:length]


def _old_key(fingerprint: str, text: str, target: str, **extra) -> str:
    """The summary key as the store computed it before samples existed (plus ``extra``), written out by hand."""
    document = _sha({"text": text, "references": []})
    return _sha({"fingerprint": fingerprint, "document": document, "target": target, **extra})


# -- the store key ---------------------------------------------------------------------------------

def test_sample_zero_keeps_the_old_store_key_and_later_samples_get_their_own():
    doc = Document(id="a", text="One sentence here. Another one there.")
    target = LengthTarget(words=40)
    zero = summary_key("lead@123", Request(doc, target))
    assert zero == _old_key("lead@123", doc.text, "words=40,bound=about")
    assert summary_key("lead@123", Request(doc, target, sample=0)) == zero
    keys = [summary_key("lead@123", Request(doc, target, sample=i)) for i in range(4)]
    assert len(set(keys)) == 4
    assert keys[2] == _old_key("lead@123", doc.text, "words=40,bound=about", sample=2)


# -- config: samples and grids ---------------------------------------------------------------------

def test_a_grid_expands_to_named_systems_and_a_bad_key_is_one_line_with_a_hint(tmp_path):
    experiment = Experiment(systems=[{"kind": "lead"},
                                     {"kind": "textrank", "grid": {"damping": [0.8, 0.85], "iterations": [50, 100]}}],
                            output_dir=tmp_path)
    assert [s.get("name") or s["kind"] for s in experiment.systems] == [
        "lead", "textrank[damping=0.8,iterations=50]", "textrank[damping=0.8,iterations=100]",
        "textrank[damping=0.85,iterations=50]", "textrank[damping=0.85,iterations=100]"]
    assert experiment.systems[2]["damping"] == 0.8 and experiment.systems[2]["iterations"] == 100
    named = Experiment(systems=[{"kind": "textrank", "name": "tr-{damping}", "matrix": {"damping": [0.8, 0.9]}}],
                       output_dir=tmp_path)
    assert [s["name"] for s in named.systems] == ["tr-0.8", "tr-0.9"]
    long = Experiment(systems=[{"kind": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1",
                                "grid": {"prompt": ["Summarize {article} {target}", "Write {target}: {article}"],
                                         "temperature": [0.2, 0.8]}}], output_dir=tmp_path)
    assert [s["name"] for s in long.systems] == [  # long values by position; the last key varies fastest
        "openai[prompt=#1,temperature=0.2]", "openai[prompt=#1,temperature=0.8]",
        "openai[prompt=#2,temperature=0.2]", "openai[prompt=#2,temperature=0.8]"]
    with pytest.raises(ConfigError) as caught:
        Experiment(systems=[{"kind": "textrank", "grid": {"dampng": [0.8, 0.9]}}], output_dir=tmp_path)
    message = str(caught.value)
    assert "\n" not in message and "did you mean 'damping'?" in message and "'dampng'" in message
    with pytest.raises(ConfigError, match="must be a whole number >= 1"):
        Experiment(systems=[{"kind": "lead", "samples": 0}], output_dir=tmp_path)
    with pytest.raises(ConfigError, match="samples and grids belong to systems"):
        Experiment(systems=["lead"], metrics=[{"kind": "rouge", "samples": 2}], output_dir=tmp_path)


def test_a_grid_of_four_shows_in_the_table_and_the_html_report(tmp_path):
    from evalkit.report.html import write_html
    from evalkit.report.tables import format_table

    experiment = Experiment(systems=[{"kind": "textrank", "name": "tr",
                                      "grid": {"damping": [0.8, 0.85], "iterations": [50, 100]}}],
                            data={"path": "bundled", "limit": 4}, output_dir=tmp_path, progress=False)
    run = experiment.run()
    names = ["tr[damping=0.8,iterations=50]", "tr[damping=0.8,iterations=100]", "tr[damping=0.85,iterations=50]",
             "tr[damping=0.85,iterations=100]"]
    assert list(run.table().index) == names
    table = format_table(run)
    assert all(name in table for name in names)
    page = write_html(run, tmp_path / "report.html").read_text(encoding="utf-8")
    assert all(name in page for name in names)


# -- a system that does not sample -----------------------------------------------------------------

def test_an_extractive_system_with_three_samples_warns_once_and_computes_one(tmp_path, caplog):
    docs = _docs(3)
    experiment = Experiment(systems=[{"kind": "lead", "samples": 3}, "textrank"], output_dir=tmp_path,
                            progress=False)
    with caplog.at_level(logging.WARNING):
        run = experiment.run(docs)
    warnings = [r.getMessage() for r in caplog.records if "identical" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("lead does not sample")
    assert run.manifest.counts.summaries_computed == 3 + 3  # lead once per document, textrank once
    assert run.manifest.counts.summaries_copied == 2 * 3
    lead = run.summaries[run.summaries["system"] == "lead"]
    assert sorted(lead["sample"]) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert all(d.get("copy_of_sample") == 0 for d in lead[lead["sample"] > 0]["details"])
    assert lead.groupby("document_id")["text"].nunique().eq(1).all()
    entry = run.manifest.systems["lead"]
    assert (entry.samples, entry.samples_computed) == (3, 1) and entry.seeds.startswith("none")
    assert run.manifest.systems["textrank"].samples == 1
    # one row per sample in sample_scores; the per-document table has one row per document
    lead_rows = run.scores[run.scores["system"] == "lead"]
    assert len(run.sample_scores[run.sample_scores["system"] == "lead"]) == 3 * len(lead_rows)
    assert len(lead_rows) == len(run.scores[run.scores["system"] == "textrank"])


# -- the per-document mean ---------------------------------------------------------------------------

def test_scores_are_the_per_document_mean_over_samples_and_old_frames_mean_sample_zero(tmp_path):
    manifest = {"systems": {"s": {"kind": "openai"}}, "metrics": {}}
    frame = pd.DataFrame([
        ("a", "s", 0, "m", 1.0, None), ("a", "s", 1, "m", 2.0, "late"), ("a", "s", 2, "m", 6.0, None),
        ("b", "s", 0, "m", None, "no summary: boom"), ("b", "s", 1, "m", 4.0, None),
        ("c", "s", 0, "m", None, "x"), ("c", "s", 1, "m", None, "y"),
    ], columns=["document_id", "system", "sample", "metric", "value", "note"])
    run = Run(tmp_path, manifest, frame, pd.DataFrame(columns=["document_id", "system", "text"]))
    by_doc = run.scores.set_index("document_id")
    assert list(run.scores.columns) == ["document_id", "system", "metric", "value", "note"]
    assert by_doc.loc["a", "value"] == pytest.approx((1 + 2 + 6) / 3) and by_doc.loc["a", "note"] is None
    assert by_doc.loc["b", "value"] == pytest.approx(4.0) and by_doc.loc["b", "note"] == "no summary: boom"
    assert pd.isna(by_doc.loc["c", "value"]) and by_doc.loc["c", "note"] == "x"
    assert len(run.sample_scores) == 7
    old = pd.DataFrame([("a", "s", "m", 1.5, None)], columns=["document_id", "system", "metric", "value", "note"])
    legacy = Run(tmp_path, manifest, old, pd.DataFrame(columns=["document_id", "system", "text"]))
    assert legacy.scores is old  # untouched
    assert list(legacy.sample_scores["sample"]) == [0] and list(legacy.summaries.columns).count("sample") == 1


@pytest.mark.parametrize("kind", ["legacy", "v2"])
def test_old_runs_load_with_sample_zero(kind):
    folder = REPO / "tests" / "fixtures" / kind
    run = Run.load(next(p.parent for p in folder.rglob("manifest.json")))
    assert set(run.sample_scores["sample"]) == {0} and set(run.summaries["sample"]) == {0}
    assert len(run.sample_scores) == len(run.scores)
    assert "sample" in run.facts.columns and set(run.facts["sample"]) <= {0}


# -- an API system that samples: the fake server counts the requests ---------------------------------

def test_raising_samples_computes_only_the_new_ones_and_seeds_them(serve, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")
    monkeypatch.delenv("EVALKIT_OFFLINE", raising=False)
    server = serve()
    docs = _docs(4)

    def run(samples: int):
        system = {"kind": "openai", "name": "api", "model": "gpt-4o-mini", "base_url": server.openai_url,
                  "api_key_env": KEY_ENV, "temperature": 0.8, "samples": samples, "max_retries": 0}
        return Experiment(systems=[system], metrics=["length"], output_dir=tmp_path, progress=False).run(docs)

    first = run(3)
    assert len(server.log()) == 3 * 4 and first.manifest.counts.summaries_computed == 12
    seeds = {(r.key, r.body.get("seed")) for r in server.log()}
    expected = {(d.id, None) for d in docs} | {(d.id, sample_seed(0, document_hash(d.text), i))
                                              for d in docs for i in (1, 2)}
    assert seeds == expected  # sample 0 is sent as a system without samples sends it; 1 and 2 seeded
    again = run(3)
    assert len(server.log()) == 12 and again.manifest.counts.summaries_computed == 0
    assert again.manifest.counts.summaries_cached == 12
    more = run(5)
    assert len(server.log()) == 12 + 2 * 4 and more.manifest.counts.summaries_computed == 8
    assert {r.body.get("seed") for r in server.log()[12:]} == {sample_seed(0, document_hash(d.text), i)
                                                             for d in docs for i in (3, 4)}
    assert sorted(set(more.summaries["sample"])) == [0, 1, 2, 3, 4]
    entry = more.manifest.systems["api"]
    assert (entry.samples, entry.samples_computed) == (5, 5) and "sample_seed" in entry.seeds
    details = more.summaries.set_index(["document_id", "sample"])["details"]
    assert details["d1", 3]["seed"] == sample_seed(0, document_hash(docs[1].text), 3)
    assert "seed" not in details["d1", 0]


def test_a_dry_run_counts_the_requests_of_the_whole_grid_times_samples(serve, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")
    server = serve()
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps({"id": d.id, "article": d.text, "references": list(d.references)}) + "\n"
                            for d in _docs(3)), encoding="utf-8")
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump({
        "name": "grid", "data": {"path": str(data)}, "samples": 2, "metrics": ["length"],
        "systems": [{"kind": "openai", "model": "gpt-4o-mini", "base_url": server.openai_url, "api_key_env": KEY_ENV,
                     "grid": {"temperature": [0.2, 0.8], "max_tokens": [30, 60]}}]}, sort_keys=False),
                      encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), KEY_ENV: "sk-test"}
    out = subprocess.run([sys.executable, "-m", "evalkit.cli", "run", str(config), "--output", str(tmp_path / "o"),
                          "--dry-run"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "Systems (4): openai[temperature=0.2,max_tokens=30], openai[temperature=0.2,max_tokens=60], " \
           "openai[temperature=0.8,max_tokens=30], openai[temperature=0.8,max_tokens=60]" in out.stdout
    assert "Total: 24 API requests" in out.stdout  # 4 systems x 3 documents x 2 samples
    assert out.stdout.count("[samples: 2]") == 4
    assert not server.log()  # nothing sent


# -- real models: SmolLM2 behind transformers serve, and through hf-chat ------------------------------

SERVER_KEY_ENV = "EVALKIT_LOCAL_SERVER_KEY"
"""transformers serve ignores the key; the OpenAI SDK needs one."""
SAMPLE = {"generation_config": json.dumps({"do_sample": True})}
"""transformers serve samples only when asked (the model's generation config says do_sample: false), as
a server's own parameter; OpenAI-compatible services sample at any temperature above 0."""


def _short_articles(cnndm_documents: list[Document], n: int) -> list[Document]:
    from evalkit.core.text import count_words

    chosen = [d for d in cnndm_documents if 150 <= count_words(d.text) <= 300][:n]
    assert len(chosen) == n
    return chosen


def _write_data(path: Path, docs: list[Document]) -> Path:
    path.write_text("".join(json.dumps({"id": d.id, "article": d.text, "references": list(d.references)}) + "\n"
                            for d in docs), encoding="utf-8")
    return path


def _served_config(tmp_path: Path, server, data: Path, name: str, **system) -> Path:
    config = {
        "name": name, "data": {"path": str(data)}, "target": {"sentences": 1}, "output_dir": str(tmp_path / name),
        "systems": [{"kind": "openai", "name": "smol", "model": server.model, "base_url": server.base_url,
                     "api_key_env": SERVER_KEY_ENV, "concurrency": 1, "timeout": 300, "max_retries": 1,
                     "max_tokens": 24, **system}],
        "metrics": [{"kind": "length"}],
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _cli(config: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), SERVER_KEY_ENV: "unused", "HF_HUB_OFFLINE": "1"}
    env.pop("EVALKIT_OFFLINE", None)
    return subprocess.Popen([sys.executable, "-m", "evalkit.cli", "run", str(config), "-q", *extra], cwd=config.parent,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stored(store: Path, docs: list[Document]) -> dict[tuple[str, int], str]:
    """(document id, sample) -> text of every reply the store holds, read from its rows (the seed says the sample)."""
    import sqlite3

    by_hash = {document_hash(d.text): d for d in docs}
    out = {}
    try:
        with sqlite3.connect(store, timeout=5) as db:
            rows = db.execute("SELECT document_hash, text, details FROM summaries WHERE error IS NULL").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return {}
    for digest_, text, details in rows:
        doc = by_hash[digest_]
        out[doc.id, _sample_of(doc, json.loads(details).get("seed"))] = text
    return out


def _sample_of(doc: Document, seed: int | None) -> int:
    if seed is None:
        return 0
    (sample,) = [i for i in range(1, 8) if sample_seed(0, document_hash(doc.text), i) == seed]
    return sample


def _asked(records, docs: list[Document]) -> list[tuple[str, int]]:
    """(document id, sample) of each request the proxy forwarded (the article names the document, the seed
    the sample)."""
    out = []
    for record in records:
        user = next(m["content"] for m in record.body["messages"] if m["role"] == "user")
        (doc,) = [d for d in docs if d.text in user]
        out.append((doc.id, _sample_of(doc, record.body.get("seed"))))
    return out


def test_real_samples_distinct_resumed_after_sigkill_and_raised_from_three_to_five(real_server, cnndm_documents,
                                                                                     tmp_path):
    """SmolLM2 at temperature 0.8, samples: 3 on 6 articles: killed midway and resumed (no reply lost, none
    asked twice), 3 distinct replies per document; a re-run sends nothing; samples: 5 sends 2 x 6."""
    docs = _short_articles(cnndm_documents, 6)
    data = _write_data(tmp_path / "six.jsonl", docs)
    config = _served_config(tmp_path, real_server, data, "sampled", temperature=0.8, samples=3, max_tokens=24,
                            extra_body=SAMPLE)
    store = tmp_path / "sampled" / "store.sqlite"
    proxy = real_server.proxy

    process = _cli(config)
    deadline = time.monotonic() + 300
    while len(_stored(store, docs)) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.poll() is None, f"the run ended before it could be killed: {process.communicate()}"
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    before_kill = _stored(store, docs)
    assert 2 <= len(before_kill) < 18
    sent_before = len(proxy.completions())

    resumed = _cli(config)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    again = _asked(proxy.completions()[sent_before:], docs)
    # what the resumed run asked for (the proxy also logs, late, the request the killed run had in flight)
    assert not set(again) & set(before_kill)  # no stored reply paid for twice
    assert set(again) == {(d.id, i) for d in docs for i in range(3)} - set(before_kill)
    run = Run.load(tmp_path / "sampled")
    texts = {(r.document_id, r.sample): r.text for r in run.summaries.itertuples()}
    assert set(texts) == {(d.id, i) for d in docs for i in range(3)}
    assert all(texts[key] == text for key, text in before_kill.items())  # no reply lost, none replaced
    for doc in docs:
        replies = [texts[doc.id, i] for i in range(3)]
        assert all(r.strip() for r in replies) and len(set(replies)) == 3, replies
    assert run.manifest.systems["smol"].samples == 3 and run.manifest.systems["smol"].samples_computed == 3
    assert len(run.scores[run.scores["metric"] == "length_words"]) == 6  # per document
    assert len(run.sample_scores[run.sample_scores["metric"] == "length_words"]) == 18

    sent = len(proxy.completions())
    rerun = _cli(config)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert len(proxy.completions()) == sent
    assert "Computed 0 summaries (18 from the store)" in out

    raised = yaml.safe_load(config.read_text())
    raised["systems"][0]["samples"] = 5
    config.write_text(yaml.safe_dump(raised, sort_keys=False), encoding="utf-8")
    more = _cli(config)
    out, err = more.communicate(timeout=600)
    assert more.returncode == 0, err
    new = _asked(proxy.completions()[sent:], docs)
    assert sorted(new) == sorted((d.id, i) for d in docs for i in (3, 4))  # 2 x 6, nothing else
    assert "Computed 12 summaries (18 from the store)" in out


def test_real_grid_of_two_prompts_by_two_temperatures(real_server, cnndm_documents, tmp_path):
    """A 2 x 2 grid on SmolLM2 behind transformers serve: the dry run prints the four systems and the request
    count first, then they appear in the table and the HTML report."""
    docs = _short_articles(cnndm_documents, 3)
    data = _write_data(tmp_path / "three.jsonl", docs)
    prompts = {"brief": "Summarize {article} {target}.",
               "news": "You are a news editor. Write a summary {target} of this article:\n\n{article}"}
    config = _served_config(tmp_path, real_server, data, "grid", max_tokens=24, extra_body=SAMPLE,
                            grid={"prompt": prompts, "temperature": [0.2, 0.8]})
    names = ["smol[prompt=brief,temperature=0.2]", "smol[prompt=brief,temperature=0.8]",
             "smol[prompt=news,temperature=0.2]", "smol[prompt=news,temperature=0.8]"]
    sent = len(real_server.proxy.completions())
    dry = _cli(config, "--dry-run")
    out, err = dry.communicate(timeout=120)
    assert dry.returncode == 0, err
    assert out.splitlines()[1] == f"Systems (4): {', '.join(names)}"
    assert "Total: 12 API requests" in out  # 4 systems x 3 documents
    assert len(real_server.proxy.completions()) == sent

    run = _cli(config)
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0, err
    assert len(real_server.proxy.completions()) == sent + 12
    table = out.split("Columns")[0]
    assert all(f"\n{name} " in table for name in names), table
    report = tmp_path / "grid.html"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    made = subprocess.run([sys.executable, "-m", "evalkit.cli", "report", str(tmp_path / "grid"), "--html",
                           str(report)], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert made.returncode == 0, made.stderr
    page = report.read_text(encoding="utf-8")
    assert all(name in page for name in names)
    bodies = [r.body for r in real_server.proxy.completions()[sent:]]
    assert sorted(b["temperature"] for b in bodies) == [0.2] * 6 + [0.8] * 6
    assert sum("news editor" in b["messages"][-1]["content"] for b in bodies) == 6


def test_a_sampling_local_model_seeds_each_reply_from_document_and_sample(smollm2_folder, cnndm_documents):
    """hf-chat with do_sample: each reply is drawn from sample_seed(seed, document, sample), so it is the same
    whichever requests share its call, and samples of one document differ."""
    from evalkit.summarizers.local import ChatSummarizer

    a, b = _short_articles(cnndm_documents, 2)
    target = LengthTarget(words=15)
    system = ChatSummarizer("smol", model=str(smollm2_folder), max_new_tokens=16, batch_size=4,
                            generate_kwargs={"do_sample": True, "temperature": 0.9})
    try:
        first = system.summarize([Request(a, target, sample=i) for i in range(3)] + [Request(b, target)])
        alone = system.summarize([Request(a, target, sample=2)])
    finally:
        system.close()
    assert all(s.error is None for s in first + alone), [s.error for s in first + alone]
    assert [s.sample for s in first] == [0, 1, 2, 0]
    assert alone[0].text == first[2].text  # the same reply without the other requests around it
    assert len({s.text for s in first[:3]}) >= 2
    assert [s.details["seed"] for s in first[:3]] == [sample_seed(0, document_hash(a.text), i) for i in range(3)]
    assert system.draws_samples() and "sample_seed" in system.seed_policy()
