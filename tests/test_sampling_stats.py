"""Statistics over repeated samples, checked against known truth: simulations, hand computations, scipy."""

from __future__ import annotations

import copy
import io
import math
import statistics
import subprocess
import sys
import types
from math import comb

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from test_gate import base_run, data, root  # noqa: F401  (the gate's module-scoped synthetic run and its fixtures)

from evalkit.report import sampling

Z_975, Z_80 = 1.959963984540054, 0.8416212335729143  # standard normal quantiles (tables)


def simulate(rng, n_datasets, n_documents, k, *, sigma_b, sigma_w, effect=0.0, sigma_u=0.0):
    """Two systems on the same documents: a shared difficulty b_i ~ N(0, sigma_b), system B shifted by
    ``effect`` plus a per-document interaction u_i ~ N(0, sigma_u), each sample with noise N(0, sigma_w)."""
    difficulty = rng.normal(0, sigma_b, (n_datasets, n_documents, 1))
    a = 0.4 + difficulty + rng.normal(0, sigma_w, (n_datasets, n_documents, k))
    interaction = rng.normal(0, sigma_u, (n_datasets, n_documents, 1))
    b = 0.4 + effect + difficulty + interaction + rng.normal(0, sigma_w, (n_datasets, n_documents, k))
    return a, b


# -- the paired test's level and power ------------------------------------------------------------------

def test_a_a_comparisons_of_a_sampling_system_with_itself_alarm_at_the_nominal_rate():
    rng = np.random.default_rng(2025)
    a, b = simulate(rng, 1000, 30, 3, sigma_b=0.08, sigma_w=0.05)
    p = np.array([sampling.paired_document_test(x, y, n_resamples=499, seed=i).p_value
                  for i, (x, y) in enumerate(zip(a, b))])
    rate = float(np.mean(p <= 0.05))
    assert 0.03 <= rate <= 0.07, rate
    # the document-level t test (scipy) agrees on each data set's verdict almost always
    t_p = scipy_stats.ttest_rel(b.mean(axis=2), a.mean(axis=2), axis=1).pvalue
    assert np.mean((t_p <= 0.05) == (p <= 0.05)) > 0.97


def test_measured_power_at_the_minimum_detectable_effect_is_the_analytic_power():
    n, k, sigma_w, sigma_u = 40, 3, 0.06, 0.03
    sd_diff = math.sqrt(sigma_u ** 2 + 2 * sigma_w ** 2 / k)  # the variance of a document's difference of means
    effect = sampling.minimum_detectable_effect(sd_diff, n)
    assert effect == pytest.approx((Z_975 + Z_80) * sd_diff / math.sqrt(n))
    assert sampling.analytic_power(effect, sd_diff, n) == pytest.approx(0.8, abs=1e-3)
    rng = np.random.default_rng(7)
    a, b = simulate(rng, 800, n, k, sigma_b=0.1, sigma_w=sigma_w, effect=effect, sigma_u=sigma_u)
    p = np.array([sampling.paired_document_test(y, x, n_resamples=499, seed=i).p_value
                  for i, (x, y) in enumerate(zip(a, b))])
    assert abs(float(np.mean(p <= 0.05)) - 0.8) <= 0.05


def test_more_samples_per_document_shrink_the_sampling_part_of_the_detectable_effect():
    rng = np.random.default_rng(3)
    a, b = simulate(rng, 1, 3000, 8, sigma_b=0.1, sigma_w=0.1, sigma_u=0.02)
    pair = sampling.pair_variance(a[0], b[0])
    assert pair.between == pytest.approx(0.02 ** 2, abs=0.0002)
    assert pair.within == pytest.approx(2 * 0.1 ** 2, rel=0.1)
    needed = [sampling.documents_needed(0.01, pair, k=k) for k in (1, 4, 16)]
    assert needed[0] > needed[1] > needed[2]
    # hand: n = ceil(((z.975 + z.8) * sd / effect)^2) with sd^2 = between + within / k
    sd = math.sqrt(pair.between + pair.within / 4)
    assert needed[1] == math.ceil(((Z_975 + Z_80) * sd / 0.01) ** 2)


# -- TOST ----------------------------------------------------------------------------------------------

