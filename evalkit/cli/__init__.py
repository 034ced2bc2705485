"""The command line: ``evalkit run | report | compare | baseline | check | meta-eval``."""

from evalkit.cli.main import main

__all__ = ["main"]
