"""Bidirectional-text controls made harmless in what evalkit writes for people and for machines.

Unicode's bidirectional formatting characters (UAX #9: embeddings, overrides, isolates and marks) can
show text in another order than it is stored ("Trojan Source", CVE-2021-42574): a system or document
named with U+202E (RIGHT-TO-LEFT OVERRIDE) would reverse the rest of a line in a pull-request comment.
Text for people (the HTML report, the viewer, the gate's Markdown and terminal report) shows each as a
visible marker (:func:`visible_bidi`); JSON keeps the exact string, with each written as a ``\\uXXXX``
escape so no terminal or web page renders it (:func:`json_bidi_escaped`).
"""

from __future__ import annotations

import json
import re
from typing import Any

BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Unicode's bidirectional formatting characters: U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069."""


def visible_bidi(text: str) -> str:
    """``text`` with each bidirectional formatting character written as a visible marker: ``⟨U+202E⟩``."""
    return BIDI.sub(lambda match: f"⟨U+{ord(match.group()):04X}⟩", text)


def json_bidi_escaped(text: str) -> str:
    """JSON text (from :func:`json.dumps`) with each bidirectional formatting character written as its
    ``\\uXXXX`` escape: the same data once parsed (such a character can only stand inside a JSON string)."""
    return BIDI.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def strict_json(data: Any, **options: Any) -> str:
    """``data`` as strict JSON (NaN or ±inf raise: make them ``None`` first), non-ASCII text as it is and each
    bidirectional formatting character as its ``\\uXXXX`` escape (:func:`json_bidi_escaped`); ``options`` go to
    :func:`json.dumps` (``indent``, ``sort_keys``, ``default``). What the gate, the baseline and ``report --json``
    write."""
    return json_bidi_escaped(json.dumps(data, ensure_ascii=False, allow_nan=False, **options))
