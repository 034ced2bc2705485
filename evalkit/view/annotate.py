"""Human judgments in the viewer: rubric, assignment, pointwise and pairwise labels, agreement.

Routes (all under the runs folder of one :class:`ViewContext`):

- ``GET /annotate/{run}``: an annotator gives a name once (kept in a cookie), then gets the next
  summary assigned to them (:func:`evalkit.run.labels.assigned`: each summary to ``k``
  annotators of the roster, deterministic) with the article, the rubric's questions and a
  way to mark unsupported spans (select text in the summary, "Mark selection": the character
  offsets and the text are sent with the form); progress is shown as done / assigned.
  ``?item=N`` revisits the N-th item (1-based), prefilled with the annotator's answers.
- ``POST /annotate/{run}/label``: saves (an upsert by content key) and goes to the next item.
- ``GET /annotate/{run}/pairwise`` and ``POST /annotate/{run}/pairwise``: two summaries of one
  document as A and B, in an order seeded per annotator and pair, system names hidden until
  the answers are saved, then revealed.
- ``GET /agreement/{run}``: :mod:`evalkit.view.annotate_agreement`.

The study's settings (rubric, k, seed, roster) come from ``annotation.yaml`` in the runs folder
(:class:`evalkit.run.labels.Study`); editing the rubric midway makes a new version, and the labels
given under the old one stay under it and are shown as such. Every text from a run or from an
annotator is escaped; the only script on the page is this module's own.
"""

from __future__ import annotations

import atexit
import json
import random
import threading
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from evalkit.core.errors import EvalkitError
from evalkit.core.fingerprint import digest
from evalkit.inputs.human_rubric import HumanRubric, Question, load_human_rubric
from evalkit.run.labels import (
    TIE,
    Label,
    LabelStore,
    RunItem,
    Study,
    assigned,
    label_status,
    pair_hash,
    pairs_of,
    run_items,
)
from evalkit.run.record import Run
from evalkit.run.store import Store
from evalkit.view.annotate_agreement import agreement_html
from evalkit.view.annotate_shell import COOKIE, STYLE, esc, page
from evalkit.view.context import ViewContext

SPAN_SCRIPT = """<script>
(function(){
  var box = document.getElementById('summary'), field = document.getElementById('spans'),
      list = document.getElementById('span-list'), spans = JSON.parse(field.value || '[]');
  function offset(node, off){ var r = document.createRange(); r.selectNodeContents(box); r.setEnd(node, off);
    return r.toString().length; }
  function show(){ list.textContent = ''; spans.forEach(function(s, i){ var li = document.createElement('li');
    li.textContent = '"' + s.text + '" (' + s.start + '-' + s.end + ') ';
    var b = document.createElement('button'); b.type = 'button'; b.textContent = 'remove';
    b.onclick = function(){ spans.splice(i, 1); field.value = JSON.stringify(spans); show(); };
    li.appendChild(b); list.appendChild(li); }); }
  document.getElementById('mark').onclick = function(){
    var sel = window.getSelection(); if (!sel.rangeCount) return; var r = sel.getRangeAt(0);
    if (!box.contains(r.startContainer) || !box.contains(r.endContainer)) return;
    var start = offset(r.startContainer, r.startOffset), end = offset(r.endContainer, r.endOffset);
    if (end <= start) return;
    spans.push({start: start, end: end, text: box.textContent.slice(start, end)});
    field.value = JSON.stringify(spans); sel.removeAllRanges(); show(); };
  show();
})();
</script>"""

_stores: dict[Path, Store] = {}
_lock = threading.Lock()
_runs: dict[Path, tuple[float, Run]] = {}


