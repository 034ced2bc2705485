"""Stable hashing of settings and texts.

A fingerprint is ``"<readable name>@<16 hex digits>"``: the readable part says what made a
result, the digest says exactly how (it covers every setting). JSON is dumped with sorted keys
and fixed separators so that the same settings always hash the same on every machine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any


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
