"""``evalkit report RUN --html FILE``: one self-contained HTML file for a stored run.

Nothing is fetched when the file is viewed: the CSS and the script are inline and the charts
are PNG data URIs drawn by the public chart functions of :mod:`evalkit.report.plots`. A chart with
nothing to show (the function raises ``ValueError``) is left out with a sentence saying why.

The page has the run's per-system table (labels and units from the run's measures), the
ranking with confidence intervals and significance per headline value, every metric's
values (length compliance and feasibility among them), API cost where known, and a
per-document drill-down: each system's summary with the entities the entity metric found
unsupported by the source highlighted, and its scores.

It stays usable at 1,000 documents x 6 systems because the per-document data is embedded
once as JSON in a ``<script type="application/json">`` block and a document is rendered only
when it is opened. All text is escaped: Python-side with :func:`html.escape`, inside the JSON
block with ``<``, ``>``, ``&`` and U+2028/9 written as ``\\uXXXX`` escapes, and the script builds
the drill-down with ``textContent`` only, so a hostile article or system name cannot run script.
Bidirectional-text controls cannot reorder what is shown either: each is written as a visible
marker such as ``⟨U+202E⟩`` (:func:`evalkit.report.bidi.visible_bidi`), in the tables and in the drill-down's data.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from pathlib import Path
from typing import Any

from evalkit.core.types import LengthTarget, Measure
from evalkit.report.bidi import visible_bidi
from evalkit.report.judging import diagnostics_html
from evalkit.report.summary import run_summary, value_names
from evalkit.report.tables import cut_legend, json_number, stopped_at_budget
from evalkit.run.record import Run

log = logging.getLogger(__name__)

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_for_script(data: Any) -> str:
    """``data`` as JSON that is safe inside ``<script type="application/json">`` (no ``</script>`` can appear)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escape in _JSON_ESCAPES.items():
        text = text.replace(char, escape)
    return text


def _e(value: Any) -> str:
    return html.escape(visible_bidi(str(value)), quote=True)


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _chart_section(run: Run) -> str:
    from evalkit.report.plots import charts_of

    parts = []
    for chart, make in charts_of(run):
        title = chart.title
        try:
            figure = make()
        except ValueError as exc:  # the chart has nothing to show for this run
            parts.append(f'<figure class="chart missing"><figcaption>{_e(title)}: not drawn: {_e(exc)}'
                         "</figcaption></figure>")
            continue
        parts.append(f'<figure class="chart"><img alt="{_e(title)}" src="data:image/png;base64,{_png(figure)}">'
                     f"<figcaption>{_e(title)}</figcaption></figure>")
    return "\n".join(parts)


def _fmt(measure: dict[str, Any], value: float | None) -> str:
    return Measure.from_dict(measure).format(value)


def _heading(measure: dict[str, Any]) -> str:
    """The one heading rule, the table's and the charts' (:attr:`Measure.axis_label`): label (unit)."""
    return Measure.from_dict(measure).axis_label


def _direction(measure: dict[str, Any]) -> str:
    better = measure.get("higher_is_better")
    return "" if better is None else (" ↑" if better else " ↓")


