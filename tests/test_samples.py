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
from conftest import REPO, TINY_ROWS

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
                          "--dry-run"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Systems (4): openai[temperature=0.2,max_tokens=30], openai[temperature=0.2,max_tokens=60], " \
           "openai[temperature=0.8,max_tokens=30], openai[temperature=0.8,max_tokens=60]" in out.stdout
    assert "Total: 24 API requests" in out.stdout  # 4 systems x 3 documents x 2 samples
    assert out.stdout.count("[samples: 2]") == 4
    assert not server.log()  # nothing sent
