"""NLI factual consistency, SummaC-ZS style: is each summary sentence entailed by some article sentence?

Laban, Schnabel, Bennett & Hearst (TACL 2022), "SummaC: Re-Visiting NLI-based Models for
Inconsistency Detection in Summarization", zero-shot variant: split the article (premises)
and the summary (hypotheses) into sentences (:func:`evalkit.core.text.sentences`), score every
pair with an NLI classifier, take for each summary sentence ``j`` the best support over article
sentences ``s_j = max_i (P(entail | i, j) - P(contradict | i, j))``, and aggregate over summary
sentences. Values, each in its own range:

- ``nli_consistency_mean`` = mean_j s_j (SummaC-ZS; in [-1, 1]);
- ``nli_consistency_min`` = min_j s_j: the least supported sentence, the one to read;
- ``nli_entailment_mean`` = mean_j max_i P(entail | i, j), in [0, 1].

Any Hugging Face sequence-classification NLI model works; which output is "entailment" and which
"contradiction" is read from the model config's ``id2label`` (a label starting with ``entail`` /
``contradict``), or given with ``labels: {entailment: 0, contradiction: 2}``. The default,
``MoritzLaurer/DeBERTa-v3-large-mnli-fever-anli-ling-wanli``, needs a network once (or a local
copy given as ``model``); a smaller one is ``MoritzLaurer/DeBERTa-v3-base-mnli-fever-anli``.
(``vectara/hallucination_evaluation_model`` is not a plain classifier: it needs remote code.)

Work is done once where it can be: the article's sentences and their token lengths once per
document, each distinct (article sentence, summary sentence) pair once per batch (systems that
share a sentence share its scores), pairs in batches of ``batch_size``. Long articles are handled
explicitly: every article sentence is a premise (a pair longer than ``max_length`` tokens is cut
by the tokenizer and counted in ``info["truncated_pairs"]``), and ``max_article_sentences`` caps
the premises, the rest counted in ``info["premises_dropped"]``.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, field_validator

from evalkit.core.errors import ConfigError, ModelLoadError
from evalkit.core.options import Options, Text, Whole, shown
from evalkit.metrics.base import Candidate, Metric, MetricResult
from evalkit.core.text import sentences
from evalkit.core.types import Measure

log = logging.getLogger(__name__)

DEFAULT_MODEL = "MoritzLaurer/DeBERTa-v3-large-mnli-fever-anli-ling-wanli"


Positive = Annotated[Whole, Field(ge=1)]


class NLIOptions(Options):
    """Options of :class:`NLIConsistency`."""

    model: Text = DEFAULT_MODEL
    """An NLI model on the hub (or a local folder) with entailment and contradiction labels."""
    revision: Text | None = None
    """A branch, tag or commit hash of the hub repository."""
    batch_size: Positive = 16
    """Premise-hypothesis pairs per forward pass."""
    max_length: Positive = 512
    """Tokens per pair; a longer premise is cut."""
    max_article_sentences: Positive | None = None
    """Compare each summary sentence with only this many article sentences (null: all)."""
    device: Text | None = None
    """``cpu``, ``cuda``... null picks the best available."""
    labels: Mapping[str, Whole] | None = None
    """``{entailment: <index>, contradiction: <index>}`` when the model's config does not name its labels."""
    prefix: Text = "nli"
    """Names the values (``nli_consistency``), so two NLI metrics can sit in one run."""

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, labels: Any) -> Any:
        if labels is not None and (not isinstance(labels, Mapping) or set(labels) != {"entailment", "contradiction"}):
            raise ValueError(f"labels must be {{entailment: <index>, contradiction: <index>}}, got {shown(labels)}")
        return labels


