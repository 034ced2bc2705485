"""``executor: ray`` gives the same tidy table as a local run, and resumes after the driver is killed.

A real local Ray cluster is started by the tests (``ray.init`` on this machine, 2 CPUs). The
experiment has extractive strategies, a tiny random-weight seq2seq model (through the real
Hugging Face loading and generation path), BERTScore with the bundled MiniLM and the entity
metric with spaCy: every heavy thing is built once per actor.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
transformers = pytest.importorskip("transformers")

from api_server import FakeAPIServer  # noqa: E402

from evalkit.run.experiment import Experiment  # noqa: E402
from evalkit.run.record import Run  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory) -> Path:
    """A BART-shaped model with random weights and a word-level tokenizer trained on the bundled sample."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    from evalkit.inputs.data import load

    texts = [d.text for d in load({"path": "bundled"})]
    specials = ["[PAD]", "[UNK]", "<s>", "</s>"]
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=specials, vocab_size=2000))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 2), ("</s>", 3)])
    wrapped = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                                   bos_token="<s>", eos_token="</s>", model_max_length=128)
    config = transformers.BartConfig(
        vocab_size=len(wrapped), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=128,
        pad_token_id=0, bos_token_id=2, eos_token_id=3, decoder_start_token_id=3, forced_eos_token_id=3)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny") / "bart"
    transformers.BartForConditionalGeneration(config).save_pretrained(path)
    wrapped.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _config(tmp_path: Path, model: Path, name: str, executor: str) -> dict:
    return {
        "name": name, "executor": executor, "data": {"path": "bundled", "limit": 6}, "target": "2 sentences",
        "systems": [{"kind": "lead"}, {"kind": "textrank"},
                    {"kind": "hf-seq2seq", "name": "tiny", "model": str(model), "resources": {"num_cpus": 1}},
                    {"kind": "random", "seed": 0, "actors": 2}],
        "metrics": [{"kind": "rouge"}, {"kind": "bertscore"}, {"kind": "entities"}, {"kind": "length"}],
        "output_dir": str(tmp_path / name), "progress": False, "batch_size": 2,
    }


def _tidy(run: Run):
    frame = run.scores.sort_values(["document_id", "system", "metric"]).reset_index(drop=True)
    return frame[["document_id", "system", "metric", "value", "note"]]


def test_ray_and_local_runs_give_identical_tables(tmp_path, tiny_bart, ray_cluster):
    local = Experiment.from_dict(_config(tmp_path, tiny_bart, "local", "local")).run()
    on_ray = Experiment.from_dict(_config(tmp_path, tiny_bart, "ray", "ray")).run()
    assert on_ray.manifest.executor.name == "ray" and local.manifest.executor.name == "local"
    a, b = _tidy(local), _tidy(on_ray)
    assert len(a) == len(b) > 0
    assert a[["document_id", "system", "metric", "note"]].equals(b[["document_id", "system", "metric", "note"]])
    assert (a["value"].isna() == b["value"].isna()).all()
    # exact, except BERTScore: float32 embeddings of a text differ in the last bits with the batch they are
    # computed in (the local run reuses stored reference embeddings, the actors compute them afresh)
    embedded = a["metric"].str.startswith("bertscore")
    diff = (a["value"] - b["value"]).abs().fillna(0)
    assert (diff[~embedded] == 0).all()
    assert (diff[embedded] <= 1e-6).all()
    summaries = [s.sort_values(["document_id", "system"])["text"].tolist() for s in (local.summaries, on_ray.summaries)]
    assert summaries[0] == summaries[1]
    # placement keys are not settings: the fingerprints match the local run's
    assert local.manifest.systems["tiny"].fingerprint == on_ray.manifest.systems["tiny"].fingerprint

    # a re-run on Ray computes nothing
    again = Experiment.from_dict(_config(tmp_path, tiny_bart, "ray", "ray")).run()
    assert again.manifest.counts.summaries_computed == 0 and again.manifest.counts.scores_computed == 0


