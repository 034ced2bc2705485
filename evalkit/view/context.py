"""What every page of one viewer shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ViewContext:
    """What every page of one viewer needs."""

    root: Path
    """The folder of runs (``runs/``): each run is a sub-folder with a manifest."""
    store: Path
    """The SQLite store the runs were computed with; human labels are kept there too."""
