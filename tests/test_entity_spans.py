"""Entity spans never cross a line break, bullet or sentence end; benign entities are not unsupported.

The two false alarms are the ones quoted in issue 26 ("LeBron James\\n- Finished", "Francis I. The").
Whether the small spaCy model joins those words on a given day depends on the model version, so the
metric-level cases give the metric that NER output directly (its NER results are kept by text) and
check what the user sees: the unsupported list and the precision, counted by hand in the comments.
"""

from __future__ import annotations

import pytest

pytest.importorskip("spacy")

from evalkit.core.errors import ConfigError
from evalkit.core.types import Candidate, Document
from evalkit.metrics.entities import EntityOverlap
from evalkit.metrics.entities.spans import cut_span
from evalkit.run.registry import build_metric


def _usually_lowercase(word: str) -> bool:
    return word.lower() in {"finished", "scored"}


@pytest.mark.parametrize(("span", "pieces"), [
    ("LeBron James\n- Finished", ["LeBron James"]),  # line break and bullet; "Finished" only opens the line
    ("Francis I. The", ["Francis I."]),  # a sentence end before the function word "The"
    ("Manchester United\n\n2. Arsenal", ["Manchester United", "Arsenal"]),  # a numbered bullet
    ("Smith. He", ["Smith."]),
    ("George W. Bush", ["George W. Bush"]),  # an initial is not a sentence end
    ("U.S. President Barack Obama", ["U.S. President Barack Obama"]),
    ("LeBron James", ["LeBron James"]),
])
def test_a_span_is_cut_at_line_breaks_bullets_and_sentence_ends(span, pieces):
    assert cut_span(span, _usually_lowercase) == pieces


@pytest.fixture(scope="module")
def metric() -> EntityOverlap:
    try:
        metric = EntityOverlap()  # with the casing lexicon (the default), which knows "Finished" is a common word
        _ = metric.nlp  # load now: skip the module cleanly when the model is missing
    except RuntimeError as exc:
        pytest.skip(str(exc))
    return metric


SOURCE = "LeBron James scored 30 points as the Lakers beat Boston. Francis I ruled France."
SUMMARY = "Top scorer: LeBron James\n- Finished with 30 points\nThe king was Francis I. The Lakers won."


def test_the_two_quoted_false_alarms_no_longer_appear(metric):
    # What the NER model produced on a bad day: spans across the bullet and the sentence end.
    own = metric.variant()
    own._ner = {SOURCE: (("LeBron James", "PERSON"), ("Lakers", "ORG"), ("Boston", "GPE"),
                         ("Francis I", "PERSON"), ("France", "GPE")),
                SUMMARY: (("LeBron James\n- Finished", "PERSON"), ("Francis I. The", "PERSON"), ("Lakers", "ORG"))}
    [result] = own.score([Candidate(Document(id="d", text=SOURCE), SUMMARY)])
    # Entities: LeBron James, Francis I., Lakers: all three in the source.
    assert result.info["unsupported_entities"] == []
    assert result.values["entity_count"] == 3
    assert result.values["entity_precision_source"] == 1.0


def test_a_real_unsupported_entity_is_still_caught(metric):
    source = Document(id="d", text="The mayor of Leeds opened the new library on Monday.")
    [result] = metric.score([Candidate(source, "The mayor of Leeds opened the library.\n- Barack Obama attended.")])
    # Leeds is in the source, Barack Obama is not: 1 of 2 supported.
    assert result.info["unsupported_entities"] == ["Barack Obama"]
    assert result.values["entity_precision_source"] == 0.5


def test_benign_entities_are_not_counted_as_unsupported(metric, tmp_path):
    source = Document(id="d", text="The mayor of Leeds opened the new library on Monday.")
    summary = "The mayor of Leeds opened a library, the BBC reported. Barack Obama attended."
    plain = metric.variant()
    listed = metric.variant(benign=["BBC"])
    listing = tmp_path / "benign.txt"
    listing.write_text("# world knowledge annotators accept\nBBC\n", encoding="utf-8")
    from_file = metric.variant(benign=str(listing))
    [before] = plain.score([Candidate(source, summary)])
    [after] = listed.score([Candidate(source, summary)])
    [after_file] = from_file.score([Candidate(source, summary)])
    # Leeds, BBC, Barack Obama: without the list 1 of 3 supported; with BBC benign 2 of 3.
    assert sorted(before.info["unsupported_entities"]) == ["BBC", "Barack Obama"]
    assert after.info["unsupported_entities"] == ["Barack Obama"]
    assert after.info["benign_entities"] == ["BBC"]
    assert after.values["entity_precision_source"] == pytest.approx(2 / 3)
    assert after_file.values == after.values
    assert listed.signature != plain.signature


def test_a_missing_benign_file_is_one_line_that_says_what_to_give():
    with pytest.raises(ConfigError, match="benign: no file") as caught:
        build_metric({"kind": "entities", "benign": "/nonexistent/benign.txt"})
    assert "\n" not in str(caught.value)


def test_a_coordinated_name_is_supported_when_each_name_is(metric):
    # NER reads "the Olympics and Paralympics" as one span; the source names both, apart.
    source = "Funding for the Olympics was cut. The Paralympics kept theirs."
    both = "Funding for the Olympics and Paralympics was cut."
    one_invented = "Funding for the Olympics and Commonwealth Games was cut."
    own = metric.variant()
    own._ner = {source: (("Olympics", "EVENT"), ("Paralympics", "EVENT")),
                both: (("the Olympics and Paralympics", "EVENT"),),
                one_invented: (("the Olympics and Commonwealth Games", "EVENT"),)}
    document = Document(id="d", text=source)
    [joined, invented] = own.score([Candidate(document, both), Candidate(document, one_invented)])
    # Olympics and Paralympics are both in the source: 1 of 1 supported.
    assert joined.values["entity_precision_source"] == 1.0
    # Commonwealth Games is not: the joined name is unsupported, 0 of 1.
    assert invented.info["unsupported_entities"] == ["the Olympics and Commonwealth Games"]
    assert invented.values["entity_precision_source"] == 0.0


@pytest.mark.parametrize(("key", "parts"), [
    (("olympics", "and", "paralympics"), [("olympics",), ("paralympics",)]),
    (("council", "or", "police"), [("council",), ("police",)]),
    (("and", "co"), [("and", "co")]),  # a conjunction at an end joins nothing
    (("marks", "and", "and", "spencer"), [("marks", "and", "and", "spencer")]),
    (("leeds",), [("leeds",)]),
])
def test_conjuncts_of_a_key(key, parts):
    from evalkit.metrics.entities.matching import conjuncts

    assert conjuncts(key) == parts
