"""Page noise glued inside a paragraph, as in the CNN/DailyMail corpus, found and cut out.

CNN/DailyMail articles were scraped into one line each, so the Daily Mail page around the
report sits inside the text rather than on lines of its own, where :func:`evalkit.inputs.clean.clean_text`'s
line rules cannot see it. :func:`inline_noise` finds these spans in one line (each span starts
and ends at whitespace, so word counts add up):

- ``video-prompt``: "Scroll down for video" (any case; "videos", "more", "and pictures");
- ``comments-closed``: "Sorry we are not currently accepting comments on this article.";
- ``byline``: a Daily Mail header at the start, "By . Jane Doe . PUBLISHED: . 10:37 EST,
  3 January 2014 . | . UPDATED: . 11:02 EST, 3 January 2014 ." and "Last updated at 4:51 PM
  on 14th October 2011 .";
- ``related-teaser``: "READ MORE: <headline>" ending the line (at most 15 words, no final stop);
- ``caption``: a photo caption, "Label: caption text" with no full stop, glued before the next
  sentence or the next caption. A label is 1-3 words starting with a capital letter, right
  after a sentence end (or the start, or a cut span), followed by ": " and a capital letter or
  digit. The caption ends where a word without punctuation is followed by a capitalized
  sentence opener (``The``, ``A``, ``He``, ``Police``...) or by the next caption label, unless
  that word is one a sentence does not end on (``of``, ``and``, ``the``, ``to``...). When no
  such end comes before a sentence terminator (the caption runs into a real sentence with no
  visible seam) or within 45 words, nothing is cut: a caption kept costs less than a sentence
  lost. Unlabelled captions ("... the backlog last summer Keith Vaz, ...") are not found.

The rules come from reading the Daily Mail and CNN articles of the shared CNN/DM sample, not
from single items; they are English and Daily-Mail-specific by design.
"""

from __future__ import annotations

import re

__all__ = ["inline_noise"]

_VIDEO_PROMPT = re.compile(r"(?<!\S)scroll down for (?:the )?(?:videos?|more)(?: and pictures)?[.…:!]*(?!\S)", re.IGNORECASE)
_COMMENTS_CLOSED = re.compile(
    r"(?<!\S)sorry,? we are not currently accepting comments on this article\.?(?!\S)", re.IGNORECASE)
_STAMP = r"(?:PUBLISHED|UPDATED): \. \d{1,2}:\d{2} (?:EST|EDT|GMT|BST), \d{1,2} [A-Z][a-z]+ \d{4} \.(?: \| \.)?"
_DM_HEADER = re.compile(
    r"^(?:By \. [^.|]{1,80}? \.(?: and [^.|]{1,80}? \.)?)?"
    rf"(?: ?{_STAMP}){{0,2}}"
    r"(?: ?Last updated at \d{1,2}:\d{2} [AP]M on \d{1,2}(?:st|nd|rd|th) [A-Z][a-z]+ \d{4} \.)?(?!\S)"
)
_READ_MORE = re.compile(r"(?<!\S)READ MORE ?: (.+)$", re.IGNORECASE)
_LABEL = re.compile(r"[A-Z][A-Za-z'’-]*(?: [A-Za-z'’&-]+){0,2}: (?=[A-Z0-9])")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
_OPENERS = frozenset(
    """The A An He She It They We His Her Its Their This That These Those There But And In On At After Before
    When While As If Mr Mrs Ms Dr Police Officers Officials According Now Some Many Meanwhile However
    Yesterday Today""".split()
)
# A caption does not end on these: "a painting of | The Queen" is one caption, not two pieces.
_NO_END = frozenset(
    """of and or but nor the a an in on at to for with by from as into onto over under about after before
    his her their its our my your than that who whom which whose is are was were be been has have had
    said says told like near outside inside""".split()
)
_CAPTION_MAX_WORDS = 45


def _starts_sentence(line: str, position: int, cut_ends: set[int]) -> bool:
    before = line[:position].rstrip()
    return not before or position in cut_ends or len(before) in cut_ends or before[-1] in ".!?…\"'”’)"


def _caption_end(line: str, start: int) -> int | None:
    """Where the caption whose text begins at ``start`` ends (the next token's start), or ``None``."""
    tokens = list(re.finditer(r"\S+", line[start:]))
    for i, token in enumerate(tokens[:_CAPTION_MAX_WORDS]):
        word = token.group()
        if _SENTENCE_END.search(word) or i + 1 >= len(tokens):
            return None
        following = tokens[i + 1]
        if i >= 1 and (word[-1].isalnum() or word[-1] == ")") and word.lower() not in _NO_END:
            nxt = following.group().lstrip("'‘\"“")
            if nxt in _OPENERS or _LABEL.match(line, start + following.start()):
                return start + following.start()
    return None


def _spans(line: str) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    header = _DM_HEADER.match(line)
    if header and header.group().strip():
        found.append((0, header.end(), "byline"))
    found += [(m.start(), m.end(), "video-prompt") for m in _VIDEO_PROMPT.finditer(line)]
    found += [(m.start(), m.end(), "comments-closed") for m in _COMMENTS_CLOSED.finditer(line)]
    teaser = _READ_MORE.search(line)
    if teaser and len(teaser.group(1).split()) <= 15 and not _SENTENCE_END.search(teaser.group(1)):
        found.append((teaser.start(), len(line), "related-teaser"))
    cut_ends = {end for _, end, _ in found}
    position = 0
    while (label := _LABEL.search(line, position)) is not None:
        position = label.end()
        if not _starts_sentence(line, label.start(), cut_ends):
            continue
        end = _caption_end(line, label.end())
        if end is not None:
            found.append((label.start(), end, "caption"))
            cut_ends.add(end)
            position = end
    found.sort()
    merged: list[tuple[int, int, str]] = []
    for span in found:
        if merged and span[0] < merged[-1][1]:
            continue  # overlapping: the earlier span wins
        merged.append(span)
    return merged


def inline_noise(line: str) -> tuple[str, list[tuple[str, str]]]:
    """``line`` without the noise spans it holds, and each removed ``(text, reason)`` in order."""
    spans = _spans(line)
    if not spans:
        return line, []
    kept, removed, last = [], [], 0
    for start, end, reason in spans:
        kept.append(line[last:start])
        removed.append((line[start:end].strip(), reason))
        last = end
    kept.append(line[last:])
    return " ".join(piece.strip() for piece in kept if piece.strip()), removed
