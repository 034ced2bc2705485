"""Credentials out of everything evalkit writes: URL user-info, keys, bearer tokens, and the SDK loggers.

A key or a password in ``base_url`` (``https://user:pass@host/v1``) is registered the moment a
transport uses it (with the ``base64(user:pass)`` a Basic header would carry); :func:`scrub`
removes every registered secret (and anything shaped like a bearer or basic token, an ``sk-``
key or URL user-info) from a text, and a filter on the SDK and HTTP client loggers applies it
to every log record they emit. Nothing here imports the rest of evalkit. The manifest, the
store, log records and error messages pass what they write through :func:`redact` /
:func:`redact_value`, which remove registered secrets *by value* wherever they appear (a server
that echoes the request's headers into its reply included) and URL user-info by shape.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

_SECRET_PATTERNS = (re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9+/=._~\-]{8,}"),
                    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"))
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@")
_SECRET_QUERY = re.compile(r"(?i)([?&][^=&\s]*(?:key|token|secret|sig|password)[^=&\s]*=)[^&\s#]+")
SECRETS: set[str] = set()
"""Every key and URL password a transport has used in this process: the log filter removes them."""


def redact_url(url: str) -> str:
    """``url`` with its user-info (``user:pass@``) replaced by ``***@`` and secret-looking query values removed."""
    return _SECRET_QUERY.sub(r"\1***", _URL_USERINFO.sub(r"\1***@", url))


def redact_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A system or metric spec with ``base_url`` redacted, for manifests and logs."""
    out = dict(spec)
    if isinstance(out.get("base_url"), str):
        out["base_url"] = redact_url(out["base_url"])
    return out


def url_secrets(url: str) -> list[str]:
    """The user name, password and Basic-auth token of ``url``'s user-info (those long enough to scrub safely)."""
    parts = urlsplit(url)
    found = [s for s in (parts.password, parts.username) if s and len(s) >= 4]
    if parts.username is not None and (parts.password or parts.username):
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        found.append(base64.b64encode(pair.encode("utf-8")).decode("ascii"))
        found.extend(s for s in (unquote(parts.password or ""), unquote(parts.username)) if len(s) >= 4)
    return list(dict.fromkeys(found))


def without_userinfo(url: str) -> str:
    """``url`` with no ``user:pass@``: what is handed to an HTTP client, which would send it as Basic auth."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def register(*secrets: str | None) -> None:
    """Remember secrets (a key, a URL password) so that every later :func:`redact` removes them by value."""
    SECRETS.update(s for s in secrets if s and len(s) >= 4)


def remove_secrets(text: str) -> str:
    """``text`` with every registered secret replaced by ``[REDACTED]``; nothing else changes.

    For model output: the shape-based patterns of :func:`scrub` (``bearer ...``) could change a
    summary's words, a registered value cannot occur by chance.
    """
    for secret in sorted(SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[REDACTED]")
    return text


def scrub(text: str, secrets: Sequence[str | None] = ()) -> str:
    """``text`` without the given secrets, registered ones, URL passwords, bearer tokens or ``sk-`` keys."""
    for secret in sorted({*(s for s in secrets if s), *SECRETS}, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, "[REDACTED]")
    text = redact_url(text)
    text = _SECRET_PATTERNS[0].sub(r"\1[REDACTED]", text)
    return _SECRET_PATTERNS[1].sub("sk-[REDACTED]", text)


class _ScrubFilter(logging.Filter):
    """Rewrites records of the SDK and HTTP loggers so no key or URL password reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_FILTER = _ScrubFilter()
for _name in ("httpx", "httpx2", "httpcore.connection", "httpcore.http11", "httpcore2.connection",
              "httpcore2.http11", "openai", "openai._base_client", "anthropic",
              "anthropic._base_client", "evalkit.hosted.client", "evalkit.summarizers.api",
              "evalkit.metrics.judge"):  # a logger's filter does not see its children's records
    logging.getLogger(_name).addFilter(_FILTER)


def redact(text: str) -> str:
    """``text`` without registered secrets (by value), URL user-info or secret-looking query values."""
    text = remove_secrets(text)
    if "@" not in text and "=" not in text:
        return text
    return redact_url(text)


def redact_value(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, tuples, strings) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    return value


def shown(value: Any, limit: int = 80) -> str:
    """What an error message may echo of a user's value: its repr (strings bare), redacted, cut to ``limit``."""
    text = redact(value if isinstance(value, str) else repr(value))
    return text if len(text) <= limit else text[:limit - 3] + "..."
