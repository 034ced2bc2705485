"""Charts: each returns a Figure that shows every system, is labelled, saves as PNG, and colours consistently."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure

from evalkit.report import plots
from evalkit.run.registry import build_metric
from evalkit.run.record import Run

SYSTEMS = ["lead", "textrank", "gpt-mini", "claude-small"]
N_DOCS = 12
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_run(tmp_path: Path, *, words_target: int | None = 60, paragraphs: int | None = 2) -> Run:
    """A synthetic run: 4 systems x 12 documents, entity precision sometimes undefined, cost for API systems."""
    rng = np.random.default_rng(7)
    rows, summaries, facts = [], [], []
    quality = {"lead": 0.38, "textrank": 0.33, "gpt-mini": 0.42, "claude-small": 0.40}
    for d in range(N_DOCS):
        doc = f"doc-{d:02d}"
        for system in SYSTEMS:
            base = quality[system] + rng.normal(0, 0.04)
            values = {"rouge1_f": base, "rouge2_f": base * 0.45, "rougeL_f": base * 0.7, "rougeLsum_f": base * 0.8}
            words = int(rng.normal(60 if system != "textrank" else 75, 8))
            values["length_words"] = words
            values["length_paragraphs"] = int(rng.integers(1, 4))
            if words_target is not None:
                values["length_words_ok"] = float(abs(words - words_target) <= 0.1 * words_target)
                values["length_word_deviation"] = (words - words_target) / words_target
            else:
                values["length_words_ok"] = None
                values["length_word_deviation"] = None
            values["length_paragraphs_ok"] = (None if paragraphs is None
                                              else float(values["length_paragraphs"] == paragraphs))
            flags = [v for k, v in values.items() if k.endswith("_ok") and v is not None]
            values["length_ok"] = float(all(flags)) if flags else None
            n_entities = int(rng.integers(0, 5))
            unsupported = int(rng.binomial(n_entities, 0.1 if system == "lead" else 0.25))
            values["entity_precision_source"] = None if n_entities == 0 else 1 - unsupported / n_entities
            values["entity_unsupported_count"] = unsupported
            values["entity_count"] = n_entities
            for metric, value in values.items():
                rows.append((doc, system, metric, None if value is None else float(value), None))
            facts.append({"document_id": doc, "system": system, "metric": "entities",
                          "info": {"unsupported_entities": ["Atlantis"][:unsupported],
                                   "summary_entities": ["Lyon", "Atlantis"][:n_entities]}})
            details = {"selected": [0, 1]}
            if system in ("gpt-mini", "claude-small"):
                details.update({"cost_usd": 0.0004 if system == "gpt-mini" else 0.003,
                                "latency_s": float(rng.uniform(0.8, 2.5)), "tokens": 900})
            target = {"words": words_target, "sentences": None, "paragraphs": paragraphs, "bound": "about",
                      "instruction": None}
            summaries.append({"document_id": doc, "system": system, "text": f"Summary of {doc} by {system}.",
                              "error": None, "seconds": float(rng.uniform(0.001, 0.01)),
                              "fingerprint": f"{system}@0", "target": target, "details": details})
    scores = pd.DataFrame(rows, columns=["document_id", "system", "metric", "value", "note"])
    manifest = {"systems": {s: {"kind": s, "fingerprint": f"{s}@0"} for s in SYSTEMS},
                "metrics": metric_entries("rouge", "length", "entities"),
                "config": {"target": {"words": words_target, "paragraphs": paragraphs, "bound": "about"}}}
    return Run(tmp_path / "run", manifest, scores, pd.DataFrame(summaries), pd.DataFrame(facts))


def metric_entries(*kinds: str) -> dict:
    """The manifest's metric entries as the runner writes them: each metric's own declared measures."""
    out = {}
    for kind in kinds:
        metric = build_metric({"kind": kind})
        out[metric.key] = {"kind": kind, "config": {"kind": kind}, "signature": f"{kind}@test",
                           "measures": [m.to_dict() for m in metric.measures()]}
    return out


def label(run: Run, name: str) -> str:
    return run.measure(name).label


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return make_run(tmp_path)


def check_saved(fig: Figure, tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    fig.savefig(path)
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == PNG_MAGIC


def check_labels(fig: Figure) -> None:
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert axes
    for ax in axes:
        assert ax.get_title(), "every panel has a title"
        assert ax.get_xlabel(), "every panel has an x label"
    assert axes[0].get_ylabel()


def bars(ax) -> list:
    """The BarContainers of an axes (``ax.bar`` with ``yerr`` also adds an ErrorbarContainer)."""
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def bar_colors(ax) -> dict[str, str]:
    """System -> colour of the bars drawn for it (each ax.bar call carries the system as label)."""
    return {c.get_label(): to_hex(c.patches[0].get_facecolor()) for c in bars(ax) if c.patches}


def errorbar_colors(ax) -> dict[str, str]:
    """System -> colour of its errorbar point."""
    return {c.get_label(): to_hex(c.lines[0].get_color()) for c in ax.containers
            if isinstance(c, ErrorbarContainer) and c.get_label() and not c.get_label().startswith("_")}


# -- colours -------------------------------------------------------------------------------

def test_system_colors_follow_run_order_and_are_distinct(run):
    colors = plots.system_colors(run)
    assert list(colors) == SYSTEMS
    assert len(set(colors.values())) == len(SYSTEMS)
    assert colors == plots.system_colors(SYSTEMS)
    # Many systems still get a colour each.
    many = plots.system_colors([f"s{i}" for i in range(12)])
    assert len(set(many.values())) == 12


def test_system_colors_do_not_depend_on_the_subset_a_chart_shows(tmp_path):
    run = make_run(tmp_path)
    # Drop every rouge row of "lead": metric_comparison shows 3 systems, but colours stay those of the run.
    run.scores = run.scores[~((run.scores["system"] == "lead") & run.scores["metric"].str.startswith("rouge"))]
    fig = plots.metric_comparison(run, n_resamples=200)
    colors = bar_colors(fig.axes[0])
    assert set(colors) == {"textrank", "gpt-mini", "claude-small"}
    expected = plots.system_colors(SYSTEMS)
    assert all(colors[s] == to_hex(expected[s]) for s in colors)


# -- metric_comparison -----------------------------------------------------------------------

def test_metric_comparison(run, tmp_path):
    fig = plots.metric_comparison(run, n_resamples=500)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    colors = bar_colors(ax)
    assert list(colors) == SYSTEMS
    # 3 metrics x 4 systems bars.
    assert sum(len(c.patches) for c in bars(ax)) == 3 * len(SYSTEMS)
    # Labels are the metric's own descriptors (the run's headline ROUGE values), not a table in the charts.
    ticks = [t.get_text().replace("\n", " ") for t in ax.get_xticklabels()]
    assert ticks == [label(run, m) for m in ("rouge1_f", "rouge2_f", "rougeLsum_f")]
    assert ticks[0] == "ROUGE-1 F1"
    assert "%" in ax.get_ylabel()
    # Bar heights are percent means.
    lead_r1 = run.scores.query("system == 'lead' and metric == 'rouge1_f'")["value"].mean() * 100
    assert bars(ax)[0].patches[0].get_height() == pytest.approx(lead_r1)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[: len(SYSTEMS)] == SYSTEMS and "significantly below" in legend[-2]
    # The reference is named: by default the best system (gpt-mini has the highest ROUGE).
    assert "tested against: gpt-mini" in legend[len(SYSTEMS)]
    check_labels(fig)
    check_saved(fig, tmp_path)


def test_metric_comparison_marks_a_clearly_worse_system(tmp_path):
    # "bad" is 0.3 below "good" on every document: the permutation test must flag it.
    rows = [(f"d{i}", s, "rouge1_f", v + 0.01 * (i % 3), None)
            for i in range(12) for s, v in (("good", 0.5), ("bad", 0.2))]
    table = pd.DataFrame(rows, columns=["document_id", "system", "metric", "value", "note"])
    fig = plots.metric_comparison(table, ["rouge1_f"], n_resamples=500)
    stars = [t for t in fig.axes[0].texts if t.get_text() == plots.quality.BELOW]
    assert len(stars) == 1
    # The star sits above the "bad" bar (systems in name order without a manifest: bad, good).
    bad_bar = bars(fig.axes[0])[0].patches[0]
    assert stars[0].get_position()[0] == pytest.approx(bad_bar.get_x() + bad_bar.get_width() / 2, abs=0.01)


def test_metric_comparison_unknown_metric_says_what_exists(run):
    with pytest.raises(ValueError, match="bertscore_f.*rouge1_f"):
        plots.metric_comparison(run, ["bertscore_f"])


# -- length_compliance -----------------------------------------------------------------------

def test_length_compliance(run, tmp_path):
    fig = plots.length_compliance(run, n_resamples=200)
    assert isinstance(fig, Figure)
    box_ax, share_ax = fig.axes[0], fig.axes[1]
    ticks = [t.get_text().split("\n")[0] for t in box_ax.get_xticklabels()]
    assert ticks == SYSTEMS
    assert "words" in box_ax.get_ylabel()
    # The target line is drawn at 60 words.
    assert any(np.allclose(line.get_ydata(), 60) for line in box_ax.get_lines() if "target" in line.get_label())
    # Share panel: words, paragraphs, all constraints; one bar series per system.
    shown = [t.get_text().replace("\n", " ") for t in share_ax.get_xticklabels()]
    assert shown == [label(run, m) for m in ("length_words_ok", "length_paragraphs_ok", "length_ok")]
    assert list(bar_colors(share_ax)) == SYSTEMS
    assert "%" in share_ax.get_ylabel()
    check_labels(fig)
    check_saved(fig, tmp_path)


def test_length_compliance_without_targets_says_so(tmp_path):
    run = make_run(tmp_path, words_target=None, paragraphs=None)
    run.manifest = run.manifest.model_copy(update={"config": run.manifest.config.model_copy(update={"target": None})})
    fig = plots.length_compliance(run, n_resamples=200)
    assert fig.get_suptitle() == "Length: words per summary (the run sets no word target)"
    assert len(fig.axes) == 1  # no compliance flag is defined, so no share panel
    assert [t.get_text().split("\n")[0] for t in fig.axes[0].get_xticklabels()] == SYSTEMS
    check_saved(fig, tmp_path)


def test_length_compliance_per_document_targets_show_deviation(tmp_path):
    run = make_run(tmp_path)
    run.summaries["target"] = [f"words={50 + 10 * (i % 3)},bound=about" for i in range(len(run.summaries))]
    fig = plots.length_compliance(run, n_resamples=200)
    assert "deviation" in fig.axes[0].get_ylabel()


def test_length_compliance_accepts_scores_frame_and_derives_target(run, tmp_path):
    # No summaries, no manifest: the target (60) is recovered from length_words / (1 + deviation).
    fig = plots.length_compliance(run.scores, n_resamples=200)
    assert "60 words" in fig.axes[0].get_title()


# -- factuality --------------------------------------------------------------------------------

def test_factuality(run, tmp_path):
    fig = plots.factuality(run, n_resamples=500)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    colors = bar_colors(ax)
    assert list(colors) == SYSTEMS
    # The rate is 1 - mean precision over summaries with entities (undefined excluded).
    lead = run.scores.query("system == 'lead' and metric == 'entity_precision_source'")["value"]
    expected = (1 - lead.dropna().astype(float).mean()) * 100
    assert bars(ax)[0].patches[0].get_height() == pytest.approx(expected)
    # The tick label gives n defined / all.
    assert ax.get_xticklabels()[0].get_text() == f"lead\nn={lead.notna().sum()}/{N_DOCS}"
    assert "%" in ax.get_ylabel()
    check_labels(fig)
    check_saved(fig, tmp_path)


def test_quality_vs_factuality(run, tmp_path):
    fig = plots.quality_vs_factuality(run, n_resamples=500)
    ax = fig.axes[0]
    colors = errorbar_colors(ax)
    assert list(colors) == SYSTEMS
    assert sorted(t.get_text() for t in ax.texts) == sorted(SYSTEMS)  # every point is labelled
    assert ax.get_xlabel().startswith("entity precision vs source (%)")
    # ROUGE-Lsum by default (what CNN/DM papers report), labelled by the metric's descriptor.
    assert ax.get_ylabel().startswith(run.measure("rougeLsum_f").axis_label)
    check_labels(fig)
    check_saved(fig, tmp_path)


def test_same_system_same_colour_in_different_charts(run):
    bars = bar_colors(plots.metric_comparison(run, n_resamples=200).axes[0])
    factual = bar_colors(plots.factuality(run, n_resamples=200).axes[0])
    points = errorbar_colors(plots.quality_vs_factuality(run, n_resamples=200).axes[0])
    for system in SYSTEMS:
        assert bars[system] == factual[system] == points[system]
    assert len(set(bars.values())) == len(SYSTEMS)


# -- quality_vs_cost ---------------------------------------------------------------------------

def test_quality_vs_cost_never_draws_unknown_cost_as_zero(run, tmp_path):
    fig = plots.quality_vs_cost(run, n_resamples=200)
    cost_ax, unknown_ax, latency_ax = fig.axes
    on_cost = errorbar_colors(cost_ax)
    assert set(on_cost) == {"gpt-mini", "claude-small"}
    xs = {c.get_label(): c.lines[0].get_xdata()[0] for c in cost_ax.containers if isinstance(c, ErrorbarContainer)}
    assert xs == {"gpt-mini": pytest.approx(0.0004), "claude-small": pytest.approx(0.003)}
    assert set(errorbar_colors(unknown_ax)) == {"lead", "textrank"}
    assert "cost unknown" in unknown_ax.get_xlabel()
    assert set(errorbar_colors(latency_ax)) == set(SYSTEMS)  # latency is known for all (seconds)
    # API systems use details.latency_s, not seconds.
    latency = {c.get_label(): c.lines[0].get_xdata()[0] for c in latency_ax.containers
               if isinstance(c, ErrorbarContainer)}
    gpt = [d["latency_s"] for d in run.summaries.query("system == 'gpt-mini'")["details"]]
    assert latency["gpt-mini"] == pytest.approx(np.mean(gpt))
    assert errorbar_colors(latency_ax)["lead"] == to_hex(plots.system_colors(SYSTEMS)["lead"])
    check_labels(fig)
    check_saved(fig, tmp_path)


def test_cost_table_partial_and_failed_summaries(run):
    summaries = run.summaries.copy()
    first = summaries.index[summaries["system"] == "gpt-mini"][0]
    summaries.loc[first, "details"] = None
    failed = summaries.index[summaries["system"] == "claude-small"][0]
    summaries.loc[failed, "error"] = "rate limited"
    table = plots.cost_table(run.scores, "rouge1_f", summaries=summaries, n_resamples=200).set_index("system")
    assert table.loc["gpt-mini", "n_cost"] == N_DOCS - 1
    assert table.loc["claude-small", "n_summaries"] == N_DOCS - 1
    assert np.isnan(table.loc["lead", "cost_usd"])
    with pytest.raises(ValueError, match="summaries"):
        plots.cost_table(run.scores)


# -- document view -----------------------------------------------------------------------------

def test_document_view_html_marks_and_escapes(run):
    summaries = run.summaries.copy()
    where = (summaries["document_id"] == "doc-00") & (summaries["system"] == "gpt-mini")
    summaries.loc[where, "text"] = 'AT&T met <b>Atlantis</b> officials in "Lyon".'
    facts = run.facts.copy()
    info = (facts["document_id"] == "doc-00") & (facts["system"] == "gpt-mini") & (facts["metric"] == "entities")
    facts["info"] = [{"unsupported_entities": ["Atlantis", "AT&T"], "summary_entities": []} if hit else old
                     for hit, old in zip(info, facts["info"])]
    page = plots.document_view_html(Run(run.run_dir, run.manifest, run.scores, summaries, facts), "doc-00",
                                    "Officials met in Lyon <today>.")
    assert "<mark>Atlantis</mark>" in page
    assert "<mark>AT&amp;T</mark>" in page
    assert "&lt;b&gt;" in page and "<b>" not in page
    assert "&quot;Lyon&quot;" in page
    assert "Lyon &lt;today&gt;." in page  # the source is escaped too
    for system in SYSTEMS:
        assert f">{system}</h4>" in page


def test_entity_spans_respect_word_boundaries_and_prefer_longest():
    text = "The US and USB makers met in New York and new york."
    spans = plots.entity_spans(text, ["US", "New York", "York"])
    assert [text[s:e] for s, e in spans] == ["US", "New York", "new york"]


def test_document_view_figure_text_and_errors(run, tmp_path):
    summaries = run.summaries.copy()
    summaries.loc[(summaries["document_id"] == "doc-01") & (summaries["system"] == "lead"),
                  ["text", "error"]] = ["", "timeout"]
    fig = plots.document_view(run.scores, "doc-01", "A source with $5 and $6 in it.", summaries=summaries)
    assert isinstance(fig, Figure)
    check_saved(fig, tmp_path)
    shown = [t.get_text() for t in fig.axes[0].texts]
    assert all(s in shown for s in SYSTEMS)
    assert "(no summary: timeout)" in shown
    text = plots.document_view(run, "doc-01", output="text")
    assert "LEAD" in text and "[[Atlantis]]" not in text.split("LEAD")[0]
    with pytest.raises(KeyError, match="not in this run"):
        plots.document_view_html(run, "nope")


# -- save_all ------------------------------------------------------------------------------------

def test_save_all_writes_pngs_for_what_the_run_has(run, tmp_path):
    paths = plots.save_all(run, tmp_path / "charts")
    assert sorted(p.name for p in paths) == sorted(["metric_comparison.png", "length_compliance.png",
                                                    "factuality.png", "quality_vs_factuality.png",
                                                    "quality_vs_cost.png"])
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC
    # Without entity scores the factuality charts are skipped.
    run.scores = run.scores[~run.scores["metric"].str.startswith("entit")]
    names = {p.name for p in plots.save_all(run, tmp_path / "fewer")}
    assert "factuality.png" not in names and "metric_comparison.png" in names


def test_save_all_skips_a_chart_with_nothing_to_show_and_says_why(run, tmp_path, caplog):
    run.summaries["details"] = [{}] * len(run.summaries)  # no system reports a cost
    with caplog.at_level("INFO", logger="evalkit.report.plots.save"):
        names = {p.name for p in plots.save_all(run, tmp_path / "nocost", n_resamples=200)}
    assert "quality_vs_cost.png" not in names and "metric_comparison.png" in names
    assert "quality_vs_cost skipped: quality_vs_cost: nothing to show because no system reports a cost" in caplog.text


# -- honest on real-looking data -----------------------------------------------------------------

def oracle_run(tmp_path: Path) -> Run:
    """lead/textrank/lexrank-like systems plus an oracle far above them: the oracle must not be the reference."""
    rng = np.random.default_rng(3)
    quality = {"lead": 0.40, "textrank": 0.33, "lexrank": 0.325, "oracle": 0.52}
    rows = []
    for d in range(30):
        noise = rng.normal(0, 0.05)
        for system, q in quality.items():
            value = q + noise + rng.normal(0, 0.01)
            rows.append((f"d{d}", system, "rouge1_f", value, None))
            rows.append((f"d{d}", system, "rougeLsum_f", value * 0.9, None))
            # Entity precision 99.4-100 %: the unsupported-entity rate spans 0-0.6 %.
            rows.append((f"d{d}", system, "entity_precision_source", 1.0 - (0.006 * d / 29 if system == "lexrank"
                                                                           else 0.002 * (d % 2)), None))
    scores = pd.DataFrame(rows, columns=["document_id", "system", "metric", "value", "note"])
    manifest = {"systems": {s: {"kind": "oracle" if s == "oracle" else s} for s in quality},
                "metrics": metric_entries("rouge", "entities")}
    return Run(tmp_path / "oracle-run", manifest, scores, pd.DataFrame(columns=["document_id", "system", "text"]))


def test_oracle_is_an_upper_bound_never_the_significance_reference(tmp_path):
    run = oracle_run(tmp_path)
    fig = plots.metric_comparison(run, ["rouge1_f"], n_resamples=500)
    ax = fig.axes[0]
    marks = {t.get_text(): t.get_position()[0] for t in ax.texts}
    centres = {c.get_label(): c.patches[0].get_x() + c.patches[0].get_width() / 2 for c in bars(ax)}
    # lead (the best real system) is the reference; textrank/lexrank are 7 points below it on every document.
    assert marks["ref"] == pytest.approx(centres["lead"])
    below = [t.get_position()[0] for t in ax.texts if t.get_text() == plots.quality.BELOW]
    assert sorted(below) == pytest.approx(sorted([centres["textrank"], centres["lexrank"]]))
    # The oracle is hatched and carries no mark, although every system is below it.
    oracle = next(c for c in bars(ax) if c.get_label() == "oracle")
    assert oracle.patches[0].get_hatch()
    assert all(abs(x - centres["oracle"]) > 0.01 for x in marks.values())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "oracle (upper bound)" in legend and any("tested against: lead" in t for t in legend)


def test_reference_system_is_chosen_by_the_user(tmp_path):
    run = oracle_run(tmp_path)
    ax = plots.metric_comparison(run, ["rouge1_f"], reference="textrank", n_resamples=500).axes[0]
    centres = {c.get_label(): c.patches[0].get_x() + c.patches[0].get_width() / 2 for c in bars(ax)}
    above = [t.get_position()[0] for t in ax.texts if t.get_text() == plots.quality.ABOVE]
    assert above == pytest.approx([centres["lead"]])  # lead is significantly above textrank
    with pytest.raises(ValueError, match="upper bound"):
        plots.metric_comparison(run, ["rouge1_f"], reference="oracle", n_resamples=200)
    with pytest.raises(ValueError, match="choose one of"):
        plots.metric_comparison(run, ["rouge1_f"], reference="nope", n_resamples=200)


def test_factuality_axis_fits_rates_of_half_a_percent(tmp_path):
    run = oracle_run(tmp_path)
    ax = plots.factuality(run, n_resamples=500).axes[0]
    heights = {c.get_label(): c.patches[0].get_height() for c in bars(ax)}
    # lexrank's rate: mean of 0.6 % * d/29 over d = 0..29 = 0.3 %; the others: 0.2 % on half the documents = 0.1 %.
    assert heights["lexrank"] == pytest.approx(0.3)
    assert heights["lead"] == pytest.approx(0.1)
    low, high = ax.get_ylim()
    assert low == 0 and high < 1.0  # not a fixed 0-10 % axis
    assert heights["lexrank"] / high > 0.3  # the bar is visible


def test_quality_vs_factuality_axis_is_not_a_magnifying_glass_and_labels_do_not_overlap(tmp_path):
    run = oracle_run(tmp_path)
    fig = plots.quality_vs_factuality(run, n_resamples=500)
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    assert high - low >= 5.0  # 99.4-100 % shown on an axis at least 5 points wide
    assert "not 0" in ax.get_xlabel()
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == 4
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), "two point labels overlap"
    assert any(t.get_text() == "oracle (upper bound)" for t in ax.texts)


def test_quality_vs_cost_with_no_cost_is_not_drawn(run):
    run.summaries["details"] = [{}] * len(run.summaries)
    with pytest.raises(ValueError, match="nothing to show because no system reports a cost"):
        plots.quality_vs_cost(run, n_resamples=200)


def test_precomputed_outputs_have_no_latency(run):
    data = run.manifest.to_json()
    data["systems"]["textrank"] = {"kind": "precomputed", "fingerprint": "precomputed@0"}
    run = Run(run.run_dir, data, run.scores, run.summaries, run.facts)
    table = plots.cost_table(run, "rouge1_f", n_resamples=200).set_index("system")
    assert np.isnan(table.loc["textrank", "latency_s"]) and table.loc["textrank", "n_latency"] == 0
    assert table.loc["lead", "n_latency"] == N_DOCS


def test_length_title_says_what_is_shown(run):
    fig = plots.length_compliance(run, n_resamples=200)
    assert fig.axes[0].get_title() == "Words per summary vs target (about 60 words ±10%)"
    assert fig.get_suptitle().startswith("Length: words per summary vs target")


# -- what a notebook shows -----------------------------------------------------------------------

def test_returned_figures_display_as_png_in_ipython_without_pyplot(run):
    from IPython.core.interactiveshell import InteractiveShell
    import matplotlib.pyplot as plt

    formatter = InteractiveShell.instance().display_formatter
    before = plt.get_fignums()
    for fig in (plots.metric_comparison(run, n_resamples=100), plots.length_compliance(run, n_resamples=100),
                plots.factuality(run, n_resamples=100), plots.document_view(run, "doc-00")):
        data, _ = formatter.format(fig)
        assert data["image/png"][:8] == PNG_MAGIC  # what Jupyter, JupyterLab and VS Code render
    assert plt.get_fignums() == before  # nothing registered with pyplot: nothing to close, nothing leaks


def test_labels_come_from_the_runs_descriptors(run):
    data = run.manifest.to_json()
    data["metrics"]["rouge"]["measures"][0]["label"] = "ROUGE-1 F1 (toy label)"
    run = Run(run.run_dir, data, run.scores, run.summaries, run.facts)
    ax = plots.metric_comparison(run, ["rouge1_f"], n_resamples=100).axes[0]
    assert ax.get_xticklabels()[0].get_text().replace("\n", " ") == "ROUGE-1 F1 (toy label)"


def test_a_run_written_before_measures_were_recorded_still_gets_labels(run):
    # Version-1 manifest: metrics as {kind: signature}; the measures come from evalkit.run.record.upgrade_manifest.
    systems = run.manifest.to_json()["systems"]
    run = Run(run.run_dir, {"systems": systems, "metrics": {"rouge": "rouge@old", "length": "length@old"},
                            "config": {"metrics": [{"kind": "rouge"}, {"kind": "length"}]}}, run.scores, run.summaries)
    ax = plots.metric_comparison(run, n_resamples=100).axes[0]
    assert ax.get_xticklabels()[0].get_text() == "ROUGE-1 F1" and "%" in ax.get_ylabel()


# -- long system names ---------------------------------------------------------------------------

def renamed(run: Run, names: dict[str, str]) -> Run:
    scores, summaries = run.scores.copy(), run.summaries.copy()
    scores["system"] = scores["system"].replace(names)
    summaries["system"] = summaries["system"].replace(names)
    manifest = run.manifest.to_json()
    manifest["systems"] = {names.get(s, s): e for s, e in manifest["systems"].items()}
    facts = run.facts.assign(system=run.facts["system"].replace(names))
    return Run(run.run_dir, manifest, scores, summaries, facts)


def assert_tick_labels_apart(ax, texts, renderer) -> None:
    """Upright labels: their boxes do not touch. Slanted ones (parallel lines of text): the distance
    between neighbours across the slant is at least the text's height."""
    angle = texts[0].get_rotation() if texts else 0.0
    if angle == 0.0:
        boxes = sorted((t.get_window_extent(renderer) for t in texts), key=lambda box: box.x0)
        assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:])), "two tick labels touch"
        return
    anchors = sorted(ax.transData.transform((x, 0))[0] for x in ax.get_xticks())
    spacing = min(b - a for a, b in zip(anchors, anchors[1:]))
    lines = max(t.get_text().count("\n") + 1 for t in texts)
    height = lines * texts[0].get_fontsize() * 1.2 * ax.figure.dpi / 72
    assert spacing * np.sin(np.radians(angle)) >= height, "slanted tick labels run into each other"