class NLIConsistency(Metric):
    """SummaC-ZS sentence-level NLI consistency of a summary with its article (see the module docstring)."""

    kind = "nli"
    version = "1"

    Options = NLIOptions

    def __init__(self, **options: Any) -> None:
        """Options: see :class:`NLIOptions`."""
        options = self.Options.parse(options, self.kind)
        self.model, self.revision, self.device = str(options.model), options.revision, options.device
        self.batch_size, self.max_length = options.batch_size, options.max_length
        self.max_article_sentences = options.max_article_sentences
        self.labels = dict(options.labels) if options.labels is not None else None
        self.prefix = options.prefix
        self._loaded: tuple[Any, Any, str, int, int] | None = None
        self._premises: dict[str, tuple[list[str], list[int], int]] = {}

    # -- identity -----------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        from importlib import metadata

        return {"model": self.model, "model_files": _local_files_digest(self.model), "revision": self.revision,
                "max_length": self.max_length, "max_article_sentences": self.max_article_sentences,
                "labels": self.labels, "score": "max_i(P(entail)-P(contradict)), sentence level",
                "transformers": metadata.version("transformers"), "prefix": self.prefix}

    @property
    def key(self) -> str:
        return self.prefix

    def measures(self) -> tuple[Measure, ...]:
        short = self.model.rsplit("/", 1)[-1]
        return (
            Measure(f"{self.prefix}_consistency_mean", "NLI consistency (SummaC-ZS)", "score", True,
                    description=f"mean over summary sentences of max over article sentences of P(entail) - "
                                f"P(contradict), in [-1, 1] ({short})", headline=True, tolerance=0.02, group="factuality"),
            Measure(f"{self.prefix}_consistency_min", "NLI consistency, least supported sentence", "score", True,
                    description=f"min over summary sentences of the same, in [-1, 1] ({short})", tolerance=0.05,
                    group="factuality"),
            Measure(f"{self.prefix}_entailment_mean", "NLI entailment", "fraction", True,
                    description=f"mean over summary sentences of max over article sentences of P(entail) ({short})",
                    tolerance=0.02, group="factuality"),
        )

    # -- model --------------------------------------------------------------------------------
    def _load(self) -> tuple[Any, Any, str, int, int]:
        if self._loaded is not None:
            return self._loaded
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model, revision=self.revision)
            model = AutoModelForSequenceClassification.from_pretrained(self.model, revision=self.revision)
        except OSError as exc:
            raise ModelLoadError(f"nli: cannot load the model {self.model!r} ({type(exc).__name__}: {exc}); give a "
                                 "local directory as model, or connect once to download it from the hub") from exc
        entail, contra = self._label_indices(model.config)
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device).eval()
        self._loaded = (tokenizer, model, device, entail, contra)
        return self._loaded

    def _label_indices(self, config: Any) -> tuple[int, int]:
        return label_indices(config, self.labels, self.model, what="nli")

    def _pair_probs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """``[P(entail), P(contradict)]`` for each ``(premise, hypothesis)``, in batches."""
        import torch

        tokenizer, model, device, entail, contra = self._load()
        out = np.zeros((len(pairs), 2))
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start:start + self.batch_size]
            encoded = tokenizer([p for p, _ in chunk], [h for _, h in chunk], truncation="longest_first",
                                max_length=self.max_length, padding=True, return_tensors="pt").to(device)
            with torch.no_grad():
                probs = torch.softmax(model(**encoded).logits.float(), dim=-1).cpu().numpy()
            out[start:start + len(chunk)] = probs[:, [entail, contra]]
        return out

    # -- scoring --------------------------------------------------------------------------------------
    def _document(self, text: str) -> tuple[list[str], list[int], int]:
        """Premises, their token lengths and how many were dropped: once per document."""
        key = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if key not in self._premises:
            premises = sentences(text)
            kept = premises[:self.max_article_sentences] if self.max_article_sentences else premises
            tokenizer = self._load()[0]
            lengths = [len(ids) for ids in tokenizer(kept, add_special_tokens=False)["input_ids"]] if kept else []
            self._premises[key] = (kept, lengths, len(premises) - len(kept))
        return self._premises[key]

    def score(self, candidates: Sequence[Candidate]) -> list[MetricResult]:
        by_document: dict[str, list[int]] = {}
        for index, candidate in enumerate(candidates):
            by_document.setdefault(candidate.document.text, []).append(index)
        results: list[MetricResult | None] = [None] * len(candidates)
        for article, indices in by_document.items():
            premises, lengths, dropped = self._document(article)
            hypotheses = list(dict.fromkeys(s for i in indices for s in sentences(candidates[i].text)))
            table: dict[str, np.ndarray] = {}
            if premises and hypotheses:
                pairs = [(p, h) for h in hypotheses for p in premises]
                probs = self._pair_probs(pairs).reshape(len(hypotheses), len(premises), 2)
                table = dict(zip(hypotheses, probs))
            hyp_lengths = self._hypothesis_lengths(hypotheses)
            for i in indices:
                results[i] = self._result(sentences(candidates[i].text), premises, lengths, dropped, table,
                                          hyp_lengths)
        self._premises.clear()  # one batch's documents; the next batch has others
        return results  # type: ignore[return-value]

    def _hypothesis_lengths(self, hypotheses: list[str]) -> dict[str, int]:
        if not hypotheses:
            return {}
        ids = self._load()[0](hypotheses, add_special_tokens=False)["input_ids"]
        return {h: len(i) for h, i in zip(hypotheses, ids)}

    def _result(self, summary: list[str], premises: list[str], lengths: list[int], dropped: int,
                table: Mapping[str, np.ndarray], hyp_lengths: Mapping[str, int]) -> MetricResult:
        names = [m.name for m in self.measures()]
        if not summary or not premises:
            why = "the summary has no sentences" if not summary else "the article has no sentences"
            return MetricResult({n: None for n in names}, {n: why for n in names})
        support = np.stack([table[s][:, 0] - table[s][:, 1] for s in summary])  # (summary, article)
        entail = np.stack([table[s][:, 0] for s in summary])
        best = support.max(axis=1)
        values = {names[0]: float(best.mean()), names[1]: float(best.min()),
                  names[2]: float(entail.max(axis=1).mean())}
        special = 4  # [CLS] a [SEP] [SEP] b [SEP] at most: a conservative count
        truncated = sum(p + hyp_lengths[s] + special > self.max_length for s in summary for p in lengths)
        weakest = int(best.argmin())
        info = {"sentence_support": [round(float(v), 4) for v in best],
                "support_sentence": [int(i) for i in support.argmax(axis=1)],
                "least_supported": summary[weakest], "premises": len(premises)}
        notes = {}
        if truncated:
            info["truncated_pairs"] = int(truncated)
        if dropped:
            info["premises_dropped"] = dropped
            notes = {n: f"only the first {len(premises)} article sentences were premises ({dropped} left out)"
                     for n in names}
        if not all(math.isfinite(v) for v in values.values()):
            raise RuntimeError(f"nli: the model {self.model!r} produced non-finite probabilities")
        return MetricResult(values, notes, info)

    def close(self) -> None:
        self._loaded = None
        self._premises.clear()