def routes(context: ViewContext) -> list[Any]:
    """The annotation pages' and label API's routes."""
    from starlette.concurrency import run_in_threadpool
    from starlette.routing import Route

    def bind(handler: Any) -> Any:
        async def endpoint(request: Any) -> Any:
            # the body is read here, on the event loop; the handler (SQLite, agreement statistics) runs in a
            # worker thread, so one slow page does not hold up the other viewer users
            request.state.form = await form_of(request) if request.method == "POST" else {}
            return await run_in_threadpool(handler, context, request)
        return endpoint

    return [
        Route("/annotate/{run_id}", bind(pointwise_page), methods=["GET"]),
        Route("/annotate/{run_id}/name", bind(set_name), methods=["POST"]),
        Route("/annotate/{run_id}/label", bind(save_pointwise), methods=["POST"]),
        Route("/annotate/{run_id}/pairwise", bind(pairwise_page), methods=["GET"]),
        Route("/annotate/{run_id}/pairwise", bind(save_pairwise), methods=["POST"]),
        Route("/agreement/{run_id}", bind(agreement_page), methods=["GET"]),
    ]


# -- shared pieces --------------------------------------------------------------------------------------------
def store_of(context: ViewContext) -> Store:
    """One store per viewer process, opened on first use (thread-safe; closed at exit)."""
    with _lock:
        store = _stores.get(context.store)
        if store is None:
            store = _stores[context.store] = Store(context.store)
            atexit.register(store.close)
        return store


def load_run(context: ViewContext, run_id: str) -> Run:
    """The run folder ``run_id`` under the root (re-read when its manifest changes); a bad name is a one-line error."""
    folder = context.root / run_id
    if not run_id or run_id != Path(run_id).name or run_id.startswith(".") or not (folder / "manifest.json").is_file():
        known = sorted(p.name for p in context.root.iterdir() if (p / "manifest.json").is_file()) \
            if context.root.is_dir() else []
        raise EvalkitError(f"no run {run_id!r} under {context.root}; runs here: {', '.join(known[:8]) or 'none'}")
    stamp = (folder / "manifest.json").stat().st_mtime
    with _lock:
        cached = _runs.get(folder)
        if cached is None or cached[0] != stamp:
            cached = _runs[folder] = (stamp, Run.load(folder))
        return cached[1]


def study_rubric(context: ViewContext) -> tuple[Study, HumanRubric]:
    """The study's settings and its rubric as the file says now (kept in the store once per version)."""
    study = Study.load(context.root)
    rubric = load_human_rubric(study.rubric)
    LabelStore(store_of(context)).save_rubric(rubric)
    return study, rubric


def annotator_of(request: Any) -> str | None:
    value = request.cookies.get(COOKIE)
    return unquote(value) if value else None


