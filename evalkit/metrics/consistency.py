"""Chunked factual consistency with today's sentence-level checkers: the ``consistency`` metric.

The scheme MiniCheck (Tang et al., EMNLP 2024), AlignScore (Zha et al., ACL 2023) and SummaC
(Laban et al., TACL 2022) share: split the article into chunks that fit the checker, split the
summary into sentences (claims, :func:`evalkit.core.text.sentences`), score every (chunk,
sentence) pair, keep each sentence's best-supporting chunk and aggregate over sentences:

- ``s_j = max_c score(chunk_c, sentence_j)``;
- ``consistency_mean = mean_j s_j``, ``consistency_min = min_j s_j`` (the least supported sentence).

**Chunks.** The article's sentences are packed, in order, into chunks of at most ``B`` tokens
(greedy: a sentence that would push a chunk past ``B`` starts the next one; a sentence longer than
``B`` is a chunk of its own), where ``B = min(chunk_tokens, max_length - claim tokens - the
format's own tokens)``: the checker's chunk size (MiniCheck: 400 tokens; AlignScore: 350;
Flan-T5 MiniCheck: 500), cut further so that chunk and claim fit the model's ``max_length``
(from the preset, and never above the tokenizer's ``model_max_length``). Token counts are the
tokenizer's, without special tokens. A pair that is still longer than ``max_length`` (a single
very long sentence) is cut by the tokenizer, article side first, and counted in
``info["truncated_pairs"]``.

**Presets** (``preset:``, :mod:`evalkit.metrics.consistency_models`): ``minicheck-roberta-large``
(default), ``minicheck-deberta-v3-large``, ``minicheck-flan-t5-large``, ``factcg-deberta``,
``alignscore-base``, ``alignscore-large``, ``mnli`` (any MNLI classifier: ``P(entail) -
P(contradict)`` as the ``nli`` metric scores it, so values are in [-1, 1]; the others are a
probability of "supported" in [0, 1]) and ``hhem`` (refused unless ``trust_remote_code: true``: it
runs code from the hub). ``model:`` replaces the preset's checkpoint (a hub id or a local folder)
and keeps its loading code, input format and label mapping.

**Cost.** Per document the sentences and their token counts are computed once and the chunks
once per token budget; each distinct (chunk, sentence) pair of a batch is scored once (systems
that share a sentence share its scores), in batches of ``batch_size``.

Values: ``{prefix}_mean``, ``{prefix}_min``. Info: ``sentence_support`` (each sentence's best
score), ``support_chunk`` (the index of its best chunk), ``chunks`` (how many the article has at
the largest budget used), ``least_supported`` and ``truncated_pairs`` when any was cut.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Annotated, Any

import numpy as np
from pydantic import Field, field_validator

from evalkit.core.errors import ConfigError
from evalkit.core.options import Flag, Options, Text, Whole, shown
from evalkit.core.text import sentences
from evalkit.core.types import Measure
from evalkit.metrics.base import Candidate, Metric, MetricResult
from evalkit.metrics.consistency_models import PRESETS, Loaded, load, preset
from evalkit.metrics.nli import _local_files_digest

log = logging.getLogger(__name__)

DEFAULT_PRESET = "minicheck-roberta-large"

Positive = Annotated[Whole, Field(ge=1)]

PairScorer = Callable[[Sequence[tuple[str, str]]], Sequence[float]]
"""Scores ``(chunk, claim)`` pairs: one support score each, in order."""


class ConsistencyOptions(Options):
    """Options of :class:`ChunkedConsistency`."""

    preset: Text = DEFAULT_PRESET
    """The checker: one of the presets (model id, loading code, input format, label mapping, chunk size)."""
    model: Text | None = None
    """Replace the preset's checkpoint with this hub id or local folder (same loading code and labels)."""
    revision: Text | None = None
    """A branch, tag or commit hash of the hub repository."""
    chunk_tokens: Positive | None = None
    """Tokens per article chunk (null: the preset's)."""
    max_length: Positive | None = None
    """Tokens per (chunk, claim) pair (null: the preset's, at most the tokenizer's model_max_length)."""
    batch_size: Positive = 16
    """Pairs per forward pass."""
    device: Text | None = None
    """``cpu``, ``cuda``... null picks the best available."""
    trust_remote_code: Flag = False
    """Allow a checker whose model code comes from the hub (hhem)."""
    labels: Mapping[str, Whole] | None = None
    """preset mnli: ``{entailment: <index>, contradiction: <index>}`` when the config does not name its labels."""
    prefix: Text = "consistency"
    """Names the values (``consistency_mean``), so two checkers can sit in one run."""

    @field_validator("preset")
    @classmethod
    def _preset(cls, name: str) -> str:
        preset(name)
        return name

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, labels: Any) -> Any:
        if labels is not None and (not isinstance(labels, Mapping) or set(labels) != {"entailment", "contradiction"}):
            raise ValueError(f"labels must be {{entailment: <index>, contradiction: <index>}}, got {shown(labels)}")
        return labels


