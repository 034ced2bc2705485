"""Human labels: the rubric, the store (upsert, idempotence, staleness), assignment, JSONL and Label Studio."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.core.errors import ConfigError, DataError
from evalkit.inputs.human_rubric import load_human_rubric
from evalkit.inputs.labelstudio import from_tasks, label_config, to_tasks
from evalkit.run.experiment import Experiment
from evalkit.run.labels import (
    AssignmentConfig,
    Label,
    LabelStore,
    assigned,
    human_items,
    label_status,
    pair_hash,
    read_jsonl,
    run_items,
    text_hash,
    write_jsonl,
)
from evalkit.run.record import Run
from evalkit.run.store import Store

SYSTEMS = [{"kind": "lead", "name": "lead"}, {"kind": "lead", "name": "lead-words", "cut": "word"}]


def make_run(documents, output: Path, systems=SYSTEMS, words: int = 12) -> Run:
    experiment = Experiment(systems=systems, metrics=[{"kind": "length"}, {"kind": "rouge"}],
                            target={"words": words}, progress=False)
    return experiment.relocate(output).run(documents=documents)


def pointwise(item, annotator, rubric, run_id="", **answers) -> Label:
    base = {"faithful": True, "coherence": 4, "consistency": 4, "fluency": 5, "relevance": 3}
    return Label(item.document_hash, item.summary_hash, rubric.version, annotator, "pointwise",
                 rubric.check_answers({**base, **answers}), run_id, item.document_id, (item.system,))


def test_the_default_rubric_and_its_versions(tmp_path):
    rubric = load_human_rubric()
    assert [q.kind for q in rubric.questions] == ["yesno", "scale", "scale", "scale", "scale", "spans", "comment"]
    assert load_human_rubric("default").version == rubric.version  # a content hash: stable
    changed = rubric.model_dump(mode="json")
    changed["questions"][1]["help"] = "reworded"
    assert load_human_rubric(changed).version != rubric.version
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nquestions:\n  - {name: q, kind: stars}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_human_rubric(str(bad))
    assert "\n" not in str(error.value) and "questions.0.kind" in str(error.value)
    bad.write_text("name: [x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML") as error:
        load_human_rubric(str(bad))
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="did you mean 'coherence'"):
        rubric.question("coherance")
    with pytest.raises(ConfigError, match="whole number from 1 to 5"):
        rubric.check_answers({"faithful": "yes", "coherence": "7", "consistency": 1, "fluency": 1, "relevance": 1})


def test_labels_upsert_by_content_and_survive_reopening(tiny_documents, tmp_path):
    run = make_run(tiny_documents, tmp_path / "runs")
    rubric = load_human_rubric()
    items = run_items(run)
    store_path = tmp_path / "runs" / "store.sqlite"
    with Store(store_path) as store:
        labels = LabelStore(store)
        labels.put([pointwise(items[0], "ann", rubric, run.run_id, coherence=2)])
        labels.put([pointwise(items[0], "ann", rubric, run.run_id, coherence=5)])  # the same key: replaced
        labels.put([pointwise(items[0], "bob", rubric, run.run_id)])
        labels.put([pointwise(items[0], "bob", rubric, run.run_id)])  # a re-submit: idempotent
    with Store(store_path) as store:  # another process's view: everything committed
        stored = LabelStore(store).all()
    assert sorted((lab.annotator, lab.answers["coherence"]) for lab in stored) == [("ann", 5), ("bob", 4)]
    with sqlite3.connect(store_path) as db:
        assert db.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 2
    # a rubric changed midway: a new version, a new key; the old label stays under its version
    changed = load_human_rubric({**rubric.model_dump(mode="json"), "description": "v2"})
    with Store(store_path) as store:
        LabelStore(store).put([pointwise(items[0], "ann", changed, run.run_id)])
        by_version = {lab.rubric_version for lab in LabelStore(store).all(annotator="ann")}
    assert by_version == {rubric.version, changed.version}


def test_stale_and_missing_labels_are_reported_not_reused(tiny_documents, tmp_path):
    run = make_run(tiny_documents, tmp_path / "runs")
    rubric = load_human_rubric()
    items = run_items(run)
    labels = [pointwise(i, "ann", rubric, run.run_id) for i in items]
    # the same documents again: lead now cuts at 5 words (its summaries change), lead-words is gone
    again = make_run(tiny_documents, tmp_path / "runs", systems=[{"kind": "lead", "name": "lead", "cut": "word"}],
                     words=5)
    status = label_status(again, labels)
    now = {i.summary_hash for i in run_items(again)}
    changed = [i for i in items if i.system == "lead" and i.summary_hash not in now]
    gone = [i for i in items if i.system == "lead-words" and i.summary_hash not in now]
    assert len(changed) == 4 and len(gone) == 4
    assert {lab.summary_hash for lab in status.stale} == {i.summary_hash for i in changed}
    assert {lab.summary_hash for lab in status.missing} == {i.summary_hash for i in gone}
    assert len(status.current) + len(status.stale) + len(status.missing) == len(labels)
    lines = status.messages(again.run_id)
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    assert "stale" in lines[0] and "no longer has" in lines[1] and "kept" in lines[1]
    # meta-eval input is made of the current labels only: the stale ones are not reused for the new text
    first_items, _ = human_items(run, labels, rubric)
    assert len(first_items) == len(labels)
    with pytest.raises(DataError, match="no current labels"):
        human_items(again, labels, rubric)


def test_assignment_gives_each_item_to_k_annotators_deterministically():
    items = list(range(10))
    config = AssignmentConfig(k=2, seed=3, annotators=("ann", "bob", "cy"))
    given = {name: assigned(items, name, config) for name in config.annotators}
    for item in items:
        assert sum(item in mine for mine in given.values()) == 2
    assert given == {name: assigned(items, name, config) for name in config.annotators}  # deterministic
    # slots 0..9 go to roster positions (slot, slot + 1) mod 3: position 0 gets slots = 0 or 2 (mod 3): 4 + 3
    assert [len(given[name]) for name in config.annotators] == [7, 7, 6]
    assert sorted(assigned(items, "zed", AssignmentConfig())) == items
    with pytest.raises(ConfigError, match="did you mean 'bob'"):
        assigned(items, "bobb", config)


def test_jsonl_and_label_studio_round_trip(tiny_documents, tmp_path):
    run = make_run(tiny_documents, tmp_path / "runs")
    rubric = load_human_rubric()
    items = run_items(run)
    span = {"start": 0, "end": 3, "text": items[0].text[:3]}
    labels = [pointwise(items[0], "ann", rubric, run.run_id, unsupported=[span], comment="<b>odd</b>"),
              pointwise(items[1], "bob", rubric, run.run_id, faithful=False, unsupported=[])]
    pair = pair_hash(items[0].summary_hash, items[1].summary_hash)
    labels.append(Label(items[0].document_hash, pair, rubric.version, "cy", "pairwise",
                        {"coherence": items[1].summary_hash, "faithful": "tie"}, run.run_id, items[0].document_id,
                        ("lead", "lead-words")))
    with Store(tmp_path / "a.sqlite") as store:
        LabelStore(store).put(labels)
        stored = LabelStore(store).all()
    write_jsonl(stored, tmp_path / "labels.jsonl")
    assert len((tmp_path / "labels.jsonl").read_text().splitlines()) == 3
    back = read_jsonl(tmp_path / "labels.jsonl")
    assert sorted(back, key=lambda lab: lab.key) == sorted(stored, key=lambda lab: lab.key)
    texts = {i.summary_hash: i.text for i in items}
    tasks = to_tasks([lab.to_dict() for lab in stored], texts)
    kinds = {r["type"] for t in tasks for a in t["annotations"] for r in a["result"]}
    assert kinds == {"choices", "rating", "textarea", "labels"}
    first = [t for t in tasks if t["data"]["summary_hash"] == items[0].summary_hash]
    assert first[0]["data"]["text"] == items[0].text
    from_ls = [Label.from_dict(r) for r in from_tasks(json.loads(json.dumps(tasks)))]
    assert sorted(from_ls, key=lambda lab: lab.key) == sorted(stored, key=lambda lab: lab.key)
    with Store(tmp_path / "b.sqlite") as store:  # importing into another store gives the same rows
        LabelStore(store).put(from_ls, keep_times=True)
        assert sorted(LabelStore(store).all(), key=lambda lab: lab.key) == sorted(stored, key=lambda lab: lab.key)
    assert "<Rating name=\"coherence\"" in label_config(rubric)
    with pytest.raises(DataError, match="task 1"):
        from_tasks([{"data": {}, "annotations": [{"result": []}]}])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"annotator": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="bad.jsonl:1"):
        read_jsonl(bad)
    assert text_hash("a") != text_hash("b")


def test_labels_cli_export_import(tiny_documents, tmp_path):
    run = make_run(tiny_documents, tmp_path / "runs")
    rubric = load_human_rubric()
    labels = [pointwise(i, name, rubric, run.run_id) for i in run_items(run)[:3] for name in ("ann", "bob")]
    with Store(tmp_path / "runs" / "store.sqlite") as store:
        LabelStore(store).put(labels)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "evalkit.cli", "labels", *args], capture_output=True,
                              text=True, check=False)

    out = cli("export", str(run.run_dir), "--to", str(tmp_path / "l.json"), "--format", "label-studio")
    assert out.returncode == 0, out.stderr
    assert "6 label(s)" in out.stdout
    out = cli("import", str(tmp_path / "l.json"), "--store", str(tmp_path / "new.sqlite"))
    assert out.returncode == 0, out.stderr
    with Store(tmp_path / "new.sqlite") as store:
        assert sorted(LabelStore(store).all(), key=lambda lab: lab.key) == sorted(
            LabelStore(Store(tmp_path / "runs" / "store.sqlite")).all(), key=lambda lab: lab.key)
    out = cli("import", str(tmp_path / "missing.jsonl"), "--store", str(tmp_path / "new.sqlite"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1


def test_meta_eval_places_an_llm_judge_among_the_annotators(tiny_documents, tmp_path, capsys):
    import pandas as pd

    from evalkit.cli.main import main
    from evalkit.report.agreement import Rating, alpha

    run = make_run(tiny_documents, tmp_path / "runs")
    rubric = load_human_rubric()
    items = run_items(run)
    # two people, and a judge that answered coherence exactly as ann did (its run rows written as a judge writes them)
    ann = {(i.document_id, i.system): 1 + n % 5 for n, i in enumerate(items)}
    bob = {key: min(5, value + (1 if n % 3 == 0 else 0)) for n, (key, value) in enumerate(ann.items())}
    labels = [pointwise(i, who, rubric, run.run_id, coherence=marks[(i.document_id, i.system)])
              for i in items for who, marks in (("ann", ann), ("bob", bob))]
    with Store(tmp_path / "runs" / "store.sqlite") as store:
        LabelStore(store).put(labels)
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    manifest["metrics"]["judge"] = {"kind": "llm-judge", "config": {}, "signature": "llm-judge@test", "measures": [
        {"name": "judge_coherence", "label": "Judge coherence (1-5)", "scale": "score", "higher_is_better": True}]}
    (run.run_dir / "manifest.json").write_text(json.dumps(manifest))
    scores = pd.read_csv(run.run_dir / "scores.csv")
    judged = pd.DataFrame([{"document_id": d, "system": s, "metric": "judge_coherence", "value": float(v),
                            "note": None} for (d, s), v in ann.items()])
    pd.concat([scores, judged]).to_csv(run.run_dir / "scores.csv", index=False)
    assert main(["meta-eval", str(run.run_dir), "--labels", "--columns", "judge_coherence,length_words",
                 "--resamples", "50", "--json", str(tmp_path / "out.json")]) == 0
    out = capsys.readouterr().out
    assert "which metric agrees with your annotators" in out and "the judge among the annotators on coherence" in out
    placed = json.loads((tmp_path / "out.json").read_text())["judge"][0]
    people = [Rating(k, "ann", float(v)) for k, v in ann.items()] + [Rating(k, "bob", float(v)) for k, v in bob.items()]
    assert placed["alpha_people"] == pytest.approx(alpha(people, "interval"))
    judge_rows = [r for r in placed["leave_one_out"] if r["judge"]]
    # the judge against the mean of the people, by the same statistic: computed here from the raw marks
    mean = [Rating(k, "people", (ann[k] + bob[k]) / 2) for k in ann] + [Rating(k, "judge", float(v)) for k, v in ann.items()]
    assert judge_rows[0]["alpha"] == pytest.approx(alpha(mean, "interval"))
    # with a judge that copies ann, adding it raises the people's alpha
    assert placed["alpha_with_judge"] > placed["alpha_people"]


def test_labels_from_two_machines_merge_into_one_store(tiny_documents, tmp_path):
    from evalkit.run.store import merge_stores

    run = make_run(tiny_documents, tmp_path / "runs")
    rubric = load_human_rubric()
    items = run_items(run)
    for name in ("ann", "bob"):
        with Store(tmp_path / f"{name}.sqlite") as store:
            LabelStore(store).save_rubric(rubric)
            LabelStore(store).put([pointwise(i, name, rubric, run.run_id) for i in items])
    results = merge_stores([tmp_path / "ann.sqlite", tmp_path / "bob.sqlite"], tmp_path / "all.sqlite")
    assert [r.copied["labels"] for r in results] == [len(items), len(items)]
    assert [r.copied["rubrics"] for r in results] == [1, 0]
    again = merge_stores([tmp_path / "ann.sqlite"], tmp_path / "all.sqlite")
    assert again[0].copied["labels"] == 0 and again[0].present["labels"] == len(items)
    with Store(tmp_path / "all.sqlite") as store:
        assert len(LabelStore(store).all()) == 2 * len(items)
