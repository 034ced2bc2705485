"""ROUGE: parity with Google's rouge-score on real CNN/DM data, multi-reference, missing references, unicode."""

import unicodedata

import pytest
from rouge_score import rouge_scorer

from evalkit.metrics.base import Candidate
from evalkit.metrics.rouge import ROUGE_TYPES, Rouge, sentence_lines
from evalkit.core.text import sentences
from evalkit.core.types import Document

ENGINES = ["rs", "python"]
PARTS = {"f": "fmeasure", "p": "precision", "r": "recall"}


def lead3(text: str) -> str:
    return " ".join(sentences(text)[:3])


def assert_matches(result, expected: dict, tol: float = 1e-9) -> None:
    """``result`` (a MetricResult) equals rouge-score's ``{type: Score}`` for every type and part."""
    for rouge_type, score in expected.items():
        for part, attr in PARTS.items():
            assert result.values[f"{rouge_type}_{part}"] == pytest.approx(getattr(score, attr), abs=tol, rel=0), (
                rouge_type, part)


@pytest.fixture(scope="module")
def reference_scorer():
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


@pytest.fixture(scope="module")
def cnndm_expected(cnndm_documents, reference_scorer):
    """rouge-score's own scores for lead-3 vs highlights on every document of the sample."""
    return [reference_scorer.score(sentence_lines(d.references[0]), sentence_lines(lead3(d.text)))
            for d in cnndm_documents]


@pytest.mark.parametrize("engine", ["rs", pytest.param("python", marks=pytest.mark.slow)])
def test_parity_with_rouge_score_on_cnndm(engine, cnndm_documents, cnndm_expected):
    assert len(cnndm_documents) == 631
    candidates = [Candidate(d, lead3(d.text)) for d in cnndm_documents]
    results = Rouge(engine=engine).score(candidates)
    assert len(results) == len(candidates)
    for document, result, expected in zip(cnndm_documents, results, cnndm_expected):
        assert len(document.references) == 1
        assert_matches(result, expected)


@pytest.mark.parametrize("engine", ENGINES)
def test_multi_reference_keeps_the_best_f_as_score_multi_does(engine, cnndm_documents, reference_scorer):
    # three references per document: the highlights, and two stretches of the article that overlap
    # lead-3 by different amounts, so the best reference varies across documents and ROUGE types
    documents, candidates = [], []
    for d in cnndm_documents[:25]:
        sents = sentences(d.text)
        refs = (d.references[0], " ".join(sents[2:5]), " ".join(sents[3:6]))
        documents.append(Document(id=d.id, text=d.text, references=refs))
        candidates.append(Candidate(documents[-1], lead3(d.text)))
    results = Rouge(engine=engine).score(candidates)
    chose_other = 0
    for document, candidate, result in zip(documents, candidates, results):
        expected = reference_scorer.score_multi([sentence_lines(r) for r in document.references],
                                                sentence_lines(candidate.text))
        assert_matches(result, expected)
        first = reference_scorer.score(sentence_lines(document.references[0]), sentence_lines(candidate.text))
        chose_other += expected["rouge1"].fmeasure != first["rouge1"].fmeasure
    assert 0 < chose_other < len(documents)  # the check is not trivial: both cases occur


def test_multi_reference_by_hand():
    doc = Document(id="d", text="The cat sat on the mat.", references=("A dog ran away.", "The cat sat on the mat."))
    (result,) = Rouge().score([Candidate(doc, "The cat sat on the mat.")])
    assert all(result.values[f"{t}_f"] == pytest.approx(1.0) for t in ROUGE_TYPES)
    reversed_doc = Document(id="d", text=doc.text, references=tuple(reversed(doc.references)))
    assert Rouge().score([Candidate(reversed_doc, "The cat sat on the mat.")])[0].values == result.values


def test_rouge1_by_hand():
    # reference tokens: the cat sat on the mat (6); prediction: the cat lay on the rug (6)
    # overlap: the x2, cat, on = 4 -> P = R = F = 4/6
    doc = Document(id="d", text="x", references=("The cat sat on the mat.",))
    (result,) = Rouge(["rouge1", "rouge2"]).score([Candidate(doc, "The cat lay on the rug.")])
    assert result.values["rouge1_p"] == pytest.approx(4 / 6)
    assert result.values["rouge1_r"] == pytest.approx(4 / 6)
    assert result.values["rouge1_f"] == pytest.approx(4 / 6)
    # bigrams: (the cat) and (on the) of 5 on each side -> 2/5
    assert result.values["rouge2_f"] == pytest.approx(2 / 5)
    assert set(result.values) == {"rouge1_f", "rouge1_p", "rouge1_r", "rouge2_f", "rouge2_p", "rouge2_r"}