def test_short_names_keep_start_and_end_and_stay_distinct():
    from evalkit.report.plots.style import short_names

    # 28 characters at most: 16 of the start, "…", 11 of the end.
    assert short_names(["lead", "hf-chat:HuggingFaceTB/SmolLM2-135M-Instruct"]) == {
        "lead": "lead", "hf-chat:HuggingFaceTB/SmolLM2-135M-Instruct": "hf-chat:HuggingF…5M-Instruct"}
    # Two names that would shorten alike get more characters until they differ.
    a, b = "openai:gpt-4o-mini-2024-07-18-run-A-temperature-0", "openai:gpt-4o-mini-2024-07-18-run-B-temperature-0"
    shown = short_names([a, b])
    assert shown[a] != shown[b] and "…" in shown[a] and "…" in shown[b]
    assert shown[a].startswith("openai:gpt-4o-mini") and shown[a].endswith("temperature-0")


def test_long_system_names_are_shortened_and_tick_labels_never_touch(run):
    import warnings

    long_names = {"gpt-mini": "openai:gpt-4o-mini-2024-07-18 (temperature 0, 3 paragraphs)",
                  "claude-small": "anthropic:claude-3-5-haiku-20241022 (temperature 0, 3 paragraphs)"}
    run = renamed(run, long_names)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "constrained_layout not applied" is how a collapsed chart shows
        for fig in (plots.length_compliance(run, n_resamples=100), plots.factuality(run, n_resamples=100),
                    plots.metric_comparison(run, n_resamples=100)):
            fig.savefig(io.BytesIO(), format="png")
            renderer = fig.canvas.get_renderer()
            for ax in fig.axes:
                texts = [t for t in ax.get_xticklabels() if t.get_text()]
                assert all(len(line) <= 28 for t in texts for line in t.get_text().split("\n"))
                assert_tick_labels_apart(ax, texts, renderer)
                assert ax.get_window_extent(renderer).height > 100  # the plot area did not collapse
            legend_texts = [t.get_text() for legend in fig.legends + [a.get_legend() for a in fig.axes if a.get_legend()]
                            for t in legend.get_texts()]
            assert not any(name in text for name in long_names.values() for text in legend_texts)
    # Short names are written whole and upright when they fit.
    fig = plots.factuality(make_run(run.run_dir.parent / "short"), n_resamples=100)
    fig.savefig(io.BytesIO(), format="png")
    assert [t.get_rotation() for t in fig.axes[0].get_xticklabels()] == [0.0] * len(SYSTEMS)
    assert [t.get_text().split("\n")[0] for t in fig.axes[0].get_xticklabels()] == SYSTEMS


def test_cost_chart_names_its_points_inside_the_axes_without_overlap(run):
    run = renamed(run, {"gpt-mini": "openai:gpt-4o-mini-2024-07-18 (temperature 0, 3 paragraphs)"})
    fig = plots.quality_vs_cost(run, n_resamples=100)
    fig.savefig(io.BytesIO(), format="png")
    renderer = fig.canvas.get_renderer()
    cost_ax, latency_ax = fig.axes[0], fig.axes[-1]
    for ax, expected in ((cost_ax, {"openai:gpt-4o-mi…paragraphs)", "claude-small"}),
                         (latency_ax, {"openai:gpt-4o-mi…paragraphs)", "claude-small", "lead", "textrank"})):
        texts = [t for t in ax.texts if t.get_text() in expected]
        assert {t.get_text() for t in texts} == expected
        frame = ax.get_window_extent(renderer)
        boxes = [t.get_window_extent(renderer) for t in texts]
        for i, box in enumerate(boxes):
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 + 1, f"{texts[i].get_text()!r} leaves its axes"
            assert not any(box.overlaps(other) for other in boxes[i + 1:]), "two point labels overlap"
