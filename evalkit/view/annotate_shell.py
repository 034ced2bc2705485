"""The annotation pages' shell: the viewer's ``page``/``esc`` (:mod:`evalkit.view.layout`) and their own style."""

from __future__ import annotations

from typing import Any

try:  # the viewer's page shell, once the read-only pages land
    from evalkit.view.layout import esc, page
except ImportError:  # pragma: no cover - a minimal shell until then
    import html as _html

    from evalkit.report.html import visible_bidi as _visible

    def esc(text: Any) -> str:
        """``text`` safe inside HTML text or a quoted attribute; bidi controls made visible."""
        return _html.escape(_visible(str(text)), quote=True)

    def page(title: str, body_html: str) -> str:
        """A whole HTML document around already escaped ``body_html``."""
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>"
                f"</head><body><h1>{esc(title)}</h1>{body_html}</body></html>\n")

COOKIE = "evalkit_annotator"
STYLE = """<style>
.ann-summary{white-space:pre-wrap;border:1px solid #9aa5b1;padding:.6em .8em;border-radius:4px;background:#fff}
.ann-source{white-space:pre-wrap;max-height:24em;overflow-y:auto;border:1px solid #d5dbe1;padding:.6em .8em;
background:#fbfcfd}
.ann-q{margin:.7em 0}.ann-q .help{color:#52606d;font-size:.9em}.ann-pair{display:grid;
grid-template-columns:1fr 1fr;gap:1em}.ann-note{background:#fff6e0;border:1px solid #e0b000;padding:.4em .8em}
mark.ann-span{background:#ffd6d6}
</style>"""