def test_lsum_sees_evalkit_sentences():
    # Lsum on sentence lines: the reference's two sentences each match one prediction sentence fully,
    # while plain rougeL over the whole text only finds the longer in-order part
    doc = Document(id="d", text="x", references=("Roads flooded. Rain fell all day.",))
    (result,) = Rouge().score([Candidate(doc, "Rain fell all day. Roads flooded.")])
    assert result.values["rougeLsum_f"] == pytest.approx(1.0)
    assert result.values["rougeL_f"] == pytest.approx(4 / 6)  # LCS "rain fell all day" of 6 tokens


@pytest.mark.parametrize("engine", ENGINES)
def test_no_reference_gives_none_with_a_note(engine):
    with_ref = Document(id="a", text="x", references=("Rain fell.",))
    without = Document(id="b", text="x")
    metric = Rouge(engine=engine)
    first, second = metric.score([Candidate(with_ref, "Rain fell."), Candidate(without, "Rain fell.")])
    assert first.values["rouge1_f"] == pytest.approx(1.0)
    assert set(second.values) == set(metric.names)
    assert all(value is None for value in second.values.values())
    assert all("no reference" in second.notes[name] for name in metric.names)


def test_empty_prediction_scores_zero():
    doc = Document(id="a", text="x", references=("Rain fell.",))
    (result,) = Rouge().score([Candidate(doc, "")])
    assert result.values["rouge1_f"] == 0.0 and result.values["rougeLsum_f"] == 0.0


@pytest.mark.parametrize("engine", ENGINES)
def test_unicode_tokenizer_keeps_matches_the_default_tokenizer_loses(engine):
    # The same words, the prediction in decomposed form (NFD), as text from some web pages and macOS is.
    reference = "Zürich beat Łódź"
    prediction = unicodedata.normalize("NFD", reference)
    assert prediction != reference
    doc = Document(id="m", text="x", references=(reference,))
    default, = Rouge(["rouge1"], engine=engine).score([Candidate(doc, prediction)])
    unicode, = Rouge(["rouge1"], tokenizer="unicode", engine=engine).score([Candidate(doc, prediction)])
    assert not default.notes  # mostly ASCII letters: auto keeps rouge-score's tokenizer
    # unicode (NFKC, case folding): [zürich, beat, łódź] on both sides -> F = 1
    assert unicode.values["rouge1_f"] == pytest.approx(1.0)
    # default ([a-z0-9] only): reference -> [z, rich, beat, d]; prediction -> [zu, rich, beat, o, dz];
    # overlap {rich, beat} = 2 -> P = 2/5, R = 2/4, F = 2PR/(P+R) = 4/9
    assert default.values["rouge1_p"] == pytest.approx(2 / 5)
    assert default.values["rouge1_r"] == pytest.approx(2 / 4)
    assert default.values["rouge1_f"] == pytest.approx(4 / 9)


@pytest.mark.parametrize("engine", ENGINES)
def test_unicode_tokenizer_keeps_words_without_ascii_letters(engine):
    doc = Document(id="m", text="x", references=("Москва ответила Киеву",))
    prediction = "МОСКВА молчит"
    default, = Rouge(["rouge1"], tokenizer="default", engine=engine).score([Candidate(doc, prediction)])
    unicode, = Rouge(["rouge1"], tokenizer="unicode", engine=engine).score([Candidate(doc, prediction)])
    auto, = Rouge(["rouge1"], engine=engine).score([Candidate(doc, prediction)])
    # default: no [a-z0-9] at all, both sides tokenize to nothing -> 0
    assert default.values["rouge1_f"] == 0.0
    # auto (the default setting) sees Cyrillic references and uses the unicode tokenizer, and says so
    assert auto.values == unicode.values
    assert "unicode" in auto.notes["rouge1_f"] and auto.info == {"tokenizer": "unicode"}
    # unicode (case folded): [москва, ответила, киеву] vs [москва, молчит]: overlap 1 -> P = 1/2, R = 1/3, F = 2/5
    assert unicode.values["rouge1_p"] == pytest.approx(1 / 2)
    assert unicode.values["rouge1_r"] == pytest.approx(1 / 3)
    assert unicode.values["rouge1_f"] == pytest.approx(2 / 5)
    assert Rouge(tokenizer="unicode").stemmer is False