def _table(summary: dict[str, Any], names: list[str], caption: str) -> str:
    measures = summary["measures"]
    head = "".join(f'<th title="{_e(measures[n].get("description") or n)}">{_e(_heading(measures[n]))}'
                   f"{_direction(measures[n])}<br><code>{_e(n)}</code></th>" for n in names)
    show_cuts = any(entry.get("cut") is not None for entry in summary["systems"].values())
    rows = []
    for system, values in summary["means"].items():
        cells = "".join(f'<td class="num">{_fmt(measures[n], values.get(n))}</td>' for n in names)
        entry = summary["systems"].get(system, {})
        cut = entry.get("cut")
        cells += f'<td class="num">{entry.get("failed", 0)}</td>'
        if show_cuts:
            cells += f'<td class="num{" cut" if cut else ""}">{"–" if cut is None else cut}</td>'
        rows.append(f"<tr><th>{_e(system)}</th>{cells}</tr>")
    cut_head = f'<th class="cut" title="{_e(cut_legend())}">cut</th>' if show_cuts else ""
    return (f"<table><caption>{_e(caption)}</caption><thead><tr><th>system</th>{head}<th>failed</th>{cut_head}"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _rankings(summary: dict[str, Any]) -> str:
    parts = []
    for name, rows in summary["rankings"].items():
        measure = summary["measures"][name]
        body = "".join(
            (f"<tr class=\"bound\"><td class=\"num\">–</td><td></td><th>{_e(r['system'])}</th>"
             f"<td class=\"num\">{_fmt(measure, r['mean'])}</td>"
             f"<td class=\"num\">[{_fmt(measure, r['ci_low'])}, {_fmt(measure, r['ci_high'])}]</td>"
             f"<td class=\"num\">–</td><td>{_e(r['note'])}</td></tr>") if r.get("rank") is None else
            (f"<tr><td class=\"num\">{r['rank']}</td><td>{_e(r['group'])}</td><th>{_e(r['system'])}</th>"
             f"<td class=\"num\">{_fmt(measure, r['mean'])}</td>"
             f"<td class=\"num\">[{_fmt(measure, r['ci_low'])}, {_fmt(measure, r['ci_high'])}]</td>"
             f"<td class=\"num\">{r['rank_best']}–{r['rank_worst']}</td><td>{_e(r['better_than'])}</td></tr>")
            for r in rows)
        parts.append(f"<table><caption>{_e(_heading(measure))}{_direction(measure)}</caption><thead><tr><th>rank</th>"
                     "<th>group</th><th>system</th><th>mean</th><th>95% CI</th><th>rank range</th>"
                     f"<th>significantly better than</th></tr></thead><tbody>{body}</tbody></table>")
        detectable = (summary.get("detectable") or {}).get(name)
        if detectable:
            parts.append(f'<p class="mde">{_e(detectable["text"])}.</p>')
    if not parts:
        return "<p>No ranking: the run has fewer than two systems or no headline value with a better direction.</p>"
    return ("<p>Bootstrap 95% confidence intervals; “better than” = a paired permutation test, Holm-corrected, "
            f"alpha={summary['alpha']:g}. Systems in one group are not significantly apart from its first.</p>"
            + "\n".join(parts))


def _by_metric(run: Run, summary: dict[str, Any]) -> str:
    parts = []
    present = set(summary["measures"])
    for key, entry in run.manifest.metrics.items():
        names = [m.name for m in entry.measures if m.name in present]
        if names:
            parts.append(_table(summary, names, f"{key} ({entry.kind}, signature {entry.signature})"))
    return "\n".join(parts)


def _cost(summary: dict[str, Any]) -> str:
    if not summary["cost"]:
        return "<p>No cost is known: no system in this run was an API model.</p>"
    return "<ul>" + "".join(f"<li><b>{_e(s)}</b>: {_e(c['text'])}</li>" for s, c in summary["cost"].items()) + "</ul>"


def _unsupported(run: Run, field: str = "unsupported_entities") -> dict[tuple[str, str], list[str]]:
    """(document, system) -> the unsupported entities (or, with ``field="unsupported_numbers"``, numbers),
    from the entity metric's facts."""
    keys = {key for key, entry in run.manifest.metrics.items() if entry.kind == "entities"}
    rows = run.facts[run.facts["metric"].isin(keys)]
    out: dict[tuple[str, str], list[str]] = {}
    for document, system, info in zip(rows["document_id"], rows["system"], rows["info"]):
        names = info.get(field) or []
        out.setdefault((str(document), str(system)), []).extend(str(n) for n in names if n)
    return {k: list(dict.fromkeys(v)) for k, v in out.items()}


def cut_badge(details: dict[str, Any]) -> str | None:
    """The drill-down's badge for a summary the length budget stopped, from its details; ``None`` otherwise."""
    if not stopped_at_budget(details):
        return None
    if details.get("cut") is True:
        return "cut at the length budget: ends mid-sentence"
    trimmed = details.get("trimmed_words")
    return ("stopped at the length budget" + (f", trimmed back {trimmed} words to its last full sentence"
                                              if isinstance(trimmed, int) and trimmed else ""))


def document_data(run: Run, names: list[str]) -> dict[str, Any]:
    """The drill-down's data, compact: per document, per system ``[text, error, [scores], [entities], [numbers],
    cut]`` (the unsupported entities and numbers; ``cut``: :func:`cut_badge` or ``None``)."""
    systems = list(dict.fromkeys([*run.manifest.systems, *map(str, run.summaries["system"])]))
    wide = run.wide()
    scores: dict[tuple[str, str], list] = {}
    columns = [n for n in names if n in wide.columns]
    for row in wide[["document_id", "system", *columns]].itertuples(index=False):
        scores[(str(row[0]), str(row[1]))] = [None if json_number(v) is None else round(json_number(v), 6)
                                              for v in row[2:]]  # NaN and ±inf: n/a
    unsupported, numbers = _unsupported(run), _unsupported(run, "unsupported_numbers")
    documents: dict[str, dict[str, list]] = {}
    for row in run.summaries.itertuples(index=False):
        document, system = str(row.document_id), str(row.system)
        error = row.error if isinstance(row.error, str) else None
        text = row.text if isinstance(row.text, str) else ""
        details = row.details if isinstance(row.details, dict) else {}
        documents.setdefault(document, {})[system] = [text, error, scores.get((document, system), []),
                                                      unsupported.get((document, system), []),
                                                      numbers.get((document, system), []),
                                                      None if error else cut_badge(details)]
    targets = {document: _target(target) for document, target in run.targets().items()}
    return {"systems": systems, "values": columns,
            "labels": [run.measure(n).label for n in columns],
            "scales": [100 if run.measure(n).is_fraction else 1 for n in columns],
            "units": [_unit(run.measure(n)) for n in columns],
            "headline": [run.measure(n).headline for n in columns],
            "documents": [[d, targets[d], [documents[d].get(s) for s in systems]] for d in documents]}


def _unit(measure: Measure) -> str:
    """What the drill-down writes after a value: ``%`` for fractions, `` words`` for a length, else nothing."""
    return "%" if measure.is_fraction else (f" {measure.unit}" if measure.unit else "")


def _target(target: LengthTarget | None) -> str:
    """A length target as a phrase (:meth:`LengthTarget.describe`: "in 3 sentences"), or "none"."""
    return (target.describe() if target is not None else "") or "none"


def report_sections(run: Run, summary: dict[str, Any], names: list[str]) -> str:
    """The report's sections as HTML: per-system means, ranking, yes/no checks, charts, every value, cost
    (``summary``: :func:`~evalkit.report.summary.run_summary`; ``names``: :func:`~evalkit.report.summary.value_names`).
    The viewer's run page shows the same sections."""
    headline = [n for n in summary["headline"] if n in summary["measures"]] or names[:6]
    flags = [n for n in names if summary["measures"][n].get("scale") == "flag"]
    return "".join([
        "<section id=\"table\"><h2>Per-system means</h2>",
        _table(summary, headline, "Headline values (means over documents; fractions in %; ↑ higher is better, "
                                  "↓ lower is better)") if headline else "<p>No scores in this run.</p>",
        "</section>",
        f"<section id=\"ranking\"><h2>Ranking</h2>{_rankings(summary)}</section>",
        "<section id=\"compliance\"><h2>Length compliance and other yes/no checks</h2>",
        _table(summary, flags, "Share of summaries meeting each condition (%): length on target, target feasible...")
        if flags else "<p>No yes/no values (such as length compliance) in this run.</p>",
        "</section>",
        f"<section id=\"charts\"><h2>Charts</h2><div class=\"charts\">{_chart_section(run)}</div></section>",
        f"<section id=\"metrics\"><h2>Every value, by metric</h2>{_by_metric(run, summary)}</section>",
        f"<section id=\"cost\"><h2>Cost</h2>{_cost(summary)}</section>",
        diagnostics_html(run, summary.get("judging")),  # the data report --json has; empty without a judge
    ])


def render_html(run: Run) -> str:
    """The report of ``run`` as one HTML document (a string)."""
    summary = run_summary(run)
    names = value_names(run)
    title = f"evalkit report: {run.run_id}"
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p class=\"meta\">{_e(summary['n_documents'])} documents × {len(summary['systems'])} systems "
        f"({_e(', '.join(summary['systems']))}); length target: {_e(_target(run.manifest.config.target))}; "
        f"created {_e(summary['created'] or '?')}.</p>",
        "<nav><a href=\"#table\">table</a> · <a href=\"#ranking\">ranking</a> · <a href=\"#charts\">charts</a> · "
        "<a href=\"#metrics\">every value</a> · <a href=\"#cost\">cost</a> · <a href=\"#documents\">documents</a></nav>",
        report_sections(run, summary, names),
        "<section id=\"documents\"><h2>Documents</h2><p>Pick a document to see each system's summary and scores; "
        "<mark class=\"unsupported\">highlighted</mark> entities and numbers are not supported by the source; "
        "<span class=\"badge cut\">cut</span> marks a summary the length budget stopped.</p>"
        "<div class=\"docs\"><div class=\"picker\"><input id=\"filter\" type=\"search\" placeholder=\"filter by id\" "
        "aria-label=\"filter documents by id\"><label class=\"only\"><input id=\"flagged\" type=\"checkbox\"> only with "
        "unsupported entities or numbers</label><ol id=\"doclist\"></ol><div class=\"pager\">"
        "<button id=\"prev\" type=\"button\">‹ prev</button><span id=\"page\"></span>"
        "<button id=\"next\" type=\"button\">next ›</button></div></div><div id=\"doc\" class=\"doc\">"
        "<p>No document selected.</p></div></div></section>",
    ]
    data = visible_bidi(json_for_script(document_data(run, names)))  # the markers hold no JSON syntax
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}"
            f"<script type=\"application/json\" id=\"evalkit-data\">{data}</script>"
            f"<script>{_JS}</script></body></html>\n")


