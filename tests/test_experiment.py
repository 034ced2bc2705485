"""Experiments: caching through the store, resuming after SIGKILL, the manifest, failures and config errors."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evalkit.run import registry
from evalkit.run.experiment import Experiment
from evalkit.run.record import Run
from evalkit.metrics.length import LengthCompliance
from evalkit.metrics.rouge import Rouge
from evalkit.run.registry import ConfigError
from evalkit.summarizers.extractive import Lead, RandomSentences, TextRank
from evalkit.core.types import Document, LengthTarget

REPO = Path(__file__).resolve().parents[1]

SYSTEMS = [
    {"kind": "lead", "name": "lead-3"},
    {"kind": "textrank", "name": "textrank"},
    {"kind": "random", "name": "random", "seed": 0},
]
METRICS = [{"kind": "rouge"}, {"kind": "length"}]


def config(data_path: Path, output: Path, **overrides) -> dict:
    return {"name": "t", "data": {"path": str(data_path)}, "systems": SYSTEMS, "metrics": METRICS,
            "target": {"sentences": 3}, "output_dir": str(output), "progress": False, **overrides}


def sorted_scores(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["document_id", "system", "metric"]).reset_index(drop=True)


# -- the store makes re-runs free -----------------------------------------------


def test_second_run_computes_nothing_and_gives_the_same_tables(tiny_jsonl, tmp_path):
    first = Experiment.from_dict(config(tiny_jsonl, tmp_path / "runs")).run()
    n_docs, n_systems = 4, len(SYSTEMS)
    assert first.manifest.counts.summaries_computed == n_docs * n_systems
    assert first.manifest.counts.scores_computed > 0

    second = Experiment.from_dict(config(tiny_jsonl, tmp_path / "runs")).run()
    counts = second.manifest.counts
    assert counts.summaries_computed == 0 and counts.scores_computed == 0
    assert counts.summaries_cached == n_docs * n_systems
    assert counts.scores_cached == first.manifest.counts.scores_computed
    assert second.run_dir != first.run_dir
    pd.testing.assert_frame_equal(second.table(), first.table())
    pd.testing.assert_frame_equal(sorted_scores(second.scores), sorted_scores(first.scores))
    assert list(second.summaries["text"]) == list(first.summaries["text"])


def test_changing_one_systems_option_recomputes_only_that_system(tiny_jsonl, tmp_path):
    first = Experiment.from_dict(config(tiny_jsonl, tmp_path / "runs")).run()
    changed = [dict(s) for s in SYSTEMS]
    changed[2]["seed"] = 7
    second = Experiment.from_dict(config(tiny_jsonl, tmp_path / "runs", systems=changed)).run()
    counts = second.manifest.counts
    assert counts.summaries_computed == 4  # random's four documents
    assert counts.summaries_cached == 8   # lead-3 and textrank from the store
    assert second.manifest.systems["random"].fingerprint != first.manifest.systems["random"].fingerprint
    # only random's new texts are scored (2 metrics each); lead-3's and textrank's come from the store
    # (counts are of distinct (metric, document, text) items: identical texts are scored once)
    new_texts = set(second.summaries.loc[second.summaries["system"] == "random", "text"]) - set(first.summaries["text"])
    assert new_texts
    assert counts.scores_computed == 2 * len(new_texts)
    unchanged = ["lead-3", "textrank"]
    pd.testing.assert_frame_equal(second.table().loc[unchanged], first.table().loc[unchanged])


def test_renaming_a_system_or_reordering_documents_recomputes_nothing(tiny_rows, tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in tiny_rows), encoding="utf-8")
    Experiment.from_dict(config(path, tmp_path / "runs")).run()
    path.write_text("".join(json.dumps(r) + "\n" for r in reversed(tiny_rows)), encoding="utf-8")
    renamed = [{**s, "name": s["name"] + "-renamed"} for s in SYSTEMS]
    run = Experiment.from_dict(config(path, tmp_path / "runs", systems=renamed)).run()
    assert run.manifest.counts.summaries_computed == 0
    assert run.manifest.counts.scores_computed == 0
    assert list(run.table().index) == [s["name"] for s in renamed]


def test_a_documents_own_target_overrides_the_runs(tiny_documents, tmp_path):
    first = tiny_documents[0]
    own = Document(id=first.id, text=first.text, references=first.references, target=LengthTarget(sentences=1))
    run = Experiment(systems=[{"kind": "lead"}], metrics=[{"kind": "length"}], output_dir=tmp_path / "runs",
                     target={"sentences": 3}, progress=False).run([own, *tiny_documents[1:]])
    wide = run.wide().set_index("document_id")
    assert wide.loc[own.id, "length_sentences"] == 1
    assert wide.loc["storm", "length_sentences"] == 3
    assert run.target_of(own.id) == LengthTarget(sentences=1) and run.target_of("storm") == LengthTarget(sentences=3)


# -- the manifest -------------------------------------------------------------


def test_manifest_records_how_the_run_was_made(tiny_jsonl, tmp_path):
    experiment = Experiment.from_dict(config(tiny_jsonl, tmp_path / "runs", seed=11))
    run = experiment.run()
    manifest = run.manifest
    assert manifest.config.model_dump(mode="json") == json.loads(json.dumps(experiment.to_dict(), default=str))
    assert manifest.seed == 11 and manifest.config.seed == 11
    assert "git_commit" in manifest.to_json()
    assert manifest.git_commit is None or re.fullmatch(r"[0-9a-f]{40}", manifest.git_commit)
    for package in ("numpy", "pandas", "rouge-score"):
        assert manifest.packages[package] == metadata.version(package)
    expected_fingerprints = {"lead-3": Lead().fingerprint, "textrank": TextRank().fingerprint,
                             "random": RandomSentences(seed=0).fingerprint}
    assert {name: s.fingerprint for name, s in manifest.systems.items()} == expected_fingerprints
    assert manifest.systems["random"].settings["seed"] == 0
    assert {k: v.signature for k, v in manifest.metrics.items()} == {"rouge": Rouge().signature,
                                                                           "length": LengthCompliance().signature}
    assert manifest.metrics["rouge"].config == {"kind": "rouge"}
    measures = {m.name: m for m in manifest.metrics["rouge"].measures}
    assert measures["rougeLsum_f"].label == "ROUGE-L (summary-level, Lsum) F1"
    assert measures["rouge1_f"].scale == "fraction" and measures["rouge1_f"].higher_is_better is True
    assert manifest.metric_signature
    assert manifest.data.n_documents == 4
    assert manifest.run_id == run.run_dir.name
    on_disk = json.loads((run.run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == manifest.to_json() and on_disk["manifest_version"] == 3


def test_run_directory_round_trips(tiny_jsonl, tmp_path):
    run = Experiment.from_dict(config(tiny_jsonl, tmp_path / "runs")).run()
    assert {p.name for p in run.run_dir.iterdir()} == {"scores.csv", "summaries.jsonl", "facts.jsonl", "manifest.json",
                                                     "sources.jsonl"}
    loaded = Run.load(run.run_dir)
    latest = Run.load(tmp_path / "runs")  # the folder itself means its latest run
    assert latest.run_dir == run.run_dir
    pd.testing.assert_frame_equal(loaded.table(), run.table())
    assert list(loaded.table().index) == ["lead-3", "textrank", "random"]  # config order
    # one row per (document, system, metric)
    assert not run.scores.duplicated(["document_id", "system", "metric"]).any()
    assert len(run.scores) == 4 * 3 * (len(Rouge().names) + len(LengthCompliance().names))
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        Run.load(tmp_path)


# -- failures are data ----------------------------------------------------------


def test_failed_summaries_become_rows_with_notes(tiny_rows, tmp_path):
    rows = tiny_rows + [{"id": "free", "article": "A text without any reference. It has two sentences.",
                         "references": []}]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = config(path, tmp_path / "runs", systems=[{"kind": "lead"}, {"kind": "oracle"}])
    cfg["data"]["require_references"] = False
    run = Experiment.from_dict(cfg).run()

    summaries = run.summaries.set_index(["document_id", "system"])
    assert "reference" in summaries.loc[("free", "oracle"), "error"]
    assert pd.isna(summaries.loc[("free", "lead"), "error"])
    assert run.manifest.counts.summaries_failed == 1

    scores = run.scores.set_index(["document_id", "system", "metric"]).sort_index()
    expected_metrics = set(Rouge().names) | set(LengthCompliance().names)
    failed = scores.loc[("free", "oracle")]
    assert set(failed.index) == expected_metrics
    assert failed["value"].isna().all()
    assert failed["note"].str.startswith("no summary: ValueError").all()
    # the lead summary of the same document is scored: no ROUGE (no reference), but length
    assert pd.isna(scores.loc[("free", "lead", "rouge1_f"), "value"])
    assert scores.loc[("free", "lead", "rouge1_f"), "note"] == "no reference summary"
    assert scores.loc[("free", "lead", "length_sentences"), "value"] == 2
    # the other documents' oracle summaries are fine
    assert run.manifest.counts.summaries_computed == 10

    again = Experiment.from_dict(cfg).run()
    assert again.manifest.counts.summaries_computed == 1  # only the failed one is retried
    assert again.manifest.counts.summaries_failed == 1


# -- configuration errors ---------------------------------------------------------


def test_runs_merge_only_when_scored_the_same_way(tiny_documents, tmp_path):
    from evalkit.core.errors import SignatureMismatch

    def run(systems, metrics, out):
        experiment = Experiment(systems=systems, metrics=metrics, target={"sentences": 2}, progress=False)
        return experiment.relocate(tmp_path / out).run(documents=tiny_documents)

    a = run([{"kind": "lead", "name": "lead-2"}], ["rouge", "length"], "a")
    b = run([{"kind": "textrank"}], ["rouge", "length"], "b")
    merged = a.merge(b)
    assert set(merged["system"]) == {"lead-2", "textrank"}
    assert len(merged) == len(a.scores) + len(b.scores)
    unstemmed = run([{"kind": "textrank"}], [{"kind": "rouge", "stemmer": False}, "length"], "c")
    with pytest.raises(SignatureMismatch, match="metric 'rouge': rouge@") as error:
        a.merge(unstemmed)
    assert "length" not in str(error.value).split("not scored the same way")[1]  # only the difference is named
    with pytest.raises(SignatureMismatch, match="lead-2"):
        a.merge(a)
    rows = a.rows()
    assert len(rows) == len(a.scores) and {r.metric for r in rows} >= {"rouge1_f", "length_ok"}


def test_unknown_strategy_suggests_the_closest(tiny_jsonl, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown strategy 'textrnak'\. Did you mean 'textrank'\?"):
        Experiment.from_dict(config(tiny_jsonl, tmp_path, systems=[{"kind": "textrnak"}])).run()


def test_unknown_option_lists_the_accepted_ones(tiny_jsonl, tmp_path):
    with pytest.raises(ConfigError) as error:
        Experiment.from_dict(config(tiny_jsonl, tmp_path, systems=[{"kind": "lead", "cutt": "word"}])).run()
    message = str(error.value)
    assert "'cutt'" in message and "did you mean 'cut'" in message
    assert message.endswith("it takes: name, cut")


def test_bad_option_value_and_unknown_metric(tiny_jsonl, tmp_path):
    with pytest.raises(ConfigError, match=r"^strategy 'lead': cut must be one of 'sentence', 'word', got 'char'$"):
        Experiment.from_dict(config(tiny_jsonl, tmp_path, systems=[{"kind": "lead", "cut": "char"}])).run()
    with pytest.raises(ConfigError, match=r"unknown metric 'rogue'\. Did you mean 'rouge'\?"):
        Experiment.from_dict(config(tiny_jsonl, tmp_path, metrics=[{"kind": "rogue"}])).run()


@pytest.mark.parametrize(
    "systems",
    [[{"kind": "lead"}, {"kind": "lead", "cut": "word"}],
     [{"kind": "lead", "name": "x"}, {"kind": "textrank", "name": "x"}]],
)
def test_duplicate_system_names(tiny_jsonl, tmp_path, systems):
    with pytest.raises(ConfigError, match="system names must be unique"):
        Experiment.from_dict(config(tiny_jsonl, tmp_path, systems=systems))


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        Experiment.from_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("systems: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Experiment.from_yaml(bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text("system: [{kind: lead}]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"typo\.yaml: experiment does not take 'system' \(did you mean 'systems'\?\)"):
        Experiment.from_yaml(typo)
    empty = tmp_path / "empty.yaml"
    empty.write_text("name: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="systems is required"):
        Experiment.from_yaml(empty)


def test_data_path_is_relative_to_the_config_file(tiny_jsonl, tmp_path):
    folder = tiny_jsonl.parent
    (folder / "exp.yaml").write_text(yaml.safe_dump({
        "data": {"path": tiny_jsonl.name}, "systems": [{"kind": "lead"}], "metrics": [{"kind": "length"}],
        "output_dir": str(tmp_path / "runs"), "progress": False}), encoding="utf-8")
    run = Experiment.from_yaml(folder / "exp.yaml").run()
    assert run.manifest.data.n_documents == 4


# -- a run killed with SIGKILL resumes -------------------------------------------------

PLUGIN = '''
"""A test-only strategy: lead-k that sleeps before each summary (the delay does not change the output)."""
import time

from evalkit.run import registry
from evalkit.summarizers.extractive import Lead


class SlowLead(Lead):
    kind = "slow-lead"

    def __init__(self, name=None, *, delay=0.0):
        super().__init__(name)
        self.delay = delay

    def summarize_one(self, request):
        time.sleep(self.delay)
        return super().summarize_one(request)


def register():
    registry.SUMMARIZERS["slow-lead"] = "slow_plugin:SlowLead"
'''

CLI_WITH_PLUGIN = ("import runpy, slow_plugin; slow_plugin.register(); "
                   "runpy.run_module('evalkit.cli', run_name='__main__', alter_sys=True)")
"""``python -m evalkit.cli`` with the test strategy registered first."""

N_KILL_DOCS = 30


def summary_count(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM summaries").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


def test_a_run_killed_midway_resumes_and_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    plugin_dir = tmp_path / "plugin"
    plugin_dir.mkdir()
    (plugin_dir / "slow_plugin.py").write_text(PLUGIN, encoding="utf-8")
    rows = [{"id": f"doc{i:02d}",
             "article": (f"Story {i} began on Monday. Officials met {i} times. Residents waited for news. "
                         f"The council voted {i % 3} to {i % 5}. Work starts in spring."),
             "references": [f"Officials met {i} times; the council voted."]} for i in range(N_KILL_DOCS)]
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    def write_config(path: Path, output: Path, delay: float) -> Path:
        path.write_text(yaml.safe_dump({
            "name": "killme", "data": {"path": str(data)}, "target": {"sentences": 2},
            "systems": [{"kind": "slow-lead", "name": "slow", "delay": delay}, {"kind": "textrank"}],
            "metrics": [{"kind": "rouge"}, {"kind": "length"}], "output_dir": str(output)}), encoding="utf-8")
        return path

    killed_out = tmp_path / "killed"
    cfg = write_config(tmp_path / "cfg.yaml", killed_out, delay=0.08)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_dir), str(REPO)])}
    command = [sys.executable, "-c", CLI_WITH_PLUGIN, "run", str(cfg), "-q"]

    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = killed_out / "store.sqlite"
    deadline = time.monotonic() + 60
    try:
        while summary_count(store) < 3:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run never started writing summaries"
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    done = summary_count(store)
    assert 3 <= done < N_KILL_DOCS  # some, but not all, of the slow system's summaries
    assert not (killed_out / "LATEST").exists()  # the run never finished

    resumed = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"({done} from the store)" in resumed.stdout
    resumed_run = Run.load(killed_out)
    counts = resumed_run.manifest.counts
    assert counts.summaries_cached == done
    assert counts.summaries_computed == 2 * N_KILL_DOCS - done

    # the same experiment, never interrupted (and without the delay, which does not change outputs)
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.setitem(registry.SUMMARIZERS, "slow-lead", "slow_plugin:SlowLead")
    clean_cfg = write_config(tmp_path / "clean.yaml", tmp_path / "clean", delay=0.0)
    clean_experiment = Experiment.from_yaml(clean_cfg)
    clean_experiment.progress = False
    clean = clean_experiment.run()
    assert clean.manifest.counts.summaries_cached == 0

    pd.testing.assert_frame_equal(sorted_scores(pd.read_csv(resumed_run.run_dir / "scores.csv")),
                                  sorted_scores(pd.read_csv(clean.run_dir / "scores.csv")))
    key = ["document_id", "system"]
    assert (resumed_run.summaries.sort_values(key)["text"].tolist()
            == clean.summaries.sort_values(key)["text"].tolist())
    assert resumed_run.manifest.systems == clean.manifest.systems


# -- the benchmark: lead-3, oracle and random on the CNN/DM sample ----------------


@pytest.mark.slow
def test_cnndm_benchmark_lead3_oracle_random(cnndm_path, tmp_path):
    experiment = Experiment(
        name="cnndm",
        data={"path": str(cnndm_path), "columns": {"text": "article", "references": "highlights", "id": "id"}},
        systems=[{"kind": "lead", "name": "lead-3"}, {"kind": "oracle"}, {"kind": "random", "seed": 0}],
        metrics=[{"kind": "rouge"}], target={"sentences": 3}, output_dir=tmp_path / "runs", progress=False)
    run = experiment.run()
    assert run.manifest.data.n_documents == 631
    assert run.manifest.counts.summaries_failed == 0
    table = 100 * run.table(["rouge1_f", "rouge2_f", "rougeLsum_f"])
    lead = table.loc["lead-3"]
    # the expected lead-3 scores on this sample (rouge-score, Porter stemming, Lsum on sentences)
    assert lead["rouge1_f"] == pytest.approx(42.6, abs=2)
    assert lead["rouge2_f"] == pytest.approx(19.9, abs=2)
    assert lead["rougeLsum_f"] == pytest.approx(38.5, abs=2)
    for metric in table.columns:
        assert table.loc["oracle", metric] > lead[metric] > table.loc["random", metric]


# -- permanent failures, credentials, content keys ---------------------------------------------------
class Scripted(Lead):
    """A lead strategy whose failures and reply order a test scripts (class attributes, reset per test)."""

    kind = "scripted"
    makes_requests = True
    fail: dict[str, dict] = {}
    """document text's first word -> failure details ({"permanent": True, "status": 400} ...)."""
    credential = "key-a"
    calls: list[str] = []

    def credential_id(self) -> str:
        return Scripted.credential

    def summarize(self, requests, sink=None):
        out = []
        for request in reversed(list(requests)):  # replies arrive out of order
            word = request.document.text.split()[0]
            Scripted.calls.append(word)
            if word in Scripted.fail:
                summary = self.failure(request, f"HTTP {Scripted.fail[word].get('status')}: refused by "
                                       f"{Scripted.fail[word].get('url', 'the server')}",
                                       details={**Scripted.fail[word], "credential": Scripted.credential})
            else:
                summary = self._safely(request)
            if sink is not None:
                sink(summary)
            out.append(summary)
        return out


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setitem(registry.SUMMARIZERS, "scripted", "test_experiment:Scripted")
    Scripted.fail, Scripted.calls, Scripted.credential = {}, [], "key-a"
    return Scripted


