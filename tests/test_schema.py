"""The run as a typed, versioned schema: old run folders read back, new ones round-trip, views read only the model.

Expected values for the old runs are read off the committed fixture files by hand (the
lines quoted next to each assertion), not from what the reader returns.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from evalkit.core.types import LengthTarget
from evalkit.report.gate import check, load_baseline
from evalkit.run.experiment import Experiment
from evalkit.run.record import Run
from evalkit.run.schema import MANIFEST_VERSION, RunManifest, target_from_key

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LEGACY_RUN = FIXTURES / "legacy" / "legacy-20261201-202857"
V2_RUN = FIXTURES / "v2" / "v2-20261205-005916"
PACKAGE = Path(__file__).resolve().parent.parent / "evalkit"


# -- (1) every committed old run and baseline loads, and reads back what its files hold --------------

@pytest.mark.parametrize("folder", [LEGACY_RUN, V2_RUN], ids=["v1", "v2"])
def test_old_runs_load_as_the_current_model(folder):
    run = Run.load(folder)
    assert isinstance(run.manifest, RunManifest) and run.manifest.manifest_version == MANIFEST_VERSION == 3
    assert run.manifest.data.ids == ["evk-001", "evk-002", "evk-003"]
    assert run.manifest.data.n_documents == 3
    assert run.measures()["rouge1_f"].label == "ROUGE-1 F1"  # the v1 run's measures are rebuilt from its config
    assert not run.scores["metric"].str.endswith("_info").any()  # facts are not score rows any more
    assert set(run.summaries["details"].map(type)) == {dict}


def test_the_v1_run_reads_back_what_its_files_held():
    run = Run.load(LEGACY_RUN)
    # manifest.json: "metrics": {"rouge": "rouge@58b80b68f7a90d15", "length": "length@c6ee9f7b6caf98e0"}
    assert {k: e.signature for k, e in run.manifest.metrics.items()} == {"rouge": "rouge@58b80b68f7a90d15",
                                                                          "length": "length@c6ee9f7b6caf98e0"}
    # manifest.json: "systems": {"lead": {"kind": "lead", "fingerprint": "lead@34e95e0abd3fdf63", ...
    assert run.manifest.systems["lead"].fingerprint == "lead@34e95e0abd3fdf63"
    # summaries.jsonl: evk-001 lead ... "target":"words=60,bound=about","details":"{\"selected\": [0, 1]}"
    assert run.target_of("evk-001") == LengthTarget(words=60, bound="about")
    assert run.details("evk-001", "lead") == {"selected": [0, 1]}
    assert run.manifest.counts.summaries_computed == 6 and run.manifest.counts.scores_computed == 12
    assert run.facts.empty  # rouge and length record no facts


def test_the_v2_run_reads_back_its_facts_from_the_old_notes():
    run = Run.load(V2_RUN)
    # scores.csv: evk-002,padded,entities_info,,"{... ""unsupported_entities"": [""The Hague"", ""Jeroen Bakker""] ...
    assert run.info("evk-002", "padded", "entities")["unsupported_entities"] == ["The Hague", "Jeroen Bakker"]
    # scores.csv: evk-003,padded,entities_info: ""unsupported_numbers"": [""65 more hours""]
    assert run.info("evk-003", "padded", "entities")["unsupported_numbers"] == ["65 more hours"]
    # scores.csv: evk-001,random,entities_info: ""case_restored"": true, ""summary_numbers"": [""last month"", ...
    random = run.info("evk-001", "random", "entities")
    assert random["case_restored"] is True and random["summary_numbers"] == ["last month", "38 percent", "31 percent"]
    assert run.info("evk-001", "lead", "rouge") == {}  # no such fact: an empty dict, not an error
    assert len(run.facts) == 9  # 3 documents x 3 systems, one entities_info row each
    # scores.csv: evk-002,lead,rouge1_f,0.4536082474226804
    values = run.values().set_index(["document_id", "system", "metric"])["value"]
    assert values[("evk-002", "lead", "rouge1_f")] == pytest.approx(0.4536082474226804)
    assert run.target_of("evk-003") == LengthTarget(words=40, bound="about")  # "target":"words=40,bound=about"
    assert run.details("evk-001", "lead") == {"selected": [0]}
    assert run.manifest.config.target == LengthTarget(words=40, bound="about")
    # the entity metric's measures come straight from the v2 manifest
    assert run.measure("entity_precision_source").higher_is_better is True


@pytest.mark.parametrize("kind", ["legacy", "v2"])
def test_committed_baselines_load_and_gate_their_own_run(kind, tmp_path):
    baseline = load_baseline(FIXTURES / kind / "baseline.json")
    run_dir = LEGACY_RUN if kind == "legacy" else V2_RUN
    result = check(Run.load(shutil.copytree(run_dir, tmp_path / run_dir.name)), baseline)
    assert result.verdict == "passed", result.errors  # the targets and hashes the baseline kept still match


def test_target_keys_of_old_runs_parse_to_targets():
    assert target_from_key("words=2000,paragraphs=6,bound=about") == LengthTarget(words=2000, paragraphs=6)
    assert target_from_key("sentences=3") == LengthTarget(sentences=3)
    assert target_from_key("none") == LengthTarget()
    with pytest.raises(ValueError, match="unknown part"):
        target_from_key("lines=4")


def test_a_malformed_manifest_says_which_field():
    with pytest.raises(ValueError, match=r"manifest field counts.scores_cached"):
        RunManifest.load({"metrics": {}, "counts": {"scores_cached": "many"}})


def test_unknown_keys_of_a_later_version_are_kept():
    manifest = RunManifest.load({"metrics": {}, "viewer_hint": {"colour": "blue"}})
    assert manifest.to_json()["viewer_hint"] == {"colour": "blue"}


# -- (2) a new run round-trips ---------------------------------------------------------------------

def test_a_new_run_round_trips(tmp_path):
    experiment = Experiment(systems=[{"kind": "lead"}, {"kind": "random", "seed": 0}],
                            metrics=[{"kind": "rouge"}, {"kind": "length"}, {"kind": "entities"}],
                            data={"path": "bundled", "limit": 2}, target={"words": 40}, name="schema",
                            output_dir=tmp_path / "runs", progress=False)
    run = experiment.run()
    loaded = Run.load(run.run_dir)
    assert loaded.manifest == run.manifest and loaded.manifest.manifest_version == 3
    assert not (run.run_dir / "scores.csv").read_text(encoding="utf-8").count("_info")
    assert (run.run_dir / "facts.jsonl").exists() and len(loaded.facts) == len(run.facts) == 4
    for document in loaded.manifest.data.ids:
        assert loaded.target_of(document) == LengthTarget(words=40)
        for system in ("lead", "random"):
            assert loaded.info(document, system, "entities") == run.info(document, system, "entities")
            assert "unsupported_entities" in loaded.info(document, system, "entities")
            assert loaded.details(document, system) == run.details(document, system)
    assert loaded.details(loaded.manifest.data.ids[0], "lead")["selected"]  # lead keeps its first sentences
    assert loaded.values().equals(run.values()) or loaded.table().equals(run.table())
    again = experiment.run()  # the store still serves everything: facts included
    assert again.manifest.counts.summaries_computed == 0 and again.manifest.counts.scores_computed == 0
    assert again.facts.reset_index(drop=True).equals(run.facts.reset_index(drop=True))


# -- (3) outside the run layer nothing reads the manifest by string or decodes a note --------------

def violations(source: str, where: str = "<string>") -> list[str]:
    """String-key reads of a manifest (``x.manifest["k"]``, ``manifest.get("k")``) and ``json.loads`` of a note."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript) and _is_manifest(node.value) and _is_str(node.slice):
            found.append(f"{where}:{node.lineno}: manifest[{ast.unparse(node.slice)}]")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "get" and _is_manifest(node.func.value):
                found.append(f"{where}:{node.lineno}: manifest.get(...)")
            if node.func.attr == "loads" and any("note" in ast.unparse(arg) for arg in node.args):
                found.append(f"{where}:{node.lineno}: json.loads of a note")
    return found


def _is_manifest(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and "manifest" in node.id) or (
        isinstance(node, ast.Attribute) and "manifest" in node.attr)


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def test_no_string_key_read_of_the_manifest_and_no_json_loads_of_a_note_outside_the_run_layer():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] != "run":
            found += violations(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))
    assert found == []


def test_the_walk_catches_planted_violations():
    planted = '''
import json
def view(run, manifest, row):
    a = run.manifest["systems"]
    b = manifest.get("data")
    c = json.loads(row.note)
    d = run.manifest.systems["lead"]  # typed: fine
    return a, b, c, d
'''
    assert [v.split(": ", 1)[1] for v in violations(planted)] == [
        "manifest['systems']", "manifest.get(...)", "json.loads of a note"]
