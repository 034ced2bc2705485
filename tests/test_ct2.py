"""``engine: ctranslate2``: SmolLM2 through CTranslate2 gives transformers' greedy text, converts once, seeds samples.

The model is the ``smollm2_folder`` session fixture (tests/real_server.py): SmolLM2-135M-Instruct
as a transformers folder. CTranslate2's conversion goes to a temporary ``EVALKIT_CACHE`` per
module, so the first load here converts and the later ones must not.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: nothing may wait on the hub

import sys
from pathlib import Path

import pytest

from evalkit.core.text import count_words
from evalkit.core.types import Document, LengthTarget, Request
from evalkit.summarizers.local import ChatSummarizer, Seq2SeqSummarizer, ct2
from evalkit.summarizers.local.engine import Unit
from test_local import DOCUMENTS, models  # noqa: F401  (models: the tiny random models, a module fixture)

TARGET = LengthTarget(words=30)


@pytest.fixture(scope="module")
def ct2_cache(tmp_path_factory) -> Path:
    """An empty model cache for this module (CTranslate2 folders are written here)."""
    return tmp_path_factory.mktemp("ct2-cache")


@pytest.fixture
def cache(ct2_cache, monkeypatch) -> Path:
    monkeypatch.setenv("EVALKIT_CACHE", str(ct2_cache))
    return ct2_cache / "models"


@pytest.fixture(scope="module")
def two_articles(cnndm_documents) -> list[Document]:
    documents = [d for d in cnndm_documents if 250 <= count_words(d.text) <= 400][:2]
    assert len(documents) == 2
    return documents


def _summaries(folder: Path, requests: list[Request], **options) -> list:
    system = ChatSummarizer(model=str(folder), batch_size=2, **options)
    try:
        out = system.summarize(requests)
    finally:
        system.close()
    assert all(s.error is None for s in out), [s.error for s in out]
    return out


def test_float32_gives_the_transformers_greedy_text_and_a_rerun_converts_nothing(smollm2_folder, two_articles,
                                                                                 cache, monkeypatch):
    requests = [Request(d, TARGET) for d in two_articles]
    reference = _summaries(smollm2_folder, requests)  # transformers: the reference engine
    before = len(ct2.CONVERSIONS)
    static, sent = [], ct2._static_prompt
    monkeypatch.setattr(ct2, "_static_prompt", lambda model, tokens: static.append(sent(model, tokens)) or static[-1])
    fast = _summaries(smollm2_folder, requests, engine="ctranslate2")
    # the instruction both prompts share went once, as the cached static prompt, and the texts did not move
    assert static and len(static[0]) >= ct2.MIN_PREFIX
    assert len(ct2.CONVERSIONS) == before + 1
    converted = ct2.CONVERSIONS[-1]
    assert converted.parent == cache and (converted / ct2.MARKER).is_file()
    assert [s.text for s in fast] == [s.text for s in reference]
    for a, b in zip(fast, reference):  # the same stop rules, on the same tokens
        assert (a.details["stop_reason"], a.details["stopped_by"], a.details["output_tokens"]) == \
            (b.details["stop_reason"], b.details["stopped_by"], b.details["output_tokens"])
        assert a.fingerprint != b.fingerprint  # another engine: never served from the other's store rows

    stamp = (converted / ct2.MARKER).stat().st_mtime_ns
    again = _summaries(smollm2_folder, requests[:1], engine="ctranslate2")  # a fresh load: from the cache
    assert len(ct2.CONVERSIONS) == before + 1
    assert (converted / ct2.MARKER).stat().st_mtime_ns == stamp
    assert again[0].text == reference[0].text


def test_sampling_seeds_each_document_and_sample_whatever_the_batch(smollm2_folder, two_articles, cache):
    a, b = two_articles
    options = {"engine": "ctranslate2", "max_new_tokens": 24, "generate_kwargs": {"do_sample": True,
                                                                                  "temperature": 1.3, "top_k": 50}}
    first = _summaries(smollm2_folder, [Request(a, TARGET, 0), Request(a, TARGET, 1), Request(b, TARGET, 0)],
                       **options)
    second = _summaries(smollm2_folder, [Request(b, TARGET, 0), Request(a, TARGET, 0)], **options)
    assert second[1].text == first[0].text  # document a, sample 0: batched with other requests, in another order
    assert second[0].text == first[2].text
    assert first[0].text != first[1].text  # another sample of the same document draws another reply


def _unit(ids: list[int]) -> Unit:
    return Unit(request=0, part=0, input_ids=ids, max_new=40, min_new=None)


def test_the_shared_prefix_is_what_every_input_starts_with_and_leaves_each_a_token():
    head = list(range(100, 120))  # 20 shared tokens
    assert ct2.shared_prefix([_unit(head + [1, 2]), _unit(head + [3]), _unit(head + [1, 5, 6])]) == 20
    assert ct2.shared_prefix([_unit(head + [1]), _unit(head)]) == 19  # the shorter input keeps its last token
    assert ct2.shared_prefix([_unit(head[:10] + [1]), _unit(head[:10] + [2])]) == 0  # under MIN_PREFIX
    assert ct2.shared_prefix([_unit(head + [1])]) == 0  # one input: nothing shared, nothing cached
    model = ct2.Ct2Model(None, None, "m", Path("."), "float32", 1)
    prompts = [[f"t{i}", "x"] for i in range(ct2.STATIC_PROMPTS + 1)]
    assert [ct2._static_prompt(model, p) for p in prompts] == prompts[:-1] + [[]]  # at most STATIC_PROMPTS cached
    assert ct2._static_prompt(model, prompts[0]) == prompts[0]  # a cached one is still used


def test_compute_type_and_engine_are_in_the_fingerprint(smollm2_folder):
    model = str(smollm2_folder)
    transformers = ChatSummarizer(model=model).fingerprint
    assert ChatSummarizer(model=model, engine="transformers").fingerprint == transformers  # the default, unchanged
    float32 = ChatSummarizer(model=model, engine="ctranslate2").fingerprint
    int8 = ChatSummarizer(model=model, engine="ctranslate2", compute_type="int8").fingerprint
    assert len({transformers, float32, int8}) == 3
    assert ChatSummarizer(model=model, engine="auto").fingerprint == float32  # installed: auto picks it


def test_a_missing_ctranslate2_is_one_line_naming_the_extra(smollm2_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # `import ctranslate2` now raises ImportError
    with pytest.raises(ValueError) as caught:
        ChatSummarizer(model=str(smollm2_folder), engine="ctranslate2")
    message = str(caught.value)
    assert "pip install 'evalkit[local]'" in message and "ctranslate2" in message and "\n" not in message
    # auto falls back to transformers, with transformers' fingerprint
    assert ChatSummarizer(model=str(smollm2_folder), engine="auto").fingerprint == \
        ChatSummarizer(model=str(smollm2_folder)).fingerprint


def test_seq2seq_gives_the_transformers_greedy_text(models, cache):
    """A tiny random T5 (tests/test_local.py's): an encoder-decoder through CTranslate2's Translator. (Not BART:
    ctranslate2 4.8's BART converter reads a config field transformers 5 no longer has.)"""
    requests = [Request(d, LengthTarget(words=12)) for d in DOCUMENTS]
    reference = _seq2seq(models["t5"], requests)
    fast = _seq2seq(models["t5"], requests, engine="ctranslate2")
    assert [s.text for s in fast] == [s.text for s in reference]
    assert [s.details["output_tokens"] for s in fast] == [s.details["output_tokens"] for s in reference]


def _seq2seq(folder: Path, requests: list[Request], **options) -> list:
    system = Seq2SeqSummarizer(model=str(folder), num_beams=1, **options)
    try:
        out = system.summarize(requests)
    finally:
        system.close()
    assert all(s.error is None for s in out), [s.error for s in out]
    return out
