"""The annotation pages' shell: the viewer's ``page``/``esc`` (:mod:`evalkit.view.layout`) and their own style."""

from __future__ import annotations

from evalkit.view.layout import esc, page  # noqa: F401  (the annotation pages use the viewer's shell)

COOKIE = "evalkit_annotator"
STYLE = """<style>
.ann-summary{white-space:pre-wrap;border:1px solid #9aa5b1;padding:.6em .8em;border-radius:4px;background:#fff}
.ann-source{white-space:pre-wrap;max-height:24em;overflow-y:auto;border:1px solid #d5dbe1;padding:.6em .8em;
background:#fbfcfd}
.ann-q{margin:.7em 0}.ann-q .help{color:#52606d;font-size:.9em}.ann-pair{display:grid;
grid-template-columns:1fr 1fr;gap:1em}.ann-note{background:#fff6e0;border:1px solid #e0b000;padding:.4em .8em}
mark.ann-span{background:#ffd6d6}
</style>"""
