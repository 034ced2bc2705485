"""Strip web-page noise from news articles pasted by users, and say what was removed.

Users copy articles out of a browser, so a source text often carries the page around the
report: section labels ("news"), teasers for other articles (a headline followed by
"Read more"), a reader-appeal or donation box, cookie banners, newsletter prompts, share
buttons, "Advertisement", bylines. A summarizer should not be scored on whether it repeats
those, so :func:`clean_text` removes them and returns a :class:`CleanResult` that lists every
removed line with a reason code, so a person can check the cleaning.

The approach is line-based: a pasted page has one paragraph or one page element per line,
and noise comes as whole lines. Each line is classified by these rules, in order:

1. **Reader-appeal blocks.** A short header line ("A Message from The Moscow Times:",
   "Dear readers,", "Support our journalism", "Become a member") opens a block. The header
   and the lines after it are dropped while they keep speaking the appeal's language
   (support, donation, contribution, subscribe, journalism, "we need your help", reminders,
   privacy policy, money amounts) or address the reader (two or more of we/us/our/you/your),
   or are UI lines ("Continue", "×", "Remind me next month"). The first line that is none of
   these ends the block.
2. **Lone page elements.** A line that, punctuation aside, is a known UI control
   ("Continue", "Share", "Advertisement", "Remind me later"), a line of 1-3 words made only
   of section names ("news", "World", "Business"), a breadcrumb ("Home | News | World"),
   a line of share-button names ("Facebook Twitter Email") or a lone symbol ("×").
3. **Related-article teasers.** A "Read more" / "Read next" / "Related" line drops the line
   just before it when that line looks like a headline (2-15 words, one sentence, no final
   period); without such a line before it, it drops one headline-like line after it. A list
   heading ("Most read", "You may also like") drops the headline-like lines that follow it.
   "Read more: <headline>" on one line is a teaser too.
4. **Prompts by phrase** (in lines of at most three sentences: a longer line is a paragraph of
   reporting, as whole CNN/DailyMail articles on one line are). Cookie banners, newsletter sign-ups, "Follow us on ...", privacy
   notices, bylines and datelines ("By Jane Doe | World", "Updated 3 hours ago") and
   stand-alone appeal sentences ("Please support us", "Your donation helps us ...").

Everything else is kept. Appeal detection outside a block needs a plea (first and second
person, "support us", "your donation"), never a single keyword, so "Western allies pledged
support for Kyiv." stays; and a line with quotation marks is treated as reporting, not as
the page speaking, so a quoted "please support us" stays too. Apart from exact UI phrases
("Continue."), a line ending in a sentence terminator is never taken for a lone page
element, so "AFP contributed reporting." stays.

Limits, on purpose or not yet handled:

- Inside a line only the CNN/DailyMail spans of :mod:`evalkit.inputs.clean_inline` are cut ("Scroll
  down for video", labelled photo captions, Daily Mail bylines...); other noise glued into a
  paragraph (a "Read more" link inside a sentence) stays.
- Unknown short lines are kept: a crosshead ("The deal") and a section label that is not in
  the vocabulary ("Ukraine war") look the same, and losing a crosshead is worse.
- A crosshead placed right after a lone "Read more" with no headline before it can be taken
  for a teaser headline.
- Photo captions other than "Photo: X" lines and labelled Daily Mail captions are kept.
- An appeal box with no header line is only partly caught: its plea sentences go, the
  paragraphs around them ("We are facing unprecedented challenges...") stay.
- An article that resumes right after a mid-article appeal box with a line that itself talks
  about journalism or donations, or addresses the reader, is taken as part of the box.
- The vocabulary is English.

:func:`clean_html` first extracts the main text of a page with trafilatura (which drops
``<nav>``, ``<footer>`` and most boilerplate) and then applies :func:`clean_text`; its line
numbers refer to the extracted text. :func:`clean` accepts either and picks by looking for
HTML tags.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from evalkit.inputs.clean_inline import inline_noise
from evalkit.core.errors import DataError
from evalkit.core.text import sentences, words
from evalkit.core.types import Document

CLEAN_VERSION = "2"
"""Bumped when cleaning removes more or less (2: noise inside lines, :mod:`evalkit.inputs.clean_inline`)."""

logger = logging.getLogger(__name__)

__all__ = ["CleanResult", "RemovedLine", "clean", "clean_documents", "clean_html", "clean_text", "cleaning_summary"]


@dataclass(frozen=True)
class RemovedLine:
    """One line that cleaning removed."""

    line_number: int
    """Where the line was in the input, counting from 1."""
    text: str
    """The line as it was, without surrounding whitespace."""
    reason: str
    """A short code for why: ``"reader-appeal"``, ``"navigation"``, ``"related-teaser"``,
    ``"read-more"``, ``"ui-control"``, ``"social"``, ``"cookie"``, ``"newsletter"``,
    ``"privacy"``, ``"advertisement"``, ``"byline"`` or ``"credit"``; for parts of a line
    (:mod:`evalkit.inputs.clean_inline`) also ``"video-prompt"``, ``"comments-closed"`` and ``"caption"``."""
    inline: bool = False
    """True when only ``text``, a part of the line, was removed and the rest of the line kept."""


@dataclass(frozen=True)
class CleanResult:
    """A cleaned article and an account of what was taken out of it."""

    text: str
    """The input itself when nothing was removed; otherwise the kept lines joined by
    ``"\\n"``, with runs of blank lines collapsed to one and blank lines at the start and end
    dropped. Empty for input that is empty or all whitespace."""
    removed: tuple[RemovedLine, ...]
    """Every removed line, in input order."""
    kept_words: int
    """Words in ``text`` (see :func:`evalkit.core.text.words`)."""
    removed_words: int
    """Words in the removed lines."""

    def report(self, width: int = 72) -> str:
        """A few lines for a person: how much was removed, by reason, then line by line."""
        if not self.removed:
            return f"Nothing removed; {self.kept_words} words kept."
        total = self.kept_words + self.removed_words
        plural = "s" if len(self.removed) != 1 else ""
        lines = [
            f"Removed {len(self.removed)} line{plural} ({self.removed_words} of {total} words); "
            f"{self.kept_words} words kept."
        ]
        counts = Counter(line.reason for line in self.removed)
        lines.append("By reason: " + ", ".join(f"{reason} {n}" for reason, n in counts.most_common()))
        for line in self.removed:
            shown = line.text if len(line.text) <= width else line.text[: width - 1] + "…"
            lines.append(f"  line {line.line_number:>3}  {line.reason:<15} {shown}")
        return "\n".join(lines)


# --- vocabularies ---------------------------------------------------------------------------


def _phrases(block: str) -> list[str]:
    """``"a b|c"`` written over several lines -> ``["a b", "c"]``, spaces normalized."""
    return [" ".join(phrase.split()) for phrase in block.split("|") if phrase.strip()]


# Lone lines that are page elements, as normalized by _key(), with their reason.
_LONE_LINES: dict[str, str] = {
    **dict.fromkeys(
        _phrases("""continue|continue reading|close|cancel|ok|okay|got it|dismiss|skip|skip ad|next|previous|
        prev|back|back to top|top|load more|show more|see more|view more|more|expand|collapse|menu|
        search|sign in|log in|login|log out|register|sign up|subscribe|subscribe now|donate|
        donate now|listen|listen to this article|play|pause|save|bookmark|comment|comments|
        show comments|view comments|leave a comment|remind me later|remind me next month|
        remind me next week|remind me tomorrow|maybe later|no thanks|not now|click here|tap here|
        loading|enlarge|zoom|gallery|open gallery|view gallery|image|photo|video|watch|
        watch video|print|print this article|font size|text size|a a|aa|translate"""),
        "ui-control",
    ),
    **dict.fromkeys(
        _phrases("""read more|read next|read also|also read|read more here|related|related articles|
        related stories|related content|related news|see also|more on this|more on this story|
        more on this topic|keep reading|recommended|recommended for you|you may also like|
        you might also like|most read|most popular|most viewed|trending|trending now|
        editor's picks|editors' picks|more stories|more news|latest news|latest stories|
        what to read next|don't miss"""),
        "read-more",
    ),
    **dict.fromkeys(
        _phrases("""advertisement|advertising|ad|sponsored|sponsored content|paid content|partner content|
        story continues below advertisement|story continues below|article continues below|
        article continues below advertisement|scroll to continue|scroll to continue with content|
        skip advertisement"""),
        "advertisement",
    ),
    **dict.fromkeys(
        _phrases("""share|share this|share this article|share this story|share this page|share article|
        share story|share on facebook|share on twitter|share on x|share on whatsapp|
        share on telegram|share on linkedin|share via email|share via|tweet|tweet this|
        email this|email this article|copy link|link copied|follow us|follow"""),
        "social",
    ),
    **dict.fromkeys(
        _phrases("""accept|accept all|accept cookies|accept all cookies|reject|reject all|i agree|agree|
        i accept|allow all|allow cookies|manage cookies|manage preferences|cookie settings|
        cookie preferences|privacy settings|consent|manage consent"""),
        "cookie",
    ),
}

