"""Adding a metric is one module and one registry line: the table, the charts and the gate follow.

The toy metric below is written the way a contributor would write a new one: a class that
declares its measures. Nothing else in evalkit is told about it, yet the CLI table shows its
label and unit, ``metric_comparison`` labels its axis with them, and ``evalkit check`` gates it
in the direction its measure declares (lower is better here).
"""

from __future__ import annotations

import textwrap

import pytest

from evalkit.run import registry
from evalkit.cli import main
from evalkit.run.experiment import Experiment
from evalkit.run.record import Run

TOY_MODULE = '''
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


@pytest.fixture()
def toy(tmp_path, monkeypatch):
    (tmp_path / "toy_metric.py").write_text(textwrap.dedent(TOY_MODULE), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.METRICS, "toy", "toy_metric:WordsPerSentence")  # the one registry line
    import toy_metric

    return toy_metric


def _run(tmp_path, name: str) -> Run:
    experiment = Experiment(systems=[{"kind": "lead"}, {"kind": "random", "seed": 0}],
                            metrics=[{"kind": "rouge"}, {"kind": "toy"}], data={"path": "bundled", "limit": 12},
                            target="2 sentences", name=name, output_dir=tmp_path / name, progress=False)
    return experiment.run()


def test_a_new_metric_reaches_table_chart_and_gate(toy, tmp_path, capsys, monkeypatch):
    base = _run(tmp_path, "base")
    assert base.measure("toy_wps").label == "words per sentence"

    # the CLI table: a column, with the label and unit in its legend
    assert main(["report", str(base.run_dir)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("system"))
    assert "toy_wps" in header.split()
    assert "toy_wps: words per sentence (words/sentence)" in out

    # the chart: its axis says what the value is
    from evalkit.report import plots

    figure = plots.metric_comparison(base, ["toy_wps"])
    texts = [t.get_text() for t in figure.findobj(match=lambda a: hasattr(a, "get_text"))]
    assert any("words per sentence" in t for t in texts)
    assert any("words/sentence" in t for t in texts)

    # the gate, default policy: higher is worse for this measure
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", "save", str(base.run_dir), str(baseline)]) == 0
    capsys.readouterr()
    monkeypatch.setattr(toy, "OFFSET", 3.0)  # every summary 3 words per sentence longer: worse
    worse = _run(tmp_path, "worse")
    assert main(["check", str(worse.run_dir), "--baseline", str(baseline)]) == 1
    assert "toy_wps" in capsys.readouterr().out
    monkeypatch.setattr(toy, "OFFSET", -3.0)  # shorter sentences: better, so the gate passes
    better = _run(tmp_path, "better")
    assert main(["check", str(better.run_dir), "--baseline", str(baseline)]) == 0