def _docs(*texts: str) -> list[Document]:
    return [Document(id=f"d{i}", text=t, references=("ref.",)) for i, t in enumerate(texts)]


def _scripted_run(tmp_path, documents, **options):
    return Experiment(systems=[{"kind": "scripted"}], metrics=[{"kind": "length"}], output_dir=tmp_path,
                      progress=False, target=LengthTarget(sentences=1), **options).run(documents=documents)


DOCS = ("Alpha rose. It was sunny.", "Beta fell. It rained.", "Gamma held. It snowed.")


def test_a_permanent_failure_is_not_resent_unless_asked(scripted, tmp_path):
    scripted.fail = {"Beta": {"permanent": True, "status": 400}, "Gamma": {"status": 503}}
    first = _scripted_run(tmp_path, _docs(*DOCS))
    assert first.manifest.counts.summaries_failed == 2
    scripted.calls.clear()
    again = _scripted_run(tmp_path, _docs(*DOCS))
    assert scripted.calls == ["Gamma"]  # the transient 503 is retried, the 400 is final
    assert again.summaries.set_index("document_id").loc["d1", "error"].startswith("HTTP 400")
    scripted.calls.clear()
    _scripted_run(tmp_path, _docs(*DOCS), retry_failed=True)
    assert sorted(scripted.calls) == ["Beta", "Gamma"]


