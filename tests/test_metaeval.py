"""Meta-evaluation: the three correlation levels checked by hand, FRANK's published number, the CLI.

The synthetic data below is small enough to work out every correlation on paper; the comments
give the arithmetic.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.core.errors import ConfigError, DataError
from evalkit.inputs.annotated import Item, load_items
from evalkit.report.metaeval import MetaEval, agreement_chart

FRANK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "frank_benchmark.jsonl"

# four documents x three systems: (metric, human) per system s1, s2, s3
DESIGN = {
    "A": ([1, 2, 3], [1, 2, 3]),  # r = 1
    "B": ([1, 2, 3], [3, 2, 1]),  # r = -1
    "C": ([1, 1, 1], [2, 2, 2]),  # constant: skipped at the summary level
    "D": ([1, 2, 3], [1, 3, 2]),  # pearson = spearman = 1/2 (cov 1, variances 2 and 2); kendall = (2 - 1) / 3
}


def design_items() -> list[Item]:
    return [Item(document_id=doc, system=f"s{i + 1}", summary=f"summary {doc}{i}", article=f"Article {doc}.",
                 human={"score": float(human[i])}, metrics={"metric": float(metric[i])})
            for doc, (metric, human) in DESIGN.items() for i in range(3)]


def test_summary_level_averages_per_document_correlations_skipping_constant_documents():
    evaluation = MetaEval(design_items(), n_resamples=200)
    pearson = evaluation.agreement("metric", "score", "summary", "pearson")
    assert pearson.r == pytest.approx((1 - 1 + 0.5) / 3) and pearson.n == 3
    assert evaluation.agreement("metric", "score", "summary", "spearman").r == pytest.approx((1 - 1 + 0.5) / 3)
    assert evaluation.agreement("metric", "score", "summary", "kendall").r == pytest.approx((1 - 1 + 1 / 3) / 3)
    assert pearson.low <= pearson.r <= pearson.high


def test_system_level_correlates_system_means():
    # metric means: s1 (1+1+1+1)/4 = 1, s2 (2+2+1+2)/4 = 1.75, s3 (3+3+1+3)/4 = 2.5
    # human means:  s1 (1+3+2+1)/4 = 1.75, s2 (2+2+2+3)/4 = 2.25, s3 (3+1+2+2)/4 = 2
    # centred: (-.75, 0, .75) and (-.25, .25, 0): cov .1875 / sqrt(1.125 * .125) = .5
    result = MetaEval(design_items(), n_resamples=200).agreement("metric", "score", "system", "pearson")
    assert result.r == pytest.approx(0.5) and result.n == 3 and result.n_items == 12


def test_partial_correlation_removes_the_system_means():
    # residuals from each system's mean (metric means 1, 1.75, 2.5; human means 1.75, 2.25, 2):
    items = design_items()
    means_m, means_h = {"s1": 1, "s2": 1.75, "s3": 2.5}, {"s1": 1.75, "s2": 2.25, "s3": 2}
    rx = [i.metrics["metric"] - means_m[i.system] for i in items]
    ry = [i.human["score"] - means_h[i.system] for i in items]
    expected = sum(a * b for a, b in zip(rx, ry)) / (sum(a * a for a in rx) * sum(b * b for b in ry)) ** 0.5
    assert MetaEval(items, n_resamples=50).agreement("metric", "score", "partial").r == pytest.approx(expected)


def test_intervals_are_seeded_and_the_paired_test_tells_metrics_apart():
    items = design_items()
    noise = [0.3, -0.2, 0.9, 0.1, 0.5, -0.7, 0.2, 0.8, -0.4, 0.6, -0.1, 0.0]
    columns = {"perfect": [i.human["score"] for i in items], "noise": noise}
    first = MetaEval(items, columns, n_resamples=300, seed=7)
    again = MetaEval(items, columns, n_resamples=300, seed=7)
    assert first.agreement("noise", "score", "system") == again.agreement("noise", "score", "system")
    assert first.agreement("perfect", "score", "partial").r == pytest.approx(1.0)
    better = first.compare("perfect", "noise", "score", "partial")
    assert better["delta"] > 0.5 and better["p_value"] < 0.05 and better["low"] > 0
    same = first.compare("noise", "noise", "score", "summary")
    assert same["delta"] == 0 and same["p_value"] == 1.0
    with pytest.raises(ConfigError, match="not kendall"):
        first.agreement("noise", "score", "partial", "kendall")
    figure = agreement_chart(first.table(["partial"], ["pearson"]))
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["noise", "perfect"]


def test_summeval_rows_average_their_annotators(tmp_path):
    rows = [{"id": f"dm-{d}", "model_id": f"M{m}", "decoded": "a summary", "text": "An article.", "references": ["r"],
             "expert_annotations": [{"coherence": 1 + m, "consistency": 5}, {"coherence": 2 + m, "consistency": 4},
                                    {"coherence": 3 + m, "consistency": 5}],
             "metric_scores_1": {"rouge": {"rouge_1_f_score": 0.1 * (d + m)}, "bert_score_f1": 0.5}}
            for d in range(2) for m in range(2)]
    path = tmp_path / "model_annotations.aligned.paired.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    items = load_items(path)
    assert items[1].human == {"expert_coherence": (2 + 3 + 4) / 3, "expert_consistency": 14 / 3}
    assert items[3].metrics == {"rouge_rouge_1_f_score": pytest.approx(0.2), "bert_score_f1": 0.5}
    assert (items[2].document_id, items[2].system) == ("dm-1", "M0")
    (tmp_path / "bad.jsonl").write_text('{"foo": 1}\n', encoding="utf-8")
    with pytest.raises(DataError, match="Pass --format frank|summeval"):
        load_items(tmp_path / "bad.jsonl")


@pytest.mark.skipif(not FRANK.exists(), reason="../shared/data/frank_benchmark.jsonl is not available")
def test_frank_baselines_reproduce_the_papers_partial_correlation():
    items = load_items(FRANK)
    evaluation = MetaEval(items, humans=["Factuality"], n_resamples=100)
    assert len(items) == 2246 and len({i.document_id for i in items}) == 499
    # FRANK (Pagnoni et al. 2021), Table 4: BERTScore P against the article, partial Pearson .27 on all data
    result = evaluation.agreement("BertScore P Art", "Factuality", "partial", "pearson")
    assert result.r == pytest.approx(0.27, abs=0.01) and result.n == 2246
    assert evaluation.restrict("Rouge 1").agreement("FactCC", "Factuality").n == 2246
    with pytest.raises(ConfigError, match="no such metric column"):
        evaluation.restrict("entity_precision_source")


def test_the_command_scores_with_evalkit_metrics_caches_and_writes_json_and_a_chart(tmp_path, capsys):
    rows = [{"id": f"{d}::{s}", "hash": d, "dataset": "x", "model_name": s, "summary": text,
             "article": f"The council met on Monday. It approved budget {d}. Residents protested.",
             "reference": "The council approved a budget.", "human": {"Factuality": fact},
             "baseline_metrics": {"Rouge 1": r1}}
            for d in ("d1", "d2", "d3")
            for s, text, fact, r1 in (("copy", "The council met on Monday.", 1.0, 0.4),
                                      ("para", "A council gathered and approved money.", 0.5, 0.3),
                                      ("bad", "The mayor resigned on Friday.", 0.0, 0.1))]
    data = tmp_path / "frank_like.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    store, out_json, chart = tmp_path / "store.sqlite", tmp_path / "meta.json", tmp_path / "meta.png"
    argv = ["meta-eval", str(data), "--metric", "extractiveness", "--store", str(store), "--levels",
            "summary,partial", "--resamples", "50", "--json", str(out_json), "--chart", str(chart),
            "--compare", "Rouge 1,density"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Rouge 1" in printed and "density" in printed and "paired bootstrap p" in printed
    with sqlite3.connect(store) as db:
        stored = db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    assert stored == 9
    saved = json.loads(out_json.read_text(), parse_constant=_no_constant)  # strict JSON: jq and browsers read it
    assert saved["settings"]["items"] == 9 and {a["metric"] for a in saved["agreement"]} >= {"Rouge 1", "density"}
    assert chart.stat().st_size > 1000
    assert main(argv) == 0  # a second run scores nothing new
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == stored
    assert main(["meta-eval", str(data), "--columns", "Nope"]) == 2
    assert "not in the file" in capsys.readouterr().err


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON (NaN and infinities are written as null)")
