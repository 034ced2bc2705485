"""Extending evalkit takes one module and one list line, and nothing is forgotten on the way.

The toy metric, strategy and chart below are written the way a contributor would write new ones,
each as a module of its own; the test adds each with one registry or list line. Nothing else in
evalkit is told about them, yet:

- the metric is in the CLI table (with its label and unit), in ``evalkit compare``'s output, in the
  HTML report, and gated by ``evalkit check`` in the direction its measure declares;
- the strategy's fingerprint changes when :mod:`evalkit.core.text` changes, though it never
  mentions the text version (the base classes add it for every class whose modules import it,
  read here with ``ast``, independently of the library's own reading);
- the chart is written by ``save_all`` and shown in the HTML report.

The strategies and metrics that named the text version by hand keep the fingerprints the CI
baseline stored (their results in every store stay valid).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import evalkit.core.text
from evalkit.cli import main
from evalkit.run import registry
from evalkit.run.experiment import Experiment
from evalkit.run.record import Run
from test_architecture import MODULES, imports

REPO = Path(__file__).resolve().parents[1]

SPECS = {"hf-seq2seq": {"model": "sshleifer/distilbart-cnn-12-6"},
         "hf-chat": {"model": "HuggingFaceTB/SmolLM2-135M-Instruct"},
         "openai": {"model": "gpt-4o-mini"}, "anthropic": {"model": "claude-3-5-haiku-latest"},
         "llm-judge": {"model": "gpt-4o-mini"}}
"""The options a kind cannot be built without (none of them loads a model or sends a request)."""


def _instances(tmp_path: Path) -> dict[str, object]:
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text('{"document_id": "a", "summary": "A summary."}\n', encoding="utf-8")
    specs = {**SPECS, "precomputed": {"path": str(outputs)}}
    out: dict[str, object] = {}
    for kind in registry.SUMMARIZERS:
        out[kind] = registry.build_summarizer({"kind": kind, **specs.get(kind, {})})
    for kind in registry.METRICS:
        out[kind] = registry.build_metric({"kind": kind, **specs.get(kind, {})})
    return out


def _identity(instance: object) -> str:
    return getattr(instance, "fingerprint", None) or instance.signature


def _text_users() -> set[str]:
    """The strategy and metric modules that import evalkit.core.text, read with ast."""
    return {name for name in MODULES if name.startswith(("evalkit.summarizers", "evalkit.metrics"))
            and "evalkit.core.text" in imports(name)}


def test_every_strategy_and_metric_that_uses_the_text_rules_has_them_in_its_identity(tmp_path, monkeypatch):
    users = _text_users()
    # what the ast reading finds, checked against the modules as read by hand
    assert {"evalkit.metrics.nli", "evalkit.metrics.judge", "evalkit.summarizers.local.chat",
            "evalkit.summarizers.local.seq2seq", "evalkit.summarizers.extractive", "evalkit.metrics.rouge",
            "evalkit.metrics.length", "evalkit.metrics.extractiveness"} <= users
    instances = _instances(tmp_path)
    before = {kind: _identity(i) for kind, i in instances.items()}
    monkeypatch.setattr(evalkit.core.text, "TEXT_VERSION", "999")  # as if the sentence splitter had changed
    after = {kind: _identity(i) for kind, i in instances.items()}
    uses = {kind for kind, i in instances.items() if {c.__module__ for c in type(i).__mro__} & users}
    assert uses == {"lead", "textrank", "lexrank", "random", "oracle", "hf-seq2seq", "hf-chat", "rouge", "length",
                    "extractiveness", "llm-judge", "nli", "consistency", "entities", "redundancy",
                    "length-fair"}  # entities: where a cut ends
    assert sorted(k for k in instances if before[k] != after[k]) == sorted(uses)


def test_the_fingerprints_named_by_hand_stay_as_the_baseline_stored_them():
    baseline = json.loads((REPO / ".ci" / "baseline.json").read_text(encoding="utf-8"))
    for name, entry in baseline["systems"].items():
        spec = {"kind": entry["kind"], "name": name, **({"cut": "word"} if name == "lead-words" else {}),
                **({"seed": 0} if name == "random" else {})}
        assert registry.build_summarizer(spec).fingerprint == entry["fingerprint"]
    for kind, signature in baseline["metric_signatures"].items():
        assert registry.build_metric(kind).signature == signature


# -- a toy metric, strategy and chart, one module each -------------------------------------------

TOY_METRIC = '''
"""A toy metric: the summary's words per sentence (lower is better here)."""
from evalkit.metrics.base import Metric
from evalkit.core.types import Measure, MetricResult
from evalkit.core.text import count_sentences, count_words

OFFSET = 0.0  # the test moves it to simulate a change in the summaries' quality


class WordsPerSentence(Metric):
    kind = "toy"

    def measures(self):
        return (Measure("toy_wps", "words per sentence", "score", False, "words/sentence",
                        "mean sentence length of the summary", headline=True, tolerance=0.5),)

    def score(self, candidates):
        return [MetricResult({"toy_wps": count_words(c.text) / max(1, count_sentences(c.text)) + OFFSET})
                for c in candidates]
'''

TOY_STRATEGY = '''
"""A toy strategy: the document's first sentence."""
from evalkit.summarizers.base import Summarizer
from evalkit.core.text import sentences


class FirstSentence(Summarizer):
    kind = "toy-first"

    def summarize_one(self, request):
        return " ".join(sentences(request.document.text)[:1]), {}
'''

TOY_CHART = '''
"""A toy chart: how many documents each system summarized."""
from matplotlib.figure import Figure


