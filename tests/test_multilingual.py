"""Russian, Chinese and Arabic articles written for the project: counts, lead summaries, targets and ROUGE.

Every expected number is counted by hand from the texts in tests/data/multilingual_news.jsonl.
"""

from pathlib import Path

import pytest

from evalkit.inputs.data import load
from evalkit.metrics.base import Candidate
from evalkit.metrics.extractiveness import Extractiveness
from evalkit.metrics.length import LengthCompliance
from evalkit.metrics.rouge import Rouge
from evalkit.summarizers.extractive import Lead, TextRank
from evalkit.core.text import count_sentences, count_words, sentences
from evalkit.core.types import LengthTarget, Request

DATA = Path(__file__).parent / "data" / "multilingual_news.jsonl"


@pytest.fixture(scope="module")
def docs():
    documents = load({"path": str(DATA), "columns": {"text": "article", "references": "reference", "id": "id"}})
    return {d.metadata["lang"]: d for d in documents}


def lead(doc, target):
    (summary,) = Lead().summarize([Request(doc, target)])
    assert summary.ok, summary.error
    return summary.text


# words per sentence, counted by hand:
# ru: 8 (в городе новоозёрск открылся новый мост через реку), 4, 9, 2, 6
# zh: characters, punctuation aside: 15 (新海市今天开通了第一条地铁线路), 17, 10, 8
# ar: 8 (افتتحت مدينة الواحة مكتبة عامة جديدة يوم الاثنين), 5, 7, 4
COUNTS = {"ru": (29, 5), "zh": (50, 4), "ar": (24, 4)}
LEAD_WORDS = {"ru": 8, "zh": 15, "ar": 8}


@pytest.mark.parametrize("lang", ["ru", "zh", "ar"])
def test_word_and_sentence_counts(docs, lang):
    text = docs[lang].text
    assert (count_words(text), count_sentences(text)) == COUNTS[lang]
    assert "".join(sentences(text)).replace(" ", "") == text.replace(" ", "")  # nothing lost, order kept


@pytest.mark.parametrize("lang", ["ru", "zh", "ar"])
def test_lead_sentence_targets(docs, lang):
    doc = docs[lang]
    one = lead(doc, LengthTarget(sentences=1))
    assert one == sentences(doc.text)[0]
    assert count_words(one) == LEAD_WORDS[lang]
    two = lead(doc, LengthTarget(sentences=2))
    (result,) = LengthCompliance().score([Candidate(doc, two, LengthTarget(sentences=2))])
    assert result.values["length_sentences"] == 2
    assert result.values["length_sentences_ok"] == 1.0
    assert result.values["length_feasible"] == 1.0


def test_chinese_word_targets_count_characters(docs):
    doc = docs["zh"]
    # about 32 characters: the first two sentences are 15 + 17 = 32, joined without a space
    text = lead(doc, LengthTarget(words=32))
    assert text == "新海市今天开通了第一条地铁线路。这条线路全长二十公里，共有十五个车站。"
    (result,) = LengthCompliance().score([Candidate(doc, text, LengthTarget(words=32))])
    assert result.values["length_words"] == 32
    assert result.values["length_words_ok"] == 1.0
    assert result.values["length_compression"] == pytest.approx(50 / 32)
    # the first 20 characters, cut inside the second sentence: 15 + 这条线路全
    (cut,) = Lead(cut="word").summarize([Request(doc, LengthTarget(words=20))])
    assert cut.text == "新海市今天开通了第一条地铁线路。这条线路全"
    # 80 characters cannot come out of a 50-character article
    (infeasible,) = LengthCompliance().score([Candidate(doc, text, LengthTarget(words=80))])
    assert infeasible.values["length_feasible"] == 0.0
    assert "50" in infeasible.notes["length_feasible"]


@pytest.mark.parametrize("lang", ["ru", "zh", "ar"])
def test_textrank_picks_whole_sentences(docs, lang):
    doc = docs[lang]
    (summary,) = TextRank().summarize([Request(doc, LengthTarget(sentences=2))])
    assert summary.ok and count_sentences(summary.text) == 2
    assert all(s in sentences(doc.text) for s in sentences(summary.text))


# ROUGE-1 of the lead sentence against the reference, unicode tokens (case folded, no stemming):
# ru: lead 8 tokens; reference [в, новоозёрске, открыли, новый, мост] 5; shared {в, новый, мост} 3
#     -> P = 3/8, R = 3/5, F = 2*3/(8+5) = 6/13
# zh: one token per character; lead 15, reference 新海市地铁今天开通 9, all 9 in the lead
#     -> P = 9/15, R = 1, F = 18/24 = 3/4
# ar: lead 8; reference [مدينة, الواحة, تفتتح, مكتبة, جديدة] 5; shared 4 -> P = 4/8, R = 4/5, F = 8/13
ROUGE1 = {"ru": (3 / 8, 3 / 5, 6 / 13), "zh": (9 / 15, 1.0, 3 / 4), "ar": (4 / 8, 4 / 5, 8 / 13)}


@pytest.mark.parametrize("lang", ["ru", "zh", "ar"])
def test_lead_rouge_is_not_zero_by_default(docs, lang):
    doc = docs[lang]
    candidate = Candidate(doc, lead(doc, LengthTarget(sentences=1)))
    (result,) = Rouge().score([candidate])
    p, r, f = ROUGE1[lang]
    assert result.values["rouge1_p"] == pytest.approx(p)
    assert result.values["rouge1_r"] == pytest.approx(r)
    assert result.values["rouge1_f"] == pytest.approx(f)
    assert "unicode" in result.notes["rouge1_f"]
    # what the rouge-score tokenizer alone gives: nothing to match
    (plain,) = Rouge(tokenizer="default").score([candidate])
    assert plain.values["rouge1_f"] == 0.0


def test_chinese_rouge2_is_over_character_bigrams(docs):
    doc = docs["zh"]
    # lead 15 characters -> 14 bigrams; reference 9 -> 8: 新海 海市 市地 地铁 铁今 今天 天开 开通;
    # in the lead: 新海 海市 地铁 今天 天开 开通 = 6 -> P = 6/14, R = 6/8, F = 12/22
    (result,) = Rouge(["rouge2"]).score([Candidate(doc, lead(doc, LengthTarget(sentences=1)))])
    assert result.values["rouge2_p"] == pytest.approx(6 / 14)
    assert result.values["rouge2_r"] == pytest.approx(6 / 8)
    assert result.values["rouge2_f"] == pytest.approx(12 / 22)


def test_chinese_lead_is_fully_extractive(docs):
    doc = docs["zh"]
    (result,) = Extractiveness().score([Candidate(doc, lead(doc, LengthTarget(sentences=1)))])
    # one copied fragment of all 15 characters: coverage 1, density 15^2 / 15 = 15
    assert result.values["coverage"] == pytest.approx(1.0)
    assert result.values["density"] == pytest.approx(15.0)
    assert result.values["novel_1gram"] == 0.0


@pytest.mark.parametrize("lang", ["ru", "zh", "ar"])
def test_oracle_finds_the_sentence_that_shares_words_with_the_reference(docs, lang):
    from evalkit.summarizers.extractive import Oracle

    doc = docs[lang]
    # only the lead sentence shares words with the reference (the others share none, or fewer
    # and add length), so the greedy oracle picks it and stops
    (summary,) = Oracle().summarize([Request(doc, LengthTarget())])
    assert summary.ok and summary.details["selected"] == [0]
