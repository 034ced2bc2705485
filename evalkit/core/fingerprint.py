"""Stable hashing of settings and texts.

A fingerprint is ``"<readable name>@<16 hex digits>"``: the readable part says what made a
result, the digest says exactly how (it covers every setting). JSON is dumped with sorted keys
and fixed separators so that the same settings always hash the same on every machine.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from evalkit.core import text as _text


def canonical_json(obj: Any) -> str:
    """JSON text that is identical for equal values: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def _default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot fingerprint a {type(obj).__name__}: {obj!r}")


def digest(obj: Any, length: int = 16) -> str:
    """A hex SHA-256 digest of ``obj`` (a string is hashed as its UTF-8 bytes)."""
    data = obj if isinstance(obj, str) else canonical_json(obj)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:length]


def fingerprint(name: str, settings: dict[str, Any]) -> str:
    """``name@digest(settings)``: readable and exact."""
    return f"{name}@{digest({'name': name, **settings})}"


def document_hash(text: str, references: Sequence[str] = ()) -> str:
    """The content hash that identifies a document (its text, and its references where they matter)."""
    return digest({"text": text, "references": list(references)}, 32)


TEXT_MODULE = "evalkit.core.text"
"""The module whose definitions (words, sentences, paragraphs) every fingerprint that uses them covers."""
TEXT_KEY = "text_version"
"""The settings key under which :func:`identity` adds :data:`evalkit.core.text.TEXT_VERSION`."""


def identity(owner: type, kind: str, settings: Mapping[str, Any]) -> str:
    """The fingerprint of a strategy or metric class ``owner``: ``kind@digest(settings)``, text rules included.

    When any module ``owner`` is made of (its own and its base classes') imports
    :mod:`evalkit.core.text`, the live :data:`~evalkit.core.text.TEXT_VERSION` enters the digest as
    ``text_version``, so a change to the sentence splitter or the word counter changes the
    fingerprint without the strategy or metric saying so. A class that already names the version
    in a form of its own (``text_version_key``, kept so fingerprints stored before this rule stay
    valid) is left as it is while that value still names the live version.
    """
    payload = dict(settings)
    if uses_text_rules(owner):
        live = _text.TEXT_VERSION
        key = getattr(owner, "text_version_key", None)
        if key is None or not names_version(payload.get(key), live):
            payload[TEXT_KEY] = live
    return fingerprint(kind, payload)


def names_version(value: Any, version: str) -> bool:
    """True when ``value`` is a text that names ``v<version>`` as a word (``text-v2``, ``evalkit.text v2 (...)``)."""
    return isinstance(value, str) and re.search(rf"(?<![\w.])v{re.escape(version)}(?![\w.])", value) is not None


def uses_text_rules(owner: type) -> bool:
    """True when a module that defines ``owner`` or one of its base classes imports :mod:`evalkit.core.text`.

    Imports are read with ``ast`` (deferred ones inside functions count). A module whose
    source cannot be read counts as using it: an extra setting is harmless, a missing one is not.
    """
    return any(module_imports_text(cls.__module__) for cls in owner.__mro__ if cls.__module__ != "builtins"
               and cls.__module__ != "abc")


def module_imports_text(module_name: str) -> bool:
    """True when the module ``module_name`` imports :mod:`evalkit.core.text` anywhere (see :func:`uses_text_rules`)."""
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    return _imports_text(module_name, path)


@cache
def _imports_text(module_name: str, path: str | None) -> bool:
    if module_name == TEXT_MODULE:
        return True
    try:
        with open(path, encoding="utf-8") as handle:  # type: ignore[arg-type]
            tree = ast.parse(handle.read())
    except (OSError, TypeError, SyntaxError, UnicodeDecodeError):
        return True
    package = module_name if path.endswith("__init__.py") else module_name.rpartition(".")[0]  # type: ignore[union-attr]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == TEXT_MODULE for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{target}" if target else base
            if target == TEXT_MODULE or (target == "evalkit.core" and any(a.name == "text" for a in node.names)):
                return True
    return False
