"""Labels to and from Label Studio's JSON tasks (pure functions on label records).

Label Studio (https://labelstud.io/guide/export#Label-Studio-JSON-format-of-annotated-tasks)
exports a list of tasks, each ``{"id", "data": {...}, "annotations": [{"result": [...]}]}``;
every result names its control (``from_name``), the object it labels (``to_name``), its
``type`` and ``value``. An evalkit label (a record of :meth:`evalkit.run.labels.Label.to_dict`)
becomes one annotation of the task of its (document, summary, rubric version, kind):

- a yes/no answer: ``choices`` with ``["yes"]`` or ``["no"]``;
- a scale answer: ``rating`` with ``{"rating": n}``;
- a comment: ``textarea`` with ``{"text": [comment]}``;
- each unsupported span: ``labels`` with ``{"start", "end", "text", "labels": ["Unsupported"]}``;
- a pairwise preference: ``choices`` with the preferred summary's hash (or ``tie``).

The annotator, the label's kind and its times travel in the annotation's ``evalkit`` object, so
an export imports back to the same labels. The matching labelling config is :func:`label_config`.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from evalkit.core.errors import DataError
from evalkit.inputs.human_rubric import HumanRubric

SPAN_LABEL = "Unsupported"
TO_NAME = "summary"


def to_tasks(records: Iterable[Mapping[str, Any]], texts: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Label records -> Label Studio tasks (one task per summary, rubric version and kind; one annotation per label).

    ``texts``: summary hash -> text, put into each task's ``data.text`` (pairwise: ``text_a``/``text_b``).
    """
    texts = texts or {}
    tasks: dict[tuple, dict[str, Any]] = {}
    for record in records:
        key = (record["document_hash"], record["summary_hash"], record["rubric_version"], record["kind"])
        task = tasks.get(key)
        if task is None:
            hashes = str(record["summary_hash"]).split("+")
            data = {"document_hash": record["document_hash"], "summary_hash": record["summary_hash"],
                    "rubric_version": record["rubric_version"], "kind": record["kind"],
                    "document_id": record.get("document_id", ""), "run_id": record.get("run_id", "")}
            if record["kind"] == "pairwise":
                data.update(text_a=texts.get(hashes[0], ""), text_b=texts.get(hashes[-1], ""))
            else:
                data["text"] = texts.get(hashes[0], "")
            task = tasks[key] = {"id": len(tasks) + 1, "data": data, "annotations": []}
        task["annotations"].append({
            "id": sum(len(t["annotations"]) for t in tasks.values()) + 1,
            "result": _results(record),
            "created_at": _iso(record.get("created", 0.0)),
            "updated_at": _iso(record.get("updated", 0.0)),
            "evalkit": {"annotator": record["annotator"], "systems": list(record.get("systems", ())),
                        "created": record.get("created", 0.0), "updated": record.get("updated", 0.0)},
        })
    return list(tasks.values())


def _results(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, answer in record["answers"].items():
        base = {"from_name": name, "to_name": TO_NAME}
        if record["kind"] == "pairwise":
            out.append({**base, "type": "choices", "value": {"choices": [str(answer)]}})
        elif isinstance(answer, bool):
            out.append({**base, "type": "choices", "value": {"choices": ["yes" if answer else "no"]}})
        elif isinstance(answer, int):
            out.append({**base, "type": "rating", "value": {"rating": answer}})
        elif isinstance(answer, str):
            out.append({**base, "type": "textarea", "value": {"text": [answer]}})
        elif isinstance(answer, list):
            out.extend({**base, "type": "labels", "value": {"start": s["start"], "end": s["end"], "text": s["text"],
                                                            "labels": [SPAN_LABEL]}} for s in answer)
            if not answer:
                out.append({**base, "type": "labels", "value": {"start": 0, "end": 0, "text": "", "labels": []}})
        else:
            raise DataError(f"label answer {name!r}: cannot export a {type(answer).__name__} to Label Studio")
    return out


def from_tasks(tasks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Label Studio tasks (as :func:`to_tasks` writes them) -> label records; a bad task is a one-line DataError."""
    if not isinstance(tasks, list):
        raise DataError("a Label Studio export is a JSON list of tasks")
    records = []
    for number, task in enumerate(tasks, start=1):
        try:
            data = task["data"]
            for annotation in task.get("annotations", []):
                meta = annotation.get("evalkit") or {}
                annotator = meta.get("annotator") or str(annotation.get("completed_by", "")) or "label-studio"
                records.append({
                    "document_hash": data["document_hash"], "summary_hash": data["summary_hash"],
                    "rubric_version": data["rubric_version"], "annotator": annotator, "kind": data["kind"],
                    "answers": _answers(annotation.get("result", []), data["kind"]), "run_id": data.get("run_id", ""),
                    "document_id": data.get("document_id", ""), "systems": list(meta.get("systems", [])),
                    "created": float(meta.get("created", 0.0)), "updated": float(meta.get("updated", 0.0)),
                })
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(f"Label Studio task {number}: not an evalkit export ({type(exc).__name__}: {exc}); "
                            "tasks need data.document_hash, summary_hash, rubric_version and kind") from exc
    return records


def _answers(results: Sequence[Mapping[str, Any]], kind: str) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for result in results:
        name, kind_of, value = result["from_name"], result["type"], result["value"]
        if kind_of == "choices":
            choice = value["choices"][0]
            answers[name] = choice if kind == "pairwise" else choice == "yes"
        elif kind_of == "rating":
            answers[name] = int(value["rating"])
        elif kind_of == "textarea":
            answers[name] = "\n".join(value["text"])
        elif kind_of == "labels":
            spans = answers.setdefault(name, [])
            if value.get("labels"):
                spans.append({"start": int(value["start"]), "end": int(value["end"]), "text": value["text"]})
        else:
            raise ValueError(f"result type {kind_of!r} is not one evalkit writes")
    return answers


def label_config(rubric: HumanRubric) -> str:
    """A Label Studio labelling config (XML) asking ``rubric``'s questions about ``$text``."""
    parts = ['<View>', f'  <Text name="{TO_NAME}" value="$text"/>']
    for q in rubric.questions:
        name, header = html.escape(q.name, quote=True), html.escape(q.shown, quote=True)
        parts.append(f'  <Header value="{header}"/>')
        if q.kind == "yesno":
            parts.append(f'  <Choices name="{name}" toName="{TO_NAME}" choice="single">'
                         '<Choice value="yes"/><Choice value="no"/></Choices>')
        elif q.kind == "scale":
            parts.append(f'  <Rating name="{name}" toName="{TO_NAME}" maxRating="{q.scale[1]}"/>')
        elif q.kind == "comment":
            parts.append(f'  <TextArea name="{name}" toName="{TO_NAME}"/>')
        else:
            parts.append(f'  <Labels name="{name}" toName="{TO_NAME}"><Label value="{SPAN_LABEL}"/></Labels>')
    return "\n".join([*parts, "</View>"]) + "\n"


def _iso(seconds: Any) -> str:
    return dt.datetime.fromtimestamp(float(seconds or 0.0), tz=dt.timezone.utc).isoformat()
