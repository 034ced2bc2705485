"""The viewer's read-only pages: runs, one run, two runs side by side, one document.

- ``/``: every run under the folder (date, data, systems, documents, headline means) and a form to
  pick two runs to compare;
- ``/run/{id}``: what the HTML report shows (:func:`evalkit.report.html.report_sections`: tables,
  ranking with intervals, charts as PNG) and a link per document;
- ``/diff/{a}/{b}``: :mod:`evalkit.view.diff`: per system and value the change B − A with its paired
  significance, the summaries whose scores moved most and those whose text changed;
- ``/diff/{a}/{b}/doc/{document}``: one document in both runs, each system's two summaries side by side;
- ``/run/{id}/doc/{document}``: the source article, every system's summary side by side with the
  entities and numbers the entity metric found unsupported marked (``<mark>``), the claims an LLM judge
  (``rubric: claims``) found unsupported listed and marked too, and every score.

Pages are rendered on the server; every text from a run goes through :func:`evalkit.view.layout.esc`.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from evalkit.core.types import Measure
from evalkit.report.html import document_data, report_sections
from evalkit.report.summary import run_summary, value_names
from evalkit.report.tables import headline_metrics, json_number
from evalkit.run.record import Run
from evalkit.view.context import RunNotFound, ViewContext
from evalkit.view.diff import RunDiff, comparable_problem, run_diff
from evalkit.view.layout import esc, href, page

log = logging.getLogger(__name__)

REFRESH = 3
"""Seconds between reloads of a page whose numbers are still being computed in the background."""
CLAIM_TITLE = "a claim the LLM judge found unsupported by the source"
NOT_RECORDED = ("This run did not record its sources; re-run it with this version of evalkit (or later) to see "
                "the article here.")


class DocumentNotFound(LookupError):
    """A document id that a run does not have."""

    def __str__(self) -> str:
        return str(self.args[0])


def routes(context: ViewContext) -> list[Any]:
    """The read-only pages' routes."""
    from starlette.responses import HTMLResponse, RedirectResponse
    from starlette.routing import Route

    def html(make):
        def endpoint(request):
            try:
                title, body, *refresh = make(**request.path_params, query=request.query_params)
            except (RunNotFound, DocumentNotFound) as exc:
                return HTMLResponse(page("Not found", f"<p class=\"note\">{esc(exc)}</p>"), status_code=404)
            except Exception as exc:  # noqa: BLE001 (an unreadable run: one line on the page, the traceback in the log)
                log.exception("evalkit view: %s", request.url.path)
                message = " ".join(str(exc).split()) or type(exc).__name__
                return HTMLResponse(page("Cannot show this page", f"<p class=\"note\" id=\"error\">{esc(message)}</p>"),
                                    status_code=500)
            return HTMLResponse(page(title, body, *refresh))
        return endpoint

    def compare(request):
        a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
        if not a or not b:
            return RedirectResponse("/", status_code=303)
        return RedirectResponse(href("diff", a, b), status_code=303)

    return [
        Route("/", html(lambda query: runs_page(context))),
        Route("/compare", compare),
        Route("/run/{run_id}", html(lambda run_id, query: run_page(context, run_id))),
        Route("/run/{run_id}/doc/{document_id:path}",
              html(lambda run_id, document_id, query: document_page(context, run_id, document_id))),
        Route("/diff/{a}/{b}/doc/{document_id:path}",
              html(lambda a, b, document_id, query: diff_document_page(context, a, b, document_id))),
        Route("/diff/{a}/{b}", html(lambda a, b, query: diff_page(context, a, b, query.get("metric"),
                                                                 every_value=query.get("values") == "all"))),
    ]


# -- runs ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunLine:
    """One run as the runs page lists it."""

    run_id: str
    created: str
    """The manifest's ``created`` (``?`` when unknown)."""
    data: str
    """The data's path or dataset name."""
    documents: int
    systems: tuple[str, ...]
    means: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    """Up to three headline values: (value name, ((system, formatted mean), ...))."""
    problem: str | None = None
    """Why the run could not be read (one line), or ``None``."""
    written: int = 0
    """When its manifest was written (ns): orders runs made in the same second."""


