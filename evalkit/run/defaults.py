"""The default run's optional API systems: added when their key is set, reported either way.

``evalkit run`` with no config runs ``configs/default.yaml`` and, for each entry of
``configs/api-systems.yaml`` whose ``key_env`` is set in the environment, its API system
too. A missing key never fails the run; :func:`add_api_systems` returns the lines that say
what was added and how to add the rest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

API_SYSTEMS = Path(__file__).resolve().parents[1] / "configs" / "api-systems.yaml"


def load_api_systems(path: Path = API_SYSTEMS) -> list[dict[str, Any]]:
    """``[{key_env, system}, ...]`` from ``path``."""
    from evalkit.core import yamlsafe

    return list(yamlsafe.safe_load(path.read_text(encoding="utf-8")) or [])


def add_api_systems(experiment: Any, environ: Mapping[str, str] | None = None,
                    path: Path = API_SYSTEMS) -> list[str]:
    """Append to ``experiment.systems`` the API systems whose key is set; one line per system saying so."""
    environ = os.environ if environ is None else environ
    lines = []
    names = {s.get("name") or s.get("kind") for s in experiment.systems}
    for entry in load_api_systems(path):
        system, key = dict(entry["system"]), entry["key_env"]
        if system["name"] in names:
            continue
        if environ.get(key, "").strip():
            experiment.systems.append(system)
            lines.append(f"API system {system['name']} ({system['kind']}, {system['model']}): included, {key} is set")
        else:
            lines.append(f"API system {system['name']} ({system['kind']}, {system['model']}): not run; to add it, "
                         f"export {key}=... and run again")
    return lines
