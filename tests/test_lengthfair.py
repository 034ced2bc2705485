"""Length-fair comparison (Sun et al. 2019): ROUGE next to the same-length lead and random cut.

Expected values come from hand counts of unigrams and from rouge-score itself (the reference
implementation), never from the metric's own output.
"""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from evalkit.core.errors import ConfigError
from evalkit.core.text import words
from evalkit.core.types import Candidate, Document, LengthTarget, Request
from evalkit.inputs.data import load
from evalkit.metrics.lengthfair import same_length_lead, same_length_random
from evalkit.run.registry import build_metric, build_summarizer

ARTICLE = "The cat sat on the mat today. It was warm."
REFERENCE = "the cat sat"


def test_a_hand_counted_case():
    metric = build_metric({"kind": "length-fair", "types": ["rouge1"]})
    doc = Document("d", ARTICLE, (REFERENCE,))
    same, other = metric.score([Candidate(doc, "cat sat"), Candidate(doc, "sat mat")])
    # N = 2: the same-length lead is "The cat": 2 of its 2 unigrams in the reference of 3 -> P 1, R 2/3, F 0.8
    assert same.values["rouge1_f_lead_same_length"] == pytest.approx(0.8)
    # "cat sat" matches the same 2 unigrams: F 0.8, nothing over the lead
    assert same.values["rouge1_f_vs_lead"] == pytest.approx(0.0)
    # "sat mat": only "sat" matches -> P 1/2, R 1/3, F 2 * (1/6) / (5/6) = 0.4; 0.4 - 0.8 = -0.4
    assert other.values["rouge1_f_vs_lead"] == pytest.approx(-0.4)


def test_the_random_cut_is_n_consecutive_words_drawn_per_document_and_seed():
    article = " ".join(f"w{i}" for i in range(50))
    cut = same_length_random(article, 7, "doc-a", seed=0)
    assert len(words(cut)) == 7 and cut in article  # consecutive words of the article
    assert same_length_random(article, 7, "doc-a", seed=0) == cut  # the same draw every time
    starts = {same_length_random(article, 7, "doc-a", seed=s).split()[0] for s in range(20)}
    assert len(starts) > 1  # the seed moves it
    assert same_length_random(article, 80, "doc-a") == article and same_length_random(article, 0, "doc-a") == ""
    assert same_length_lead("One,  two three.", 2) == "One,  two"  # spacing kept


def test_the_random_baseline_is_scored_with_the_same_rouge_as_rouge_score_does():
    doc = load()[0]
    summary = " ".join(words(doc.text)[40:70])
    metric = build_metric({"kind": "length-fair", "types": ["rouge1", "rouge2"], "seed": 3})
    [result] = metric.score([Candidate(doc, summary)])
    cut = same_length_random(doc.text, 30, doc.id, seed=3)
    reference = rouge_scorer.RougeScorer(["rouge1", "rouge2"], use_stemmer=True)
    for t in ("rouge1", "rouge2"):
        best_cut = max(reference.score(r, cut)[t].fmeasure for r in doc.references)
        best_own = max(reference.score(r, summary)[t].fmeasure for r in doc.references)
        assert result.values[f"{t}_f_random_same_length"] == pytest.approx(best_cut)
        assert result.values[f"{t}_f_vs_random"] == pytest.approx(best_own - best_cut)


def summaries(strategy: dict, documents, k: int) -> list[str]:
    made = build_summarizer(strategy).summarize([Request(d, LengthTarget(sentences=k)) for d in documents])
    return [s.text for s in made]


def test_padding_raises_raw_rouge_but_not_the_advantage_over_the_same_length_lead():
    documents = load()
    rouge = build_metric({"kind": "rouge", "types": ["rouge1"]})
    fair = build_metric({"kind": "length-fair", "types": ["rouge1"]})
    lead2, lead5 = summaries({"kind": "lead"}, documents, 2), summaries({"kind": "lead"}, documents, 5)

    def mean(values):
        return sum(values) / len(values)

    raw2 = [r.values["rouge1_r"] for r in rouge.score([Candidate(d, s) for d, s in zip(documents, lead2)])]
    raw5 = [r.values["rouge1_r"] for r in rouge.score([Candidate(d, s) for d, s in zip(documents, lead5)])]
    assert mean(raw5) > mean(raw2) + 0.05  # padding with three more sentences buys raw recall
    for texts in (lead2, lead5):  # a lead of any length IS the same-length lead: no advantage, exactly
        for result in fair.score([Candidate(d, s) for d, s in zip(documents, texts)]):
            assert result.values["rouge1_f_vs_lead"] == 0.0


def test_measures_say_better_than_lead_at_equal_length_and_options_are_checked():
    metric = build_metric({"kind": "length-fair", "types": ["rougeLsum"]})
    measures = {m.name: m for m in metric.measures()}
    vs = measures["rougeLsum_f_vs_lead"]
    assert vs.higher_is_better is True and vs.headline and vs.tolerance == 0.005
    assert "better than the lead at equal length" in vs.description
    assert measures["rougeLsum_f_lead_same_length"].higher_is_better is None
    with pytest.raises(ConfigError, match="choose from"):
        build_metric({"kind": "length-fair", "types": ["rouge9x"]})
    with pytest.raises(ConfigError, match="did you mean"):
        build_metric({"kind": "length-fair", "sed": 1})


def test_bertscore_is_compared_the_same_way_when_asked():
    from evalkit.metrics.bertscore import BertScore

    documents = load()[:2]
    lead3 = summaries({"kind": "lead"}, documents, 3)
    fair = build_metric({"kind": "length-fair", "types": ["rouge1"], "bertscore": {}})
    results = fair.score([Candidate(d, s) for d, s in zip(documents, lead3)])
    cuts = [Candidate(d, same_length_random(d.text, len(words(s)), d.id)) for d, s in zip(documents, lead3)]
    expected = BertScore().score(cuts)  # the bertscore metric itself on the same-length random cut
    for result, cut in zip(results, expected):
        assert result.values["bertscore_f_vs_lead"] == pytest.approx(0.0, abs=1e-6)
        assert result.values["bertscore_f_random_same_length"] == pytest.approx(cut.values["bertscore_f"])


def test_a_run_shows_the_length_fair_columns_in_its_table(tmp_path):
    from evalkit.report.tables import format_table
    from evalkit.run.experiment import Experiment

    run = Experiment(systems=[{"kind": "lead"}, {"kind": "textrank"}], metrics=[{"kind": "length-fair"}],
                     target=LengthTarget(sentences=2), output_dir=tmp_path / "runs", progress=False).run(load()[:4])
    table = format_table(run)
    assert "rouge1_f_vs_lead" in table and "ROUGE-1 F1 vs same-length lead" in table
    assert set(run.wide().query("system == 'lead'")["rouge1_f_vs_lead"]) == {0.0}
