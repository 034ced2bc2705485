"""Annotated summaries: rows of FRANK or SummEval with human scores, read as :class:`Item` values.

FRANK's ``frank_benchmark.jsonl`` (``article``, ``summary``, ``model_name``,
``human{Factuality, ...}``, ``baseline_metrics{...}``) or SummEval's
``model_annotations.aligned(.paired).jsonl`` (``id``, ``model_id``, ``decoded``, ``text``,
``expert_annotations``/``turker_annotations`` averaged per aspect, ``metric_scores_1``).
:mod:`evalkit.report.metaeval` correlates them with metric values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.core.errors import DataError


@dataclass(frozen=True)
class Item:
    """One annotated summary."""

    document_id: str
    system: str
    summary: str
    article: str = ""
    references: tuple[str, ...] = ()
    human: Mapping[str, float] = field(default_factory=dict)
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    """Precomputed metric values carried by the file."""


def _flat_numbers(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat_numbers(value, f"{name}_"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = None if math.isnan(value) else float(value)
        elif value is None:
            out[name] = None
    return out


def _mean_annotations(annotations: Sequence[Mapping[str, Any]], prefix: str) -> dict[str, float]:
    keys = sorted({k for a in annotations for k, v in a.items() if isinstance(v, (int, float))})
    return {f"{prefix}{k}": float(np.mean([a[k] for a in annotations if k in a])) for k in keys}


def load_items(path: str | Path, format: str = "auto") -> list[Item]:
    """Annotated summaries from a FRANK or SummEval JSONL file (``format``: auto, frank, summeval)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; give FRANK's frank_benchmark.jsonl or SummEval's "
                        "model_annotations.aligned.paired.jsonl")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}, line {number}: not JSON ({exc.msg}); meta-eval reads JSONL") from exc
    if not rows:
        raise DataError(f"{path}: no rows")
    if format == "auto":
        format = "frank" if "model_name" in rows[0] else "summeval" if "model_id" in rows[0] else "?"
    if format == "frank":
        return [_frank(row, path, n) for n, row in enumerate(rows, start=1)]
    if format == "summeval":
        return [_summeval(row, path, n) for n, row in enumerate(rows, start=1)]
    raise DataError(f"{path}: neither FRANK (model_name, human, baseline_metrics) nor SummEval (model_id, decoded, "
                    f"expert_annotations) rows; the first row has {sorted(rows[0])}. Pass --format frank|summeval")


def _need(row: Mapping[str, Any], keys: Sequence[str], path: Path, number: int, what: str) -> None:
    missing = [k for k in keys if k not in row]
    if missing:
        raise DataError(f"{path}, row {number}: a {what} row needs {missing}; it has {sorted(row)}")


def _frank(row: Mapping[str, Any], path: Path, number: int) -> Item:
    _need(row, ("hash", "model_name", "summary", "human"), path, number, "FRANK")
    return Item(document_id=f"{row.get('dataset', '')}:{row['hash']}", system=str(row["model_name"]),
                summary=row["summary"] or "", article=row.get("article") or "",
                references=(row["reference"],) if row.get("reference") else (),
                human=_flat_numbers(row["human"]), metrics=_flat_numbers(row.get("baseline_metrics") or {}))


def _summeval(row: Mapping[str, Any], path: Path, number: int) -> Item:
    _need(row, ("id", "model_id", "decoded"), path, number, "SummEval")
    human = {**_mean_annotations(row.get("expert_annotations") or [], "expert_"),
             **_mean_annotations(row.get("turker_annotations") or [], "turker_")}
    return Item(document_id=str(row["id"]), system=str(row["model_id"]), summary=row["decoded"] or "",
                article=row.get("text") or "", references=tuple(row.get("references") or ()), human=human,
                metrics=_flat_numbers(row.get("metric_scores_1") or row.get("metric_scores") or {}))