def label_indices(config: Any, labels: Mapping[str, int] | None, model: str, *, what: str) -> tuple[int, int]:
    """``(entailment index, contradiction index)`` of an NLI classifier: from ``labels`` or the config's ``id2label``."""
    names = {int(i): str(name).lower() for i, name in (config.id2label or {}).items()}
    if labels is not None:
        indices = (labels["entailment"], labels["contradiction"])
        if any(i not in names for i in indices):
            raise ConfigError(f"{what}: labels {dict(labels)} point outside the model's outputs {sorted(names)}")
        return indices
    entail = [i for i, n in names.items() if n.startswith("entail")]
    contra = [i for i, n in names.items() if n.startswith("contradict")]
    if len(entail) != 1 or len(contra) != 1:
        raise ConfigError(f"{what}: the labels of {model!r} ({names}) do not name one entailment and one "
                          "contradiction class; give them as labels: {entailment: <index>, contradiction: <index>}")
    return entail[0], contra[0]


def _local_files_digest(model: str) -> str | None:
    """For a local model folder, a digest of its files' names and sizes (the hub id says enough otherwise)."""
    path = Path(model)
    if not path.is_dir():
        return None
    listing = sorted((p.name, p.stat().st_size) for p in path.iterdir() if p.is_file())
    config = path / "config.json"
    text = config.read_text(encoding="utf-8") if config.exists() else ""
    return hashlib.sha256(repr((listing, text)).encode("utf-8")).hexdigest()[:16]