def documents_per_system(view, *, seed=0, n_resamples=0):
    counts = view.values.groupby("system")["document_id"].nunique()
    if counts.empty:
        raise ValueError("documents_per_system: nothing to show because the run has no scores")
    figure = Figure()
    axes = figure.add_subplot()
    axes.bar(list(counts.index), list(counts.values))
    axes.set_title("Documents per system")
    return figure
'''


@pytest.fixture()
def toys(tmp_path, monkeypatch):
    from evalkit.report.plots import save

    for name, source in (("toy_metric", TOY_METRIC), ("toy_strategy", TOY_STRATEGY), ("toy_chart", TOY_CHART)):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import toy_chart
    import toy_metric
    import toy_strategy

    # the one line each: a registry entry, a registry entry, a chart list entry
    monkeypatch.setitem(registry.METRICS, "toy", "toy_metric:WordsPerSentence")
    monkeypatch.setitem(registry.SUMMARIZERS, "toy-first", "toy_strategy:FirstSentence")
    monkeypatch.setattr(save, "CHARTS", [*save.CHARTS, save.Chart("documents_per_system", "Documents per system",
                                                                  toy_chart.documents_per_system)])
    return toy_metric, toy_strategy


def _run(tmp_path, name: str) -> Run:
    experiment = Experiment(systems=[{"kind": "lead"}, {"kind": "random", "seed": 0}, {"kind": "toy-first"}],
                            metrics=[{"kind": "rouge"}, {"kind": "toy"}], data={"path": "bundled", "limit": 12},
                            target="2 sentences", name=name, output_dir=tmp_path / name, progress=False)
    return experiment.run()


def test_a_toy_strategy_fingerprint_follows_the_text_rules_it_never_names(toys, monkeypatch):
    strategy = registry.build_summarizer("toy-first")
    metric = registry.build_metric("toy")
    before = (strategy.fingerprint, metric.signature)
    monkeypatch.setattr(evalkit.core.text, "TEXT_VERSION", "999")
    assert strategy.fingerprint != before[0]
    assert metric.signature != before[1]


def test_a_toy_metric_strategy_and_chart_reach_every_view_and_the_gate(toys, tmp_path, capsys, monkeypatch):
    toy_metric, _ = toys
    base = _run(tmp_path, "base")
    assert base.measure("toy_wps").label == "words per sentence"

    # the CLI table: a column, with the label and unit in its legend, and a row for the toy strategy
    assert main(["report", str(base.run_dir)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("system"))
    assert "toy_wps" in header.split()
    assert "toy_wps: words per sentence (words/sentence)" in out
    assert any(line.startswith("toy-first ") for line in out.splitlines())

    # save_all writes the toy chart next to the others
    from evalkit.report import plots

    written = {p.name for p in plots.save_all(base, tmp_path / "charts", n_resamples=200)}
    assert {"documents_per_system.png", "metric_comparison.png"} <= written

    # the HTML report: the metric's heading in the table, the toy chart drawn with its caption
    assert main(["report", str(base.run_dir), "--html", str(tmp_path / "report.html")]) == 0
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "words per sentence (words/sentence)" in html
    assert ('<img alt="Documents per system" src="data:image/png;base64,' in html
            and "<figcaption>Documents per system</figcaption>" in html)

    # the gate, default policy: higher is worse for this measure
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", "save", str(base.run_dir), str(baseline)]) == 0
    capsys.readouterr()
    monkeypatch.setattr(toy_metric, "OFFSET", 3.0)  # every summary 3 words per sentence longer: worse
    worse = _run(tmp_path, "worse")
    assert main(["check", str(worse.run_dir), "--baseline", str(baseline)]) == 1
    assert "toy_wps" in capsys.readouterr().out
    monkeypatch.setattr(toy_metric, "OFFSET", -3.0)  # shorter sentences: better, so the gate passes
    better = _run(tmp_path, "better")
    assert main(["check", str(better.run_dir), "--baseline", str(baseline)]) == 0


def test_a_toy_metric_and_strategy_reach_evalkit_compare(toys, tmp_path, capsys):
    article = tmp_path / "article.txt"
    article.write_text("The council approved the budget on Monday. Residents protested outside the hall. "
                       "The mayor promised a review of the plan next month.", encoding="utf-8")
    config = tmp_path / "compare.yaml"
    config.write_text("name: compare\ntarget: {sentences: 1}\nsystems:\n  - {kind: toy-first}\n"
                      "metrics:\n  - {kind: toy}\n", encoding="utf-8")
    assert main(["compare", str(article), "--config", str(config), "--output", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    # the first sentence, 7 words in 1 sentence: 7 words per sentence, printed under its group
    assert "=== toy-first ===\nThe council approved the budget on Monday.\n-- quality: toy_wps=7\n" in out


def test_a_measure_group_is_declared_derived_or_read_from_an_old_manifest():
    from evalkit.core.types import Measure
    from evalkit.run.schema import RunManifest

    assert Measure("x", "x", "seconds").group == "cost"
    assert Measure("x", "x", "score", False).group == "quality"
    assert Measure("x", "x", "count", None).group == "other"
    with pytest.raises(ValueError, match="did you mean 'factuality'"):
        Measure("x", "x", group="factualty")
    # a manifest written before measures had a group: the bundled kinds get theirs
    old = {"name": "entity_precision_source", "label": "entity precision vs source", "scale": "fraction",
           "higher_is_better": True, "unit": None, "description": "", "headline": True, "tolerance": 0.01}
    manifest = {"metrics": {"entities": {"kind": "entities", "config": {"kind": "entities"}, "signature": "s",
                                         "measures": [old]}}}
    assert RunManifest.load(manifest).measures()["entity_precision_source"].group == "factuality"
    assert Measure.from_dict(Measure("y", "y", group="length").to_dict()).group == "length"
