"""The gate across versions and metric instances: old runs and baselines, two BERTScore instances.

The legacy fixtures were written by the evalkit of commit a6b5edf (tests/fixtures/legacy/README.md).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evalkit.run.experiment import Experiment
from evalkit.report.gate import check, load_baseline, save_baseline
from evalkit.report.gate.commands import main
from evalkit.run.record import Run

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy"
LEGACY_RUN = LEGACY / "legacy-20261201-202857"
GATED = ["length_ok", "rouge1_f", "rouge2_f", "rougeLsum_f"]  # what that version's policy gated


def _experiment(tmp: Path, name: str, metrics: list) -> Experiment:
    return Experiment(systems=[{"kind": "lead", "name": "lead"}, {"kind": "random", "name": "random", "seed": 0}],
                      metrics=metrics, data={"path": "bundled", "limit": 3}, target={"words": 60, "bound": "about"},
                      name=name, output_dir=tmp / "runs", store=tmp / "store.sqlite", progress=False)


def test_the_legacy_fixture_is_in_the_old_format():
    manifest = json.loads((LEGACY_RUN / "manifest.json").read_text(encoding="utf-8"))
    assert all(isinstance(v, str) for v in manifest["metrics"].values())  # {kind: signature}
    baseline = json.loads((LEGACY / "baseline.json").read_text(encoding="utf-8"))
    assert sorted(baseline["metrics"]) == GATED and "instance" not in baseline["metrics"]["rouge1_f"]


def test_legacy_run_against_legacy_baseline_passes(tmp_path, capsys):
    run_dir = shutil.copytree(LEGACY_RUN, tmp_path / LEGACY_RUN.name)  # nothing may be written into the repo
    result = check(run_dir, LEGACY / "baseline.json")
    assert result.verdict == "passed", str(result)
    assert sorted({c.metric for c in result.checks}) == GATED and len(result.checks) == 2 * len(GATED)
    assert all(c.change == 0 and c.n == 3 for c in result.checks)
    assert main(["check", str(run_dir), "--baseline", str(LEGACY / "baseline.json")]) == 0
    assert capsys.readouterr().out.startswith("evalkit gate passed")


def test_current_run_against_legacy_baseline(tmp_path):
    run = _experiment(tmp_path, "current", [{"kind": "rouge"}, {"kind": "length"}]).run()
    assert run.manifest.manifest_version == 3 and run.manifest.metrics["rouge"].measures  # the current format
    result = check(run, LEGACY / "baseline.json")
    # The legacy baseline is read, and its values are compared where the metric settings are the same. Since it
    # was saved, ROUGE (tokenizer: auto) and length (Unicode text rules) changed their signatures, so the gate
    # must say it cannot compare them, once per metric, with the fix, rather than pass or fail on other settings.
    assert result.verdict == "incomparable" and result.exit_code == 3
    assert sorted({c.metric for c in result.checks}) == GATED
    assert len(result.errors) == 2 and all("re-save the baseline" in e for e in result.errors)
    assert {e.split()[1] for e in result.errors} == {"rouge", "length"}
    old = load_baseline(LEGACY / "baseline.json")
    assert old["metrics"]["rouge1_f"]["signature"] != run.manifest.metrics["rouge"].signature
    # A baseline re-saved from the legacy run by this version gates the legacy run as the old baseline did,
    # and a baseline saved from the current run gates the current run.
    legacy_run = Run.load(shutil.copytree(LEGACY_RUN, tmp_path / LEGACY_RUN.name))
    save_baseline(legacy_run, tmp_path / "resaved.json")
    assert check(legacy_run, tmp_path / "resaved.json").verdict == "passed"
    save_baseline(run, tmp_path / "current.json")
    assert check(run, tmp_path / "current.json").verdict == "passed"


def test_two_bertscore_instances_keep_both_signatures_and_are_both_gated(tmp_path):
    metrics = [{"kind": "bertscore"}, {"kind": "bertscore", "against": "source"}]
    base = _experiment(tmp_path, "bert", metrics).run()
    instances = base.manifest.metrics
    assert set(instances) == {"bertscore", "bertscore_src"}
    assert instances["bertscore"].signature != instances["bertscore_src"].signature
    baseline = save_baseline(base, tmp_path / "bert.json")
    assert {baseline["metrics"][m]["instance"] for m in ("bertscore_f", "bertscore_src_f")} == {"bertscore",
                                                                                                "bertscore_src"}
    assert baseline["metric_signatures"] == {k: v.signature for k, v in instances.items()}
    result = check(base, tmp_path / "bert.json")
    assert result.verdict == "passed"
    assert {(c.system, c.metric) for c in result.checks} == {(s, m) for s in ("lead", "random")
                                                             for m in ("bertscore_f", "bertscore_src_f")}

    # Only the source instance scored differently: only its checks cannot be compared, said once.
    changed = _experiment(tmp_path, "bert-layers",
                          [{"kind": "bertscore"}, {"kind": "bertscore", "against": "source", "num_layers": 3}]).run()
    result = check(changed, tmp_path / "bert.json")
    assert result.verdict == "incomparable"
    status = {(c.system, c.metric): c.status for c in result.checks}
    assert status == {("lead", "bertscore_f"): "passed", ("random", "bertscore_f"): "passed",
                      ("lead", "bertscore_src_f"): "error", ("random", "bertscore_src_f"): "error"}
    assert len(result.errors) == 1 and result.errors[0].startswith("metric bertscore_src was scored differently")


def test_the_documented_policy_and_workflow_are_valid():
    import yaml

    from evalkit.report.gate import MetricRule, Policy
    from evalkit.core.types import Measure

    text = (Path(__file__).resolve().parents[1] / "docs" / "ci-gate.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    policy = next(b for b in blocks if b.startswith("# ci/gate-policy.yaml"))
    loaded = Policy.from_dict(yaml.safe_load(policy), source="docs")
    rouge = Measure("rouge1_f", "ROUGE-1 F1", "fraction", True, tolerance=0.005)
    assert loaded.rule("random", "rouge1_f", rouge) == MetricRule(0.02, "higher", False)
    assert loaded.rule("lead", "rouge1_f", rouge) == MetricRule(0.005, "higher", False)  # named: required
    assert loaded.disabled(None, "entity_precision_source")
    workflow = yaml.safe_load(next(b for b in blocks if b.startswith("# .github/workflows/")))
    steps = {s.get("name"): s for s in workflow["jobs"]["gate"]["steps"]}
    assert "continue-on-error" not in steps["Check against the baseline"]
    assert "steps.gate.outputs.code" in steps["Accept the new scores as the baseline"]["if"]
    assert steps["Verdict"]["if"] == "steps.gate.outputs.code != '0' && steps.accept.outcome != 'success'"


def test_the_gate_and_the_report_read_only_runs():
    import subprocess
    import sys

    code = ("import sys, evalkit.report.gate, evalkit.report, evalkit.report.gate.testing; "
            "print(sorted(m for m in sys.modules if m.startswith(('evalkit.summarizers', 'evalkit.inputs.data', "
            "'evalkit.run.experiment', 'evalkit.run.registry', 'evalkit.metrics'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"  # no summarizer, data loading, runner or metric is imported


def _toy_run(root: Path, name: str, shift: float) -> Run:
    """A run of one toy metric whose measure says lower is better, tolerance 0.5 (no policy names it)."""
    from evalkit.core.types import LengthTarget, Measure, ScoreRow, Summary

    errors = Measure("toy_errors", "toy errors per summary", "count", False, "errors", tolerance=0.5)
    plain = Measure("toy_words", "toy words", "words", None, "words")  # no direction: never gated by default
    manifest = {"name": name, "config": {"metrics": [{"kind": "toy"}]}, "data": {"documents": "d", "n_documents": 20},
                "systems": {"a": {"kind": "toy", "fingerprint": "fa"}},
                "metrics": {"toy": {"kind": "toy", "config": {"kind": "toy"}, "signature": "toy@1",
                                    "measures": [errors.to_dict(), plain.to_dict()]}}}
    ids = [f"d{i:02d}" for i in range(20)]
    rows = [ScoreRow(d, "a", "toy_errors", float(i % 3) + shift) for i, d in enumerate(ids)]
    rows += [ScoreRow(d, "a", "toy_words", 50.0 + shift) for d in ids]
    return Run.create(root / "runs", name, manifest, rows, [Summary(d, "a", "text", "fa") for d in ids],
                      {d: LengthTarget() for d in ids})


def test_a_new_metric_is_gated_by_its_own_measure(tmp_path):
    base = _toy_run(tmp_path, "toy", 0.0)
    baseline = save_baseline(base, tmp_path / "toy.json")
    assert list(baseline["metrics"]) == ["toy_errors"]  # toy_words has no direction
    worse = check(_toy_run(tmp_path, "toy-worse", 1.0), tmp_path / "toy.json")  # one more error per summary
    (item,) = worse.checks
    assert item.direction == "lower" and item.tolerance == 0.5 and item.change == pytest.approx(1.0)
    assert worse.verdict == "regressed" and item.reason.startswith("+1.0000 (worse)")
    better = check(_toy_run(tmp_path, "toy-better", -1.0), tmp_path / "toy.json")
    assert better.verdict == "passed" and better.checks[0].improved
