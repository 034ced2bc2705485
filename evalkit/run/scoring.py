"""Scoring texts that are not a run's summaries with evalkit metrics, cached as a run caches them.

Meta-evaluation scores annotated summaries (:mod:`evalkit.inputs.annotated`) with the same
metrics, signatures and score keys as a run, so a store shared with runs serves both; the step
before scoring that both share (every system's summary shown to the metric, then its signature)
is :func:`prepared_signature`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evalkit.core.errors import ConfigError, DataError
from evalkit.core.types import Candidate, Document
from evalkit.inputs.annotated import Item
from evalkit.metrics.base import Metric
from evalkit.run.registry import build_metric
from evalkit.run.store import Store, score_key


def prepared_signature(metric: Metric, summaries: Iterable[tuple[str, str, str]]) -> str:
    """Show ``metric`` every system's summary of each document (``(document_id, system, text)``; a later text of the
    same document and system replaces an earlier one) through :meth:`Metric.prepare_summaries`, then return its
    signature, which a pairwise judge's depends on: the step a run and meta-eval both take before scoring."""
    texts: dict[str, dict[str, str]] = {}
    for document_id, system, text in summaries:
        texts.setdefault(document_id, {})[system] = text
    metric.prepare_summaries(texts)
    return metric.signature


def score_items(items: Sequence[Item], specs: Sequence[Mapping[str, Any] | str],
                store: str | Path | None = None) -> dict[str, list[float | None]]:
    """Score the items' summaries with evalkit metrics; cached in ``store`` under a run's score keys."""
    if any(not item.article for item in items):
        raise DataError("meta-eval: scoring with evalkit metrics needs each row's article (SummEval: use the "
                        "paired file, model_annotations.aligned.paired.jsonl)")
    documents: dict[str, Document] = {}
    for item in items:
        documents.setdefault(item.document_id, Document(id=item.document_id, text=item.article,
                                                        references=item.references))
    candidates = [Candidate(documents[item.document_id], item.summary) for item in items]
    out: dict[str, list[float | None]] = {}
    with Store(store if store is not None else ":memory:") as db:
        for spec in specs:
            metric = build_metric(spec)
            metric.attach_cache(db)
            metric.prepare(list(documents.values()))
            signature = prepared_signature(metric, ((i.document_id, i.system, i.summary) for i in items))
            keys = [score_key(signature, c) for c in candidates]
            results = db.get_scores(keys)
            todo = {k: c for k, c in zip(keys, candidates) if k not in results}
            if todo:
                computed = metric.score(list(todo.values()))
                # as a run does: a result marked incomplete (a judge request failed transiently) is not kept
                db.put_scores([(k, signature, r) for k, r in zip(todo, computed) if not r.info.get("incomplete")])
                results.update(zip(todo, computed))
            metric.close()
            for name in metric.names:
                if name in out:
                    raise ConfigError(f"two metrics produce {name!r}; keep one of them")
                out[name] = [results[k].values.get(name) for k in keys]
    return out
