"""The viewer's page shell: one HTML frame, one style sheet, one escaping rule for every page.

Every page of ``evalkit view`` (the read-only pages and the annotation pages) is built as
``page(title, body_html)``, and every piece of text that came from a run (article, summary,
system name, document id, error message) goes through :func:`esc` before it is put into
``body_html``. ``esc`` is the HTML report's rule (:func:`evalkit.report.bidi.visible_bidi` then
:func:`html.escape` with quotes), so a hostile article cannot run script nor reorder what is shown.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from evalkit.report.bidi import visible_bidi
from evalkit.report.html import (
    _CSS as _REPORT_CSS,  # one style for the report and the viewer
)

CSS = _REPORT_CSS + """
header.top{display:flex;gap:1.2em;align-items:baseline;border-bottom:1px solid #dde3ea;padding-bottom:.4em}
header.top a.home{font-weight:700;color:#1d232a;text-decoration:none}
.worse{color:#8b0000;font-weight:600}.better{color:#0b5d1e;font-weight:600}.same{color:#52606d}
.flag{color:#b00}table.scores{font-size:.85em;margin:.4em 0 0}blockquote.reference{margin:.4em 0;color:#3e4c59}
.sig{display:inline-block;font-size:.75em;font-weight:700;padding:0 .45em;border-radius:.8em;margin-left:.4em;
background:#2457a6;color:#fff}.ns{color:#8a96a3;font-size:.8em;margin-left:.4em}
.note{background:#fff6e0;border:1px solid #e0b000;color:#5a3b00;padding:.5em .8em;border-radius:4px}
.source{white-space:pre-wrap;border:1px solid #d5dbe1;background:#fbfcfd;border-radius:4px;padding:.8em 1em;
max-height:32em;overflow-y:auto}
.side{display:grid;grid-template-columns:repeat(auto-fill,minmax(18em,1fr));gap:.8em}
.side .summary{margin:0}.side .summary.sampled{grid-column:span 2}.wide{overflow-x:auto}
table.scores.mean caption{text-align:left;font-size:.9em;color:#52606d;padding-bottom:.2em}
del{background:#ffe3e3;color:#8b0000}ins{background:#dcf5e3;color:#0b5d1e;text-decoration:underline}
.pair{border-top:1px solid #dde3ea;margin-top:1em}.pair .text{white-space:pre-wrap}.scores span.change{margin:0;display:inline}
mark.claim{background:#fff0db;border-bottom:2px solid #c2410c}.claims ul{margin:.1em 0 .4em 1.2em;padding:0}
form.compare{margin:.6em 0}form.compare select{font:inherit;padding:.2em}
"""
"""The report's style sheet plus the viewer's own rules (signs, significance markers, side-by-side)."""


def esc(text: Any) -> str:
    """``text`` (any value, ``str()``-ed) safe inside HTML text or a quoted attribute; bidi controls made visible."""
    return html.escape(visible_bidi(str(text)), quote=True)


def href(*parts: Any) -> str:
    """A root-relative URL from path segments, each percent-encoded (a document id may hold ``/`` or ``?``)."""
    return "/" + "/".join(quote(str(part), safe="") for part in parts)


def page(title: str, body_html: str, refresh: int | None = None) -> str:
    """A whole HTML document: ``title`` (plain text, escaped here) and ``body_html`` (already escaped HTML);
    ``refresh``: reload every so many seconds (a page whose numbers are still being computed)."""
    reload = f"<meta http-equiv=\"refresh\" content=\"{int(refresh)}\">" if refresh else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{reload}"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            "<header class=\"top\"><a class=\"home\" href=\"/\">evalkit view</a><a href=\"/\">runs</a></header>"
            f"<h1>{esc(title)}</h1>{body_html}</body></html>\n")