def test_a_401_is_retried_only_once_the_key_changed(scripted, tmp_path):
    scripted.fail = {"Alpha": {"permanent": True, "status": 401}}
    _scripted_run(tmp_path, _docs(*DOCS))
    scripted.calls.clear()
    _scripted_run(tmp_path, _docs(*DOCS))
    assert scripted.calls == []  # same key: sending again cannot help
    scripted.credential, scripted.fail = "key-b", {}
    run = _scripted_run(tmp_path, _docs(*DOCS))
    assert scripted.calls == ["Alpha"] and run.manifest.counts.summaries_failed == 0


def test_out_of_order_replies_land_under_their_own_content(scripted, tmp_path):
    """Replies arrive in reverse; the same text under two ids is summarized once and given to both."""
    documents = _docs(DOCS[0], DOCS[1], DOCS[0])
    run = _scripted_run(tmp_path, documents)
    texts = run.summaries.set_index("document_id")["text"]
    assert texts["d0"] == "Alpha rose." and texts["d1"] == "Beta fell." and texts["d2"] == "Alpha rose."
    assert sorted(scripted.calls) == ["Alpha", "Beta"]
    scripted.calls.clear()
    swapped = [Document(id="d0", text=DOCS[1], references=("ref.",)), Document(id="d1", text=DOCS[0],
                                                                               references=("ref.",))]
    texts = _scripted_run(tmp_path, swapped).summaries.set_index("document_id")["text"]
    assert texts["d0"] == "Beta fell." and texts["d1"] == "Alpha rose." and scripted.calls == []


def test_a_url_password_is_written_nowhere(scripted, tmp_path):
    secret = "hunter2-secret"
    scripted.fail = {"Alpha": {"status": 500, "url": f"https://user:{secret}@proxy.example/v1"}}
    experiment = Experiment(systems=[{"kind": "scripted"}], metrics=[{"kind": "length"}], output_dir=tmp_path,
                            progress=False, data={"path": f"https://bob:{secret}@data.example/x.jsonl"})
    experiment.run(documents=_docs(*DOCS))
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "manifest.json" for p in written) and any(p.suffix == ".sqlite" for p in written)
    for path in written:
        assert secret.encode() not in path.read_bytes(), path