# Section names: a line of 1-3 of these words and nothing else is navigation.
_SECTIONS = frozenset(
    """
    news home world politics business economy economics markets finance money opinion opinions
    analysis comment editorial editorials sport sports culture arts entertainment tech technology
    science health lifestyle life style travel food environment climate weather education media
    features feature investigations investigation video videos photos podcast podcasts live latest
    local national international regional europe asia africa americas sections newsletters
    breaking uk us society world-news
    """.split()
)
_NAV_JOINERS = frozenset({"&", "and", "+", "/", "|", "-", "–", "—"})

_SOCIAL = frozenset(
    """
    facebook twitter x whatsapp telegram linkedin reddit email e-mail mail pinterest instagram
    youtube tiktok vk vkontakte bluesky threads mastodon flipboard messenger share print copy link
    sms
    """.split()
)
_SOCIAL_NETWORKS = _SOCIAL - {"share", "print", "copy", "link", "email", "e-mail", "mail", "sms"}

# Markers that say the next lines are a list of other articles, not just one teaser.
_LIST_HEADINGS = frozenset(
    _phrases("""
    related articles|related stories|related content|related news|recommended|recommended for you|
    you may also like|you might also like|most read|most popular|most viewed|trending|trending now|
    editor's picks|editors' picks|more stories|more news|latest news|latest stories|
    what to read next|more on this topic
    """)
)