async def form_of(request: Any) -> dict[str, str]:
    """The posted form (``application/x-www-form-urlencoded``), one value per field."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def html_response(body: str, status: int = 200) -> Any:
    from starlette.responses import HTMLResponse

    return HTMLResponse(body, status_code=status)


def error_page(title: str, message: str, status: int = 400) -> Any:
    return html_response(page(title, f"<p class=\"ann-note\">{esc(message)}</p>"), status)


def redirect(url: str) -> Any:
    from starlette.responses import RedirectResponse

    return RedirectResponse(url, status_code=303)


def name_form(run_id: str, back: str) -> str:
    return (f"<form method=\"post\" action=\"/annotate/{quote(run_id, safe='')}/name\">"
            f"<input type=\"hidden\" name=\"back\" value=\"{esc(back)}\">"
            "<label>Your name (shown with your labels): <input name=\"annotator\" id=\"annotator\" required "
            "maxlength=\"60\" autofocus></label> <button type=\"submit\">Start</button></form>")


def set_name(context: ViewContext, request: Any) -> Any:
    run_id = request.path_params["run_id"]
    form = request.state.form
    name = " ".join(form.get("annotator", "").split())
    if not name or len(name) > 60:
        return error_page("Annotate", "give a name of 1 to 60 characters")
    back = form.get("back", "")
    target = back if back.startswith("/annotate/") else f"/annotate/{quote(run_id, safe='')}"
    response = redirect(target)
    response.set_cookie(COOKIE, quote(name, safe=""), max_age=365 * 86400, samesite="strict", httponly=True)
    return response


def guarded(handler: Any) -> Any:
    """Turn an :class:`EvalkitError` into a page with its one-line message (nothing half-saved)."""
    def wrapper(context: ViewContext, request: Any) -> Any:
        try:
            return handler(context, request)
        except EvalkitError as exc:
            return error_page("Cannot do that", str(exc), 404 if "no run" in str(exc) else 400)
    wrapper.__name__ = handler.__name__
    return wrapper


def _progress(done: int, total: int, annotator: str, rubric: HumanRubric) -> str:
    return (f"<p id=\"progress\">Annotator <b>{esc(annotator)}</b>: <b>{done} / {total}</b> done · rubric "
            f"{esc(rubric.name)} version <code>{esc(rubric.version)}</code></p>")


def _notes(context: ViewContext, run: Run, annotator: str, rubric: HumanRubric) -> str:
    labels = LabelStore(store_of(context)).all(annotator=annotator)
    older = [lab for lab in labels if lab.rubric_version != rubric.version]
    out = ""
    if older:
        versions = sorted({lab.rubric_version for lab in older})
        out += (f"<p class=\"ann-note\" id=\"older\">{len(older)} of your labels were given under an earlier rubric "
                f"version ({esc(', '.join(versions))}): they are kept under that version and not counted "
                "toward this one.</p>")
    for line in label_status(run, labels).messages(run.run_id):
        out += f"<p class=\"ann-note\">{esc(line)}</p>"
    return out


def _source(run: Run, document_id: str) -> str:
    reader = getattr(run, "source", None)
    text = reader(document_id) if callable(reader) else None
    if not isinstance(text, str):
        return "<p class=\"ann-note\">This run did not record the article's text.</p>"
    return f"<h3>Article</h3><div class=\"ann-source\" id=\"source\">{esc(text)}</div>"


# -- pointwise ------------------------------------------------------------------------------------------------
def _question_html(q: Question, previous: Any) -> str:
    help_text = f"<div class=\"help\">{esc(q.help)}</div>" if q.help else ""
    required = " required" if q.required else ""
    if q.kind == "yesno":
        options = "".join(
            f"<label><input type=\"radio\" name=\"q_{q.name}\" value=\"{v}\"{required}"
            f"{' checked' if previous is not None and (previous is True) == (v == 'yes') else ''}> {v}</label> "
            for v in ("yes", "no"))
    elif q.kind == "scale":
        options = "".join(
            f"<label><input type=\"radio\" name=\"q_{q.name}\" value=\"{v}\"{required}"
            f"{' checked' if previous == v else ''}> {v}</label> " for v in range(q.scale[0], q.scale[1] + 1))
    elif q.kind == "comment":
        options = f"<textarea name=\"q_{q.name}\" rows=\"2\" cols=\"60\">{esc(previous or '')}</textarea>"
    else:
        options = ("<button type=\"button\" id=\"mark\">Mark selection</button><ul id=\"span-list\"></ul>"
                   f"<input type=\"hidden\" name=\"spans\" id=\"spans\" value=\"{esc(json.dumps(previous or []))}\">"
                   f"<input type=\"hidden\" name=\"spans_question\" value=\"{q.name}\">")
    return f"<div class=\"ann-q\" id=\"q-{q.name}\"><b>{esc(q.shown)}</b>{help_text}{options}</div>"


def _opened(context: ViewContext, request: Any, verb: str) -> Any:
    """What an annotation page needs: (run id, run, annotator, study, current rubric), or the form asking for
    the annotator's name (titled ``verb`` and the run) when none is set yet."""
    run_id = request.path_params["run_id"]
    run = load_run(context, run_id)
    annotator = annotator_of(request)
    if not annotator:
        return html_response(page(f"{verb} {run_id}", name_form(run_id, str(request.url.path))))
    study, rubric = study_rubric(context)
    return run_id, run, annotator, study, rubric


