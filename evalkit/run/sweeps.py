"""Sweeps: a system entry with a ``grid:`` (alias ``matrix:``) becomes one named system per combination.

``{kind: hf-chat, name: smollm2, grid: {prompt: [a, b], temperature: [0.2, 0.8]}}`` expands, before
anything runs, into four ordinary systems named ``smollm2[prompt=a,temperature=0.2]`` and so on:
every table, chart, report and gate sees them like any other system. A grid key is an option of
the system's kind, or ``samples``, or a dotted path into a mapping option
(``generate_kwargs.temperature``). A value is shown in the name as written when it is short and
plain; a long one (a prompt) by its position, ``prompt=#2``; a grid value given as a mapping
``{short: "...", detailed: "..."}`` names each choice by its label. A ``name`` with ``{...}`` fields is
a template: ``name: "smollm2-{temperature}"`` (dots of a dotted key become ``_`` there). Combinations
follow the grid's key order, the last key varying fastest, as in ``itertools.product``.
"""

from __future__ import annotations

import difflib
import itertools
import re
import string
from collections.abc import Mapping
from typing import Any

from evalkit.core.errors import ConfigError
from evalkit.core.options import shown

GRID_KEYS = ("grid", "matrix")
"""The spec keys that hold a sweep (``matrix`` as in CI systems)."""
SHORT = 24
"""Longest value shown in a system name as itself; longer ones are shown by position (``#2``)."""
OWN_KEYS = ("samples",)
"""Grid keys taken by the runner rather than the strategy."""


def expand_systems(systems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every system spec with a grid replaced by its combinations, in order; the others as they are."""
    out: list[dict[str, Any]] = []
    for spec in systems:
        out.extend(expand(spec) if any(k in spec for k in GRID_KEYS) else [spec])
    return out


def expand(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One system spec per combination of its ``grid`` (see the module docstring)."""
    spec = dict(spec)
    given = [k for k in GRID_KEYS if k in spec]
    if len(given) > 1:
        raise ConfigError(f"system {_label(spec)!r} has both grid and matrix; keep one (they are the same thing)")
    grid = spec.pop(given[0])
    label = _label(spec)
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError(f"system {label!r}: grid must be a mapping of option -> list of values, e.g. "
                          f"grid: {{temperature: [0.2, 0.8]}}, got {shown(grid)}")
    axes: list[tuple[str, list[tuple[str, Any]]]] = []
    for key, values in grid.items():
        key = str(key)
        _check_key(spec, key, label)
        axes.append((key, _choices(key, values, label)))
    template = spec.get("name") if isinstance(spec.get("name"), str) and "{" in spec["name"] else None
    if template is not None:
        _check_template(template, [key for key, _ in axes], label)
    out = []
    for combination in itertools.product(*(choices for _, choices in axes)):
        system = dict(spec)
        shown_values = {}
        for (key, _), (text, value) in zip(axes, combination):
            _set(system, key, value, label)
            shown_values[key] = text
        if template is not None:
            system["name"] = template.format(**{k.replace(".", "_"): v for k, v in shown_values.items()})
        else:
            system["name"] = f"{label}[{','.join(f'{k}={v}' for k, v in shown_values.items())}]"
        out.append(system)
    return out


def _label(spec: Mapping[str, Any]) -> str:
    name = spec.get("name")
    return str(name) if name and "{" not in str(name) else str(spec.get("kind") or "system")


def _check_key(spec: Mapping[str, Any], key: str, label: str) -> None:
    """A one-line error, with "did you mean", for a grid key the system's kind does not take."""
    head, _, rest = key.partition(".")
    if head in GRID_KEYS or head in ("kind", "name"):
        raise ConfigError(f"system {label!r}: grid cannot vary {head!r}; write one system entry per {head}")
    if head in OWN_KEYS:
        if rest:
            raise ConfigError(f"system {label!r}: grid key {key!r}: {head} is a number, not a mapping")
        return
    accepted = _options_of(spec.get("kind"))
    if accepted is None or head in accepted:
        return  # an unknown kind is reported by the registry, with its own hint
    close = difflib.get_close_matches(head, [*accepted, *OWN_KEYS], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"system {label!r}: grid key {head!r}{hint} is not an option of {spec.get('kind')!r}; it takes: "
                      f"{', '.join([*accepted, *OWN_KEYS])}")


def _options_of(kind: Any) -> list[str] | None:
    from evalkit.core.options import options_model
    from evalkit.run.registry import SUMMARIZERS, _resolve

    if not isinstance(kind, str) or kind not in SUMMARIZERS:
        return None
    return list(options_model(_resolve(SUMMARIZERS, kind, "strategy")).model_fields)


def _choices(key: str, values: Any, label: str) -> list[tuple[str, Any]]:
    """``(shown in the name, value)`` per choice of one grid key."""
    if isinstance(values, Mapping):
        if not values:
            raise ConfigError(f"system {label!r}: grid key {key!r} has no values; give a list, e.g. {key}: [a, b]")
        return [(str(name), value) for name, value in values.items()]
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError(f"system {label!r}: grid key {key!r} must be a non-empty list of values (or a mapping "
                          f"label -> value), got {shown(values)}")
    texts = [_short(v) for v in values]
    if any(t is None for t in texts) or len(set(texts)) < len(texts):
        texts = [f"#{i}" for i in range(1, len(values) + 1)]
    return list(zip(texts, values))  # type: ignore[arg-type]  (None replaced above)


def _short(value: Any) -> str | None:
    """A value as it can stand in a system name, or None when it is too long or not plain."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str) and 0 < len(value) <= SHORT and re.fullmatch(r"[\w.:/@+-]+", value):
        return value
    return None


def _check_template(template: str, keys: list[str], label: str) -> None:
    fields = {k.replace(".", "_") for k in keys}
    try:
        named = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ConfigError(f"system {label!r}: name template {template!r}: {exc}") from exc
    unknown = sorted(named - fields)
    if unknown:
        raise ConfigError(f"system {label!r}: name template {template!r} names {unknown}, which the grid does not "
                          f"vary; use {sorted(fields)}")
    if not fields <= named:
        raise ConfigError(f"system {label!r}: name template {template!r} must name every grid key "
                          f"({', '.join('{' + f + '}' for f in sorted(fields))}), or two systems would share a name")


def _set(spec: dict[str, Any], key: str, value: Any, label: str) -> None:
    """Set ``key`` (dotted: inside a mapping option, copied, never changed in place) to ``value``."""
    head, _, rest = key.partition(".")
    if not rest:
        spec[head] = value
        return
    inner = spec.get(head) or {}
    if not isinstance(inner, Mapping):
        raise ConfigError(f"system {label!r}: grid key {key!r}: {head} is {shown(inner)}, not a mapping")
    inner = dict(inner)
    _set(inner, rest, value, label)
    spec[head] = inner