_FIRST_SECOND_PERSON = frozenset(
    "we us our ours ourselves you your yours yourself we're we've we'll you're you've you'll".split()
)

# --- patterns -------------------------------------------------------------------------------

_APPEAL_HEADER = re.compile(
    r"^(?:"
    r"(?:an? )?(?:message|note|letter|appeal) (?:from|to) (?:\S+ ?){1,6}"
    r"|dear (?:valued |loyal )?(?:readers?|friends|subscribers|supporters|members)"
    r"|(?:please )?support (?:our|independent|quality|local|public[- ]interest)"
    r" (?:journalism|reporting|newsroom|work)"
    r"|support us"
    r"|become a (?:member|supporter|subscriber|patron|friend)\b.*"
    r"|(?:join|donate to) us|donate"
    r"|we have a small favou?r to ask|before you go"
    r"|you've read \d+ (?:free )?articles?\b.*"
    r")$"
)
_APPEAL_HEADER_MAX_WORDS = 12

# Words that keep an appeal block going once a header has opened it.
_APPEAL_VOCABULARY = re.compile(
    r"\b(?:support\w*|donat\w*|contribution\w*|subscri\w*|journalism|journalists?|newsroom"
    r"|independent|need your help|remind\w*|privacy policy|personal data|thank you|readers?"
    r"|member(?:s|ship)?|monthly|one-off|one-time|payment|paypal|credit card|patreon"
    r"|unsubscribe|sign up|log in)\b"
    r"|[$€£₽]\s?\d"
)

