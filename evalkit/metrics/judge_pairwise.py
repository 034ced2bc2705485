"""Pairwise judging: which of two summaries is better, asked in both orders, and how often the order decided.

A judge shown two answers prefers one position (Zheng et al. 2023, "Judging LLM-as-a-Judge with
MT-Bench and Chatbot Arena", section 3.3: position bias; Wang et al. 2023, "Large Language Models
are not Fair Evaluators"). MT-Bench's remedy is used here: every pair is asked twice, with the
summaries swapped, and a summary **wins only if it wins in both orders**; any disagreement is a tie.
A pair whose two verdicts differ (seen from one summary: win/loss, win/tie...) has **flipped**; the
flip rate is flipped pairs over pairs with both verdicts read. A judge that always picks position A
flips on every pair (rate 1.0); FastChat reports about 13 % for GPT-4 (issue 3911).

The reply must start with ``A``, ``B`` or ``tie`` (optionally after ``Summary``/``Answer`` and a colon,
as ``"Summary A"`` or ``"[[B]]"``); anything else is unread and the pair has no outcome.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PROMPT = ("You compare two summaries of one news article. Prefer the summary that is more faithful to the article "
          "and covers its main points; ignore length except where it hurts either.\n\nArticle:\n{article}\n\n"
          "Summary A:\n{first}\n\nSummary B:\n{second}\n\nWhich summary is better? Answer with one word: A, B or tie.")
"""The pairwise question; ``{article}``, ``{first}`` (position A) and ``{second}`` (position B)."""
MAX_TOKENS = 3
_VERDICT = re.compile(r"^\W*(?:(?:summary|answer|verdict|better)\s*:?\s*)?\W*(a|b|tie|equal|both)\b", re.IGNORECASE)


def parse_position(text: str) -> str | None:
    """``"A"``, ``"B"`` or ``"tie"`` for a reply that starts with one, else ``None``."""
    match = _VERDICT.match(text)
    if not match:
        return None
    word = match.group(1).lower()
    return word.upper() if word in ("a", "b") else "tie"


def as_outcome(position: str | None, mine: str) -> str | None:
    """The verdict from one summary's side: ``win``, ``loss`` or ``tie`` when it stood at position ``mine``."""
    if position is None:
        return None
    if position == "tie":
        return "tie"
    return "win" if position == mine else "loss"


def majority(outcomes: Sequence[str | None]) -> str | None:
    """One outcome from a chunked article's per-chunk outcomes: more wins than losses wins, the reverse loses,
    else tie; ``None`` when any chunk's reply was unread."""
    if not outcomes or any(o is None for o in outcomes):
        return None
    wins, losses = outcomes.count("win"), outcomes.count("loss")
    return "win" if wins > losses else "loss" if losses > wins else "tie"


@dataclass(frozen=True)
class PairVerdict:
    """One summary against one other, asked in both orders."""

    opponents: tuple[str, ...]
    """The systems that wrote the other summary (several when they wrote the same text)."""
    first: str | None
    """The outcome with this summary at position A (``win``, ``loss``, ``tie``; ``None``: unread)."""
    second: str | None
    """The outcome with this summary at position B."""

    @property
    def outcome(self) -> str | None:
        """``win`` only if won in both orders, ``loss`` only if lost in both, else ``tie``; ``None`` if unread."""
        if self.first is None or self.second is None:
            return None
        return self.first if self.first == self.second and self.first != "tie" else "tie"

    @property
    def flipped(self) -> bool | None:
        """True when the two orders disagree; ``None`` when a verdict is unread."""
        if self.first is None or self.second is None:
            return None
        return self.first != self.second

    def to_dict(self) -> dict[str, Any]:
        return {"opponents": list(self.opponents), "first_order": self.first, "second_order": self.second,
                "outcome": self.outcome, "flipped": self.flipped}


def opponents_of(texts: Mapping[str, str], text: str, systems: Sequence[str] | None) -> tuple[list[str],
                                                                                         dict[str, list[str]]]:
    """The systems that wrote ``text`` and, per other distinct text, the systems that wrote it (only those in
    ``systems`` when given)."""
    chosen = {s: t for s, t in texts.items() if systems is None or s in systems}
    mine = [s for s, t in chosen.items() if t == text]
    others: dict[str, list[str]] = {}
    for system, other in chosen.items():
        if other != text:
            others.setdefault(other, []).append(system)
    return mine, others


def summarize_pairs(verdicts: Sequence[PairVerdict]) -> tuple[float | None, float | None, int]:
    """(win share with ties as half, flip share, pairs read) over one summary's pairs."""
    read = [v for v in verdicts if v.outcome is not None]
    if not read:
        return None, None, 0
    wins = sum(1.0 if v.outcome == "win" else 0.5 if v.outcome == "tie" else 0.0 for v in read)
    return wins / len(read), sum(bool(v.flipped) for v in read) / len(read), len(read)
