"""The gate cannot reward the wrong thing: two-sided values are gated by their distance from target.

``length_word_deviation`` is signed, so "lower is better" would call truncation an improvement and
a system moving from -10 % to exactly on target "worse". Its measure declares its ideal value (0);
the gate compares the distance from it and refuses a direction that contradicts a declaration.
"""

from __future__ import annotations

import json

import pytest

from evalkit.cli import main
from evalkit.core.errors import PolicyError
from evalkit.core.types import Measure
from evalkit.report.gate.policy import Policy
from evalkit.run.experiment import Experiment

TARGET = "about 60 words"


def _run(tmp_path, name, texts):
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"document_id": d, "summary": t}) + "\n" for d, t in texts.items()),
                    encoding="utf-8")
    return Experiment(systems=[{"kind": "precomputed", "name": "system", "path": str(path)}],
                      metrics=[{"kind": "length"}], data={"path": "bundled", "limit": 12}, target=TARGET,
                      name=name, output_dir=tmp_path / "runs" / name, progress=False).run()


def _words(n: int, document: str) -> str:
    return " ".join(f"word{i}{document[-2:]}" for i in range(n)) + "."


@pytest.fixture()
def policy(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("metrics:\n  length_word_deviation: {tolerance: 0.05}\n", encoding="utf-8")
    return path


@pytest.fixture()
def documents(tmp_path):
    lead = Experiment(systems=[{"kind": "lead", "cut": "word"}], metrics=[{"kind": "length"}],
                      data={"path": "bundled", "limit": 12}, target=TARGET, name="lead",
                      output_dir=tmp_path / "runs" / "lead", progress=False).run()
    return dict(zip(lead.summaries["document_id"], lead.summaries["text"]))


def _check(tmp_path, capsys, base, new, policy) -> tuple[int, str]:
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", "save", str(base.run_dir), str(baseline), "--policy", str(policy)]) == 0
    capsys.readouterr()
    code = main(["check", str(new.run_dir), "--baseline", str(baseline), "--policy", str(policy), "--all"])
    return code, capsys.readouterr().out


def test_outputs_cut_to_25_words_are_worse(tmp_path, capsys, documents, policy):
    base = _run(tmp_path, "base", documents)  # lead cut at exactly 60 words: on target
    cut = _run(tmp_path, "cut", {d: " ".join(t.split()[:25]) for d, t in documents.items()})
    # the signed deviation fell from 0 to (25 - 60) / 60: "lower" would have called that better
    deviation = cut.values().query("metric == 'length_word_deviation'")["value"]
    assert deviation.mean() == pytest.approx((25 - 60) / 60)
    code, out = _check(tmp_path, capsys, base, cut, policy)
    assert code == 1
    line = next(x for x in out.splitlines() if "length_word_deviation" in x and "REGRESSED" in x)
    assert "+0.5833 in distance from 0 (worse)" in line  # mean |deviation| 0 -> 35/60


def test_moving_from_ten_percent_short_to_on_target_is_better(tmp_path, capsys, policy):
    ids = [f"evk-{i:03d}" for i in range(1, 13)]
    short = _run(tmp_path, "short", {d: _words(54, d) for d in ids})  # (54 - 60) / 60 = -0.1
    exact = _run(tmp_path, "exact", {d: _words(60, d) for d in ids})
    code, out = _check(tmp_path, capsys, short, exact, policy)
    assert code == 0
    line = next(x for x in out.splitlines() if "length_word_deviation" in x)
    assert "-0.1000 in distance from 0 (better)" in line


def test_a_policy_direction_that_contradicts_the_measure_is_refused():
    deviation = Measure("length_word_deviation", "deviation", "fraction", None, ideal=0.0)
    rouge = Measure("rouge1_f", "ROUGE-1", "fraction", True, tolerance=0.005)
    policy = Policy.from_dict({"metrics": {"length_word_deviation": {"tolerance": 0.05, "direction": "lower"},
                                           "rouge1_f": {"direction": "lower"}}})
    with pytest.raises(PolicyError, match="two-sided.*use direction: closer"):
        policy.rule("lead", "length_word_deviation", deviation)
    with pytest.raises(PolicyError, match="declares that higher is better"):
        policy.rule("lead", "rouge1_f", rouge)
    plain = Policy.from_dict({"metrics": {"length_word_deviation": {"tolerance": 0.05}}})
    rule = plain.rule("lead", "length_word_deviation", deviation)
    assert (rule.direction, rule.ideal, rule.tolerance) == ("closer", 0.0, 0.05)


def test_the_documented_policy_is_accepted_and_gates_by_distance(tmp_path):
    # the policy block of docs/ci-gate.md, as a user would copy it
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "ci-gate.md").read_text(encoding="utf-8")
    block = doc[doc.index("# ci/gate-policy.yaml"):]
    block = block[:block.index("```")]
    path = tmp_path / "gate-policy.yaml"
    path.write_text(block, encoding="utf-8")
    policy = Policy.load(path)
    rule = policy.rule("lead", "length_word_deviation", Measure("length_word_deviation", "d", "fraction", None,
                                                                ideal=0.0))
    assert rule.direction == "closer"