def test_tost_matches_two_one_sided_scipy_t_tests():
    changes = np.array([0.012, -0.004, 0.02, 0.001, -0.009, 0.015, 0.003, 0.007])
    result = sampling.tost(changes, 0.01, kind="non_inferiority")
    expected = scipy_stats.ttest_1samp(changes, -0.01, alternative="greater").pvalue
    assert result.p_value == pytest.approx(expected)
    interval = scipy_stats.t.interval(0.90, len(changes) - 1, loc=changes.mean(), scale=scipy_stats.sem(changes))
    assert (result.ci_low, result.ci_high) == pytest.approx(interval)
    equivalence = sampling.tost(changes, 0.01, kind="equivalence")
    upper = scipy_stats.ttest_1samp(changes, 0.01, alternative="less").pvalue
    assert equivalence.p_value == pytest.approx(max(expected, upper))
    assert equivalence.shown == (max(expected, upper) <= 0.05)


@pytest.mark.parametrize("margin", [0, -0.01, float("nan"), "one point"])
def test_a_bad_margin_is_a_one_line_error(margin):
    with pytest.raises(ValueError, match="margin must be") as caught:
        sampling.tost([0.1, 0.2, 0.3], margin)
    assert "\n" not in str(caught.value)


def test_tost_refuses_non_inferiority_beyond_the_margin_and_accepts_it_well_inside():
    n, margin, sd = 40, 0.02, 0.03
    rng = np.random.default_rng(11)

    def shown_rate(true_change: float, kind: str = "non_inferiority") -> float:
        changes = rng.normal(true_change, sd, (500, n))
        return float(np.mean([sampling.tost(c, margin, kind=kind).shown for c in changes]))

    assert shown_rate(-0.03) <= 0.01  # truly worse than the margin: refused
    assert 0.02 <= shown_rate(-margin) <= 0.08  # at the margin: accepted at most alpha of the time
    assert shown_rate(0.0) >= 0.95  # well inside: accepted
    assert shown_rate(0.0, "equivalence") >= 0.9
    assert shown_rate(0.03, "equivalence") <= 0.01  # better by more than the margin: not equivalent


# -- variance components and the two-level bootstrap ------------------------------------------------------

def test_variance_components_by_hand():
    # means 2 and 6, grand mean 4: MSW = (1+1+1+1)/(4-2) = 2, MSB = 2*(4+4)/1 = 16, n0 = 2, sigma_b^2 = (16-2)/2
    parts = sampling.variance_components(np.array([[1.0, 3.0], [5.0, 7.0]]))
    assert (parts.within, parts.between, parts.k) == (2.0, 7.0, 2.0)
    single = sampling.variance_components(np.array([[1.0], [3.0], [8.0]]))
    assert math.isnan(single.within) and single.between == pytest.approx(np.var([1, 3, 8], ddof=1))


def test_variance_components_recover_the_known_difficulty_and_sampling_noise():
    rng = np.random.default_rng(5)
    values = rng.normal(0, 0.1, (600, 1)) + rng.normal(0, 0.2, (600, 4))
    values[rng.random(values.shape) < 0.2] = np.nan  # unbalanced: a fifth of the samples missing
    parts = sampling.variance_components(values)
    assert math.sqrt(parts.between) == pytest.approx(0.1, rel=0.1)
    assert math.sqrt(parts.within) == pytest.approx(0.2, rel=0.05)
    assert parts.sampling_share == pytest.approx(0.04 / 0.05, abs=0.05)


def test_the_two_level_interval_counts_each_source_of_noise_once():
    rng = np.random.default_rng(9)
    sigma_b, sigma_w, n, k = 0.05, 0.2, 60, 4
    values = rng.normal(0, sigma_b, (n, 1)) + rng.normal(0, sigma_w, (n, k))
    mean, low, high = sampling.two_level_bootstrap(values, n_resamples=4000)
    standard_error = values.mean(axis=1).std(ddof=1) / math.sqrt(n)  # the textbook estimate over documents
    assert mean == pytest.approx(values.mean())
    # resampling the raw samples inside resampled documents would count sigma_w^2 / k twice: about 1.34 times
    # wider here, sqrt((sigma_b^2 + 2 sigma_w^2 / k) / (sigma_b^2 + sigma_w^2 / k))
    assert (high - low) / (2 * 1.96) == pytest.approx(standard_error, rel=0.08)