@guarded
def pointwise_page(context: ViewContext, request: Any) -> Any:
    opened = _opened(context, request, "Annotate")
    if not isinstance(opened, tuple):
        return opened
    run_id, run, annotator, study, rubric = opened
    mine: list[RunItem] = assigned(run_items(run), annotator, study.assignment)
    given = {(lab.document_hash, lab.summary_hash): lab for lab in LabelStore(store_of(context)).all(
        rubric_version=rubric.version, annotator=annotator) if lab.kind == "pointwise"}
    done = sum((i.document_hash, i.summary_hash) in given for i in mine)
    head = STYLE + _progress(done, len(mine), annotator, rubric) + _notes(context, run, annotator, rubric)
    chosen = request.query_params.get("item")
    if chosen and chosen.isdigit() and 1 <= int(chosen) <= len(mine):
        index = int(chosen) - 1
    else:
        index = next((n for n, i in enumerate(mine) if (i.document_hash, i.summary_hash) not in given), None)
    if index is None:
        links = " ".join(f"<a href=\"?item={n}\">{n}</a>" for n in range(1, len(mine) + 1))
        return html_response(page(f"Annotate {run_id}", head + "<p id=\"all-done\">All your items are labelled. "
                                  f"Thank you. Revisit: {links}</p>"))
    item = mine[index]
    previous = given.get((item.document_hash, item.summary_hash))
    answers = previous.answers if previous else {}
    questions = "".join(_question_html(q, answers.get(q.name)) for q in rubric.questions)
    body = (f"{head}<p>Item {index + 1} of {len(mine)} · document <b>{esc(item.document_id)}</b>"
            f"{' · <i>already labelled: saving replaces your answers</i>' if previous else ''}</p>"
            f"{_source(run, item.document_id)}<h3>Summary</h3><div class=\"ann-summary\" id=\"summary\">"
            f"{esc(item.text)}</div>"
            f"<form method=\"post\" action=\"/annotate/{quote(run_id, safe='')}/label\" id=\"label-form\">"
            f"<input type=\"hidden\" name=\"document_id\" value=\"{esc(item.document_id)}\">"
            f"<input type=\"hidden\" name=\"system\" value=\"{esc(item.system)}\">"
            f"<input type=\"hidden\" name=\"summary_hash\" value=\"{item.summary_hash}\">"
            f"<input type=\"hidden\" name=\"rubric_version\" value=\"{rubric.version}\">"
            f"{questions}<button type=\"submit\" id=\"save\">Save and next</button></form>"
            f"<p><a href=\"/agreement/{quote(run_id, safe='')}\">agreement</a></p>"
            + (SPAN_SCRIPT if any(q.kind == "spans" for q in rubric.questions) else ""))
    return html_response(page(f"Annotate {run_id}", body))


def _rubric_for(context: ViewContext, version: str, current: HumanRubric) -> HumanRubric:
    """The rubric version a form was shown with (the file may have changed since: the answers stay under it)."""
    if version == current.version:
        return current
    known = LabelStore(store_of(context)).rubrics()
    if version not in known:
        raise EvalkitError(f"the form was made with rubric version {version!r}, which this store does not know; "
                           "reload the page and answer again")
    return known[version]


def _find_item(run: Run, document_id: str, system: str, summary_hash: str) -> RunItem:
    for item in run_items(run):
        if item.document_id == document_id and item.system == system:
            if item.summary_hash != summary_hash:
                raise EvalkitError(f"the summary of {document_id}/{system} changed since the page was shown; "
                                   "nothing was saved: reload the page and judge the new text")
            return item
    raise EvalkitError(f"run {run.run_id} has no summary {document_id}/{system} any more; nothing was saved")


def _spans(raw: str, text: str) -> list[dict[str, Any]]:
    """The posted spans, each re-anchored in the summary text when the browser's offsets are off (line breaks)."""
    try:
        spans = json.loads(raw or "[]")
    except json.JSONDecodeError as exc:
        raise EvalkitError("the marked spans could not be read; reload the page and mark them again") from exc
    out = []
    for span in spans if isinstance(spans, list) else []:
        if not isinstance(span, dict):
            continue
        marked = str(span.get("text", ""))
        start = int(span.get("start", -1)) if str(span.get("start", "")).lstrip("-").isdigit() else -1
        if not marked or text[start:start + len(marked)] != marked:
            start = text.find(marked) if marked else -1
        if start < 0:
            raise EvalkitError(f"the marked span {marked[:40]!r} is not in the summary; mark it again")
        out.append({"start": start, "end": start + len(marked), "text": marked})
    return out


