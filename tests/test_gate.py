"""The CI regression gate: real runs on synthetic news-like documents, then baselines and checks.

Expected numbers are worked out here from the runs' own score tables (means, per-document
drops) or by hand (binomial tail probabilities), never read back from the gate's output.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.report import gate
from evalkit.run.experiment import Experiment
from evalkit.run.record import Run
from evalkit.report.gate import GateError, Policy, PolicyError, check, load_baseline, save_baseline
from evalkit.report.gate.render import p_text
from evalkit.report.gate.testing import assert_no_regression
from evalkit.core.types import Measure

REPO = Path(__file__).resolve().parents[1]
SYSTEMS = [{"kind": "lead", "name": "lead"}, {"kind": "textrank", "name": "textrank"},
           {"kind": "random", "name": "random", "seed": 0}]
METRICS = [{"kind": "rouge"}, {"kind": "length"}]
TARGET = {"words": 60}
GATED = ("length_ok", "rouge1_f", "rouge2_f", "rougeL_f", "rougeLsum_f")  # every measure with a tolerance
VOCAB = ("council budget school river police storm mayor court hospital market company workers strike "
         "minister election voters bridge railway airport museum library farmers harvest festival teachers "
         "students doctors nurses patients energy prices fuel tax rent housing tenants factory jobs exports "
         "port ship coast weather flood drought fire forest park road traffic buses trains station tunnel "
         "scientists study report survey committee plan law judge trial verdict appeal prison officers "
         "protest crowd square church concert theatre film director award prize team coach match league").split()


def synthetic_rows(n: int = 16, seed: int = 1) -> list[dict]:
    """News-shaped documents: 9 sentences of 10-14 words; the reference quotes the first five.

    Lead-style summaries of about 60 words cover the reference, so halving them lowers every
    ROUGE score and breaks the word target.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        sentences = [" ".join(rng.choice(VOCAB, int(rng.integers(10, 15)))).capitalize() + "." for _ in range(9)]
        reference = " ".join(" ".join(s.rstrip(".").split()[:10]) + "." for s in sentences[:5])
        rows.append({"id": f"doc-{i:02d}", "article": " ".join(sentences), "references": [reference]})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def run_experiment(root: Path, name: str, data: Path, systems=SYSTEMS, metrics=METRICS) -> Run:
    experiment = Experiment(systems=systems, metrics=metrics, data={"path": str(data)}, target=TARGET, name=name,
                            output_dir=root / "runs", store=root / "store.sqlite", progress=False)
    return experiment.run()


def derived(run: Run, name: str, *, scores: pd.DataFrame | None = None, drop_systems=(), drop_metric_kinds=()) -> Run:
    """An in-memory copy of ``run`` with other scores, or without some systems or metric kinds."""
    manifest = run.manifest.to_json()
    scores = (run.scores if scores is None else scores).copy()
    summaries = run.summaries[~run.summaries["system"].isin(drop_systems)].copy()
    scores = scores[~scores["system"].isin(drop_systems)]
    for system in drop_systems:
        del manifest["systems"][system]
    for kind in drop_metric_kinds:
        del manifest["metrics"][kind]
        manifest["config"]["metrics"] = [m for m in manifest["config"]["metrics"] if m["kind"] != kind]
        scores = scores[~scores["metric"].str.startswith(kind)]
    return Run(run.run_dir.with_name(name), manifest, scores.reset_index(drop=True), summaries, run.facts)


def with_values(run: Run, system: str, metric: str, change) -> pd.DataFrame:
    """``run``'s scores with ``change(values sorted by document)`` applied to one system and metric."""
    scores = run.scores.copy()
    rows = scores.index[(scores["system"] == system) & (scores["metric"] == metric)]
    rows = scores.loc[rows].sort_values("document_id").index
    scores["value"] = scores["value"].astype(object)
    scores.loc[rows, "value"] = list(change(scores.loc[rows, "value"].astype(float).to_numpy()))
    return scores