# Plea phrases that mark an appeal line even outside a block (never in quoted lines).
_APPEAL_PLEA = re.compile(
    r"\bplease (?:consider )?(?:support|donat|contribut|subscrib|become a|join us)"
    r"|\b(?:support|fund|back) (?:us|our (?:work|journalism|newsroom|reporting|mission|team))\b"
    r"|\bsupport (?:independent|quality|local|public[- ]interest) journalism\b"
    r"|\b(?:make|give) a (?:donation|contribution|gift)\b"
    r"|\b(?:donate|subscribe|contribute|give) (?:now|today)\b"
    r"|\bwe need your (?:help|support)\b"
    r"|\bnot ready to (?:support|donate|give|contribute|subscribe)\b"
    r"|\bremind me (?:later|next month|next week|tomorrow)\b"
    r"|\byour reminder is set\b"
    r"|\bbecome a (?:member|supporter|subscriber|patron)\b"
    r"|\bby supporting (?:us|our|the)\b"
)
# "your support" etc. count only with the page speaking as "we/us/our" in the same line.
_YOUR_GIFT = re.compile(r"\byour (?:support|donation|contribution|generosity|subscription)\b")

_COOKIE = re.compile(r"\bcookies?\b")
_COOKIE_CONTEXT = re.compile(
    r"\b(?:we use|we and our partners|this (?:web)?site|our (?:web)?site|uses cookies|accept|consent"
    r"|by (?:continuing|using|clicking)|cookie (?:policy|settings|preferences|notice)"
    r"|manage (?:preferences|settings|cookies)|browsing experience|personali[sz]e)"
)

# A banner speaks as the site ("we", "this site") or to the reader ("you").
_PAGE_VOICE = re.compile(r"\b(?:we|our|us|you|your|this (?:web)?site)\b")

_NEWSLETTER = re.compile(
    r"\benter your e-?mail\b|\bdelivered (?:straight |directly )?to your inbox\b"
    r"|\b(?:in|to) your inbox\b|\bplease enter a valid e-?mail\b|\binvalid e-?mail\b"
    r"|\bby (?:signing up|subscribing),? you agree\b"
    r"|\b(?:sign up|subscribe|register)\b.{0,60}\b(?:newsletters?|briefing|digest|bulletin|alerts?)\b"
    r"|\bnewsletters?\b.{0,60}\b(?:sign up|subscribe|your e-?mail)\b"
)

_SOCIAL_PROMPT = re.compile(
    r"\b(?:follow|join|find) (?:us|our \w+(?: \w+)?) on (?:facebook|twitter|x|telegram|instagram|youtube"
    r"|tiktok|whatsapp|linkedin|bluesky|threads|mastodon|vk)\b"
    r"|\bshare (?:this|on|via) "
)

_PRIVACY = re.compile(
    r"\b(?:see|read|review|view|consult) our privacy (?:policy|notice|statement)\b"
    r"|\bpersonal data we collect\b|\bterms of (?:use|service) and privacy policy\b"
    r"|\bthis site is protected by recaptcha\b"
)

# Bylines and datelines: tested on the line as written (capitals matter), short lines only.
_NOT_A_NAME = (
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|April|May"
    r"|June|July|August|September|October|November|December|The|This|That|Then|Now)\b"
)
_BYLINE = re.compile(
    rf"^(?:By|BY)\s+(?!{_NOT_A_NAME})[A-Z][\w’'.-]*"  # "By Jane", not "By Tuesday"
    r"(?:\s+(?:[A-Z][\w’'.-]*|de|van|von|der|al|bin|and|&))*"  # "... Doe and John Roe"
    r"\s*(?:$|[,|•·—–-])"  # then the end, or nav after a separator
)
_DATELINE = re.compile(
    r"^(?:updated|published|posted|last updated|last modified|first published)\b.*"
    r"(?:\d|\bago\b|yesterday|today)"
    r"|^\d+\s*(?:min|mins|minute|minutes)\s+read$",
    re.IGNORECASE,
)
_CREDIT = re.compile(r"^(?:photo|photos|image|picture|photograph|credit|video)(?: credit)?:\s", re.IGNORECASE)
_SHORT_PROMPT_MAX_WORDS = 12
_PROMPT_MAX_SENTENCES = 3

