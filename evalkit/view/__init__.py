"""``evalkit view``: a local web app over stored runs, where people also judge summaries.

A layer of its own above ``run`` and ``report``: it reads runs through their typed records,
draws what the HTML report draws, and stores human labels beside the scores in the run's
SQLite store. Only ``cli`` imports it.
"""

from evalkit.view.server import Viewer, serve, show

__all__ = ["Viewer", "serve", "show"]
