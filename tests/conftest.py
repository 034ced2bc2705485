"""Shared fixtures: the real news data in ../shared/data (skipped when absent) and tiny inline documents."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from evalkit.core.fingerprint import document_hash
from evalkit.core.types import Document

pytest_plugins = ["real_server"]  # session fixtures: SmolLM2 and a real transformers serve (tests/real_server.py)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

CNNDM_COLUMNS = {"text": "article", "references": "highlights", "id": "id"}
"""How the shared CNN/DailyMail sample's columns map onto documents."""


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real news data shared by the project (``../shared/data``)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def cnndm_path(shared_data: Path) -> Path:
    path = shared_data / "cnndm_sample.jsonl"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def cnndm_documents(cnndm_path: Path) -> list[Document]:
    """All 631 CNN/DailyMail sample documents, with ``highlights`` as the one reference."""
    from evalkit.inputs.data import load

    return load({"path": str(cnndm_path), "columns": CNNDM_COLUMNS})


TINY_ROWS = [
    {
        "id": "council",
        "article": ("The city council approved the new budget on Monday. The budget raises spending on schools "
                    "by ten percent. Residents protested outside the town hall. Mayor Ana Ruiz promised a review "
                    "of bus fares. Police said the protest was peaceful."),
        "references": ["The council approved a budget that raises school spending by ten percent."],
    },
    {
        "id": "storm",
        "article": ("A storm hit the coast on Friday night. Thousands of homes lost power. Engineers worked "
                    "through the weekend to repair the lines. Schools stayed closed on Monday. Officials said "
                    "power would return by Wednesday."),
        "references": ["A storm cut power to thousands of homes; officials expect it back by Wednesday.",
                       "Thousands lost power after a Friday storm."],
    },
    {
        "id": "match",
        "article": ("Zürich beat Łódź 2-1 in a friendly match on Saturday. The winning goal came in the final "
                    "minute. Fans celebrated in the streets of Zürich. The coach praised his young defenders. "
                    "The teams meet again in May."),
        "references": ["Zürich beat Łódź 2-1 with a late goal."],
    },
    {
        "id": "library",
        "article": ("The old library will reopen next month after a long renovation. Workers replaced the roof "
                    "and the heating. The reading room now has space for two hundred people. Volunteers will "
                    "run a book sale at the opening."),
        "references": ["The renovated library reopens next month with a larger reading room."],
    },
]
"""Four small news-like documents (5, 5, 5 and 4 sentences) with one or two references each."""


@pytest.fixture
def tiny_rows() -> list[dict]:
    return [dict(row) for row in TINY_ROWS]


@pytest.fixture
def tiny_documents() -> list[Document]:
    return [Document(id=r["id"], text=r["article"], references=tuple(r["references"])) for r in TINY_ROWS]


@pytest.fixture
def tiny_jsonl(tmp_path: Path) -> Path:
    """The tiny document set as a JSONL file (columns ``id``, ``article``, ``references``)."""
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in TINY_ROWS), encoding="utf-8")
    return path



def stored_document_ids(store: Path, docs: Sequence[Document]) -> set[str]:
    """Ids of the documents whose summary a (possibly still running) run has stored without error."""
    by_hash = {document_hash(d.text): d.id for d in docs}
    try:
        with sqlite3.connect(store, timeout=5) as db:
            return {by_hash[h] for (h,) in db.execute("SELECT document_hash FROM summaries WHERE error IS NULL")}
    except sqlite3.OperationalError:  # not created yet
        return set()