_TEASER_PREFIX = re.compile(
    r"^(?:read more|read next|read also|also read|related|see also)\s*[:|»›>–—-]\s*(.+)$"
)
_BREADCRUMB_SEPARATOR = re.compile(r"\s[|›»>/•·]\s")
_SEPARATOR_LINE = re.compile(r"^[\s*\-—–_=#~.·•]+$")  # "* * *", "---": article section breaks
_ENDS_SENTENCE = re.compile(r"[.!?…][\"'”’»)\]]*$")
_ENDS_CLAUSE = re.compile(r"[.:;,…][\"'”’»)\]]*$")
_QUOTES = re.compile(r"[\"“”«»„]")
_STRIP = " \t\r\f\v.:;,!?·•|>»›→←↑↓-–—*#()[]{}\"'“”‘’"


# --- line tests -----------------------------------------------------------------------------


def _key(line: str) -> str:
    """``line`` lowercased, curly apostrophes made straight, outer punctuation and extra spaces gone."""
    lowered = line.lower().replace("’", "'").replace("‘", "'")
    return " ".join(lowered.strip(_STRIP).split())


def _tokens(key: str) -> list[str]:
    return [token.strip(_STRIP) for token in key.split() if token.strip(_STRIP)]


def _is_headline_like(line: str) -> bool:
    """A line that could be an article title: 2-15 words, one sentence, no final period."""
    n = len(words(line))
    if not 2 <= n <= 15 or _ENDS_CLAUSE.search(line) or len(sentences(line)) != 1:
        return False
    first = next((char for char in line if char.isalnum()), "")
    return first.isupper() or first.isdigit()


def _lone_line_reason(line: str) -> str | None:
    """The reason when ``line`` is a page element on its own (rule 2), else ``None``."""
    key = _key(line)
    n = len(words(line))
    if key in _LONE_LINES:
        return _LONE_LINES[key]
    if n == 0:
        return None if _SEPARATOR_LINE.match(line) else "ui-control"
    if _ENDS_SENTENCE.search(line):
        return None
    tokens = _tokens(key)
    if n <= 3 and tokens and all(t in _SECTIONS or t in _NAV_JOINERS for t in tokens):
        return "navigation"
    if (tokens and all(t in _SOCIAL for t in tokens)
            and any(t in _SOCIAL_NETWORKS or t == "share" for t in tokens)):
        return "social"
    parts = _BREADCRUMB_SEPARATOR.split(line)
    if len(parts) >= 3 and all(1 <= len(words(part)) <= 4 for part in parts):
        return "navigation"
    return None


def _teaser_prefix(line: str) -> bool:
    """``"Read more: <headline>"`` and the like, on one line."""
    match = _TEASER_PREFIX.match(_key(line))
    return bool(match) and len(words(match.group(1))) <= 15 and not _ENDS_SENTENCE.search(line)


def _pleads(line: str) -> bool:
    """A stand-alone appeal sentence: a plea by the page to the reader (rule 4)."""
    if _QUOTES.search(line):
        return False
    key = _key(line)
    if _APPEAL_PLEA.search(key):
        return True
    return bool(_YOUR_GIFT.search(key)) and any(t in {"we", "us", "our"} for t in _tokens(key))


def _addresses_reader(line: str) -> bool:
    """Two or more first- or second-person pronouns: the page talking to its reader."""
    return sum(token in _FIRST_SECOND_PERSON for token in _tokens(_key(line))) >= 2


def _is_appeal_header(line: str) -> bool:
    """A short line that opens an appeal block; a full sentence never does."""
    return (len(words(line)) <= _APPEAL_HEADER_MAX_WORDS and not _ENDS_SENTENCE.search(line)
            and bool(_APPEAL_HEADER.match(_key(line))))