def write_html(run: Run | str | Path, path: str | Path) -> Path:
    """Write the self-contained HTML report of ``run`` (a :class:`Run` or its folder) to ``path``."""
    run = run if isinstance(run, Run) else Run.load(run)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(run), encoding="utf-8")
    return path


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;
color:#1d232a;background:#fff}
h1{font-size:1.5em;margin-bottom:.2em}h2{border-bottom:2px solid #dde3ea;padding-bottom:.2em;margin-top:1.6em}
.meta{color:#52606d}nav a{color:#2457a6}
table{border-collapse:collapse;margin:.8em 0 1.4em;font-size:.92em;display:block;max-width:100%;overflow-x:auto}caption{text-align:left;font-weight:600;
padding:.3em 0}th,td{border:1px solid #d5dbe1;padding:.3em .6em;vertical-align:top}thead th{background:#eef2f6}
tbody th{text-align:left;background:#f7f9fb}td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.85em;color:#52606d}tr.bound{color:#52606d;font-style:italic}
.charts{display:flex;flex-wrap:wrap;gap:1em}.chart{margin:0;max-width:100%}.chart img{max-width:100%;
border:1px solid #e3e8ee}.chart.missing figcaption{color:#8a5a00;background:#fff6e0;padding:.5em .8em}
mark.unsupported{background:#ffd1d1;color:#8b0000;border-bottom:2px solid #d00;padding:0 .1em}
.badge{display:inline-block;font-size:.75em;font-weight:600;padding:.05em .5em;border-radius:.8em;margin-left:.6em;
vertical-align:middle}.badge.cut{background:#fff0c2;color:#7a4b00;border:1px solid #e0b000}td.cut{color:#7a4b00;font-weight:600}
.docs{display:flex;gap:1.5em;align-items:flex-start}.picker{flex:0 0 15em}.picker input{width:100%;
box-sizing:border-box;padding:.3em}#doclist{padding-left:0;list-style:none;margin:.5em 0}
#doclist button{width:100%;text-align:left;background:#f4f6f8;border:1px solid #d5dbe1;margin:1px 0;
padding:.25em .5em;cursor:pointer;font:inherit;font-size:.85em;overflow-wrap:anywhere}
.only{display:block;font-size:.85em;margin:.3em 0}.scores summary{cursor:pointer;color:#2457a6}#doclist button.current{background:#2457a6;color:#fff}
#doclist .flag{float:right;color:#b00}#doclist button.current .flag{color:#fff}
.pager{display:flex;justify-content:space-between;align-items:center;gap:.3em}.doc{flex:1;min-width:0}
.summary{border:1px solid #d5dbe1;border-radius:4px;padding:.6em .9em;margin:.6em 0}.summary h4{margin:0 0 .3em}
.summary .text{white-space:pre-wrap}.summary .error{color:#b00}.scores{font-size:.85em;color:#3e4c59;
margin-top:.4em}.scores span{display:inline-block;margin-right:1em}
"""

_JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("evalkit-data").textContent);
  var PAGE = 50, page = 0, current = null, shown = data.documents;
  var list = document.getElementById("doclist"), view = document.getElementById("doc");
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
  function flagged(doc) {
    var n = 0;
    doc[2].forEach(function (entry) { if (entry) { n += entry[3].length + entry[4].length; } });
    return n;
  }
  function highlight(parent, text, entities) {
    var lower = text.toLowerCase(), spans = [];
    entities.slice().sort(function (a, b) { return b.length - a.length; }).forEach(function (entity) {
      var needle = entity.toLowerCase(), from = 0, at;
      if (!needle) { return; }
      while ((at = lower.indexOf(needle, from)) >= 0) {
        var end = at + needle.length, free = spans.every(function (s) { return end <= s[0] || at >= s[1]; });
        if (free) { spans.push([at, end]); }
        from = end;
      }
    });
    spans.sort(function (a, b) { return a[0] - b[0]; });
    var pos = 0;
    spans.forEach(function (s) {
      parent.appendChild(document.createTextNode(text.slice(pos, s[0])));
      var mark = el("mark", "unsupported", text.slice(s[0], s[1]));
      mark.title = "not supported by the source";
      parent.appendChild(mark);
      pos = s[1];
    });
    parent.appendChild(document.createTextNode(text.slice(pos)));
  }
  function format(value, scale) {
    if (value === null || value === undefined) { return "n/a"; }
    var shown = value * scale;
    return Math.abs(shown) >= 100 || scale === 100 ? shown.toFixed(1) : shown.toPrecision(3);
  }
  function show(index) {
    var doc = shown[index];
    current = doc[0];
    while (view.firstChild) { view.removeChild(view.firstChild); }
    view.appendChild(el("h3", null, "Document " + doc[0]));
    if (doc[1]) { view.appendChild(el("p", "meta", "Length target: " + doc[1])); }
    data.systems.forEach(function (system, i) {
      var entry = doc[2][i], box = el("div", "summary");
      box.setAttribute("data-system", system);
      var head = el("h4", null, system);
      box.appendChild(head);
      if (!entry) { box.appendChild(el("p", "error", "(no summary in this run)")); view.appendChild(box); return; }
      if (entry[1]) { box.appendChild(el("p", "error", "failed: " + entry[1])); }
      if (entry[5]) { head.appendChild(el("span", "badge cut", entry[5])); }
      var text = el("div", "text");
      highlight(text, entry[0], entry[3].concat(entry[4]));
      box.appendChild(text);
      if (entry[3].length) { box.appendChild(el("p", "scores", "Unsupported entities: " + entry[3].join("; "))); }
      if (entry[4].length) { box.appendChild(el("p", "scores", "Unsupported numbers: " + entry[4].join("; "))); }
      var scores = el("div", "scores"), more = el("details", "scores"), others = 0;
      more.appendChild(el("summary", null, "all values"));
      data.values.forEach(function (name, j) {
        var value = format(entry[2][j], data.scales[j]);
        var item = el("span", null, data.labels[j] + ": " + value + (value === "n/a" ? "" : data.units[j]));
        item.title = name;
        if (data.headline[j]) { scores.appendChild(item); } else { more.appendChild(item); others++; }
      });
      box.appendChild(scores);
      if (others) { box.appendChild(more); }
      view.appendChild(box);
    });
    renderList();
  }
  function renderList() {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    var pages = Math.max(1, Math.ceil(shown.length / PAGE));
    page = Math.min(page, pages - 1);
    shown.slice(page * PAGE, (page + 1) * PAGE).forEach(function (doc, k) {
      var item = el("li"), button = el("button", doc[0] === current ? "current" : null, doc[0]);
      button.type = "button";
      button.setAttribute("data-document", doc[0]);
      var n = flagged(doc);
      if (n) { button.appendChild(el("span", "flag", "⚑" + n)); }
      button.addEventListener("click", function () { show(page * PAGE + k); });
      item.appendChild(button);
      list.appendChild(item);
    });
    document.getElementById("page").textContent = shown.length ?
      (page + 1) + " / " + pages + " (" + shown.length + ")" : "no match";
  }
  function refilter() {
    var q = document.getElementById("filter").value.toLowerCase();
    var only = document.getElementById("flagged").checked;
    shown = data.documents.filter(function (doc) {
      return doc[0].toLowerCase().indexOf(q) >= 0 && (!only || flagged(doc) > 0);
    });
    page = 0;
    renderList();
  }
  document.getElementById("filter").addEventListener("input", refilter);
  document.getElementById("flagged").addEventListener("change", refilter);
  document.getElementById("prev").addEventListener("click", function () { if (page > 0) { page--; renderList(); } });
  document.getElementById("next").addEventListener("click", function () {
    if ((page + 1) * PAGE < shown.length) { page++; renderList(); }
  });
  renderList();
})();
"""