def means(run: Run, system: str, metric: str) -> pd.Series:
    values = run.values()
    return values[(values["system"] == system) & (values["metric"] == metric)].set_index("document_id")["value"]


# -- fixtures: the runs are made once for the module --------------------------------------------

@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gate")


@pytest.fixture(scope="module")
def data(root: Path) -> Path:
    return write_jsonl(root / "news.jsonl", synthetic_rows())


@pytest.fixture(scope="module")
def base_run(root: Path, data: Path) -> Run:
    return run_experiment(root, "base", data)


@pytest.fixture(scope="module")
def baseline_file(root: Path, base_run: Run) -> Path:
    path = root / "baseline.json"
    save_baseline(base_run, path)
    return path


@pytest.fixture(scope="module")
def halved_run(root: Path, data: Path, base_run: Run) -> Run:
    """The same experiment, but lead's summaries cut to the first half of their words."""
    lead = base_run.summaries[base_run.summaries["system"] == "lead"]
    outputs = [{"document_id": d, "summary": " ".join(t.split()[: len(t.split()) // 2])}
               for d, t in zip(lead["document_id"], lead["text"])]
    path = write_jsonl(root / "halved.jsonl", outputs)
    systems = [{"kind": "precomputed", "name": "lead", "path": str(path)}, *SYSTEMS[1:]]
    return run_experiment(root, "halved", data, systems=systems)


@pytest.fixture(scope="module")
def halved_result(halved_run: Run, baseline_file: Path) -> gate.GateResult:
    return check(halved_run, baseline_file)


@pytest.fixture(scope="module")
def unstemmed_run(root: Path, data: Path) -> Run:
    """Scored with ROUGE without the Porter stemmer: another rouge signature."""
    return run_experiment(root, "unstemmed", data, metrics=[{"kind": "rouge", "stemmer": False}, {"kind": "length"}])


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="evalkit")
    gate.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


# -- baseline -----------------------------------------------------------------------------------

def test_baseline_holds_scores_signatures_fingerprints_and_data_identity(base_run, baseline_file):
    baseline = load_baseline(baseline_file)
    assert sorted(baseline["systems"]) == ["lead", "random", "textrank"]
    assert sorted(baseline["metrics"]) == sorted(GATED)  # bertscore_f, entity_precision_source: optional, absent
    assert baseline["not_gated"] == []
    entry = baseline["metrics"]["rouge1_f"]
    assert {k: entry[k] for k in ("kind", "instance", "signature", "config")} == {
        "kind": "rouge", "instance": "rouge", "signature": base_run.manifest.metrics["rouge"].signature,
        "config": {"kind": "rouge"}}
    assert entry["measure"]["higher_is_better"] is True and entry["measure"]["tolerance"] == 0.005
    assert baseline["metrics"]["length_ok"]["kind"] == "length"
    assert baseline["metric_signature"] == base_run.manifest.metric_signature
    assert baseline["systems"]["lead"]["fingerprint"] == base_run.manifest.systems["lead"].fingerprint
    assert baseline["data"]["documents"] == base_run.manifest.data.documents
    assert len(baseline["data"]["hashes"]) == 16 and baseline["data"]["targets"]["doc-00"] == "words=60,bound=about"
    expected = means(base_run, "lead", "rouge1_f")
    assert baseline["scores"]["lead"]["rouge1_f"] == {d: float(v) for d, v in expected.items()}  # full precision


def test_baseline_options_gzip_and_same_bytes_each_time(base_run, tmp_path):
    first, second = tmp_path / "a.json.gz", tmp_path / "b.json.gz"
    save_baseline(base_run, first, systems=["lead"], metrics=["rouge1_f", "length_ok"])
    save_baseline(base_run, second, systems=["lead"], metrics=["rouge1_f", "length_ok"])
    assert first.read_bytes()[:2] == b"\x1f\x8b" and first.read_bytes() == second.read_bytes()
    baseline = json.loads(gzip.decompress(first.read_bytes()))
    assert list(baseline["systems"]) == ["lead"] and sorted(baseline["metrics"]) == ["length_ok", "rouge1_f"]
    assert load_baseline(first) == baseline
    assert check(base_run, first).verdict == "passed"


def test_baseline_rejects_unknown_systems_and_metrics_without_tolerance(base_run, tmp_path):
    with pytest.raises(ValueError, match="system.*'nope'.*not in run"):
        save_baseline(base_run, tmp_path / "b.json", systems=["nope"])
    with pytest.raises(ValueError, match="bertscore_f.*not in run"):
        save_baseline(base_run, tmp_path / "b.json", metrics=["bertscore_f"])
    with pytest.raises(PolicyError, match="no tolerance for lead/rouge1_p"):
        save_baseline(base_run, tmp_path / "b.json", systems=["lead"], metrics=["rouge1_p"])


def test_required_policy_metric_missing_from_run_is_listed_not_silent(base_run, tmp_path):
    policy = {"metrics": {"rouge1_f": {"tolerance": 0.01}, "density": {"tolerance": 0.1, "direction": "higher"}}}
    baseline = save_baseline(base_run, tmp_path / "b.json", policy=policy)
    assert sorted(baseline["metrics"]) == sorted(GATED) and baseline["not_gated"] == ["density"]
    result = check(base_run, tmp_path / "b.json", policy=policy)
    assert result.verdict == "passed"
    assert any("density" in note for note in result.notes)


# -- verdicts -----------------------------------------------------------------------------------

def test_a_run_checked_against_its_own_baseline_passes(base_run, baseline_file):
    result = check(base_run, baseline_file)
    assert result.verdict == "passed" and result.exit_code == 0
    assert len(result.checks) == 3 * len(GATED)
    assert all(c.status == "passed" and c.drop == 0 and c.p_value == 1.0 and c.n == 16 for c in result.checks)
    assert result.errors == [] and not any("changed" in n for n in result.notes)


def test_halved_summaries_regress_on_rouge_and_length(base_run, halved_run, halved_result):
    result = halved_result
    assert result.verdict == "regressed" and result.exit_code == 1
    regressed = {(c.system, c.metric) for c in result.regressions}
    assert regressed == {("lead", m) for m in GATED}  # textrank and random are unchanged
    assert any(n.startswith("lead changed") for n in result.notes)  # the fingerprint change is reported

    rouge = next(c for c in result.checks if (c.system, c.metric) == ("lead", "rouge1_f"))
    before, after = means(base_run, "lead", "rouge1_f"), means(halved_run, "lead", "rouge1_f")
    assert rouge.drop == pytest.approx(before.mean() - after.mean())
    assert rouge.drop > 0.05 and rouge.p_value < 0.001 and rouge.fingerprint_changed
    drops = (before - after.reindex(before.index)).sort_values(ascending=False)
    assert [d for d, *_ in rouge.worst] == list(drops.index[:5])
    assert rouge.worst[0][3] == pytest.approx(drops.iloc[0])

    length = next(c for c in result.checks if (c.system, c.metric) == ("lead", "length_ok"))
    lead_ok = means(base_run, "lead", "length_ok")
    assert length.baseline == pytest.approx(lead_ok.mean()) and length.new == 0.0  # 30 words never meet "about 60"

    text = str(result)
    assert f"REGRESSED lead / rouge1_f {-rouge.drop:+.4f} (worse): " in text  # one signed number per change
    for needle in (f"p={p_text(rouge.p_value)}", drops.index[0]):
        assert needle in text


def test_noise_larger_than_the_tolerance_but_not_significant_passes(base_run, baseline_file):
    # Symmetric noise of +-0.05 plus a bias of -0.008: the mean drops by 0.008 > tolerance 0.005,
    # but the sign-flip null spreads about 0.05 / sqrt(16) = 0.0125, so p is far above 0.05.
    noise = np.where(np.arange(16) % 2 == 0, 0.05, -0.05) - 0.008
    noisy = derived(base_run, "noisy", scores=with_values(base_run, "lead", "rouge1_f", lambda v: v + noise))
    result = check(noisy, baseline_file)
    row = next(c for c in result.checks if (c.system, c.metric) == ("lead", "rouge1_f"))
    assert row.drop == pytest.approx(0.008) and row.drop > row.tolerance
    assert row.p_value > 0.3 and row.status == "passed" and "not significant" in row.reason
    assert result.verdict == "passed" and result.exit_code == 0


def test_a_consistent_change_within_the_tolerance_passes(base_run, baseline_file):
    shifted = derived(base_run, "shifted", scores=with_values(base_run, "lead", "rouge1_f", lambda v: v - 0.001))
    result = check(shifted, baseline_file)
    row = next(c for c in result.checks if (c.system, c.metric) == ("lead", "rouge1_f"))
    # Every document drops, so the sign-flip test is as significant as 16 documents allow
    # (exact two-sided p = 2 / 2**16); the drop is 0.001 <= 0.005, so it passes.
    assert row.p_value < 0.001 and row.drop == pytest.approx(0.001)
    assert row.status == "passed" and "within the tolerance" in row.reason and result.verdict == "passed"


def test_holm_correction_across_the_gated_checks(base_run, baseline_file):
    # 13 documents drop by 0.02 and 3 rise by 0.02: drop = (13 - 3) * 0.02 / 16 = 0.0125.
    # Sign-flip test: |sum| >= 10 flips of 16 equal magnitudes needs >= 13 of one sign:
    # P = 2 * (C(16,13) + C(16,14) + C(16,15) + C(16,16)) / 2**16 = 2 * 697 / 65536 = 0.0213.
    # Holm over 15 checks (the other 14 have p = 1) multiplies it by 15: 0.32 > 0.05.
    change = np.where(np.arange(16) < 13, -0.02, 0.02)
    moved = derived(base_run, "moved", scores=with_values(base_run, "lead", "rouge1_f", lambda v: v + change))
    held = check(moved, baseline_file)
    row = next(c for c in held.checks if (c.system, c.metric) == ("lead", "rouge1_f"))
    assert row.drop == pytest.approx(0.0125)
    assert row.p_value == pytest.approx(2 * 697 / 65536, abs=0.004)
    assert row.p_adjusted == pytest.approx(min(1.0, 15 * row.p_value))
    assert held.verdict == "passed"
    uncorrected = check(moved, baseline_file, policy={**_default_policy_dict(), "correction": "none"})
    assert uncorrected.verdict == "regressed"
    assert [(c.system, c.metric) for c in uncorrected.regressions] == [("lead", "rouge1_f")]


def test_documents_that_lose_their_value_fail_the_check(base_run, baseline_file):
    def lose_two(values):
        values = values.astype(object)
        values[[3, 7]] = None
        return values

    failing = derived(base_run, "failing", scores=with_values(base_run, "lead", "rougeLsum_f", lose_two))
    result = check(failing, baseline_file)
    row = next(c for c in result.checks if (c.system, c.metric) == ("lead", "rougeLsum_f"))
    assert row.status == "regressed" and row.n_lost == 2 and row.n == 14
    assert "doc-03" in row.reason and "doc-07" in row.reason
    assert result.verdict == "regressed"
    assert check(failing, baseline_file, policy={**_default_policy_dict(), "max_lost": 2}).verdict == "passed"

    gone = derived(base_run, "gone", scores=with_values(base_run, "lead", "rougeLsum_f", lambda v: [None] * len(v)))
    assert check(gone, baseline_file).verdict == "regressed"
    result = check(gone, baseline_file, policy={**_default_policy_dict(), "max_lost": 16})
    assert result.verdict == "incomparable" and "no document has a value in both" in result.errors[0]


def test_lower_is_better_metric_and_per_system_override(base_run, halved_run, tmp_path):
    # Halving lead's summaries doubles compression (source words / summary words): worse when lower is better.
    policy = {"metrics": {"length_compression": {"tolerance": 0.5, "direction": "lower"}},
              "systems": {"textrank": {"length_compression": {"tolerance": 100.0}}}}
    save_baseline(base_run, tmp_path / "b.json", policy=policy)
    result = check(halved_run, tmp_path / "b.json", policy=policy)
    lead = next(c for c in result.checks if c.system == "lead")
    before, after = means(base_run, "lead", "length_compression"), means(halved_run, "lead", "length_compression")
    assert lead.drop == pytest.approx(after.mean() - before.mean()) and lead.drop > 0.5
    assert lead.status == "regressed" and lead.reason.startswith(f"{lead.drop:+.4f} (worse)")
    assert next(c for c in result.checks if c.system == "textrank").tolerance == 100.0


# -- could not compare --------------------------------------------------------------------------

def test_another_metric_signature_is_could_not_compare(base_run, unstemmed_run, baseline_file):
    result = check(unstemmed_run, baseline_file)
    assert result.verdict == "incomparable" and result.exit_code == 3
    old, new = base_run.manifest.metrics["rouge"].signature, unstemmed_run.manifest.metrics["rouge"].signature
    assert old != new
    rouge = [c for c in result.checks if c.metric.startswith("rouge")]
    assert rouge and all(c.status == "error" and old in c.reason and new in c.reason for c in rouge)
    reason = next(c.reason for c in rouge if c.metric == "rouge1_f")
    assert reason.startswith("metric rouge was scored differently")
    assert result.errors == [reason]  # said once for the metric, not once per value and system
    assert "(rouge1_f, rouge2_f, rougeL_f, rougeLsum_f)" in reason
    assert sum(reason in line for line in str(result).splitlines()) == 1
    assert "the 3 compared check(s) passed" in str(result)  # length_ok, still compared
    assert "[12 check(s): lead, random, textrank x rouge1_f, rouge2_f, rougeL_f, rougeLsum_f]" in str(result)
    assert '{"kind": "rouge"} in the baseline, {"kind": "rouge", "stemmer": false} in the run' in reason
    assert not result.notes  # length is unchanged; the rouge change is an error, not a note
    assert all(c.status == "passed" for c in result.checks if c.metric == "length_ok")


def test_other_documents_are_could_not_compare(root, base_run, baseline_file):
    rows = synthetic_rows()
    fewer = run_experiment(root, "fewer", write_jsonl(root / "fewer.jsonl", rows[:12]))
    result = check(fewer, baseline_file)
    assert result.verdict == "incomparable" and all(c.status == "error" for c in result.checks)
    assert "4 only in the baseline (e.g. doc-12, doc-13, doc-14)" in result.errors[0]

    rows[3] = {**rows[3], "article": rows[3]["article"] + " A late correction was added."}
    edited = run_experiment(root, "edited", write_jsonl(root / "edited.jsonl", rows))
    result = check(edited, baseline_file)
    assert result.verdict == "incomparable"
    assert result.errors == ["1 document(s) have a different text or references (e.g. doc-03)"]


def test_without_per_document_hashes_the_digest_decides(base_run, baseline_file):
    baseline = load_baseline(baseline_file)
    baseline["data"]["hashes"] = None
    assert check(base_run, baseline).verdict == "passed"
    baseline["data"]["documents"] = "0123456789abcdef"
    result = check(base_run, baseline)
    assert result.verdict == "incomparable" and "digest differs (baseline 0123456789abcdef" in result.errors[0]


def test_a_changed_length_target_is_could_not_compare(base_run, baseline_file):
    baseline = load_baseline(baseline_file)
    baseline["data"]["targets"]["doc-05"] = "words=80,bound=about"
    result = check(base_run, baseline)
    assert result.verdict == "incomparable" and "doc-05: words=80,bound=about in the baseline" in result.errors[0]


def test_missing_system_or_metric_is_could_not_compare(base_run, baseline_file):
    result = check(derived(base_run, "no-random", drop_systems=["random"]), baseline_file)
    assert result.verdict == "incomparable"
    assert {(c.system, c.status) for c in result.checks} == {("lead", "passed"), ("textrank", "passed"),
                                                             ("random", "error")}
    assert result.errors == ["system random is gated by the baseline but not in the run (the run has lead, textrank)"]

    result = check(derived(base_run, "no-length", drop_metric_kinds=["length"]), baseline_file)
    assert result.verdict == "incomparable"
    assert result.errors == ["metric value length_ok is gated by the baseline but not in the run"]


def test_a_policy_without_a_tolerance_for_a_gated_metric_is_could_not_compare(base_run, tmp_path):
    # length_compression's measure has no direction and no tolerance: gated only when a policy gives both.
    policy = {"metrics": {"length_compression": {"tolerance": 0.5, "direction": "lower"}}}
    save_baseline(base_run, tmp_path / "b.json", policy=policy)
    assert "length_compression" in load_baseline(tmp_path / "b.json")["metrics"]
    result = check(base_run, tmp_path / "b.json")
    assert result.verdict == "incomparable"
    assert any("no tolerance for length_compression" in e for e in result.errors)
    undirected = check(base_run, tmp_path / "b.json", policy={"metrics": {"length_compression": {"tolerance": 0.5}}})
    assert undirected.verdict == "incomparable" and any("no direction" in e for e in undirected.errors)


def test_policy_overrides_the_measure_defaults(base_run, baseline_file):
    policy = Policy.load({"metrics": {"rouge2_f": {"tolerance": 0.02}, "length_ok": {"gate": False}},
                          "systems": {"random": {"rouge1_f": {"tolerance": 0.03}}}})
    result = check(base_run, baseline_file, policy=policy)
    by = {(c.system, c.metric): c for c in result.checks}
    assert by[("lead", "rouge2_f")].tolerance == 0.02 and by[("lead", "rouge1_f")].tolerance == 0.005
    assert by[("random", "rouge1_f")].tolerance == 0.03 and by[("random", "rouge1_f")].direction == "higher"
    assert not any(m == "length_ok" for _, m in by) and result.verdict == "passed"
    assert any("gate: false" in n and "lead / length_ok" in n for n in result.notes)


def test_a_policy_cannot_turn_a_declared_direction_around(base_run, baseline_file):
    # ROUGE declares higher is better; a policy saying lower would pass every real regression
    policy = Policy.load({"systems": {"random": {"rouge1_f": {"direction": "lower"}}}})
    result = check(base_run, baseline_file, policy=policy)
    by = {(c.system, c.metric): c for c in result.checks}
    assert result.verdict == "incomparable" and by[("random", "rouge1_f")].status == "error"
    assert "declares that higher is better" in by[("random", "rouge1_f")].reason
    assert by[("lead", "rouge1_f")].status == "passed"


def test_an_unreadable_baseline_is_could_not_compare(base_run, tmp_path):
    (tmp_path / "b.json").write_text('{"hello": 1}')
    result = check(base_run, tmp_path / "b.json")
    assert result.verdict == "incomparable" and "not an evalkit baseline" in result.errors[0]
    root = ET.fromstring(result.to_junit())
    assert root.get("errors") == "1" and root.find(".//error") is not None


@pytest.mark.parametrize("policy, message", [
    ({"metrics": {"rouge1_f": {"tolerance": 0.005}}, "alpah": 0.05}, r"policy does not take 'alpah' \(did you mean 'alpha'\?\)"),
    ({"metrics": {"rouge1_f": {"tolerance": 0.005, "direction": "up"}}}, "direction must be one of 'higher', 'lower', 'closer'"),
    ({"metrics": {"rouge1_f": {"tolerance": 0.005, "optinal": True}}}, r"metrics.rouge1_f does not take 'optinal' \(did you mean 'optional'\?\)"),
    ({"metrics": {"rouge1_f": {"gate": "no"}}}, "gate must be true or false"),
    ({"metrics": {"rouge1_f": {"tolerance": 0.005}}, "alpha": 1.5}, r"alpha must be a number > 0 and < 1, got 1\.5"),
    ({"metrics": ["rouge1_f"]}, "must map value names"),
])
def test_invalid_policies_say_what_to_fix(policy, message):
    with pytest.raises(PolicyError, match=message):
        Policy.load(policy)


def test_default_policy_file():
    policy = Policy.load(None)
    assert dict(policy.metrics) == {} and dict(policy.systems) == {}  # what is gated comes from the measures
    assert policy.alpha == 0.05 and policy.correction == "holm" and policy.n_resamples == 10000
    rouge = Measure("rouge1_f", "ROUGE-1 F1", "fraction", True, tolerance=0.005)
    assert policy.rule("lead", "rouge1_f", rouge) == gate.MetricRule(0.005, "higher", True)
    fewer = Measure("entity_unsupported_count", "unsupported", "count", False, tolerance=0.1)
    assert policy.rule(None, "entity_unsupported_count", fewer) == gate.MetricRule(0.1, "lower", True)
    assert policy.rule(None, "length_words", Measure("length_words", "length", "words", None)) is None
    assert policy.rule(None, "rouge1_p", Measure("rouge1_p", "ROUGE-1 P", "fraction", True)) is None


# -- reports ------------------------------------------------------------------------------------

def test_a_pass_is_a_short_summary(base_run, baseline_file, halved_result):
    result = check(base_run, baseline_file)
    text = str(result)
    assert text.splitlines()[0] == (f"evalkit gate passed: run {base_run.run_id} vs baseline {base_run.run_id} "
                                    "(0 of 15 checks regressed, 0 improved, on 16 documents)")
    assert "all 15 check(s) passed" in text and "rouge1_f" not in text  # no row per passing check
    assert len(result.to_text(all_rows=True).splitlines()) >= 15 + 3
    markdown = result.to_markdown()
    assert "<details><summary>All 15 compared checks</summary>" in markdown
    # A regression lists only the notable rows; the unchanged ones are counted.
    rows = [line for line in str(halved_result).splitlines() if line.startswith(("lead ", "textrank ", "random "))]
    assert len(rows) == 5 and all(r.startswith("lead ") for r in rows)
    assert "10 other check(s) passed" in str(halved_result)
    # An improvement gets a row too (better by more than the tolerance, and significant), never a failure.
    better = derived(base_run, "better", scores=with_values(base_run, "textrank", "rouge2_f", lambda v: v + 0.03))
    improved = check(better, baseline_file)
    assert improved.verdict == "passed" and "1 improved" in improved.headline()
    rows = [line for line in str(improved).splitlines() if line.startswith("textrank ")]
    assert len(rows) == 1 and "+0.0300 (better)" in rows[0] and rows[0].endswith("improved")


def test_markdown_summary_of_a_regression(halved_result):
    markdown = halved_result.to_markdown()
    first = markdown.splitlines()[0]
    assert first.startswith("## ❌") and "REGRESSED" in first and "5 of 15 checks regressed" in first
    assert "| system | metric | baseline | new | change | p | p (Holm) | tolerance | n | verdict |" in markdown
    rouge = next(c for c in halved_result.regressions if c.metric == "rouge1_f")
    change = rouge.new - rouge.baseline
    assert f"| lead | rouge1_f | {rouge.baseline:.4f} | {rouge.new:.4f} | {change:+.4f} (worse) |" in markdown
    assert "drop" not in markdown.lower()  # one signed number, not "change" and "drop" side by side
    assert f"**lead / rouge1_f** {change:+.4f} (worse): " in markdown and "Most affected documents (5 shown)" in markdown
    base, new = rouge.worst[0][1], rouge.worst[0][2]
    assert f"| {rouge.worst[0][0]} | {base:.4f} | {new:.4f} | {new - base:+.4f} |" in markdown
    assert "| textrank | rouge1_f |" in markdown and "✅ pass" in markdown


def test_json_report(halved_result, capsys, halved_run, baseline_file):
    assert cli(["check", str(halved_run.run_dir), "--baseline", str(baseline_file), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "regressed" and data["exit_code"] == 1 and len(data["checks"]) == 15
    rouge = next(c for c in data["checks"] if (c["system"], c["metric"]) == ("lead", "rouge1_f"))
    assert rouge["status"] == "regressed" and rouge["change"] == pytest.approx(rouge["new"] - rouge["baseline"])
    assert rouge["worse_by"] == pytest.approx(-rouge["change"]) and len(rouge["worst"]) == 5


def test_junit_has_one_testcase_per_system_and_metric(halved_result, unstemmed_run, baseline_file):
    root = ET.fromstring(halved_result.to_junit())
    cases = root.findall(".//testcase")
    assert len(cases) == 15 and root.get("failures") == "5" and root.get("errors") == "0"
    failed = {(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None}
    assert failed == {("evalkit.gate.lead", m) for m in GATED}
    failure = next(c for c in cases if c.get("name") == "rouge1_f" and c.find("failure") is not None).find("failure")
    assert "(worse)" in failure.get("message") and "p=" in failure.get("message")
    assert len(failure.text.splitlines()) == 5

    root = ET.fromstring(check(unstemmed_run, baseline_file).to_junit())
    errors = [c for c in root.findall(".//testcase") if c.find("error") is not None]
    assert len(errors) == 12 and root.get("errors") == "12"  # 3 systems x rouge1/rouge2/rougeL/rougeLsum
    assert all(c.find("error").get("type") == "could-not-compare" for c in errors)


# -- command line and pytest helper ---------------------------------------------------------------

def test_command_line_exit_codes_and_reports(base_run, halved_run, unstemmed_run, tmp_path, capsys):
    baseline = tmp_path / "base.json.gz"
    assert cli(["baseline", "save", str(base_run.run_dir), str(baseline)]) == 0
    assert "3 system(s)" in capsys.readouterr().out
    assert cli(["check", str(base_run.run_dir), "--baseline", str(baseline)]) == 0
    md, xml = tmp_path / "out" / "gate.md", tmp_path / "out" / "gate.xml"
    code = cli(["check", str(halved_run.run_dir), "--baseline", str(baseline), "--markdown", str(md),
                "--junit", str(xml)])
    assert code == 1
    assert "REGRESSED lead / rouge1_f" in capsys.readouterr().out
    assert md.read_text().startswith("## ❌") and ET.parse(xml).getroot().get("failures") == "5"
    assert cli(["check", str(unstemmed_run.run_dir), "--baseline", str(baseline), "--junit", str(xml)]) == 3
    assert ET.parse(xml).getroot().get("errors") == "12"
    assert cli(["check", str(base_run.run_dir), "--baseline", str(tmp_path / "missing.json")]) == 2
    assert "no such baseline file" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("metrics: {rouge1_f: {tolerance: -1}}\n")
    assert cli(["check", str(base_run.run_dir), "--baseline", str(baseline), "--policy", str(bad)]) == 2
    with pytest.raises(SystemExit) as exit_info:
        cli(["check", str(base_run.run_dir), "--alpha", "2", "--baseline", str(baseline)])
    assert exit_info.value.code == 2


def test_python_dash_m_entry_point(base_run, baseline_file):
    out = subprocess.run([sys.executable, "-m", "evalkit.report.gate", "check", str(base_run.run_dir),
                          "--baseline", str(baseline_file)], capture_output=True, text=True, cwd=REPO,
                         env={"PYTHONPATH": str(REPO), "PATH": ""}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("evalkit gate passed")


def test_assert_no_regression(base_run, halved_run, unstemmed_run, baseline_file):
    assert assert_no_regression(base_run.run_dir, baseline_file).verdict == "passed"
    with pytest.raises(AssertionError) as failure:
        assert_no_regression(halved_run, baseline_file)
    message = str(failure.value)
    assert "lead / rouge1_f" in message and "(worse)" in message and "p=" in message
    assert "Most affected documents" in message
    with pytest.raises(GateError, match="scored differently"):
        assert_no_regression(unstemmed_run, baseline_file)


def _default_policy_dict() -> dict:
    import yaml

    return yaml.safe_load(gate.DEFAULT_POLICY.read_text(encoding="utf-8"))
