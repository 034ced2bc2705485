"""One document: each system's summary with its unsupported entities highlighted, and its scores.

As a figure (:func:`document_view`), an HTML fragment (:func:`document_view_html`, every piece
of text escaped) or plain text (:func:`document_view_text`). The run does not store sources:
pass the article as ``source_text``.
"""

from __future__ import annotations

import html
import logging
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from matplotlib.figure import Figure

from evalkit.core.types import LengthTarget
from evalkit.report.plots.style import NOTE_COLOR, ChartFigure
from evalkit.report.plots.view import View, view_of

log = logging.getLogger(__name__)

HIGHLIGHT = "#FFD54F"
"""Background of an unsupported entity in :func:`document_view`."""


def _entity_text(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        value = item.get("text") or item.get("entity") or item.get("name")
        return str(value) if value else None
    if isinstance(item, (list, tuple)) and item:
        return str(item[0])
    return None


def unsupported_entities(run: Any, document_id: str, system: str, *,
                         field: str = "unsupported_entities") -> list[str]:
    """The unsupported entities the entity metric recorded for one summary (its facts), or [];
    ``field="unsupported_numbers"``: its unsupported numbers and dates (:func:`unsupported_numbers`)."""
    view = view_of(run)
    out: list[str] = []
    for info in view.info(document_id, system, [key for key, entry in view.manifest.metrics.items()
                                                  if entry.kind == "entities"] or ["entities"]):
        for item in info.get(field) or []:
            text = _entity_text(item)
            if text and text not in out:
                out.append(text)
    return out


def unsupported_numbers(run: Any, document_id: str, system: str) -> list[str]:
    """The numbers and dates the entity metric found unsupported in one summary ("€85 million", "2014"), or []."""
    return unsupported_entities(run, document_id, system, field="unsupported_numbers")


def entity_spans(text: str, entities: Sequence[str]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) spans of ``entities`` in ``text``, longest entity first.

    Matching is case-insensitive, and an entity that starts or ends with a letter or digit
    must do so at a word boundary ("US" does not match inside "USB").
    """
    spans: list[tuple[int, int]] = []
    for entity in sorted({e for e in entities if e and e.strip()}, key=len, reverse=True):
        pattern = re.escape(entity.strip())
        if re.match(r"\w", entity.strip()):
            pattern = r"(?<!\w)" + pattern
        if re.search(r"\w$", entity.strip()):
            pattern += r"(?!\w)"
        for match in re.finditer(pattern, text, flags=re.IGNORECASE):
            start, end = match.span()
            if all(end <= s or start >= e for s, e in spans):
                spans.append((start, end))
    return sorted(spans)


def _segments(text: str, entities: Sequence[str]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, is_unsupported_entity) in order."""
    out, position = [], 0
    for start, end in entity_spans(text, entities):
        if start > position:
            out.append((text[position:start], False))
        out.append((text[start:end], True))
        position = end
    if position < len(text):
        out.append((text[position:], False))
    return out


@dataclass(frozen=True)
class _DocumentEntry:
    """One system's output for the document view."""

    system: str
    text: str
    error: str | None
    unsupported: list[str]
    """The unsupported entities and numbers, highlighted alike."""
    scores: dict[str, float]
    target: LengthTarget | None


def _resolve_source(source_text: Any, document_id: str) -> str | None:
    if source_text is None or isinstance(source_text, str):
        return source_text
    if hasattr(source_text, "text") and hasattr(source_text, "id"):
        return source_text.text
    if isinstance(source_text, Mapping):
        found = source_text.get(document_id)
        return _resolve_source(found, document_id) if found is not None else None
    if isinstance(source_text, Sequence):
        for doc in source_text:
            if getattr(doc, "id", None) == document_id:
                return doc.text
        return None
    raise TypeError("source_text must be a string, a Document, or a list/dict of Documents")


def _document_entries(view: View, document_id: str) -> list[_DocumentEntry]:
    document_id = str(document_id)
    values = view.values[view.values["document_id"] == document_id]
    texts = {}
    if view.summaries is not None:
        rows = view.summaries[view.summaries["document_id"] == document_id]
        for row in rows.to_dict("records"):
            error = row.get("error")
            if error is None or (isinstance(error, float) and math.isnan(error)) or error == "":
                error = None
            else:
                error = str(error)
            texts[row["system"]] = (row.get("text") or "", error, view.targets.get(document_id))
    present = set(values["system"]) | set(texts)
    if not present:
        known = sorted(set(view.values["document_id"]))[:10]
        raise KeyError(f"document {document_id!r} is not in this run; e.g. {', '.join(known)}")
    entries = []
    for system in [s for s in view.systems if s in present]:
        text, error, target = texts.get(system, ("", None, None))
        scores = {row.metric: row.value for row in values[values["system"] == system].itertuples(index=False)
                  if not math.isnan(row.value)}
        entries.append(_DocumentEntry(system, text if isinstance(text, str) else "", error,
                                      [*unsupported_entities(view, document_id, system),
                                       *unsupported_numbers(view, document_id, system)], scores, target))
    return entries


def _score_line(view: View, entry: _DocumentEntry) -> str:
    """The run's headline values for one summary, as the metric descriptors name and format them."""
    parts = []
    for name, measure in view.measures.items():
        if not measure.headline or name not in entry.scores:
            continue
        value = entry.scores[name]
        if measure.scale == "flag":
            parts.append(f"{measure.label}: {'yes' if value else 'no'}")
            continue
        digits = 0 if measure.scale in ("words", "count") else 1
        text = f"{measure.label} {measure.format(value, digits)}" if measure.is_fraction else \
            f"{measure.label} {value:.{digits}f}" + (f" {measure.unit}" if measure.unit else "")
        goal = entry.target.words if measure.scale == "words" and entry.target is not None else None
        parts.append(text + (f" (target {goal})" if goal else ""))
    return " · ".join(parts)


def document_view_html(run: Any, document_id: str, source_text: Any = None, *,
                       summaries: pd.DataFrame | None = None) -> str:
    """One document as an HTML fragment: the source, each system's summary and its scores.

    Unsupported entities (from the entity metric's facts) are wrapped in
    ``<mark>``; every piece of text is escaped with :func:`html.escape`. Display it in a
    notebook with ``IPython.display.HTML(...)``. ``source_text`` is the article (the run does
    not store sources): a string, a Document, or the run's documents as a list or dict.
    """
    view = view_of(run, summaries)
    entries = _document_entries(view, document_id)
    source = _resolve_source(source_text, str(document_id))
    colors = view.colors
    out = ['<div class="evalkit-document" style="font-family:sans-serif;max-width:60em">',
           f"<h3>Document {html.escape(str(document_id))}</h3>"]
    if source is not None:
        out.append(f'<details><summary>Source ({len(source.split())} words)</summary>'
                   f'<div style="white-space:pre-wrap">{html.escape(source)}</div></details>')
    else:
        out.append("<p><em>Source text not given (the run does not store it).</em></p>")
    for entry in entries:
        out.append(f'<h4 style="margin-bottom:0.2em;border-left:0.4em solid {colors[entry.system]};'
                   f'padding-left:0.4em">{html.escape(entry.system)}</h4>')
        if entry.error is not None:
            out.append(f"<p><em>No summary: {html.escape(entry.error)}</em></p>")
            continue
        body = "".join(f"<mark>{html.escape(piece)}</mark>" if marked else html.escape(piece)
                       for piece, marked in _segments(entry.text, entry.unsupported))
        out.append(f'<div style="white-space:pre-wrap">{body}</div>')
        line = _score_line(view, entry)
        if line:
            out.append(f'<div style="color:#555;font-size:0.9em">{html.escape(line)}</div>')
    out.append('<p style="font-size:0.85em;color:#555"><mark>highlighted</mark>: named entity or number not found '
               "in the source (unsupported).</p></div>")
    return "\n".join(out)


def document_view_text(run: Any, document_id: str, source_text: Any = None, *,
                       summaries: pd.DataFrame | None = None, width: int = 100) -> str:
    """The document view as plain text (unsupported entities and numbers in ``[[...]]``), for terminals and logs."""
    view = view_of(run, summaries)
    entries = _document_entries(view, document_id)
    source = _resolve_source(source_text, str(document_id))
    lines = [f"Document {document_id}", ""]
    if source is not None:
        lines += ["SOURCE", textwrap.fill(source, width), ""]
    for entry in entries:
        lines.append(entry.system.upper())
        if entry.error is not None:
            lines += [f"(no summary: {entry.error})", ""]
            continue
        marked = "".join(f"[[{piece}]]" if flag else piece for piece, flag in _segments(entry.text, entry.unsupported))
        lines += [textwrap.fill(paragraph, width) for paragraph in marked.split("\n")]
        if _score_line(view, entry):
            lines.append("  " + _score_line(view, entry))
        lines.append("")
    return "\n".join(lines)


def _wrap_segments(segments: list[tuple[str, bool]], width: int) -> list[list[tuple[str, bool]]]:
    """Greedy word wrap of highlighted segments; an entity is never split across lines."""
    tokens: list[tuple[str, bool]] = []
    breaks: list[bool] = []  # a forced line break before this token
    pending_break = False
    for piece, marked in segments:
        if marked:
            tokens.append((piece.replace("\n", " "), True))
            breaks.append(pending_break)
            pending_break = False
            continue
        for i, paragraph in enumerate(piece.split("\n")):
            if i:
                pending_break = True
            for word in re.findall(r"\S+|\s+", paragraph):
                if word.isspace():
                    tokens.append((" ", False))
                else:
                    tokens.append((word, False))
                breaks.append(pending_break)
                pending_break = False
    lines: list[list[tuple[str, bool]]] = [[]]
    used = 0
    for (token, marked), forced in zip(tokens, breaks):
        if forced and lines[-1]:
            lines.append([])
            used = 0
        if token == " " and not lines[-1]:
            continue
        if used + len(token) > width and lines[-1] and token != " ":
            lines.append([])
            used = 0
        lines[-1].append((token, marked))
        used += len(token)
    merged_lines = []
    for line in lines:
        merged: list[tuple[str, bool]] = []
        for token, marked in line:
            if merged and merged[-1][1] == marked:
                merged[-1] = (merged[-1][0] + token, marked)
            else:
                merged.append((token, marked))
        if merged and not merged[-1][1]:
            merged[-1] = (merged[-1][0].rstrip(), False)
        merged_lines.append([m for m in merged if m[0]])
    return merged_lines


def document_view(run: Any, document_id: str, source_text: Any = None, *, summaries: pd.DataFrame | None = None,
                  output: Literal["figure", "html", "text"] = "figure", source_chars: int = 900,
                  width: float = 10.0) -> Figure | str:
    """The per-document view: the source, each system's summary with unsupported entities highlighted, scores.

    ``output="figure"`` (default) draws it as a figure for a report; ``"html"`` returns
    :func:`document_view_html` (best in notebooks: full source, real highlighting, selectable
    text) and ``"text"`` returns :func:`document_view_text` (no graphics at all). The figure
    shows the first ``source_chars`` characters of the source.
    """
    if output == "html":
        return document_view_html(run, document_id, source_text, summaries=summaries)
    if output == "text":
        return document_view_text(run, document_id, source_text, summaries=summaries)
    if output != "figure":
        raise ValueError(f"output must be 'figure', 'html' or 'text', got {output!r}")
    view = view_of(run, summaries)
    entries = _document_entries(view, document_id)
    source = _resolve_source(source_text, str(document_id))
    colors = view.colors
    fontsize = 9.0
    chars = int((width - 0.6) * 72 / (fontsize * 0.56))

    # Build the content as rows of (kind, payload), then lay them out top-down in inches.
    rows: list[tuple[str, Any]] = [("title", f"Document {document_id}")]
    rows.append(("heading", ("Source", "#222222")))
    if source is None:
        rows.append(("note", "(source text not given; the run does not store it: pass source_text=)"))
    else:
        shown = source if len(source) <= source_chars else source[:source_chars].rsplit(" ", 1)[0] + " …"
        for paragraph in shown.split("\n"):
            for line in textwrap.wrap(paragraph, chars) or [""]:
                rows.append(("plain", line))
    for entry in entries:
        rows.append(("gap", None))
        rows.append(("heading", (entry.system, colors[entry.system])))
        if entry.error is not None:
            rows.append(("note", f"(no summary: {entry.error})"))
            continue
        for line in _wrap_segments(_segments(entry.text, entry.unsupported), chars):
            rows.append(("rich", line))
        for line in textwrap.wrap(_score_line(view, entry), int(chars * 1.05)):
            rows.append(("note", line))
    rows.append(("gap", None))
    rows.append(("rich", [("unsupported entity or number", True),
                          (" = in the summary but not found in the source", False)]))

    line_in = fontsize * 1.5 / 72
    heights = {"title": 2.0, "heading": 1.35, "gap": 0.5}
    total = sum(heights.get(kind, 1.0) for kind, _ in rows) * line_in + 0.3
    fig = ChartFigure(figsize=(width, total), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, width)
    ax.set_ylim(total, 0)  # inches from the top
    left = 0.3
    y = 0.15
    box = {"facecolor": HIGHLIGHT, "edgecolor": "none", "pad": 1.0}
    for kind, payload in rows:
        step = heights.get(kind, 1.0) * line_in
        y += step
        base = y - 0.3 * line_in
        if kind == "title":
            ax.text(left, base, payload, fontsize=13, fontweight="bold", va="baseline", parse_math=False)
        elif kind == "heading":
            label, color = payload
            ax.text(left, base, label, fontsize=10.5, fontweight="bold", color=color, va="baseline",
                    parse_math=False)
        elif kind == "plain":
            ax.text(left, base, payload, fontsize=fontsize, color="#333333", va="baseline", parse_math=False)
        elif kind == "note":
            ax.text(left, base, payload, fontsize=fontsize - 0.5, color=NOTE_COLOR, style="italic", va="baseline",
                    parse_math=False)
        elif kind == "rich":
            previous = None
            for piece, marked in payload:
                style = {"fontsize": fontsize, "parse_math": False, "bbox": box if marked else None}
                if previous is None:
                    previous = ax.text(left, base, piece, va="baseline", **style)
                else:
                    previous = ax.annotate(piece, xy=(1, 0), xycoords=previous, va="bottom", ha="left", **style)
    return fig
