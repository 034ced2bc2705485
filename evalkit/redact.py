"""Credentials out of everything evalkit writes: ``https://user:pass@host`` -> ``https://[REDACTED]@host``.

Core module (imports nothing of evalkit): the manifest, the store, log records and error
messages pass what they write through :func:`redact` / :func:`redact_value`.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/\s@:\"'<>]*(?::[^/\s@\"'<>]*)?)@")
_QUERY_SECRETS = re.compile(r"(?i)(?P<name>[?&](?:api[_-]?key|key|token|access_token|password|secret)=)[^&\s\"'#]+")


def redact(text: str) -> str:
    """``text`` with the user:password part of every URL, and secret-looking query parameters, replaced."""
    if "@" not in text and "=" not in text:
        return text
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{REDACTED}@" if m["userinfo"] else m[0], text)
    return _QUERY_SECRETS.sub(lambda m: f"{m['name']}{REDACTED}", text)


def redact_value(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, tuples, strings) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    return value