def test_signature_covers_settings_and_names_follow_types():
    assert Rouge().signature == Rouge().signature
    assert Rouge().signature != Rouge(stemmer=False).signature
    assert Rouge().signature != Rouge(tokenizer="unicode").signature
    assert Rouge().signature != Rouge(tokenizer="default").signature
    assert len({Rouge(multi_reference=m).signature for m in ("max", "mean", "jackknife")}) == 3
    assert Rouge().signature != Rouge(["rouge1"]).signature
    assert Rouge(["rouge1", "rougeLsum"]).names == ("rouge1_f", "rouge1_p", "rouge1_r",
                                                    "rougeLsum_f", "rougeLsum_p", "rougeLsum_r")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"types": ["rouge_one"]}, "unknown type"),
        ({"types": []}, "unknown type"),
        ({"tokenizer": "spacy"}, "tokenizer must be one of"),
        ({"engine": "perl"}, "engine must be one of"),
        ({"multi_reference": "best"}, "multi_reference must be one of"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        Rouge(**options)


def test_batch_order_is_kept_and_each_document_uses_its_own_references():
    a = Document(id="a", text="x", references=("Rain fell.",))
    b = Document(id="b", text="x", references=("Snow fell.",))
    results = Rouge(["rouge1"]).score([Candidate(b, "Rain fell."), Candidate(a, "Rain fell."),
                                        Candidate(b, "Snow fell.")])
    assert [r.values["rouge1_f"] for r in results] == pytest.approx([0.5, 1.0, 1.0])


def test_both_engines_share_one_signature():
    # They give identical scores (parity above), so switching engines must not recompute.
    from evalkit.metrics.rouge import Rouge

    assert Rouge(engine="rs").signature == Rouge(engine="python").signature
    assert Rouge(stemmer=False).signature != Rouge().signature


# -- multi-reference conventions ------------------------------------------------


def _with_extra_references(documents):
    """Each document with three references: its highlights, the highlights' sentences in reverse order
    (same unigrams, different bigrams and LCS) and the article's lead sentence (a different text)."""
    out = []
    for d in documents:
        highlights = sentences(d.references[0])
        out.append(Document(id=d.id, text=d.text, references=(
            d.references[0], " ".join(reversed(highlights)), sentences(d.text)[0])))
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_mean_is_the_mean_of_rouge_score_per_reference(engine, cnndm_documents, reference_scorer):
    documents = _with_extra_references(cnndm_documents[:40])
    candidates = [Candidate(d, lead3(d.text)) for d in documents]
    results = Rouge(engine=engine, multi_reference="mean").score(candidates)
    for document, candidate, result in zip(documents, candidates, results):
        per_reference = [reference_scorer.score(sentence_lines(r), sentence_lines(candidate.text))
                         for r in document.references]
        for rouge_type in ROUGE_TYPES:
            for part, attr in PARTS.items():
                expected = sum(getattr(s[rouge_type], attr) for s in per_reference) / len(per_reference)
                assert result.values[f"{rouge_type}_{part}"] == pytest.approx(expected, abs=1e-9, rel=0)


def test_jackknife_by_hand():
    # prediction "the cat sat", three references; ROUGE-1 (no stems change these words):
    #   r1 "the cat sat"      overlap 3: P = 3/3, R = 3/3, F = 1
    #   r2 "the cat"          overlap 2: P = 2/3, R = 2/2, F = 2*(2/3)/(5/3) = 4/5
    #   r3 "a dog sat down"   overlap 1: P = 1/3, R = 1/4, F = 2*(1/12)/(7/12) = 2/7
    # leave-one-out subsets and their best (by F): {r2, r3} -> r2, {r1, r3} -> r1, {r1, r2} -> r1
    # jackknife = mean of (r2, r1, r1): P = (2/3 + 1 + 1)/3 = 8/9, R = 1, F = (4/5 + 1 + 1)/3 = 14/15
    doc = Document(id="j", text="x", references=("the cat sat", "the cat", "a dog sat down"))
    candidate = Candidate(doc, "the cat sat")
    jack, = Rouge(["rouge1"], multi_reference="jackknife").score([candidate])
    assert jack.values["rouge1_p"] == pytest.approx(8 / 9)
    assert jack.values["rouge1_r"] == pytest.approx(1.0)
    assert jack.values["rouge1_f"] == pytest.approx(14 / 15)
    # mean: P = (1 + 2/3 + 1/3)/3 = 2/3, R = (1 + 1 + 1/4)/3 = 3/4, F = (1 + 4/5 + 2/7)/3 = 73/105
    mean, = Rouge(["rouge1"], multi_reference="mean").score([candidate])
    assert (mean.values["rouge1_p"], mean.values["rouge1_r"], mean.values["rouge1_f"]) == pytest.approx(
        (2 / 3, 3 / 4, 73 / 105))
    best, = Rouge(["rouge1"], multi_reference="max").score([candidate])
    assert best.values["rouge1_f"] == pytest.approx(1.0)


def test_jackknife_with_one_reference_is_that_reference(cnndm_documents, cnndm_expected):
    candidates = [Candidate(d, lead3(d.text)) for d in cnndm_documents[:20]]
    for result, expected in zip(Rouge(multi_reference="jackknife").score(candidates), cnndm_expected[:20]):
        assert_matches(result, expected)


def test_measure_descriptions_say_how_references_combine():
    assert "averaged over the references" in Rouge(multi_reference="mean").measures()[0].description
    assert "jackknifed" in Rouge(multi_reference="jackknife").measures()[0].description
    labels = {m.name: m.label for m in Rouge().measures()}
    assert labels["rougeL_f"] == "ROUGE-L (flat) F1"
    assert labels["rougeLsum_f"] == "ROUGE-L (summary-level, Lsum) F1"
