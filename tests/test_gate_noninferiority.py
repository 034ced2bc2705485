"""The gate's non-inferiority and equivalence margins (TOST), and the minimum detectable effect it states.

Expected intervals and p-values come from scipy (one-sample t tests on the per-document changes the
test makes itself), never from the gate's output.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as scipy_stats
from test_gate import (  # noqa: F401
    base_run,
    baseline_file,
    data,
    derived,
    root,
    run_experiment,
    with_values,
)

from evalkit.report.gate import Policy, PolicyError, check

Z_975, Z_80 = 1.959963984540054, 0.8416212335729143
MARGIN = 0.01


def policy(claim: str = "non_inferiority", margin: float = MARGIN) -> dict:
    return {"metrics": {"rougeL_f": {claim: {"margin": margin}}}}


def changed(base_run, name: str, change):  # noqa: F811 (the fixture)
    return derived(base_run, name, scores=with_values(base_run, "lead", "rougeL_f", change))


def lead_check(result):
    return next(c for c in result.checks if c.system == "lead" and c.metric == "rougeL_f")


def expected_interval(changes: np.ndarray) -> tuple[float, float]:
    return scipy_stats.t.interval(0.90, changes.size - 1, loc=changes.mean(), scale=scipy_stats.sem(changes))


def test_a_small_consistent_change_is_shown_not_worse_than_the_baseline(base_run, baseline_file):  # noqa: F811
    rng = np.random.default_rng(0)
    shifts = -0.002 + rng.normal(0, 0.004, 16)
    run = changed(base_run, "nudged", lambda v: v + shifts)
    result = check(run, baseline_file, policy=policy())
    item = lead_check(result)
    low, high = expected_interval(shifts)
    assert item.status == "passed" and result.verdict == "passed"
    assert item.reason.startswith(f"not worse than the baseline by more than 0.0100 (90% CI of the difference "
                                  f"[{low:.4f}, {high:.4f}] over 16 documents")
    assert item.p_value == pytest.approx(scipy_stats.ttest_1samp(shifts, -MARGIN, alternative="greater").pvalue)
    assert "TOST" in result.to_text() and "TOST" in result.to_markdown()


def test_a_drop_beyond_the_margin_is_refused(base_run, baseline_file):  # noqa: F811
    run = changed(base_run, "dropped", lambda v: v - 0.02 + 0.001 * np.arange(v.size) / v.size)
    result = check(run, baseline_file, policy=policy())
    item = lead_check(result)
    assert result.verdict == "regressed" and item.status == "regressed"
    assert item.reason.startswith("could not show it is not worse than the baseline by more than 0.0100")


def test_a_noisy_comparison_cannot_show_non_inferiority_though_the_tolerance_gate_passes_it(base_run,  # noqa: F811
                                                                                          baseline_file):  # noqa: F811
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.05, 16)
    noise -= noise.mean()  # no change on average, much document-to-document noise
    run = changed(base_run, "noisy", lambda v: v + noise)
    plain = lead_check(check(run, baseline_file))
    assert plain.status == "passed"  # the default gate: no significant drop beyond the tolerance
    result = check(run, baseline_file, policy=policy())
    item = lead_check(result)
    low, high = expected_interval(noise)
    assert low < -MARGIN  # the truth of the case, by scipy
    assert item.status == "regressed" and f"[{low:.4f}, {high:.4f}]" in item.reason
    assert "needs more documents or samples" in item.reason


def test_equivalence_refuses_a_clear_improvement_beyond_the_margin(base_run, baseline_file):  # noqa: F811
    run = changed(base_run, "better", lambda v: v + 0.03 + 0.001 * np.arange(v.size) / v.size)
    item = lead_check(check(run, baseline_file, policy=policy("equivalence")))
    assert item.status == "regressed" and "equivalent to the baseline within +/-0.0100" in item.reason
    same = lead_check(check(base_run, baseline_file, policy=policy("equivalence")))
    assert same.status == "passed" and same.reason.startswith("equivalent to the baseline within +/-0.0100")


def test_the_markdown_states_the_minimum_detectable_effect(base_run, baseline_file):  # noqa: F811
    rng = np.random.default_rng(2)
    shifts = rng.normal(0, 0.01, 16)
    run = changed(base_run, "shaken", lambda v: v + shifts)
    result = check(run, baseline_file)
    item = lead_check(result)
    # by hand: (z_.975 + z_.8) * sd(per-document changes) / sqrt(16)
    assert item.mde == pytest.approx((Z_975 + Z_80) * np.std(shifts, ddof=1) / math.sqrt(16))
    markdown = result.to_markdown()
    assert "Minimum detectable effect at 80% power (paired by document, two-sided alpha 0.05, 16 documents)" \
        in markdown
    assert result.to_dict()["checks"][0]["mde"] is not None


@pytest.mark.parametrize(("rule", "message"), [
    ({"non_inferiority": {"margin": -0.01}}, "non_inferiority: margin must be a finite number > 0, got -0.01"),
    ({"non_inferiority": {}}, "non_inferiority needs a margin"),
    ({"equivalence": 0.01}, "equivalence takes a margin, e.g. equivalence: {margin: 0.01}"),
    ({"equivalence": {"margn": 0.01}}, "did you mean 'margin'?"),
    ({"non_inferiority": {"margin": 0.01}, "equivalence": {"margin": 0.01}}, "asks for both"),
])
def test_a_bad_margin_is_a_one_line_policy_error(rule, message):
    with pytest.raises(PolicyError) as caught:
        Policy.from_dict({"metrics": {"rougeL_f": rule}}).rule("lead", "rougeL_f")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_command_line_reports_a_bad_margin_in_one_line(tmp_path, base_run, baseline_file):  # noqa: F811
    path = tmp_path / "policy.yaml"
    path.write_text("metrics:\n  rougeL_f: {non_inferiority: {margin: -1}}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "evalkit.cli", "check", str(base_run.run_dir), "--baseline",
                           str(baseline_file), "--policy", str(path)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "margin must be a finite number > 0" in done.stderr
