"""The entities metric's NER pipeline: only what NER needs, and the same entities in one process or several."""

from __future__ import annotations

import itertools
import json

import pytest

pytest.importorskip("spacy")

from evalkit.metrics.entities.ner import (  # noqa: E402
    AUTO_PROCESS_WORDS,
    DEFAULT_MODEL,
    load_pipeline,
    processes,
    run_pipeline,
)


@pytest.fixture(scope="module")
def nlp():
    try:
        return load_pipeline(DEFAULT_MODEL)
    except RuntimeError as exc:
        pytest.skip(str(exc))


def test_only_ner_runs(nlp):
    # en_core_web_sm's ner has its own tok2vec layer, so nothing else is needed.
    assert nlp.pipe_names == ["ner"]


def test_several_processes_find_the_same_entities_on_real_articles(nlp, cnndm_path):
    with cnndm_path.open(encoding="utf-8") as handle:
        texts = [json.loads(line)["article"] for line in itertools.islice(handle, 50)]
    single = run_pipeline(nlp, texts, batch_size=8, n_process=1)
    multi = run_pipeline(nlp, texts, batch_size=8, n_process=2)
    assert len(single) == 50
    assert sum(len(ents) for ents in single) > 50 * 10  # news articles name many people and places
    assert multi == single


def test_auto_processes_only_for_enough_text():
    short = ["Obama spoke in Berlin."] * 10  # about 40 words: starting workers would not pay
    assert processes("auto", short) == 1
    assert processes(3, short) == 3  # a number is taken as given
    long = ["word " * 1000] * (AUTO_PROCESS_WORDS // 1000 * 2)  # twice the threshold, in words
    assert 1 <= processes("auto", long) <= 4