def _appeal_block_reason(line: str) -> str | None:
    """Inside an appeal block: why ``line`` still belongs to it, or ``None`` when it ends it."""
    reason = _lone_line_reason(line)
    if reason is not None:
        return reason
    if _APPEAL_VOCABULARY.search(_key(line)) or _addresses_reader(line) or _is_appeal_header(line):
        return "reader-appeal"
    return _prompt_reason(line)


def _prompt_reason(line: str) -> str | None:
    """Cookie, newsletter, social, privacy, appeal, byline and credit lines (rule 4)."""
    key = _key(line)
    if not _QUOTES.search(line):
        if _COOKIE.search(key) and _COOKIE_CONTEXT.search(key) and _PAGE_VOICE.search(key):
            return "cookie"
        if _NEWSLETTER.search(key):
            return "newsletter"
        if _SOCIAL_PROMPT.search(key) and len(words(line)) <= _SHORT_PROMPT_MAX_WORDS:
            return "social"
        if _PRIVACY.search(key):
            return "privacy"
    if _pleads(line):
        return "reader-appeal"
    short = len(words(line)) <= _SHORT_PROMPT_MAX_WORDS and not _ENDS_SENTENCE.search(line)
    if short and (_BYLINE.match(line) or _DATELINE.match(line)):
        return "byline"
    if short and _CREDIT.match(line):
        return "credit"
    return None


def _previous_nonblank(lines: list[str], index: int) -> int | None:
    for j in range(index - 1, -1, -1):
        if lines[j].strip():
            return j
    return None


# --- entry points ---------------------------------------------------------------------------