def _stored_summaries(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM summaries").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_killed_ray_driver_resumes_with_nothing_recomputed(tmp_path):
    """SIGKILL the driver while Ray workers are summarizing; the re-run sends only what was never stored."""
    with FakeAPIServer(delay=0.4).start() as server:
        config = {
            "name": "killed", "executor": "ray", "data": {"path": "bundled", "limit": 12}, "target": "2 sentences",
            "systems": [{"kind": "openai", "name": "api", "model": "fake-model", "base_url": server.openai_url,
                         "concurrency": 1}],
            "metrics": [{"kind": "length"}], "batch_size": 2,
        }
        path = tmp_path / "killed.yaml"
        path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        env = {**os.environ, "OPENAI_API_KEY": "sk-test-not-a-real-key-000"}
        command = [sys.executable, "-m", "evalkit.cli", "run", str(path), "--output", str(tmp_path / "runs"), "-q"]
        process = subprocess.Popen(command, env=env, cwd=tmp_path, start_new_session=True)
        store = tmp_path / "runs" / "store.sqlite"
        deadline = time.monotonic() + 120
        while _stored_summaries(store) < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        kept = _stored_summaries(store)
        assert 3 <= kept < 12, f"kill came too late or too early: {kept} stored"
        # the killed driver's actors may finish the request they hold; wait until the server is quiet
        settled = time.monotonic() + 30
        n_before = -1
        while n_before != len(server.log()) and time.monotonic() < settled:
            n_before = len(server.log())
            time.sleep(2.0)

        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        run = Run.load(tmp_path / "runs")
        counts = run.manifest.counts
        assert counts.summaries_cached == kept and counts.summaries_computed == 12 - kept
        sent_again = [r.key for r in server.log()[n_before:] if r.fault == "ok"]
        assert len(sent_again) == 12 - kept  # only what was never stored is requested
        assert len(set(sent_again)) == len(sent_again)  # and each once


def test_a_killed_driver_leaves_no_ray_process_behind(tmp_path):
    """SIGKILL the driver alone (not its process group): the local cluster it started is gone within 15 s.

    Without the watchdog (evalkit.run.raywatch) Ray's dashboard and runtime-env agents outlived a killed
    driver, reparented to init, two per kill."""
    psutil = pytest.importorskip("psutil")
    config = {"name": "orphans", "executor": "ray", "data": {"path": "bundled", "limit": 24}, "target": "2 sentences",
              "systems": [{"kind": "lead"}, {"kind": "textrank"}], "metrics": [{"kind": "length"}], "batch_size": 1}
    path = tmp_path / "orphans.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    command = [sys.executable, "-m", "evalkit.cli", "run", str(path), "--output", str(tmp_path / "runs"), "-q"]
    process = subprocess.Popen(command, cwd=tmp_path, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    driver = psutil.Process(process.pid)
    seen: dict[int, psutil.Process] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        for child in driver.children(recursive=True):
            seen.setdefault(child.pid, child)
        names = " ".join(p.name() + " " + " ".join(p.cmdline()[:1]) for p in seen.values() if p.is_running())
        if "raylet" in names and any("Agent" in p.name() or "agent" in " ".join(p.cmdline()) for p in seen.values()
                                     if p.is_running()):
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before its Ray cluster was seen; give it more work"
    time.sleep(1.0)  # the watchdog polls every 0.5 s: let it see the agents too
    for child in driver.children(recursive=True):
        seen.setdefault(child.pid, child)
    os.kill(process.pid, signal.SIGKILL)  # the driver alone, as a user's `kill -9 PID` would
    process.wait()
    gone_by = time.monotonic() + 15
    alive = list(seen.values())
    while time.monotonic() < gone_by:
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            break
        time.sleep(0.5)
    assert not alive, f"left behind: {[(p.pid, p.name()) for p in alive]}"
