"""The one YAML reader for configs, policies, rubrics, price files and ``--metric`` specs: bounded.

``yaml.safe_load`` builds no objects from tags, but it resolves aliases: ten lines of anchors
that each repeat the previous one ten times (a "billion laughs" document of a few hundred
bytes) stand for 10**9 values, and whatever walks the result (a fingerprint, ``json.dumps``,
a redacted copy of the config) runs out of memory. :func:`safe_load` reads like
``yaml.safe_load`` but refuses, before anything is built, a document larger than
:data:`MAX_BYTES` or one whose aliases expand to more than :data:`MAX_NODES` values; every
error it raises is a :class:`yaml.YAMLError` (so callers' handlers keep working) with a
one-line message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 8 * 2**20
"""A config, policy or rubric larger than this is refused (data belongs in JSONL files, not YAML)."""
MAX_NODES = 200_000
"""Values a document may stand for once its aliases are expanded."""


class YAMLLimitError(yaml.YAMLError):
    """The document is too large, or its aliases expand past :data:`MAX_NODES` values."""


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` that measures the composed document, aliases expanded, before constructing it."""

    def compose_document(self) -> Any:
        node = super().compose_document()
        if node is not None:
            _check_size(node)
        return node


def _check_size(root: yaml.Node) -> None:
    """Raise when ``root``, with every alias expanded, holds more than :data:`MAX_NODES` values."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # iterative post-order: a deep document cannot exhaust the Python stack
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            sizes[id(node)] = 1
            continue
        if not children_done:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        total = 1 + sum(sizes.get(id(child), 1) for child in children)
        if total > MAX_NODES:
            raise YAMLLimitError(f"the document's aliases (*name) expand to more than {MAX_NODES:,} values; "
                                 "write the values out or use fewer aliases")
        sizes[id(node)] = total


def safe_load(text: str | bytes) -> Any:
    """``yaml.safe_load(text)`` within :data:`MAX_BYTES` and :data:`MAX_NODES`; errors on one line."""
    if len(text) > MAX_BYTES:
        raise YAMLLimitError(f"the document is {len(text):,} bytes, over the {MAX_BYTES:,} a config may have")
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no tags build objects
    except YAMLLimitError:
        raise
    except yaml.YAMLError as exc:
        raise yaml.YAMLError(" ".join(str(exc).split())) from exc


def read_named(value: str | Path, folder: Path, *, what: str, docs: str) -> tuple[str, Any]:
    """A built-in YAML file of ``folder`` by name (``geval`` reads ``folder/geval.yaml``) or a path to one:
    ``(where it came from, the parsed document)``. A missing file or invalid YAML is a one-line
    :class:`~evalkit.core.errors.ConfigError` naming ``what`` (e.g. "rubric"), the built-in names and ``docs``."""
    from evalkit.core.errors import ConfigError

    text = str(value)
    path = folder / f"{text}.yaml" if "/" not in text and not text.endswith((".yaml", ".yml")) else Path(text)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        raise ConfigError(f"{what} {text!r}: no such built-in {what} or file; use one of {known} or a path to a "
                          f"{what} YAML (see {docs})")
    try:
        return str(path), safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())[:200]
        raise ConfigError(f"{path}: not valid YAML ({first}); fix the file (see {docs})") from exc
