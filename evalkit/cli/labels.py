"""``evalkit labels export|import|status``: human labels in and out of a run store (JSONL, Label Studio).

Labels are given in ``evalkit view`` (``/annotate/RUN``) and kept in the run's store
(:mod:`evalkit.run.labels`). ``export`` writes the labels that concern a run as JSONL (one label
per line) or as Label Studio tasks (:mod:`evalkit.inputs.labelstudio`); ``import`` reads either
back into a store (an upsert: importing twice changes nothing); ``status`` counts them and says
which are stale or for summaries the run no longer has.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from evalkit.core.errors import DataError
from evalkit.inputs.labelstudio import from_tasks, label_config, to_tasks
from evalkit.run.labels import (
    Label,
    LabelStore,
    label_status,
    read_jsonl,
    run_items,
    run_store,
    write_jsonl,
)
from evalkit.run.record import Run
from evalkit.run.store import Store

log = logging.getLogger(__name__)
FORMATS = ("auto", "jsonl", "label-studio")


def add_commands(subparsers: Any) -> None:
    """``evalkit labels ...`` (see the module docstring)."""
    parser = subparsers.add_parser("labels", help="export, import or check human labels (JSONL, Label Studio)")
    sub = parser.add_subparsers(dest="labels_command", required=True)
    export = sub.add_parser("export", help="write the labels that concern a run")
    export.add_argument("run", help="a run folder (runs/<name>-<time>) or runs/ for the latest")
    export.add_argument("--to", required=True, help="output file (.jsonl, or .json for Label Studio)")
    export.add_argument("--format", choices=FORMATS, default="auto", help="default: from the file name")
    export.add_argument("--store", help="the store (default: the run's own store)")
    export.add_argument("--all", action="store_true", help="every label in the store, not only this run's")
    export.set_defaults(func=cmd_export)
    imports = sub.add_parser("import", help="read labels (JSONL or a Label Studio export) into a store")
    imports.add_argument("file")
    imports.add_argument("--store", required=True, help="the store to add them to (created if missing)")
    imports.add_argument("--format", choices=FORMATS, default="auto")
    imports.set_defaults(func=cmd_import)
    status = sub.add_parser("status", help="count a run's labels: current, stale, for summaries it no longer has")
    status.add_argument("run")
    status.add_argument("--store")
    status.set_defaults(func=cmd_status)


def _format(path: str, given: str) -> str:
    if given != "auto":
        return given
    return "jsonl" if path.endswith((".jsonl", ".ndjson")) else "label-studio"


def cmd_export(args: Any) -> int:
    run = Run.load(args.run)
    with Store(args.store or run_store(run)) as store:
        labels = LabelStore(store).all()
        rubrics = LabelStore(store).rubrics()
    if not args.all:
        status = label_status(run, labels)
        labels = [*status.current, *status.stale, *status.missing]
    if _format(args.to, args.format) == "jsonl":
        count = write_jsonl(labels, args.to)
    else:
        texts = {i.summary_hash: i.text for i in run_items(run)}
        tasks = to_tasks([label.to_dict() for label in sorted(labels, key=lambda lab: (lab.created, lab.key))], texts)
        Path(args.to).write_text(json.dumps(tasks, indent=1, ensure_ascii=False), encoding="utf-8")
        count = len(labels)
        versions = {label.rubric_version for label in labels}
        for version in sorted(versions & set(rubrics)):  # the matching labelling config, for a Label Studio project
            config = Path(args.to).with_name(f"{Path(args.to).stem}.config-{version}.xml")
            config.write_text(label_config(rubrics[version]), encoding="utf-8")
    print(f"wrote {count} label(s) of run {run.run_id} to {args.to}")
    return 0


def cmd_import(args: Any) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise DataError(f"no such labels file: {path}; give a .jsonl export or a Label Studio JSON export")
    if _format(args.file, args.format) == "jsonl":
        labels = read_jsonl(path)
    else:
        try:
            tasks = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not JSON ({exc}); a Label Studio export is a JSON list of tasks") from exc
        labels = [Label.from_dict(record) for record in from_tasks(tasks)]
    with Store(args.store) as store:
        written = LabelStore(store).put(labels, keep_times=True)
    print(f"imported {written} label(s) from {path} into {args.store}")
    return 0


def cmd_status(args: Any) -> int:
    run = Run.load(args.run)
    with Store(args.store or run_store(run)) as store:
        labels = LabelStore(store).all()
    status = label_status(run, labels)
    annotators = sorted({label.annotator for label in status.current})
    print(f"run {run.run_id}: {len(status.current)} current label(s) by {len(annotators)} annotator(s), "
          f"{len(status.stale)} stale, {len(status.missing)} for summaries it no longer has")
    for line in status.messages(run.run_id):
        print(line)
    return 0