def _posted(context: ViewContext, request: Any, page_suffix: str) -> Any:
    """What a label POST needs: (run id, run, annotator, form, rubric of the form's version), or a redirect to
    the annotation page (``page_suffix``: "" or "/pairwise") when no annotator name is set yet."""
    run_id = request.path_params["run_id"]
    run = load_run(context, run_id)
    annotator = annotator_of(request)
    if not annotator:
        return redirect(f"/annotate/{quote(run_id, safe='')}{page_suffix}")
    form = request.state.form
    _, current = study_rubric(context)
    return run_id, run, annotator, form, _rubric_for(context, form.get("rubric_version", ""), current)


@guarded
def save_pointwise(context: ViewContext, request: Any) -> Any:
    posted = _posted(context, request, "")
    if not isinstance(posted, tuple):
        return posted
    run_id, run, annotator, form, rubric = posted
    item = _find_item(run, form.get("document_id", ""), form.get("system", ""), form.get("summary_hash", ""))
    answers: dict[str, Any] = {q.name: form.get(f"q_{q.name}") for q in rubric.questions if q.kind != "spans"}
    for q in rubric.questions:
        if q.kind == "spans":
            answers[q.name] = _spans(form.get("spans", ""), item.text)
    label = Label(item.document_hash, item.summary_hash, rubric.version, annotator, "pointwise",
                  rubric.check_answers(answers), run.run_id, item.document_id, (item.system,))
    LabelStore(store_of(context)).put([label])
    return redirect(f"/annotate/{quote(run_id, safe='')}")


# -- pairwise -------------------------------------------------------------------------------------------------
def _ordered(pair: tuple[RunItem, RunItem], annotator: str, seed: int) -> tuple[RunItem, RunItem]:
    """A and B for this annotator: the order seeded by (seed, annotator, pair), so it differs across people."""
    a, b = pair
    flip = random.Random(digest({"seed": seed, "annotator": annotator, "pair": pair_hash(a.summary_hash,
                                                                                         b.summary_hash)})).random()
    return (b, a) if flip < 0.5 else (a, b)


@guarded
def pairwise_page(context: ViewContext, request: Any) -> Any:
    opened = _opened(context, request, "Compare")
    if not isinstance(opened, tuple):
        return opened
    run_id, run, annotator, study, rubric = opened
    mine = assigned(pairs_of(run_items(run)), annotator, study.assignment)
    given = {lab.summary_hash for lab in LabelStore(store_of(context)).all(rubric_version=rubric.version,
                                                                             annotator=annotator)
             if lab.kind == "pairwise"}
    done = sum(pair_hash(a.summary_hash, b.summary_hash) in given for a, b in mine)
    head = STYLE + _progress(done, len(mine), annotator, rubric)
    todo = [p for p in mine if pair_hash(p[0].summary_hash, p[1].summary_hash) not in given]
    if not todo:
        return html_response(page(f"Compare {run_id}", head + "<p id=\"all-done\">All your pairs are judged.</p>"))
    a, b = _ordered(todo[0], annotator, study.assignment.seed)
    questions = "".join(
        f"<div class=\"ann-q\" id=\"q-{q.name}\"><b>{esc(q.shown)}</b>: which is better?"
        f"<div class=\"help\">{esc(q.help)}</div>"
        + "".join(f"<label><input type=\"radio\" name=\"q_{q.name}\" value=\"{v}\" required> {v}</label> "
                  for v in ("A", "B", TIE)) + "</div>" for q in rubric.rated)
    body = (f"{head}<p>Document <b>{esc(a.document_id)}</b> · system names are shown after you save</p>"
            f"{_source(run, a.document_id)}<div class=\"ann-pair\">"
            f"<div><h3>Summary A</h3><div class=\"ann-summary\" id=\"summary-a\">{esc(a.text)}</div></div>"
            f"<div><h3>Summary B</h3><div class=\"ann-summary\" id=\"summary-b\">{esc(b.text)}</div></div></div>"
            f"<form method=\"post\" action=\"/annotate/{quote(run_id, safe='')}/pairwise\" id=\"pair-form\">"
            f"<input type=\"hidden\" name=\"document_id\" value=\"{esc(a.document_id)}\">"
            f"<input type=\"hidden\" name=\"a\" value=\"{a.summary_hash}\">"
            f"<input type=\"hidden\" name=\"b\" value=\"{b.summary_hash}\">"
            f"<input type=\"hidden\" name=\"rubric_version\" value=\"{rubric.version}\">"
            f"{questions}<button type=\"submit\" id=\"save\">Save and reveal</button></form>")
    return html_response(page(f"Compare {run_id}", body))