def test_the_paired_two_level_interval_covers_the_true_difference_at_about_95_percent():
    rng = np.random.default_rng(13)
    a, b = simulate(rng, 200, 25, 3, sigma_b=0.1, sigma_w=0.08, effect=0.02, sigma_u=0.02)
    covered = [low <= 0.02 <= high for low, high in
               (sampling.two_level_bootstrap_diff(y, x, n_resamples=999, seed=i)[1:] for i, (x, y) in
                enumerate(zip(a, b)))]
    assert 0.9 <= np.mean(covered) <= 0.99


# -- pass rates ------------------------------------------------------------------------------------------

def test_pass_hat_k_and_pass_at_k_by_hand():
    # 3 of 5 samples pass: pass^2 = C(3,2)/C(5,2) = 3/10; pass@2 = 1 - C(2,2)/C(5,2) = 9/10
    assert sampling.pass_hat_k([5], [3], 2)[0] == pytest.approx(comb(3, 2) / comb(5, 2)) == pytest.approx(0.3)
    assert sampling.pass_at_k([5], [3], 2)[0] == pytest.approx(0.9)
    assert sampling.pass_hat_k([5, 4], [1, 4], 2).tolist() == [0.0, 1.0]
    assert sampling.pass_at_k([4], [0], 3)[0] == 0.0
    with pytest.raises(ValueError, match="at least k=3 samples"):
        sampling.pass_hat_k([2], [1], 3)


def test_pass_rates_count_the_samples_that_meet_the_threshold():
    frame = pd.DataFrame({
        "document_id": ["d1"] * 4 + ["d2"] * 4, "system": "s", "sample": [0, 1, 2, 3] * 2, "metric": "rougeL_f",
        "value": [0.3, 0.5, 0.6, None, 0.1, 0.2, 0.45, 0.5], "note": None})
    rates = sampling.pass_rates(frame, "rougeL_f", 0.45, k=2).set_index("document_id")
    assert rates.loc["d1", ["n", "passed"]].tolist() == [3, 2]  # the undefined sample is not a failure
    assert rates.loc["d2", "rate"] == 0.5
    assert rates.loc["d1", "pass_hat_k"] == pytest.approx(1 / 3)  # C(2,2)/C(3,2)
    assert rates.loc["d2", "pass_at_k"] == pytest.approx(1 - 1 / 6)  # 1 - C(2,2)/C(4,2)
    with pytest.raises(ValueError, match="did you mean 'rougeL_f'"):
        sampling.pass_rates(frame, "rougel_f", 0.45)


def test_document_means_and_the_minimum_detectable_effect_by_hand():
    frame = pd.DataFrame({"document_id": ["d1", "d1", "d2"], "system": "s", "sample": [0, 1, 0], "metric": "m",
                          "value": [0.2, 0.4, None], "note": None})
    means = sampling.document_means(frame).set_index("document_id")
    assert means.loc["d1", "value"] == pytest.approx(0.3) and means.loc["d1", "n_samples"] == 2
    assert math.isnan(means.loc["d2", "value"]) and means.loc["d2", "n_samples"] == 0
    # sd 0.1 over 25 documents: (1.95996 + 0.84162) * 0.1 / 5
    assert sampling.minimum_detectable_effect(0.1, 25) == pytest.approx(0.0560317, abs=1e-6)


# -- a run's reports: the MDE line, the sample-spread chart, evalkit plan -------------------------------------