def chunk_spans(lengths: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Consecutive sentences packed greedily into chunks of at most ``budget`` tokens: ``[(start, end), ...]``.

    A sentence that would take the chunk past ``budget`` starts the next chunk; one longer than
    ``budget`` on its own is a chunk by itself (the MiniCheck packing).
    """
    spans: list[tuple[int, int]] = []
    start, total = 0, 0
    for index, length in enumerate(lengths):
        if index > start and total + length > budget:
            spans.append((start, index))
            start, total = index, 0
        total += length
    if len(lengths) > start:
        spans.append((start, len(lengths)))
    return spans


def aggregate(per_sentence: Sequence[Sequence[float]]) -> tuple[float, float, list[int], list[float]]:
    """``(mean, min, best chunk index, best score)`` from each sentence's scores over its chunks.

    Max over chunks for each sentence, then the mean and the minimum over sentences.
    """
    if not per_sentence or any(len(scores) == 0 for scores in per_sentence):
        raise ValueError("aggregate needs at least one sentence, each with at least one chunk score")
    best_index = [int(np.argmax(scores)) for scores in per_sentence]
    best = [float(scores[i]) for scores, i in zip(per_sentence, best_index)]
    return float(np.mean(best)), float(np.min(best)), best_index, best


class ChunkedConsistency(Metric):
    """Max over article chunks, mean / min over summary sentences, of a checker's support (module docstring)."""

    kind = "consistency"
    version = "1"

    Options = ConsistencyOptions

    def __init__(self, *, pair_scorer: PairScorer | None = None, **options: Any) -> None:
        """Options: see :class:`ConsistencyOptions`. ``pair_scorer`` replaces the model's pair scores (tests)."""
        options = self.Options.parse(options, self.kind)
        chosen = PRESETS[options.preset]
        if options.model is not None:
            chosen = replace(chosen, model=options.model)
        self.preset_name, self.preset = options.preset, chosen
        self.revision, self.device, self.batch_size = options.revision, options.device, options.batch_size
        self.chunk_tokens = options.chunk_tokens or chosen.chunk_tokens
        self.max_length = options.max_length
        self.trust_remote_code = options.trust_remote_code
        self.labels = dict(options.labels) if options.labels is not None else None
        self.prefix = options.prefix
        if chosen.architecture == "remote-code" and not self.trust_remote_code:
            raise ConfigError(f"consistency: preset {options.preset!r} ({chosen.model}) runs model code "
                              "downloaded from the hub; set trust_remote_code: true if you trust that repository")
        self._pair_scorer = pair_scorer
        self._loaded: Loaded | None = None
        self._documents: dict[str, tuple[list[str], list[int]]] = {}
        self._chunks: dict[tuple[str, int], list[str]] = {}
        self._overhead: int | None = None

    # -- identity -----------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        from importlib import metadata

        p = self.preset
        return {"preset": self.preset_name, "model": p.model, "model_files": _local_files_digest(p.model),
                "revision": self.revision, "architecture": p.architecture, "input_format": p.input_format,
                "support": p.support, "checkpoint": p.checkpoint, "backbone": p.backbone,
                "chunk_tokens": self.chunk_tokens, "max_length": self.max_length or p.max_length,
                "labels": self.labels, "aggregate": "max over chunks; mean, min over sentences",
                "transformers": metadata.version("transformers"), "prefix": self.prefix}

    @property
    def key(self) -> str:
        return self.prefix

    def measures(self) -> tuple[Measure, ...]:
        short = self.preset.model.rstrip("/").rsplit("/", 1)[-1]
        signed = self.preset.support == "entail-minus-contradict"
        scale, span = ("score", "[-1, 1]") if signed else ("fraction", "[0, 1]")
        return (
            Measure(f"{self.prefix}_mean", f"consistency ({self.preset_name})", scale, True,
                    description=f"mean over summary sentences of the best support over article chunks, {span} "
                                f"({short})", headline=True, tolerance=0.02, group="factuality"),
            Measure(f"{self.prefix}_min", f"consistency, least supported sentence ({self.preset_name})", scale, True,
                    description=f"min over summary sentences of the best support over article chunks ({short})",
                    tolerance=0.05, group="factuality"),
        )

    # -- model ----------------------------------------------------------------------------------
    def _load(self) -> Loaded:
        if self._loaded is None:
            self._loaded = load(self.preset, revision=self.revision, device=self.device,
                                trust_remote_code=self.trust_remote_code, labels=self.labels,
                                max_length=self.max_length)
        return self._loaded

    def _token_lengths(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(ids) for ids in self._load().tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def _format_overhead(self) -> int:
        """Tokens the input format adds around an empty chunk and claim (special tokens, ``predict:``)."""
        if self._overhead is None:
            loaded = self._load()
            self._overhead = 0 if loaded.preset.support == "predict" else loaded.lengths([("", "")])[0]
        return self._overhead

    def _pair_scores(self, pairs: Sequence[tuple[str, str]]) -> tuple[np.ndarray, list[bool]]:
        """Support score of each pair, and whether the tokenizer had to cut it, in batches."""
        if self._pair_scorer is not None:
            return np.asarray(self._pair_scorer(pairs), dtype=float), [False] * len(pairs)
        loaded = self._load()
        scores = np.zeros(len(pairs))
        for start in range(0, len(pairs), self.batch_size):
            scores[start:start + self.batch_size] = loaded.scores(pairs[start:start + self.batch_size])
        cut = [n > loaded.max_length for n in loaded.lengths(pairs)]
        return scores, cut

    # -- chunking ---------------------------------------------------------------------------------
    def budget(self, claim_tokens: int) -> int:
        """Tokens a chunk may have next to a claim of ``claim_tokens`` tokens (at least 1)."""
        room = self._load().max_length - claim_tokens - self._format_overhead()
        return max(1, min(self.chunk_tokens, room))

    def chunks(self, article: str, budget: int) -> list[str]:
        """The article's chunks at a token budget (sentences and token counts computed once per document)."""
        key = hashlib.sha256(article.encode("utf-8")).hexdigest()
        if key not in self._documents:
            parts = sentences(article)
            self._documents[key] = (parts, self._token_lengths(parts))
        if (key, budget) not in self._chunks:
            parts, lengths = self._documents[key]
            self._chunks[(key, budget)] = [" ".join(parts[a:b]) for a, b in chunk_spans(lengths, budget)]
        return self._chunks[(key, budget)]

    # -- scoring ----------------------------------------------------------------------------------
    def score(self, candidates: Sequence[Candidate]) -> list[MetricResult]:
        by_document: dict[str, list[int]] = {}
        for index, candidate in enumerate(candidates):
            by_document.setdefault(candidate.document.text, []).append(index)
        claims_of = [sentences(c.text) for c in candidates]
        plans: dict[str, dict[str, list[str]]] = {}  # article -> claim -> its chunks
        for article, indices in by_document.items():
            claims = list(dict.fromkeys(s for i in indices for s in claims_of[i]))
            budgets = [self.budget(n) for n in self._token_lengths(claims)] if claims and article.strip() else []
            plans[article] = {claim: self.chunks(article, b) for claim, b in zip(claims, budgets)}
        pairs = list(dict.fromkeys((chunk, claim) for plan in plans.values() for claim, chunks in plan.items()
                                   for chunk in chunks))
        scores, cut = self._pair_scores(pairs) if pairs else (np.zeros(0), [])
        table = {pair: (float(s), c) for pair, s, c in zip(pairs, scores, cut)}
        results = [self._result(claims_of[i], plans[c.document.text], table) for i, c in enumerate(candidates)]
        if len(self._chunks) > 4096:  # keep the per-document work of recent batches, not of the whole run
            self._documents.clear()
            self._chunks.clear()
        return results

    def _result(self, claims: list[str], plan: Mapping[str, list[str]],
                table: Mapping[tuple[str, str], tuple[float, bool]]) -> MetricResult:
        names = [m.name for m in self.measures()]
        if not claims or not plan or not all(plan.get(c) for c in claims):
            why = "the summary has no sentences" if not claims else "the article has no sentences"
            return MetricResult({n: None for n in names}, {n: why for n in names})
        per_sentence = [[table[(chunk, claim)][0] for chunk in plan[claim]] for claim in claims]
        mean, least, best_index, best = aggregate(per_sentence)
        if not (math.isfinite(mean) and math.isfinite(least)):
            raise RuntimeError(f"consistency: the checker {self.preset.model!r} produced non-finite scores")
        truncated = sum(table[(chunk, claim)][1] for claim in claims for chunk in plan[claim])
        info: dict[str, Any] = {"sentence_support": [round(v, 4) for v in best], "support_chunk": best_index,
                                "chunks": max(len(plan[c]) for c in claims),
                                "least_supported": claims[int(np.argmin(best))]}
        if truncated:
            info["truncated_pairs"] = int(truncated)
        return MetricResult({names[0]: mean, names[1]: least}, {}, info)

    def close(self) -> None:
        self._loaded = None
        self._documents.clear()
        self._chunks.clear()