def clean_text(text: str) -> CleanResult:
    """Remove page noise from pasted article ``text``, line by line (see the module docstring)."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    reasons: list[str | None] = [None] * len(lines)
    in_appeal = False
    teasers_left = 0  # how many following headline-like lines a teaser marker still claims

    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        if in_appeal:
            reasons[i] = _appeal_block_reason(line)
            if reasons[i] is not None:
                continue
            in_appeal = False
        if teasers_left and _is_headline_like(line) and _lone_line_reason(line) is None:
            reasons[i] = "related-teaser"
            teasers_left -= 1
            continue
        teasers_left = 0
        if _is_appeal_header(line):
            reasons[i] = "reader-appeal"
            in_appeal = True
            continue
        if _teaser_prefix(line):
            reasons[i] = "related-teaser"
            continue
        reason = _lone_line_reason(line)
        if reason == "read-more":
            key = _key(line)
            previous = _previous_nonblank(lines, i)
            if key in _LIST_HEADINGS:
                teasers_left = len(lines)
            elif (previous is not None and reasons[previous] is None
                  and _is_headline_like(lines[previous].strip())):
                reasons[previous] = "related-teaser"
            else:
                teasers_left = 1
        if reason is None and len(sentences(line)) <= _PROMPT_MAX_SENTENCES:
            reason = _prompt_reason(line)  # a paragraph of reporting is never a prompt, whatever it quotes
        reasons[i] = reason

    kept_lines: list[str] = []
    removed: list[RemovedLine] = []
    for number, (line, reason) in enumerate(zip(lines, reasons), start=1):
        if reason is None:
            line, parts = inline_noise(line)
            removed.extend(RemovedLine(line_number=number, text=part, reason=why, inline=True)
                           for part, why in parts)
            if line.strip() or (kept_lines and kept_lines[-1].strip()):
                kept_lines.append(line)
        else:
            removed.append(RemovedLine(line_number=number, text=line.strip(), reason=reason))
    while kept_lines and not kept_lines[-1].strip():
        kept_lines.pop()
    cleaned = "\n".join(kept_lines)
    if not removed:
        cleaned = text if text.strip() else ""

    result = CleanResult(
        text=cleaned,
        removed=tuple(removed),
        kept_words=len(words(cleaned)),
        removed_words=sum(len(words(line.text)) for line in removed),
    )
    if removed:
        logger.debug("clean_text: %s", result.report())
    return result


def clean_html(html: str) -> CleanResult:
    """Extract the main text of an HTML page with trafilatura, then :func:`clean_text` it.

    Raises ``ImportError`` when trafilatura is not installed and ``ValueError`` when it finds
    no main text in the page. Line numbers in the result refer to the extracted text.
    """
    try:
        import trafilatura
    except ImportError as exc:
        raise ImportError(
            'Cleaning HTML needs trafilatura, which is not installed; install it with: '
            'pip install "evalkit[notebooks]" (or paste the article text and use clean_text).'
        ) from exc
    extracted = trafilatura.extract(
        html, include_comments=False, include_tables=False, favor_precision=True
    )
    if not extracted or not extracted.strip():
        raise ValueError(
            f"trafilatura found no article text in this HTML ({len(html)} characters); "
            "check that it is the full page, or paste the article text and use clean_text."
        )
    result = clean_text(extracted)
    if not result.text:
        logger.warning("clean_html: every line trafilatura extracted was removed as page noise")
    return result


_HTML_DOCUMENT = re.compile(r"<\s*(?:!doctype\s+html|html|body)\b", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")
_HTML_PARAGRAPH = re.compile(r"<p[\s>]", re.IGNORECASE)
_MIN_HTML_TAGS = 3


def _looks_like_html(text: str) -> bool:
    """A whole HTML document, or a fragment with paragraphs and several tags."""
    if _HTML_DOCUMENT.search(text):
        return True
    return bool(_HTML_PARAGRAPH.search(text)) and sum(1 for _ in _HTML_TAG.finditer(text)) >= _MIN_HTML_TAGS


def clean(text_or_html: str) -> CleanResult:
    """:func:`clean_html` for an HTML page, :func:`clean_text` for anything else."""
    if _looks_like_html(text_or_html):
        return clean_html(text_or_html)
    return clean_text(text_or_html)


_SHOWN_CHARS = 200


def clean_documents(documents: Sequence[Document]) -> list[Document]:
    """Each document with its text cleaned by :func:`clean`, and ``metadata["cleaning"]`` saying what went.

    The entry holds ``removed_lines`` (lines and parts of lines), ``removed_words``, ``kept_words``,
    ``by_reason`` and ``removed`` (line, reason, text up to 200 characters) for a person to check.
    A document whose every line would go keeps its text, with ``skipped`` saying why. HTML that
    cannot be cleaned is a :class:`DataError`.
    """
    out = []
    for document in documents:
        try:
            result = clean(document.text)
        except (ImportError, ValueError) as exc:
            raise DataError(f"document {document.id!r}: {exc}") from exc
        report = {"version": CLEAN_VERSION, "removed_lines": len(result.removed),
                  "removed_words": result.removed_words, "kept_words": result.kept_words,
                  "by_reason": dict(Counter(line.reason for line in result.removed)),
                  "removed": [{"line": line.line_number, "reason": line.reason, "inline": line.inline,
                               "text": line.text[:_SHOWN_CHARS]} for line in result.removed]}
        if not result.text.strip():
            logger.warning("cleaning would remove all of document %s; its text is kept as it was", document.id)
            report = {"version": CLEAN_VERSION, "skipped": "every line looked like page noise; text kept as it was"}
        text = result.text if result.text.strip() else document.text
        out.append(replace(document, text=text, metadata={**document.metadata, "cleaning": report}))
    return out


def cleaning_summary(documents: Sequence[Document]) -> dict | None:
    """Totals over ``metadata["cleaning"]`` for a run manifest, or ``None`` when the documents were not cleaned."""
    reports = [d.metadata["cleaning"] for d in documents if "cleaning" in d.metadata]
    if not reports:
        return None
    by_reason: Counter = Counter()
    for report in reports:
        by_reason.update(report.get("by_reason", {}))
    return {"version": CLEAN_VERSION, "documents": len(reports),
            "changed": sum(1 for r in reports if r.get("removed_lines")),
            "skipped": sum(1 for r in reports if "skipped" in r),
            "removed_lines": sum(r.get("removed_lines", 0) for r in reports),
            "removed_words": sum(r.get("removed_words", 0) for r in reports),
            "by_reason": dict(by_reason.most_common())}
