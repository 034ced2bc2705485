"""The SQLite store: content keys, round trips, migrations, artifacts and concurrent writers."""

import sqlite3
import threading

import pytest

from evalkit.metrics.base import Candidate, MetricResult
from evalkit.run.store import MIGRATIONS, Store, score_key, summary_key
from evalkit.summarizers.base import Request
from evalkit.summarizers.extractive import Lead, Oracle
from evalkit.core.types import Document, LengthTarget, Summary

DOC = Document(id="d1", text="Rain fell on Monday. Roads flooded.", references=("Rain flooded roads.",))
THREE = LengthTarget(sentences=3)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "store.sqlite") as opened:
        yield opened


# -- keys ---------------------------------------------------------------------


def test_summary_key_covers_fingerprint_document_and_target():
    base = summary_key(Lead().fingerprint, Request(DOC, THREE))
    assert base == summary_key(Lead(name="renamed").fingerprint, Request(DOC, THREE))
    # the document's id and metadata are not content: re-numbering documents recomputes nothing
    renamed = Document(id="other-id", text=DOC.text, references=DOC.references, metadata={"row": 9})
    assert base == summary_key(Lead().fingerprint, Request(renamed, THREE))
    assert base != summary_key(Lead(cut="word").fingerprint, Request(DOC, THREE))
    assert base != summary_key(Lead().fingerprint, Request(DOC, LengthTarget(sentences=2)))
    edited = Document(id="d1", text=DOC.text + " More.", references=DOC.references)
    assert base != summary_key(Lead().fingerprint, Request(edited, THREE))


def test_references_key_summaries_only_for_strategies_that_read_them():
    new_refs = Document(id="d1", text=DOC.text, references=("Something else.",))
    lead, oracle = Lead().fingerprint, Oracle().fingerprint
    assert summary_key(lead, Request(DOC, THREE)) == summary_key(lead, Request(new_refs, THREE))
    assert (summary_key(oracle, Request(DOC, THREE), uses_references=True)
            != summary_key(oracle, Request(new_refs, THREE), uses_references=True))


def test_score_key_covers_signature_document_summary_and_target():
    base = score_key("rouge@1", Candidate(DOC, "Rain fell.", THREE))
    assert base == score_key("rouge@1", Candidate(DOC, "Rain fell.", THREE))
    assert base != score_key("rouge@2", Candidate(DOC, "Rain fell.", THREE))
    assert base != score_key("rouge@1", Candidate(DOC, "Roads flooded.", THREE))
    assert base != score_key("rouge@1", Candidate(DOC, "Rain fell.", LengthTarget(words=10)))
    new_refs = Document(id="d1", text=DOC.text, references=("Other.",))
    assert base != score_key("rouge@1", Candidate(new_refs, "Rain fell.", THREE))


# -- round trips --------------------------------------------------------------


def test_summary_round_trip_including_failures(store):
    request = Request(DOC, THREE)
    good = Summary("d1", "lead", "Rain fell on Monday.", "lead@x", seconds=0.5, details={"selected": [0]})
    bad = Summary("d1", "oracle", "", "oracle@y", error="ValueError: no references")
    store.put_summary("k-good", good, request)
    store.put_summary("k-bad", bad, request)
    got = store.get_summaries(["k-good", "k-bad", "k-missing"])
    assert set(got) == {"k-good", "k-bad"}
    assert got["k-good"] == {"text": "Rain fell on Monday.", "error": None, "seconds": 0.5,
                             "details": {"selected": [0]}}
    assert got["k-bad"]["error"] == "ValueError: no references" and got["k-bad"]["text"] == ""
    # a retry replaces the failed summary under the same key
    store.put_summary("k-bad", Summary("d1", "oracle", "Rain fell.", "oracle@y"), request)
    assert store.get_summaries(["k-bad"])["k-bad"]["error"] is None


def test_scores_round_trip_with_missing_values_notes_and_info(store):
    result = MetricResult({"a": 0.25, "b": None}, {"b": "no reference summary"}, {"entities": ["Łódź"]})
    store.put_scores([("s1", "m@1", result), ("s2", "m@1", MetricResult({"a": 1.0}))])
    got = store.get_scores(["s1", "s2", "s3"])
    assert set(got) == {"s1", "s2"}
    assert dict(got["s1"].values) == {"a": 0.25, "b": None}
    assert dict(got["s1"].notes) == {"b": "no reference summary"}
    assert dict(got["s1"].info) == {"entities": ["Łódź"]}
    assert store.counts() == {"summaries": 0, "scores": 2, "runs": 0}


def test_many_keys_are_read_in_chunks(store):
    request = Request(DOC, THREE)
    for i in range(1200):  # more than SQLite's default limit on bound variables in one query
        store.put_summary(f"k{i}", Summary("d1", "lead", f"text {i}", "lead@x"), request)
    store.put_scores([(f"s{i}", "m@1", MetricResult({"v": float(i)})) for i in range(1200)])
    assert len(store.get_summaries([f"k{i}" for i in range(1200)])) == 1200
    scores = store.get_scores([f"s{i}" for i in range(1200)])
    assert len(scores) == 1200 and scores["s1199"].values["v"] == 1199.0


def test_artifacts_are_kept_per_namespace(store):
    first, second = store.artifacts("bertscore/model-a"), store.artifacts("bertscore/model-b")
    first.put_many({"doc1": b"\x00\x01", "doc2": b"two"})
    second.put_many({})
    assert first.get_many(["doc1", "doc2", "doc3", "doc1"]) == {"doc1": b"\x00\x01", "doc2": b"two"}
    assert second.get_many(["doc1"]) == {}


def test_runs_are_recorded(store):
    store.put_run("run-1", {"name": "x", "counts": {}})
    assert store.counts()["runs"] == 1


# -- durability, schema, concurrency ----------------------------------------------


def test_data_survives_reopening_and_migrations_run_once(tmp_path):
    path = tmp_path / "nested" / "store.sqlite"
    with Store(path) as first:
        first.put_summary("k", Summary("d1", "lead", "Rain.", "lead@x"), Request(DOC, THREE))
    with Store(path) as again:
        assert again.get_summaries(["k"])["k"]["text"] == "Rain."
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_store_from_a_newer_evalkit_is_refused(tmp_path):
    path = tmp_path / "store.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer evalkit.*upgrade evalkit"):
        Store(path)


def test_a_file_that_is_not_a_store_is_refused_with_a_fix(tmp_path):
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RuntimeError, match="not a usable evalkit store.*another --store path"):
        Store(path)


def test_concurrent_writers_in_threads(store):
    request = Request(DOC, THREE)

    def write(worker: int) -> None:
        for i in range(50):
            store.put_summary(f"w{worker}-{i}", Summary("d1", "lead", f"{worker}/{i}", "lead@x"), request)
            store.put_scores([(f"w{worker}-{i}", "m@1", MetricResult({"v": float(i)}))])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.counts()["summaries"] == 200 and store.counts()["scores"] == 200
    assert store.get_summaries(["w3-49"])["w3-49"]["text"] == "3/49"
