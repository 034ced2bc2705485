"""The oracle is an upper bound everywhere, and a run shows one interval per number.

An oracle reads the references, so no ranking (``stats.ranking``, the CLI, the HTML report) may rank
it or test a system against it; it is listed after the ranked systems with its interval and a
note. The CLI and the HTML report draw every interval through the same seeded computation, so they
print the same numbers.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from evalkit.cli import main
from evalkit.report import stats
from evalkit.report.html import write_html
from evalkit.report.tables import headline_metrics
from evalkit.run.experiment import Experiment


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bounds")
    return Experiment(systems=[{"kind": "lead"}, {"kind": "random", "seed": 0}, {"kind": "oracle"}],
                      metrics=[{"kind": "rouge"}, {"kind": "length"}], data={"path": "bundled", "limit": 10},
                      target="2 sentences", name="bounds", output_dir=out, progress=False).run()


def test_stats_ranking_lists_a_bound_without_ranking_or_testing_it():
    # hand-made: b is better than a on every document; the bound is the best
    frame = pd.DataFrame([(str(d), s, "m", v) for d in range(8)
                          for s, v in (("a", 0.2 + 0.01 * d), ("b", 0.4 + 0.01 * d), ("ub", 0.9))],
                         columns=["document_id", "system", "metric", "value"])
    table = stats.ranking(frame, "m", upper_bounds=["ub"], n_resamples=500)
    assert list(table["system"]) == ["b", "a", "ub"]
    ranked, bound = table[~table["upper_bound"]], table[table["upper_bound"]].iloc[0]
    assert list(ranked["rank"]) == [1, 2] and ranked["rank_worst"].max() == 2  # two systems ranked, not three
    assert pd.isna(bound["rank"]) and bound["better_than"] == "" and not any("ub" in t for t in table["better_than"])
    assert bound["mean"] == pytest.approx(0.9) and "not ranked or tested" in bound["note"]


def test_a_system_that_beats_the_bound_is_named_in_its_note():
    frame = pd.DataFrame([(str(d), s, "m", v) for d in range(6) for s, v in (("a", 0.5), ("b", 0.7), ("ub", 0.6))],
                         columns=["document_id", "system", "metric", "value"])
    note = stats.ranking(frame, "m", upper_bounds=["ub"], n_resamples=200).set_index("system").loc["ub", "note"]
    assert "b scores better than it" in note and "a score" not in note


def _cli_intervals(capsys, run, metric) -> dict[str, str]:
    assert main(["report", str(run.run_dir), "--metrics", metric]) == 0
    out = capsys.readouterr().out
    ranking = out[out.index("Ranking on"):]
    found = dict(re.findall(r"^\s+(?:\d+\.|-)\s+(\S+)\s+(-?[\d.]+ \[-?[\d.]+, -?[\d.]+\])", ranking, re.M))
    assert not re.search(r"^\s+\d+\.\s+oracle\b", ranking, re.M), "the CLI ranks the oracle"
    assert not re.search(r">[^\n]*\boracle\b", ranking), "the CLI tests a system against the oracle"
    return found


class _Rankings(HTMLParser):
    """The HTML report's ranking tables: caption -> rows of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._in_ranking = self._cell = False
        self._caption: str | None = None
        self._row: list[str] | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self._in_ranking = dict(attrs).get("id") == "ranking"
        elif self._in_ranking and tag == "caption":
            self._cell, self._text = True, ""
        elif self._in_ranking and tag == "tr":
            self._row = []
        elif self._in_ranking and tag in ("td", "th"):
            self._cell, self._text = True, ""

    def handle_endtag(self, tag):
        if tag == "section":
            self._in_ranking = False
        elif self._in_ranking and tag == "caption":
            self._caption, self._cell = self._text.strip(), False
            self.tables[self._caption] = []
        elif self._in_ranking and tag in ("td", "th") and self._row is not None:
            self._row.append(self._text.strip())
            self._cell = False
        elif self._in_ranking and tag == "tr" and self._row and self._caption:
            if self._row[0] != "rank":
                self.tables[self._caption].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell:
            self._text += data


def test_cli_and_html_print_the_same_interval_for_every_system_and_value(run, tmp_path, capsys):
    page = _Rankings()
    page.feed(write_html(run, tmp_path / "report.html").read_text(encoding="utf-8"))
    assert page.tables, "no ranking table in the HTML report"
    compared = 0
    for metric in headline_metrics(run):
        measure = run.measure(metric)
        if measure.higher_is_better is None:
            continue
        rows = next(rows for caption, rows in page.tables.items() if caption.startswith(measure.label))
        html = {r[2]: f"{r[3]} {r[4]}" for r in rows}
        assert {r[2]: r[0] for r in rows}["oracle"] == "–"  # listed, not ranked
        assert not any("oracle" in r[6] for r in rows if r[2] != "oracle")  # never a test reference
        cli = _cli_intervals(capsys, run, metric)
        assert cli == html, metric
        compared += len(cli)
    assert compared >= 9  # three systems, at least three directed headline values


def test_the_ranked_intervals_are_the_plain_bootstrap_of_the_rows(run):
    # the same seeded function, on the same rows: rank 1's interval is bootstrap_ci of its values
    frame = run.values()
    table = stats.ranking(frame, "rouge1_f", upper_bounds=["oracle"])
    best = table.iloc[0]
    values = frame[(frame["system"] == best["system"]) & (frame["metric"] == "rouge1_f")]["value"].to_numpy()
    mean, low, high = stats.bootstrap_ci(values, seed=0)
    assert (best["mean"], best["ci_low"], best["ci_high"]) == (mean, low, high)
    assert mean == pytest.approx(np.mean(values))