def with_samples(run, k: int = 4, sd: float = 0.03, seed: int = 0):
    """A copy of ``run`` whose textrank and random drew ``k`` noisy samples per document (lead stays greedy)."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in run.scores.itertuples(index=False):
        count = 1 if r.system == "lead" else k
        for j in range(count):
            value = r.value
            if count > 1 and str(r.metric).startswith("rouge") and not math.isnan(value):
                value = float(value) + rng.normal(0, sd)
            rows.append((r.document_id, r.system, j, r.metric, value, r.note))
    sampled = copy.copy(run)
    sampled.sample_scores = pd.DataFrame(rows, columns=list(sampling.SAMPLE_COLUMNS))
    return sampled


def pair_sds(run, metric: str) -> list[float]:
    wide = run.values().query("metric == @metric").pivot(index="document_id", columns="system", values="value")
    return [float((wide[a] - wide[b]).std(ddof=1)) for a, b in (("lead", "random"), ("lead", "textrank"),
                                                                  ("random", "textrank"))]


def test_the_ranking_footer_and_the_html_state_the_minimum_detectable_effect(base_run):  # noqa: F811
    from evalkit.report import html, summary
    from evalkit.report.tables import format_ranking

    mde = 100 * statistics.median((Z_975 + Z_80) * sd / math.sqrt(16) for sd in pair_sds(base_run, "rouge1_f"))
    line = format_ranking(base_run, "rouge1_f").splitlines()[-1]
    assert line.startswith("Minimum detectable effect on rouge1_f at 80% power (two-sided alpha 0.05, paired by "
                           f"document, 16 documents x 1 sample): {mde:.2f} points (median of 3 system pairs")
    summarized = summary.run_summary(base_run, n_resamples=100)
    assert summarized["detectable"]["rouge1_f"]["mde"] == pytest.approx(mde / 100)
    assert f"{mde:.2f} points" in html._rankings(summarized)


def test_the_sample_spread_chart_is_skipped_without_samples_and_drawn_with_them(base_run):  # noqa: F811
    from evalkit.report.plots import CHARTS, sample_spread
    from evalkit.report.plots.view import view_of

    chart = next(c for c in CHARTS if c.name == "sample_spread")
    with pytest.raises(ValueError, match="every system has one sample per document"):
        chart.draw(view_of(base_run), n_resamples=100)
    sampled = with_samples(base_run)
    figure = sample_spread(sampled, "rougeLsum_f", n_resamples=200)
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["lead", "textrank", "random"]
    dots = sum(len(c.get_offsets()) for c in ax.collections if c.get_offsets().ndim == 2 and len(c.get_offsets())
               and type(c).__name__ == "PathCollection")
    assert dots == 16 * (1 + 4 + 4)  # every sample is a dot
    notes = [t.get_text() for t in ax.texts]
    assert notes[0] == "k = 1" and notes[1].startswith("k = 4, ")
    figure.savefig(io.BytesIO(), format="png")


def test_plan_recovers_the_documents_a_known_design_needs():
    from evalkit.cli.plan import pilot_plan

    rng = np.random.default_rng(21)
    n, k, sigma_bd, sigma_w = 800, 4, 0.03, 0.05
    difficulty = rng.normal(0.4, 0.1, (n, 1))
    a = difficulty + rng.normal(0, sigma_w, (n, k))
    b = difficulty + rng.normal(0, sigma_bd, (n, 1)) + rng.normal(0, sigma_w, (n, k))
    rows = [(f"d{i}", system, j, "rougeL_f", float(values[i, j]), None)
            for system, values in (("a", a), ("b", b)) for i in range(n) for j in range(k)]
    pilot = types.SimpleNamespace(sample_scores=pd.DataFrame(rows, columns=list(sampling.SAMPLE_COLUMNS)),
                                  manifest=types.SimpleNamespace(upper_bounds=list), run_id="pilot")
    plan = pilot_plan(pilot, "rougeL_f")
    truth = math.ceil(((Z_975 + Z_80) / 0.01) ** 2 * (sigma_bd ** 2 + 2 * sigma_w ** 2 / 2))
    assert plan.documents(0.01, 2, alpha=0.05, power=0.8) == pytest.approx(truth, rel=0.12)
    with pytest.raises(Exception, match="did you mean 'rougeL_f'"):
        pilot_plan(pilot, "rougel_f")
    one = types.SimpleNamespace(sample_scores=pilot.sample_scores.query("document_id == 'd0'"),
                                manifest=pilot.manifest, run_id="tiny")
    with pytest.raises(Exception, match="has 1 document"):
        pilot_plan(one, "rougeL_f")


def test_evalkit_plan_on_the_command_line(base_run):  # noqa: F811
    sd = statistics.median(pair_sds(base_run, "rougeL_f"))
    needed = math.ceil(((Z_975 + Z_80) * sd / 0.01) ** 2)
    command = [sys.executable, "-m", "evalkit.cli", "plan", str(base_run.run_dir), "--effect", "0.01"]
    done = subprocess.run([*command, "--metric", "rougeL_f"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert (f"To see a 1-point ROUGE-L (flat) F1 drop (0.01 in rougeL_f) with 80% power (two-sided alpha 0.05, "
            f"paired by document) you need about {needed} documents (with 1 sample each).") in done.stdout
    wrong = subprocess.run([*command, "--metric", "rougel_f"], capture_output=True, text=True, timeout=120, check=False)
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "did you mean 'rougeL_f'?" in wrong.stderr
