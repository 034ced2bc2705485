"""``evalkit report RUN --json`` carries the judge diagnostics the table and the HTML report show.

The stand-in judge (the fake API server of ``api_server``) scores by length, so the expected scores
are recomputed here from each stored summary's text with the judge's own rule, and the expected
correlations come from scipy on those (score, length) pairs.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from api_server import serve  # noqa: F401  (a fixture)
from scipy import stats
from test_judge_bias import RUBRIC, SYSTEMS, clean_env, length_judge, run  # noqa: F401  (clean_env: a fixture)

from evalkit.cli.main import main
from evalkit.core.text import count_words
from evalkit.report.html import render_html
from evalkit.report.tables import json_ready


def refuse(name: str) -> None:
    raise AssertionError(f"{name} in the JSON: undefined numbers must be written as null")


def test_report_json_has_the_judge_length_correlation_that_scipy_gives(serve, tmp_path, capsys):
    server = serve(answer=length_judge)
    result = run(tmp_path, SYSTEMS, {"model": "my-judge", "base_url": server.openai_url, "rubric": RUBRIC})
    assert main(["report", str(result.run_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out, parse_constant=refuse)
    rows = {(r["value"], r["system"]): r for r in report["judging"]["length_bias"]}
    ok = result.summaries[result.summaries["error"].isna()]
    words = [count_words(t) for t in ok["text"]]
    scores = [float(length_judge("", f"Summary:\n{t}\n\n")) for t in ok["text"]]  # the judge's rule, by hand
    assert len(set(scores)) > 1 and rows[("judge_quality", "all")]["n"] == len(ok) == 18
    assert rows[("judge_quality", "all")]["pearson"] == pytest.approx(stats.pearsonr(scores, words)[0])
    assert rows[("judge_quality", "all")]["spearman"] == pytest.approx(stats.spearmanr(scores, words)[0])
    assert rows[("judge_quality", "all")]["spearman"] > 0.5  # this judge rewards length
    for system in ("lead", "random", "textrank"):
        mine = [(s, w) for s, w, name in zip(scores, words, ok["system"]) if name == system]
        row = rows[("judge_quality", system)]
        assert row["mean"] == pytest.approx(np.mean([s for s, _ in mine]))
        if len({s for s, _ in mine}) > 1 and len({w for _, w in mine}) > 1:
            assert row["pearson"] == pytest.approx(stats.pearsonr(*zip(*mine))[0])
        else:  # a constant side: undefined, written as null
            assert row["pearson"] is None
    [articles] = report["judging"]["long_articles"]
    assert articles["judge"] == "judge" and articles["summaries"] == 18 and articles["refused"] == 0
    assert report["judging"]["pairwise"] == [] and report["judging"]["family_warnings"] == []
    # the HTML report shows the same numbers (it renders the JSON's own data)
    assert f"{rows[('judge_quality', 'all')]['pearson']:.2f}" in render_html(result)


def test_a_run_without_a_judge_has_empty_judging_and_undefined_numbers_become_null(tmp_path, capsys, tiny_documents):
    from evalkit.run.experiment import Experiment

    plain = Experiment(systems=[{"kind": "lead", "name": "lead"}], metrics=[{"kind": "length"}],
                       target={"words": 12}, progress=False, output_dir=tmp_path / "runs").run(tiny_documents)
    assert main(["report", str(plain.run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out, parse_constant=refuse)["judging"] == {"length_bias": [], "family_warnings": [],
                                                               "long_articles": [], "pairwise": []}
    ready = json_ready({"a": [math.nan, np.float64(math.inf), -math.inf, 0.5, np.float64(0.25)], "b": ("x", 3, None)})
    assert ready == {"a": [None, None, None, 0.5, 0.25], "b": ["x", 3, None]}
    json.dumps(ready, allow_nan=False)