def run_line(run: Run) -> RunLine:
    """A run's line on the runs page (means of its first three headline values)."""
    names = headline_metrics(run)[:3]
    table = run.table(names) if names else None
    spec = run.manifest.data.spec or {}
    means = tuple((name, tuple((str(system), run.measure(name).format(json_number(table.loc[system, name])))
                               for system in table.index)) for name in names)
    return RunLine(run.run_id, run.manifest.created or "?", str(spec.get("path") or spec.get("dataset") or "?"),
                   int(run.manifest.data.n_documents or run.summaries["document_id"].nunique()),
                   tuple(run.manifest.system_order() or sorted(set(map(str, run.summaries["system"])))), means,
                   written=(run.run_dir / "manifest.json").stat().st_mtime_ns)


def _line(context: ViewContext, run_id: str) -> RunLine:
    try:
        return context.runs.memo("line", (run_id,), lambda: run_line(context.runs.loaded(run_id)), small=True)
    except Exception as exc:  # noqa: BLE001 (one unreadable run does not hide the others)
        return RunLine(run_id, "?", "?", 0, (), (), " ".join(str(exc).split()) or type(exc).__name__)


def runs_page(context: ViewContext) -> tuple[str, str]:
    """Every run under the folder, newest first, and the form that picks two of them to compare."""
    runs = sorted((_line(context, run_id) for run_id in context.runs.folders()),
                  key=lambda r: (r.created, r.written, r.run_id), reverse=True)
    rows = []
    readable = [r for r in runs if not r.problem]
    previous = {newer.run_id: older.run_id for newer, older in zip(readable, readable[1:])}
    for run in runs:
        if run.problem:
            rows.append(f"<tr class=\"broken\"><th>{esc(run.run_id)}</th><td colspan=\"5\" class=\"error\">"
                        f"cannot be read: {esc(run.problem)}</td></tr>")
            continue
        values = "".join(f"<div><code>{esc(name)}</code>: "
                         + " · ".join(f"{esc(system)} {esc(mean)}" for system, mean in cells) + "</div>"
                         for name, cells in run.means)
        rows.append(
            f"<tr><th><a href=\"{href('run', run.run_id)}\">{esc(run.run_id)}</a>"
            + (f"<br><small><a class=\"vs-previous\" href=\"{href('diff', previous[run.run_id], run.run_id)}\">"
               "against the run before</a></small>" if run.run_id in previous else "") + "</th>"
            f"<td>{esc(run.created)}</td><td>{esc(run.data)}</td><td class=\"num\">{run.documents}</td>"
            f"<td>{esc(', '.join(run.systems))}</td><td>{values or '–'}</td></tr>")
    runs = readable
    options = "".join(f"<option value=\"{esc(r.run_id)}\">{esc(r.run_id)}</option>" for r in runs)
    first = runs[1].run_id if len(runs) > 1 else (runs[0].run_id if runs else "")
    latest = runs[0].run_id if runs else ""
    form = ("<form class=\"compare\" action=\"/compare\" method=\"get\">Compare run A "
            f"<select name=\"a\" id=\"pick-a\">{_selected(options, first)}</select> with run B "
            f"<select name=\"b\" id=\"pick-b\">{_selected(options, latest)}</select> "
            "<button type=\"submit\">show B − A</button></form>") if len(runs) > 1 else \
        "<p>Two runs are needed to compare them.</p>"
    body = (f"<p class=\"meta\">{len(rows)} run(s) under <code>{esc(context.root)}</code>, newest first.</p>{form}"
            "<table id=\"runs\"><thead><tr><th>run</th><th>created</th><th>data</th><th>documents</th><th>systems</th>"
            f"<th>headline means</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return "Runs", body


def _selected(options: str, value: str) -> str:
    marker = f"<option value=\"{esc(value)}\">"
    return options.replace(marker, f"<option value=\"{esc(value)}\" selected>", 1)


# -- one run ---------------------------------------------------------------------------------------

def _run_sections(run: Run) -> str:
    summary = run_summary(run)
    return report_sections(run, summary, value_names(run))


def _documents(run: Run) -> dict[str, Any]:
    """The report's per-document data (:func:`evalkit.report.html.document_data`), indexed by document id."""
    data = document_data(run, value_names(run))
    claims: dict[str, int] = {}
    for (document, _), found in unsupported_claims(run).items():
        claims[document] = claims.get(document, 0) + len(found)
    return {**data, "by_id": {entry[0]: (entry[1], entry[2]) for entry in data["documents"]},
            "order": [entry[0] for entry in data["documents"]], "claims": claims}


def run_page(context: ViewContext, run_id: str) -> tuple[str, str]:
    """A run as the HTML report shows it, and a link to each document's page."""
    run = context.runs.run(run_id)
    sections = context.runs.soon("sections", (run_id,), lambda: _run_sections(run))
    refresh = () if sections is not None else (REFRESH,)
    if sections is None:
        sections = (f"<p class=\"note\" id=\"computing\">Computing the ranking and charts (bootstrap intervals and "
                    f"paired tests over {run.manifest.data.n_documents or 'the'} documents); this page reloads every "
                    f"{REFRESH} s until they are ready, and keeps them until the run's files change.</p>")
    docs = context.runs.memo("documents", (run_id,), lambda: _documents(run))
    items = []
    for document_id in docs["order"]:
        entries = docs["by_id"][document_id][1]
        flagged = sum(len(e[3]) + len(e[4]) for e in entries if e) + docs["claims"].get(document_id, 0)
        flag = f" <span class=\"flag\">⚑{flagged}</span>" if flagged else ""
        items.append(f"<li><a href=\"{href('run', run_id, 'doc', document_id)}\">{esc(document_id)}</a>{flag}</li>")
    manifest = run.manifest
    sources = "" if run.records_sources() else f"<p class=\"note\">{esc(NOT_RECORDED)}</p>"
    body = (f"<p class=\"meta\">{esc(len(docs['order']))} documents × {len(docs['systems'])} systems "
            f"({esc(', '.join(docs['systems']))}); length target: "
            f"{esc(manifest.config.target.describe() if manifest.config.target else 'none')}; "
            f"created {esc(manifest.created or '?')}.</p>"
            "<nav><a href=\"#table\">table</a> · <a href=\"#ranking\">ranking</a> · <a href=\"#charts\">charts</a> · "
            "<a href=\"#metrics\">every value</a> · <a href=\"#cost\">cost</a> · <a href=\"#documents\">documents</a>"
            "</nav>" + sections +
            "<section id=\"documents\"><h2>Documents</h2><p>⚑ = entities or numbers in a summary that the source "
            "does not support" + (", and claims an LLM judge found unsupported" if docs["claims"] else "")
            + f".</p>{sources}<ol class=\"doclinks\">{''.join(items)}</ol></section>")
    return (f"Run {run_id}", body, *refresh)


# -- one document ----------------------------------------------------------------------------------

def _find(text: str, phrases: Any) -> list[tuple[int, int]]:
    """Where the phrases occur in ``text`` (case-insensitive; longer phrases first; never overlapping), in order."""
    lower, spans = text.lower(), []
    for phrase in sorted({p for p in phrases if p}, key=len, reverse=True):
        needle, start = phrase.lower(), 0
        while (at := lower.find(needle, start)) >= 0:
            end = at + len(needle)
            if all(end <= s or at >= e for s, e in spans):
                spans.append((at, end))
            start = end
    return sorted(spans)


def _wrap(text: str, spans: list[tuple[int, int]], opening: str, inner: Callable[[str], str]) -> str:
    """``text`` with each span as ``opening`` + ``inner(span)`` + ``</mark>`` and the rest as ``inner(rest)``."""
    out, position = [], 0
    for start, end in spans:
        out.append(inner(text[position:start]))
        out.append(f"{opening}{inner(text[start:end])}</mark>")
        position = end
    out.append(inner(text[position:]))
    return "".join(out)


def highlight(text: str, phrases: list[str], claims: Sequence[str] = ()) -> str:
    """``text`` escaped, each case-insensitive occurrence of a phrase wrapped in ``<mark class="unsupported">``
    (longer phrases first; occurrences never overlap), and each of ``claims`` (sentences an LLM judge found
    unsupported) in ``<mark class="claim">`` around its own marked phrases."""
    def entities(part: str) -> str:
        return _wrap(part, _find(part, phrases),
                     "<mark class=\"unsupported\" title=\"not supported by the source\">", esc)

    return _wrap(text, _find(text, claims), f"<mark class=\"claim\" title=\"{CLAIM_TITLE}\">", entities)


def unsupported_claims(run: Run) -> dict[tuple[str, str], list[str]]:
    """(document, system) -> the claims (summary sentences) that an ``llm-judge`` with ``rubric: claims`` found
    unsupported: its facts' ``info["unsupported_claims"]`` (:mod:`evalkit.metrics.judge`), in order, once each."""
    keys = {key for key, entry in run.manifest.metrics.items() if entry.kind == "llm-judge"}
    rows = run.facts[run.facts["metric"].isin(keys)] if len(run.facts) else run.facts
    out: dict[tuple[str, str], list[str]] = {}
    for document, system, info in zip(rows["document_id"], rows["system"], rows["info"]):
        claims = info.get("unsupported_claims") if isinstance(info, dict) else None
        out.setdefault((str(document), str(system)), []).extend(str(c) for c in claims or () if c)
    return {k: list(dict.fromkeys(v)) for k, v in out.items() if v}


def _score(value: float | None, measure: Measure) -> str:
    shown = measure.format(value, 2 if not measure.is_fraction else 1)
    unit = "%" if measure.is_fraction else (f" {measure.unit}" if measure.unit else "")
    return shown if shown == "n/a" else shown + unit


def _by_document(run: Run) -> dict[str, Any]:
    """Where each document's rows are in the run's tables, so one document page reads only its own rows."""
    def rows(frame: Any) -> dict[str, Any]:
        return frame.groupby(frame["document_id"].astype(str), sort=False).indices if len(frame) else {}

    order = list(dict.fromkeys(map(str, run.summaries["document_id"])))
    return {"names": value_names(run), "order": order, "position": {d: i for i, d in enumerate(order)},
            "scores": rows(run.sample_scores), "summaries": rows(run.summaries), "facts": rows(run.facts)}


def _one_document(run: Run, index: dict[str, Any], document_id: str) -> dict[str, Any]:
    """:func:`evalkit.report.html.document_data` of one document: the report's reading of a run cut to its rows
    (its scores the per-document means over samples), plus ``"samples"``: :func:`_samples`."""
    def cut(frame: Any, name: str) -> Any:
        return frame.iloc[index[name].get(document_id, [])]

    part = Run(run.run_dir, run.manifest, cut(run.sample_scores, "scores"), cut(run.summaries, "summaries"),
               cut(run.facts, "facts"))
    return {**document_data(part, index["names"]), "claims": unsupported_claims(part),
            "samples": _samples(part, index["names"])}


def _samples(part: Run, names: list[str]) -> dict[str, dict[str, Any]]:
    """Each system of one document's ``part`` with more than one distinct sample (``samples: k`` of a strategy
    that samples): ``{"samples": [(sample, document_data entry, unsupported claims)], "spread": {value: (min,
    max)}}``, the spread over the samples' defined values. Samples recorded as copies of sample 0 (a strategy
    that does not sample) do not count."""
    summaries = part.summaries
    copies = [isinstance(d, dict) and "copy_of_sample" in d for d in summaries["details"]] \
        if "details" in summaries.columns else [False] * len(summaries)
    drawn = summaries[[not c for c in copies]]
    systems = {str(s) for s, n in drawn.groupby(drawn["system"].astype(str))["sample"].nunique().items() if n > 1}
    if not systems:
        return {}
    def at(frame: Any, sample: int) -> Any:
        return frame[frame["sample"] == sample] if len(frame) else frame

    out: dict[str, dict[str, Any]] = {}
    for sample in sorted(set(drawn["sample"])):
        one = Run(part.run_dir, part.manifest, *(at(f, sample) for f in (part.sample_scores, summaries, part.facts)))
        data, claims = document_data(one, names), unsupported_claims(one)
        for document, _, entries in data["documents"]:
            for system, entry in zip(data["systems"], entries):
                if system in systems and entry is not None:
                    entry = [*entry[:2], dict(zip(data["values"], entry[2])), *entry[3:]]
                    out.setdefault(system, {"samples": []})["samples"].append(
                        (sample, entry, claims.get((document, system), [])))
    values = part.sample_scores.dropna(subset=["value"])
    values = values[values["system"].astype(str).isin(systems) & values["value"].map(math.isfinite)]
    for (system, metric), group in values.groupby([values["system"].astype(str), "metric"]):
        out[system].setdefault("spread", {})[str(metric)] = (float(group["value"].min()), float(group["value"].max()))
    return out


def document_page(context: ViewContext, run_id: str, document_id: str) -> tuple[str, str]:
    """The source article, every system's summary side by side with unsupported entities marked, every score.

    A system with several samples (``samples: k``) shows its scores as the per-document mean over the samples
    (what every table uses) with their min–max, and each sample's text, marks and scores in a ``<details>``."""
    run = context.runs.run(run_id)
    index = context.runs.memo("by-document", (run_id,), lambda: _by_document(run))
    if document_id not in index["position"]:
        raise DocumentNotFound(f"run {run_id} has no document {document_id!r}; its documents are listed on the run page")
    docs = _one_document(run, index, document_id)
    target, entries = docs["documents"][0][1], docs["documents"][0][2]
    order = index["order"]
    at = index["position"][document_id]
    step = "".join(f" <a href=\"{href('run', run_id, 'doc', order[i])}\">{label}</a>"
                   for i, label in ((at - 1, "‹ previous"), (at + 1, "next ›")) if 0 <= i < len(order))
    source = run.source(document_id)
    article = (f"<div class=\"source\" id=\"source\">{esc(source)}</div>" if source is not None else
               f"<p class=\"note\" id=\"source\">{esc(NOT_RECORDED)}</p>")
    references = "".join(f"<blockquote class=\"reference\">{esc(r)}</blockquote>" for r in run.references(document_id))
    measures = [run.measure(n) for n in index["names"]]  # every value; one undefined here shows n/a
    boxes = []
    for system, entry in zip(docs["systems"], entries):
        if entry is None:
            boxes.append(f"<div class=\"summary\" data-system=\"{esc(system)}\"><h4>{esc(system)}</h4>"
                         "<p class=\"error\">(no summary in this run)</p></div>")
            continue
        scores = dict(zip(docs["values"], entry[2]))
        sampled = docs["samples"].get(system)
        if sampled:
            boxes.append(_sampled_box(system, sampled, scores, measures))
            continue
        heading, shown = _summary_box([*entry[:2], scores, *entry[3:]], docs["claims"].get((document_id, system), []),
                                      measures)
        boxes.append(f"<div class=\"summary\" data-system=\"{esc(system)}\"><h4>{esc(system)}{heading}</h4>{shown}</div>")
    body = (f"<p class=\"meta\">Run <a href=\"{href('run', run_id)}\">{esc(run_id)}</a>; document {at + 1} of "
            f"{len(order)}; length target: {esc(target)}.{step}</p>"
            f"<section><h2>Source article</h2>{article}"
            + (f"<h3>Reference summary</h3>{references}" if references else "") + "</section>"
            "<section><h2>Summaries</h2><p><mark class=\"unsupported\">Highlighted</mark>: entities and numbers the "
            "source does not support." + (" <mark class=\"claim\">Underlined</mark>: claims (sentences) the LLM judge "
                                          "found unsupported." if docs["claims"] else "")
            + f"</p><div class=\"side\">{''.join(boxes)}</div></section>")
    return f"Document {document_id}", body


def _summary_box(entry: list, claims: list[str], measures: list[Measure]) -> tuple[str, str]:
    """(the badge after the heading, the rest) of one summary: ``entry`` as :func:`document_data` writes it with
    its scores as ``{value: score}``; its failure, text with unsupported entities, numbers and claims marked,
    their lists and its scores."""
    text, error, scores, entities, numbers, cut = entry
    badge = f"<span class=\"badge cut\">{esc(cut)}</span>" if cut else ""
    failed = f"<p class=\"error\">failed: {esc(error)}</p>" if error else ""
    notes = "".join(f"<p class=\"scores\">{label}: {esc('; '.join(items))}</p>"
                    for label, items in (("Unsupported entities", entities), ("Unsupported numbers", numbers))
                    if items)
    notes += ("<div class=\"claims\"><p class=\"scores\">Unsupported claims (LLM judge):</p><ul>"
              + "".join(f"<li>{esc(c)}</li>" for c in claims) + "</ul></div>") if claims else ""
    rows = "".join(f"<tr class=\"{'headline' if m.headline else 'other'}\">{_label(m)}"
                   f"<td class=\"num\">{esc(_score(scores.get(m.name), m))}</td></tr>" for m in measures)
    return badge, (f"{failed}<div class=\"text\">{highlight(text, [*entities, *numbers], claims)}</div>{notes}"
                   f"<table class=\"scores\"><tbody>{rows}</tbody></table>")


def _label(measure: Measure) -> str:
    return f"<th title=\"{esc(measure.description or measure.name)}\">{esc(measure.label)}</th>"


def _sampled_box(system: str, sampled: dict[str, Any], means: dict[str, Any], measures: list[Measure]) -> str:
    """One system's several samples: the per-document mean of each value and its min–max over the samples, then
    each sample (:func:`_summary_box`) in a ``<details>``, the first open."""
    samples, spread = sampled["samples"], sampled.get("spread", {})
    k = len(samples)

    def span(measure: Measure) -> str:
        low_high = spread.get(measure.name)
        if low_high is None:
            return "n/a"
        digits = 2 if not measure.is_fraction else 1
        low, high = (measure.format(v, digits) for v in low_high)
        return f"{low} to {high}" if low_high[0] < 0 else f"{low}–{high}"  # "-75.0 to -40.0%", not "-75.0–-40.0%"

    rows = "".join(f"<tr class=\"{'headline' if m.headline else 'other'}\">{_label(m)}"
                   f"<td class=\"num\">{esc(_score(means.get(m.name), m))}</td><td class=\"num\">{esc(span(m))}</td></tr>"
                   for m in measures)
    table = (f"<div class=\"wide\"><table class=\"scores mean\"><caption>mean over the samples, as the tables use it (undefined "
             f"values left out); min–max over {k} samples</caption><thead><tr><th></th><th>mean</th><th>min–max</th></tr></thead>"
             f"<tbody>{rows}</tbody></table></div>")
    parts = []
    for position, (sample, entry, claims) in enumerate(samples):
        badge, shown = _summary_box(entry, claims, measures)
        failed = " · failed" if entry[1] else ""
        parts.append(f"<details class=\"sample\" data-sample=\"{sample}\"{' open' if position == 0 else ''}>"
                     f"<summary>sample {sample}{failed}{badge}</summary>{shown}</details>")
    return (f"<div class=\"summary sampled\" data-system=\"{esc(system)}\"><h4>{esc(system)} "
            f"<span class=\"badge samples\">{k} samples</span></h4>{table}{''.join(parts)}</div>")


# -- two runs --------------------------------------------------------------------------------------

def _signed(value: float, measure: Measure) -> str:
    """A change as the tables show it, always with its sign: ``+1.25``, ``−3.40`` (U+2212), ``±0.00``."""
    if value is None or math.isnan(value):
        return "n/a"
    shown = measure.display_factor * value
    text = f"{abs(shown):.2f}"
    if text == f"{0:.2f}":
        return "±" + text
    return ("+" if shown > 0 else "−") + text


def _direction(change: float, measure: Measure) -> str:
    """``better``/``worse`` for a change in the measure's better/worse direction, ``same`` when it has none or is 0."""
    if measure.higher_is_better is None or not change or math.isnan(change):
        return "same"
    return "better" if (change > 0) == measure.higher_is_better else "worse"


def diff_page(context: ViewContext, a: str, b: str, metric: str | None = None,
              every_value: bool = False) -> tuple[str, str]:
    """Run B against run A: the change per system and value with its significance, what moved, what changed text.
    The headline values are tested; every value with ``every_value`` (``?values=all``: slower on large runs)."""
    run_a, run_b = context.runs.run(a), context.runs.run(b)
    title = f"{b} against {a}"
    links = (f"<p class=\"meta\">A = <a href=\"{href('run', a)}\">{esc(a)}</a> (baseline), "
             f"B = <a href=\"{href('run', b)}\">{esc(b)}</a>.</p>")
    problem = context.runs.memo("comparable", (a, b), lambda: comparable_problem(run_a, run_b))
    if problem:
        return title, links + f"<p class=\"note\" id=\"problem\">Not comparable: {esc(problem)}</p>"
    headline_of_b = [n for n, m in run_b.measures().items() if m.headline]
    diff: RunDiff | None = context.runs.soon("diff-all" if every_value else "diff", (a, b), lambda: run_diff(
        run_a, run_b, values=None if every_value else headline_of_b))
    if diff is None:
        return (title, links + "<p class=\"note\" id=\"computing\">Testing every system's change (paired permutation "
                f"tests on the documents both runs share); this page reloads every {REFRESH} s until they are "
                "ready.</p>", REFRESH)
    scope = (f"<p>Compared on the {len(diff.shared)} documents both runs share (same id and text)"
             + (f"; {diff.only_a} only in A and {diff.only_b} only in B are left out" if diff.only_a or diff.only_b
                else "") + ". Change = B − A (fractions in percentage points); <span class=\"sig\">significant</span> "
             f"= paired permutation test, Holm-corrected across the systems of each value, alpha={diff.alpha:g}; "
             "<span class=\"ns\">n.s.</span> = not significant. Colour: green better, red worse.</p>")
    headline = [m for m in diff.metrics if run_b.measure(m).headline]
    others = [m for m in diff.metrics if m not in headline]
    by_key = {(c.system, c.metric): c for c in diff.changes}
    tables = _change_table(diff, run_b, headline, by_key, "Headline values", "changes")
    if others and every_value:
        tables += ("<details open><summary>Every other value</summary>"
                   + _change_table(diff, run_b, others, by_key, "Other values", "changes-other") + "</details>")
    elif others:
        tables += (f"<p><a id=\"every-value\" href=\"{href('diff', a, b)}?values=all\">Test every other value too</a> "
                   f"({len(others)} more values × {len(diff.systems)} systems; slower on large runs).</p>")
    chosen = metric if metric in diff.metrics else (headline or list(diff.metrics) or [None])[0]
    more = "&amp;values=all" if every_value else ""
    picks = " · ".join(f"<a href=\"{href('diff', a, b)}?metric={esc(quote(m, safe=''))}{more}\">{esc(m)}</a>"
                       if m != chosen
                       else f"<b>{esc(m)}</b>" for m in (headline or diff.metrics))
    moved_rows = "".join(
        f"<tr><td><a href=\"{href('diff', a, b, 'doc', m.document_id)}\">{esc(m.document_id)}</a></td><th>{esc(m.system)}</th>"
        f"<td class=\"num\">{esc(run_b.measure(chosen).format(m.a, 2))}</td>"
        f"<td class=\"num\">{esc(run_b.measure(chosen).format(m.b, 2))}</td>"
        f"<td class=\"num {_direction(m.diff, run_b.measure(chosen))}\">{esc(_signed(m.diff, run_b.measure(chosen)))}"
        f"</td><td><a href=\"{href('run', a, 'doc', m.document_id)}\">A</a> · "
        f"<a href=\"{href('run', b, 'doc', m.document_id)}\">B</a></td></tr>"
        for m in (diff.moved(chosen) if chosen else []))
    moved = (f"<section id=\"moved\"><h2>Summaries whose score moved most</h2><p>Value: {picks}</p>"
             + (f"<table><thead><tr><th>document</th><th>system</th><th>A</th><th>B</th><th>B − A</th><th></th></tr>"
                f"</thead><tbody>{moved_rows}</tbody></table>" if moved_rows else "<p>No score moved.</p>")
             + "</section>")
    counts = {s: sum(1 for _, sys in diff.text_changed if sys == s) for s in diff.systems}
    changed_list = "".join(
        f"<li><a href=\"{href('diff', a, b, 'doc', d)}\">{esc(d)}</a> · {esc(s)}</li>" for d, s in diff.text_changed[:50])
    changed = ("<section id=\"text-changed\"><h2>Summaries whose text changed</h2><ul class=\"counts\">"
               + "".join(f"<li>{esc(s)}: {n} of {len(diff.shared)}</li>" for s, n in counts.items()) + "</ul>"
               + (f"<ol>{changed_list}</ol>" if changed_list else "<p>No summary text changed.</p>")
               + ("<p>(first 50 shown)</p>" if len(diff.text_changed) > 50 else "") + "</section>")
    return title, links + scope + tables + moved + changed


def _change_table(diff: RunDiff, run: Run, metrics: list[str], by_key: dict, caption: str, table_id: str) -> str:
    if not metrics:
        return "<p>No value both runs scored.</p>"
    head = "".join(f"<th title=\"{esc(run.measure(m).description or m)}\">{esc(run.measure(m).axis_label)}"
                   f"<br><code>{esc(m)}</code></th>" for m in metrics)
    rows = []
    for system in diff.systems:
        cells = []
        for m in metrics:
            change, measure = by_key.get((system, m)), run.measure(m)
            if change is None or change.n == 0:
                cells.append("<td class=\"num\">n/a</td>")
                continue
            marker = (f"<span class=\"sig\" title=\"p = {change.p_value:.3g}, Holm-adjusted {change.p_adjusted:.3g}\">"
                      "significant</span>" if change.significant else
                      f"<span class=\"ns\" title=\"p = {change.p_value:.3g}, Holm-adjusted {change.p_adjusted:.3g}\">"
                      "n.s.</span>")
            cells.append(f"<td class=\"num\" data-metric=\"{esc(m)}\"><span class=\"change {_direction(change.diff, measure)}\">"
                         f"{esc(_signed(change.diff, measure))}</span>{marker}<br><small>"
                         f"{esc(measure.format(change.mean_a, 2))} → {esc(measure.format(change.mean_b, 2))}; 95% CI "
                         f"[{esc(_signed(change.ci_low, measure))}, {esc(_signed(change.ci_high, measure))}]; "
                         f"n={change.n}</small></td>")
        rows.append(f"<tr data-system=\"{esc(system)}\"><th>{esc(system)}</th>{''.join(cells)}</tr>")
    return (f"<table id=\"{table_id}\"><caption>{esc(caption)}: change B − A</caption><thead><tr><th>system</th>"
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def word_diff(old: str, new: str) -> tuple[str, str]:
    """``old`` and ``new`` escaped, the words only ``old`` has in ``<del>`` and those only ``new`` has in ``<ins>``
    (:class:`difflib.SequenceMatcher` over words and the spaces between them)."""
    a, b = re.split(r"(\s+)", old), re.split(r"(\s+)", new)
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        gone, came = esc("".join(a[i1:i2])), esc("".join(b[j1:j2]))
        if op == "equal":
            left.append(gone)
            right.append(came)
            continue
        if gone:
            left.append(f"<del>{gone}</del>")
        if came:
            right.append(f"<ins>{came}</ins>")
    return "".join(left), "".join(right)


def _shown(entry: list | None) -> str:
    """A summary's text as a side-by-side shows it: its error for a failed one, nothing for a missing one."""
    if entry is None:
        return ""
    return f"failed: {entry[1]}" if entry[1] else entry[0]


def diff_document_page(context: ViewContext, a: str, b: str, document_id: str) -> tuple[str, str]:
    """One document in two runs: per system, run A's and run B's summary side by side (words removed and added
    marked) and each headline value in both with the change."""
    run_a, run_b = context.runs.run(a), context.runs.run(b)
    docs = []
    for run in (run_a, run_b):
        index = context.runs.memo("by-document", (run.run_id,), lambda run=run: _by_document(run))
        docs.append(_one_document(run, index, document_id) if document_id in index["position"] else None)
    if docs[0] is None and docs[1] is None:
        raise DocumentNotFound(f"neither run {a} nor run {b} has document {document_id!r}")
    source_a, source_b = run_a.source(document_id), run_b.source(document_id)
    source = source_b if source_b is not None else source_a
    same = "" if docs[0] and docs[1] and source_a == source_b else \
        "<p class=\"note\">The two runs do not have this document with the same text: summaries may differ for that.</p>"
    article = (f"<details><summary>Source article</summary><div class=\"source\" id=\"source\">{esc(source)}</div>"
               "</details>" if source is not None else f"<p class=\"note\">{esc(NOT_RECORDED)}</p>")

    def entries(data: dict[str, Any] | None) -> dict[str, tuple[list, dict[str, float | None]]]:
        if data is None:
            return {}
        out = {}
        for system, entry in zip(data["systems"], data["documents"][0][2]):
            if entry is not None:
                out[system] = (entry, dict(zip(data["values"], entry[2])))
        return out

    in_a, in_b = entries(docs[0]), entries(docs[1])
    headline = [n for n, m in run_b.measures().items() if m.headline]
    rows = []
    for system in dict.fromkeys([*in_b, *in_a]):
        (entry_a, scores_a), (entry_b, scores_b) = in_a.get(system, (None, {})), in_b.get(system, (None, {}))
        text_a, text_b = _shown(entry_a), _shown(entry_b)
        left, right = word_diff(text_a, text_b)
        left = left if entry_a else "<p class=\"error\">(not in run A)</p>"
        right = right if entry_b else "<p class=\"error\">(not in run B)</p>"
        changes = []
        for name in headline:
            measure, va, vb = run_b.measure(name), scores_a.get(name), scores_b.get(name)
            change = (vb - va) if va is not None and vb is not None else float("nan")
            changes.append(f"<span>{esc(measure.label)}: {esc(measure.format(va, 2))} → {esc(measure.format(vb, 2))} "
                           f"(<span class=\"change {_direction(change, measure)}\">{esc(_signed(change, measure))}</span>)"
                           "</span>")
        status = "same text" if entry_a and entry_b and text_a == text_b else "text changed"
        rows.append(f"<div class=\"pair\" data-system=\"{esc(system)}\"><h4>{esc(system)} <small>({status})</small></h4>"
                    f"<div class=\"side\"><div class=\"summary text\" data-run=\"a\">{left}</div>"
                    f"<div class=\"summary text\" data-run=\"b\">{right}</div></div>"
                    f"<p class=\"scores\">{''.join(changes)}</p></div>")
    body = (f"<p class=\"meta\">A = <a href=\"{href('run', a, 'doc', document_id)}\">{esc(a)}</a>, "
            f"B = <a href=\"{href('run', b, 'doc', document_id)}\">{esc(b)}</a>; back to "
            f"<a href=\"{href('diff', a, b)}\">the two runs</a>. <del>Struck</del>: only in A's summary; "
            f"<ins>underlined</ins>: only in B's.</p>{same}{article}{''.join(rows)}")
    return f"Document {document_id}: {b} against {a}", body
