"""Scoring texts that are not a run's summaries with evalkit metrics, cached as a run caches them.

Meta-evaluation scores annotated summaries (:mod:`evalkit.inputs.annotated`) with the same
metrics, signatures and score keys as a run, so a store shared with runs serves both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evalkit.core.errors import ConfigError, DataError
from evalkit.core.types import Candidate, Document
from evalkit.inputs.annotated import Item
from evalkit.run.registry import build_metric
from evalkit.run.store import Store, score_key


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
            keys = [score_key(metric.signature, c) for c in candidates]
            results = db.get_scores(keys)
            todo = {k: c for k, c in zip(keys, candidates) if k not in results}
            if todo:
                computed = metric.score(list(todo.values()))
                db.put_scores([(k, metric.signature, r) for k, r in zip(todo, computed)])
                results.update(zip(todo, computed))
            metric.close()
            for name in metric.names:
                if name in out:
                    raise ConfigError(f"two metrics produce {name!r}; keep one of them")
                out[name] = [results[k].values.get(name) for k in keys]
    return out