@guarded
def save_pairwise(context: ViewContext, request: Any) -> Any:
    posted = _posted(context, request, "/pairwise")
    if not isinstance(posted, tuple):
        return posted
    run_id, run, annotator, form, rubric = posted
    document_id = form.get("document_id", "")
    by_hash = {i.summary_hash: i for i in run_items(run) if i.document_id == document_id}
    a, b = by_hash.get(form.get("a", "")), by_hash.get(form.get("b", ""))
    if a is None or b is None:
        raise EvalkitError(f"one of the two summaries of document {document_id!r} is no longer in run "
                           f"{run.run_id}; nothing was saved: reload the page")
    answers = {}
    for q in rubric.rated:
        choice = form.get(f"q_{q.name}")
        if choice not in ("A", "B", TIE):
            raise EvalkitError(f"question {q.shown!r}: choose A, B or tie; nothing was saved")
        answers[q.name] = {"A": a.summary_hash, "B": b.summary_hash}.get(choice, TIE)
    first, second = sorted((a, b), key=lambda i: i.summary_hash)
    LabelStore(store_of(context)).put([Label(a.document_hash, pair_hash(a.summary_hash, b.summary_hash),
                                             rubric.version, annotator, "pairwise", answers, run.run_id,
                                             document_id, (first.system, second.system))])
    body = (f"{STYLE}<p id=\"revealed\">Saved. Summary A was <b>{esc(a.system)}</b>; summary B was "
            f"<b>{esc(b.system)}</b>.</p><p><a id=\"next\" href=\"/annotate/{quote(run_id, safe='')}/pairwise\">"
            "Next pair</a></p>")
    return html_response(page(f"Compare {run_id}", body))


# -- agreement ------------------------------------------------------------------------------------------------
@guarded
def agreement_page(context: ViewContext, request: Any) -> Any:
    run_id = request.path_params["run_id"]
    run = load_run(context, run_id)
    _, current = study_rubric(context)
    store = LabelStore(store_of(context))
    labels = store.all()
    status = label_status(run, labels)
    versions = Counter(lab.rubric_version for lab in status.current)
    rubrics = store.rubrics()
    chosen = request.query_params.get("version") or current.version
    rubric = rubrics.get(chosen, current)
    body = STYLE + "".join(f"<p class=\"ann-note\">{esc(line)}</p>" for line in status.messages(run.run_id))
    if len(versions) > 1 or (versions and current.version not in versions):
        body += "<p id=\"versions\">Rubric versions with labels: " + ", ".join(
            f"<a href=\"?version={esc(v)}\">{esc(v)}</a> ({n} labels{', current' if v == current.version else ''})"
            for v, n in versions.most_common()) + "</p>"
    body += f"<p>Rubric {esc(rubric.name)} version <code>{esc(rubric.version)}</code></p>"
    body += agreement_html(run, list(status.current), rubric)
    return html_response(page(f"Agreement on {run_id}", body))
