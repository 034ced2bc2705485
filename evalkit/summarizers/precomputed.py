"""Summaries that already exist: a system's outputs read from a file, scored like any strategy.

Researchers often have outputs from a model run elsewhere (a paper's released outputs, a
benchmark such as FRANK, a colleague's GPU job). ``kind: precomputed`` reads them from a
JSONL, CSV or Parquet file with a document-id column and a summary column, optionally
filtered to one system. The fingerprint covers the file's content, so editing the file
re-scores it. A document with no output in the file becomes a failed summary that says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import model_validator

from evalkit.core.errors import DataError
from evalkit.core.options import Options, Text
from evalkit.core.types import Summary
from evalkit.summarizers.base import Request, Sink, Summarizer


class PrecomputedOptions(Options):
    """Options of :class:`Precomputed`."""

    path: Path
    """The file of system outputs (JSONL, CSV or Parquet), e.g. path: outputs.jsonl."""
    id_column: Text = "document_id"
    """The column that holds the document id."""
    summary_column: Text = "summary"
    """The column that holds the summary."""
    system_column: Text | None = None
    """With ``system``: the column that names the system of each row."""
    system: Text | None = None
    """With ``system_column``: the system whose rows to read."""

    @model_validator(mode="after")
    def _both_or_neither(self) -> PrecomputedOptions:
        if (self.system_column is None) != (self.system is None):
            raise ValueError("give both system_column and system to pick one system's rows, or neither")
        return self


class Precomputed(Summarizer):
    """Outputs read from a file, keyed by document id."""

    kind = "precomputed"
    Options = PrecomputedOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name)
        options = self.Options.parse(options, self.kind)
        self.path = options.path
        if not self.path.exists():
            raise ValueError(f"precomputed: {self.path} does not exist; give the file of system outputs as path (a relative "
                             "path is read from the config file's folder, else from the current folder)")
        self.id_column, self.summary_column = options.id_column, options.summary_column
        self.system_column, self.system = options.system_column, options.system
        self._outputs: dict[str, str] | None = None

    def settings(self) -> dict[str, Any]:
        return {"content": hashlib.sha256(self.path.read_bytes()).hexdigest()[:16], "id_column": self.id_column,
                "summary_column": self.summary_column, "system_column": self.system_column, "system": self.system}

    def outputs(self) -> dict[str, str]:
        if self._outputs is None:
            from evalkit.inputs.data import read_rows

            rows = read_rows(self.path)
            if self.system_column:
                rows = self._rows_of_system(rows)
            outputs: dict[str, str] = {}
            for number, row in enumerate(rows, start=1):
                missing = [c for c in (self.id_column, self.summary_column) if c not in row]
                if missing:
                    raise DataError(f"{self.path}, row {number}: missing column(s) {missing}; the row has "
                                    f"{sorted(row)}. Set id_column / summary_column to match the file")
                doc_id = str(row[self.id_column])
                if doc_id in outputs:
                    raise DataError(f"{self.path}, row {number}: a second output for document {doc_id!r}")
                outputs[doc_id] = str(row[self.summary_column])
            self._outputs = outputs
        return self._outputs

    def _rows_of_system(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows of the chosen system; a column or system name the file lacks is an error with a suggestion."""
        import difflib


        columns = sorted({c for row in rows for c in row})
        if self.system_column not in columns:
            close = difflib.get_close_matches(self.system_column, columns, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise DataError(f"{self.path}: no column {self.system_column!r} (system_column of {self.name!r}).{hint} "
                            f"The file has: {', '.join(columns)}")
        systems = sorted({str(row.get(self.system_column)) for row in rows})
        chosen = [row for row in rows if str(row.get(self.system_column)) == str(self.system)]
        if not chosen:
            close = difflib.get_close_matches(str(self.system), systems, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            shown = ", ".join(systems[:30]) + (f" and {len(systems) - 30} more" if len(systems) > 30 else "")
            raise DataError(f"{self.path}: no rows with {self.system_column} = {self.system!r} (system of "
                            f"{self.name!r}).{hint} The file has: {shown}")
        return chosen

    def summarize(self, requests: Sequence[Request], sink: Sink | None = None) -> list[Summary]:
        outputs = self.outputs()
        results = []
        for request in requests:
            text = outputs.get(request.document.id)
            if text is None:
                summary = self.failure(request, f"no output for document {request.document.id!r} in {self.path.name}")
            else:
                summary = Summary(document_id=request.document.id, system=self.name, text=text,
                                  fingerprint=self.fingerprint, details={"source_file": self.path.name})
            if sink is not None:
                sink(summary)
            results.append(summary)
        return results
