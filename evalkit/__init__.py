"""evalkit: which news summarizer should you trust?

The package is laid out by layer, and each layer is a folder (``tests/test_architecture.py``
checks the rules): ``core`` (value types, errors, text, targets, fingerprints, options),
``inputs`` (loading and cleaning), ``hosted`` (the API transport and prices), ``summarizers``,
``metrics``, ``run`` (registry, store, runner, executors, the run record and its schema),
``report`` (statistics, tables, charts, HTML, the gate, meta-evaluation) and ``cli``.

The names most users need are importable from here; each is loaded on first use, so
``import evalkit`` stays cheap::

    from evalkit import Experiment, Run, parse_target, plots
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "Document": "evalkit.core.types",
    "LengthTarget": "evalkit.core.types",
    "Summary": "evalkit.core.types",
    "ScoreRow": "evalkit.core.types",
    "Measure": "evalkit.core.types",
    "parse_target": "evalkit.core.targets",
    "EvalkitError": "evalkit.core.errors",
    "ConfigError": "evalkit.core.errors",
    "Experiment": "evalkit.run.experiment",
    "Run": "evalkit.run.record",
    "build_summarizer": "evalkit.run.registry",
    "build_metric": "evalkit.run.registry",
    "assert_no_regression": "evalkit.report.gate.testing",
}
_MODULES = {"plots": "evalkit.report.plots", "stats": "evalkit.report.stats", "gate": "evalkit.report.gate"}

__all__ = sorted([*_PUBLIC, *_MODULES])


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib import metadata

        return metadata.version("evalkit")
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    raise AttributeError(f"module 'evalkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
