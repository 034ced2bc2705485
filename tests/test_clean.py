"""Tests for evalkit.inputs.clean: page noise goes, every sentence of the report stays.

Expected kept and dropped lines are written out by hand from reading the articles, not
taken from the cleaner's output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from evalkit.inputs.clean import CleanResult, RemovedLine, clean, clean_html, clean_text
from evalkit.core.text import words

REPO = Path(__file__).resolve().parents[1]
SHARED_CASE = REPO.parent / "shared" / "cases" / "scraped_news_request.txt"
DATA_CASE = REPO / "evalkit" / "data_files" / "cases" / "scraped_example.txt"
DATA_EXPECTED = REPO / "evalkit" / "data_files" / "cases" / "scraped_example.expected.json"


def _article(path: Path) -> str:
    """The file without its first line, which is the user's instruction."""
    return path.read_text(encoding="utf-8").split("\n", 1)[1]


def _kept_lines(result: CleanResult) -> list[str]:
    return [line.strip() for line in result.text.split("\n") if line.strip()]


def _removed_by_text(result: CleanResult) -> dict[str, RemovedLine]:
    return {line.text: line for line in result.removed}


# --- the Moscow Times page pasted by a user -------------------------------------------------

MOSCOW_TIMES_KEPT = [
    "Russia’s Foreign Ministry on Tuesday dismissed reports of a follow-up meeting between U.S. and "
    "Russian officials in Saudi Arabia this week, saying no such talks were scheduled.",
    "“There are no meetings in Riyadh with the participation of the Foreign Ministry today,” the "
    "ministry was quoted as saying by the Interfax news agency. Russian Foreign Minister Sergei Lavrov "
    "was visiting Tehran on Tuesday for talks with Iranian officials.",
    "The denial comes a week after U.S. Secretary of State Marco Rubio and Lavrov held discussions in "
    "the Saudi capital, marking the first direct talks between high-level American and Russian "
    "officials since the full-scale invasion of Ukraine.",
    "That meeting resulted in an agreement between the two sides to appoint negotiators for potential "
    "peace talks on the Ukraine war and to establish a “consultation mechanism” to address disputes.",
    "Earlier, media reports claimed that lower-level U.S. and Russian officials were set to meet "
    "Tuesday in Riyadh, Saudi Arabia, with anonymous diplomatic sources describing it as a “sign of "
    "progress” in relations between the countries.",
    "The diplomatic push follows a phone call earlier this month between U.S. President Donald Trump "
    "and Russian President Vladimir Putin, which unsettled European leaders and signaled a shift from "
    "the previous U.S. administration’s policy of isolating Russia.",
    "Trump on Monday expressed confidence in ending the war in Ukraine and said he expected Ukrainian "
    "President Volodymyr Zelensky at the White House within two weeks to sign a deal granting the U.S. "
    "access to Ukraine’s rare mineral resources.",
    "Putin later said Russia was open to U.S. investment in strategic minerals in Russian-occupied "
    "Ukraine and that American and Russian companies were already “in touch” regarding joint economic "
    "projects linked to resolving the war.",
    "AFP contributed reporting.",
]

# (line text, the reason we expect) for every line that is page noise.
MOSCOW_TIMES_DROPPED = [
    ("news", "navigation"),
    ("Kremlin Applauds U.S. Position in UN Resolution on Ukraine Invasion", "related-teaser"),
    ("Read more", "read-more"),
    ("A Message from The Moscow Times:", "reader-appeal"),
    ("Dear readers,", "reader-appeal"),
    ("We are facing unprecedented challenges. Russia’s Prosecutor General’s Office has designated The "
     "Moscow Times as an “undesirable” organization, criminalizing our work and putting our staff at "
     "risk of prosecution. This follows our earlier unjust labeling as a “foreign agent.”",
     "reader-appeal"),
    ("These actions are direct attempts to silence independent journalism in Russia. The authorities "
     "claim our work “discredits the decisions of the Russian leadership.” We see things differently: "
     "we strive to provide accurate, unbiased reporting on Russia.", "reader-appeal"),
    ("We, the journalists of The Moscow Times, refuse to be silenced. But to continue our work, we "
     "need your help.", "reader-appeal"),
    ("Your support, no matter how small, makes a world of difference. If you can, please support us "
     "monthly starting from just $2. It’s quick to set up, and every contribution makes a significant "
     "impact.", "reader-appeal"),
    ("By supporting The Moscow Times, you’re defending open, independent journalism in the face of "
     "repression. Thank you for standing with us.", "reader-appeal"),
    ("Continue", "ui-control"),
    ("Not ready to support today? Remind me later.", "reader-appeal"),
    ("×", "ui-control"),
    ("Remind me next month", "ui-control"),
    ("Thank you! Your reminder is set.", "reader-appeal"),
    ("We will send you one reminder email a month from now. For details on the personal data we "
     "collect and how it is used, please see our Privacy Policy.", "reader-appeal"),
]


@pytest.fixture(scope="module")
def moscow_times() -> tuple[str, CleanResult]:
    if not SHARED_CASE.exists():
        pytest.skip(f"{SHARED_CASE} is not there")
    article = _article(SHARED_CASE)
    return article, clean_text(article)


def test_scraped_case_keeps_every_news_line_in_order(moscow_times):
    _, result = moscow_times
    assert _kept_lines(result) == MOSCOW_TIMES_KEPT


def test_scraped_case_drops_page_noise_with_reasons(moscow_times):
    _, result = moscow_times
    removed = _removed_by_text(result)
    for text, reason in MOSCOW_TIMES_DROPPED:
        assert text in removed, f"not removed: {text!r}"
        assert removed[text].reason == reason, text
    assert len(result.removed) == len(MOSCOW_TIMES_DROPPED)


def test_scraped_case_line_numbers_and_word_counts(moscow_times):
    article, result = moscow_times
    lines = article.split("\n")
    # The instruction line is gone, so "news" is line 5 and the teaser headline line 6.
    assert {line.text: line.line_number for line in result.removed}["news"] == 5
    assert {line.text: line.line_number for line in result.removed}["Read more"] == 7
    for line in result.removed:
        assert lines[line.line_number - 1].strip() == line.text
    assert result.kept_words == sum(len(words(line)) for line in MOSCOW_TIMES_KEPT)
    assert result.kept_words + result.removed_words == len(words(article))


def test_scraped_case_report_names_reasons_and_lines(moscow_times):
    _, result = moscow_times
    report = result.report()
    assert report.startswith(f"Removed {len(MOSCOW_TIMES_DROPPED)} lines")
    for reason in ("reader-appeal", "navigation", "related-teaser", "read-more", "ui-control"):
        assert reason in report
    assert "line   5" in report


# --- the example another helper wrote into data/cases ---------------------------------------


def test_data_scraped_example_matches_expectations():
    if not (DATA_CASE.exists() and DATA_EXPECTED.exists()):
        pytest.skip(f"{DATA_CASE.name} or {DATA_EXPECTED.name} is not there yet")
    expected = json.loads(DATA_EXPECTED.read_text(encoding="utf-8"))
    result = clean_text(_article(DATA_CASE))
    kept = set(_kept_lines(result))
    removed = _removed_by_text(result)
    missing = [line for line in expected["kept"] if line.strip() not in kept]
    left_in = [line for line in expected["dropped"] if line.strip() not in removed]
    assert not missing, f"lines that should be kept were removed: {missing}"
    assert not left_in, f"lines that should be dropped were kept: {left_in}"


# --- small inline cases ---------------------------------------------------------------------


def test_political_support_is_not_an_appeal():
    text = (
        "Western allies pledged support for Kyiv.\n"
        "The prime minister said Britain would support Ukraine for as long as it takes.\n"
        "Opposition parties said they would not support the budget."
    )
    result = clean_text(text)
    assert result.removed == ()
    assert result.text == text


@pytest.mark.parametrize("sentence", [
    "A message from the president was read aloud at the rally.",
    "He said the company uses cookies to track users and will accept the fine.",
    "The foundation said it would donate $2 million to the relief effort.",
    "The newsletter, published weekly, has 2 million subscribers.",
    "Share prices fell sharply on Monday.",
    "By the end of Tuesday, talks had stalled.",
    "Kremlin reaction",
])
def test_news_lines_that_use_page_words_are_kept(sentence):
    assert clean_text(sentence).removed == ()


def test_quoted_plea_is_reporting_not_an_appeal():
    text = "“We need your support,” Zelensky told the summit. “Please support us,” he added."
    assert clean_text(text).removed == ()


def test_clean_article_is_unchanged():
    text = (
        "Harbour reopens after storm\n"
        "\n"
        "The city harbour reopened on Monday after a storm closed it for three days.\n"
        "\n"
        "Ferries resumed at noon. Reuters contributed reporting.\n"
    )
    result = clean_text(text)
    assert result.text == text
    assert result.removed == ()
    assert result.removed_words == 0
    assert result.kept_words == 4 + 14 + 7  # counted line by line
    assert result.report() == "Nothing removed; 25 words kept."


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_empty_input_gives_empty_text(text):
    result = clean_text(text)
    assert result == CleanResult(text="", removed=(), kept_words=0, removed_words=0)
    assert clean(text).text == ""


def test_attribution_and_short_sentences_are_kept():
    text = "Talks ended without a deal.\nAFP contributed reporting.\nNews.\nMore to follow."
    assert clean_text(text).removed == ()


def test_teaser_headline_after_marker_and_inline_prefix():
    text = (
        "The central bank raised rates on Friday.\n"
        "Read more\n"
        "Inflation Hits Record High in February\n"
        "Analysts had expected the move.\n"
        "Read more: Ruble Falls to Two-Year Low\n"
        "The bank will meet again in April."
    )
    result = clean_text(text)
    assert _kept_lines(result) == [
        "The central bank raised rates on Friday.",
        "Analysts had expected the move.",
        "The bank will meet again in April.",
    ]
    assert [(line.line_number, line.reason) for line in result.removed] == [
        (2, "read-more"), (3, "related-teaser"), (5, "related-teaser"),
    ]


def test_most_read_list_is_dropped_until_prose_resumes():
    text = (
        "The vote is due on Thursday.\n"
        "Most read\n"
        "Storm Leaves Thousands Without Power\n"
        "Five Things to Know About the Budget\n"
        "Officials said the count would take two days."
    )
    result = clean_text(text)
    assert _kept_lines(result) == [
        "The vote is due on Thursday.",
        "Officials said the count would take two days.",
    ]


def test_cookie_newsletter_social_and_byline_lines():
    text = (
        "Home | News | World\n"
        "By Jane Doe | World\n"
        "Updated 3 hours ago\n"
        "We use cookies to improve your browsing experience. By continuing you accept our use of cookies.\n"
        "Accept all cookies\n"
        "The mayor resigned on Wednesday after a month of protests.\n"
        "Advertisement\n"
        "Sign up for our morning newsletter and get the news delivered to your inbox.\n"
        "Share\n"
        "Facebook Twitter Email\n"
        "Follow us on Telegram\n"
        "Her deputy will serve until an election in May."
    )
    result = clean_text(text)
    assert _kept_lines(result) == [
        "The mayor resigned on Wednesday after a month of protests.",
        "Her deputy will serve until an election in May.",
    ]
    assert [line.reason for line in result.removed] == [
        "navigation", "byline", "byline", "cookie", "cookie", "advertisement",
        "newsletter", "social", "social", "social",
    ]


def test_appeal_block_ends_when_the_article_resumes():
    text = (
        "Protesters gathered outside parliament.\n"
        "Support our journalism\n"
        "Our reporters work in dangerous conditions, and your donation keeps us going.\n"
        "Donate now\n"
        "Police said about 2,000 people took part."
    )
    result = clean_text(text)
    assert _kept_lines(result) == [
        "Protesters gathered outside parliament.",
        "Police said about 2,000 people took part.",
    ]
    assert [line.reason for line in result.removed] == ["reader-appeal", "reader-appeal", "ui-control"]


def test_blank_lines_left_by_removals_are_collapsed():
    text = "First paragraph.\n\nAdvertisement\n\nSecond paragraph.\n"
    assert clean_text(text).text == "First paragraph.\n\nSecond paragraph."


# --- HTML -----------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head><title>Harbour reopens after storm | Example News</title></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
<li><a href="/world">World</a></li><li><a href="/subscribe">Subscribe to our newsletter</a></li></ul></nav>
<article>
<h1>Harbour reopens after storm</h1>
<p>The city harbour reopened on Monday after a storm closed it for three days, port officials said.</p>
<p>Ferries to the islands resumed at noon, and the first cargo ship docked shortly afterwards.</p>
<p>Officials said repairs to the northern breakwater would take several weeks.</p>
</article>
<footer><p>Copyright 2025 Example News. All rights reserved.</p><p>Contact us | Careers | Privacy</p></footer>
</body></html>
"""

PAGE_PARAGRAPHS = [
    "The city harbour reopened on Monday after a storm closed it for three days, port officials said.",
    "Ferries to the islands resumed at noon, and the first cargo ship docked shortly afterwards.",
    "Officials said repairs to the northern breakwater would take several weeks.",
]


def test_clean_html_keeps_article_and_drops_nav_and_footer():
    pytest.importorskip("trafilatura")
    result = clean_html(PAGE)
    kept = _kept_lines(result)
    for paragraph in PAGE_PARAGRAPHS:
        assert paragraph in kept
    for noise in ("Home", "Subscribe to our newsletter", "Copyright", "All rights reserved", "Careers"):
        assert noise not in result.text


def test_clean_dispatches_on_html():
    pytest.importorskip("trafilatura")
    assert clean(PAGE) == clean_html(PAGE)
    plain = "A <b>bold</b> claim about p < q in the text."
    assert clean(plain) == clean_text(plain)


def test_clean_html_without_article_text_is_an_error():
    pytest.importorskip("trafilatura")
    with pytest.raises(ValueError, match="no article text"):
        clean_html("<html><body></body></html>")


def test_clean_html_without_trafilatura_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "trafilatura", None)  # makes "import trafilatura" fail
    with pytest.raises(ImportError, match=r'pip install "evalkit\[notebooks\]"'):
        clean_html(PAGE)


# --- noise inside one-line articles (CNN/DailyMail style); texts invented for the tests -------

DM_ARTICLE = (
    "By . Jane Roe . PUBLISHED: . 10:37 EST, 3 January 2014 . | . UPDATED: . 11:02 EST, 3 January 2014 . "
    "A council in Westbrook has closed its only swimming pool. The pool needed repairs costing $2 million. "
    "Scroll down for video Shut: The pool in Westbrook, which opened in 1971 and has been closed since Monday "
    "The council said it had no money left. Residents of Westbrook have started a petition. "
    "Sorry we are not currently accepting comments on this article."
)
DM_KEPT = ("A council in Westbrook has closed its only swimming pool. The pool needed repairs costing $2 million. "
           "The council said it had no money left. Residents of Westbrook have started a petition.")


def test_inline_noise_is_cut_out_of_a_one_line_article():
    result = clean_text(DM_ARTICLE)
    assert result.text == DM_KEPT
    assert [(line.reason, line.text) for line in result.removed] == [
        ("byline", "By . Jane Roe . PUBLISHED: . 10:37 EST, 3 January 2014 . | . UPDATED: . 11:02 EST, "
                   "3 January 2014 ."),
        ("video-prompt", "Scroll down for video"),
        ("caption", "Shut: The pool in Westbrook, which opened in 1971 and has been closed since Monday"),
        ("comments-closed", "Sorry we are not currently accepting comments on this article."),
    ]
    assert all(line.inline and line.line_number == 1 for line in result.removed)
    assert result.kept_words + result.removed_words == len(words(DM_ARTICLE))
    assert "caption" in result.report()


@pytest.mark.parametrize("text", [
    # a caption label followed by a real sentence with no seam: nothing is cut
    "Rain fell. Warning: The river rose two metres overnight and the bridge was closed.",
    # a colon in reporting, not after a sentence end
    "The mayor said one thing to reporters: Nobody would lose their job",
    # the caption would end on "of": "a painting of The Queen" stays whole, so nothing is cut
    "Rain fell. Portrait: a painting of The Queen hangs in the hall.",
])
def test_inline_noise_keeps_sentences_it_cannot_delimit(text):
    assert clean_text(text).text == text


def test_read_more_teaser_at_the_end_of_a_line():
    text = "The ship sailed on Monday. READ MORE: Navy unveils its largest ship in decades"
    result = clean_text(text)
    assert result.text == "The ship sailed on Monday."
    assert result.removed[0].reason == "related-teaser"


def test_chained_captions_are_cut_one_by_one():
    text = ("The dog was found on Friday. Found: The dog was discovered in a field near the farm "
            "Home: The dog back with its owner on Saturday afternoon The owner thanked the police.")
    result = clean_text(text)
    assert result.text == "The dog was found on Friday. The owner thanked the police."
    assert [line.reason for line in result.removed] == ["caption", "caption"]


# --- data: {clean: true} ---------------------------------------------------------------------


def test_data_clean_option_cleans_texts_and_reports_per_document(tmp_path):
    from evalkit.inputs.clean import cleaning_summary
    from evalkit.core.errors import DataError
    from evalkit.inputs.data import DataSpec, load

    path = tmp_path / "docs.jsonl"
    rows = [{"id": "dm", "article": DM_ARTICLE, "references": ["The pool closed."]},
            {"id": "plain", "article": "Snow fell. Roads closed.", "references": ["Snow."]}]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    raw = load({"path": str(path)})
    assert raw[0].text == DM_ARTICLE and "cleaning" not in raw[0].metadata
    assert cleaning_summary(raw) is None
    cleaned = load({"path": str(path), "clean": True})
    assert cleaned[0].text == DM_KEPT
    report = cleaned[0].metadata["cleaning"]
    assert report["removed_lines"] == 4
    assert report["by_reason"] == {"byline": 1, "video-prompt": 1, "caption": 1, "comments-closed": 1}
    assert report["kept_words"] + report["removed_words"] == len(words(DM_ARTICLE))
    assert cleaned[1].text == "Snow fell. Roads closed." and cleaned[1].metadata["cleaning"]["removed_lines"] == 0
    summary = cleaning_summary(cleaned)
    assert (summary["documents"], summary["changed"], summary["removed_lines"]) == (2, 1, 4)
    assert DataSpec.from_value({"path": str(path), "clean": True}).to_dict()["clean"] is True
    with pytest.raises(DataError, match="data: clean must be true or false"):
        DataSpec.from_value({"path": str(path), "clean": "yes"})


def test_cnndm_cleaning_removes_only_known_noise(cnndm_documents):
    removed = [line for d in cnndm_documents for line in clean_text(d.text).removed]
    reasons = {line.reason for line in removed}
    assert {"video-prompt", "caption", "comments-closed"} <= reasons
    # every "Scroll down for video" in the sample goes, and none of the remaining text says it
    cleaned = [clean_text(d.text).text for d in cnndm_documents]
    assert not any("scroll down for video" in text.lower() for text in cleaned)
    # no sentence is cut from the CNN articles, which carry no Daily Mail captions
    cnn = [d for d in cnndm_documents if d.text.startswith("(CNN)")]
    assert cnn and all(not any(line.reason == "caption" for line in clean_text(d.text).removed) for d in cnn)


def test_a_one_line_article_quoting_a_plea_is_kept():
    # a whole article on one line (as in CNN/DailyMail): four sentences, one quoting a sign that thanks
    # readers; rule 4 would take a short line saying this for a reader appeal, never a paragraph
    text = ("A statue of the firefighter was unveiled on Sunday. It stands outside the station. "
            "A sign beside it reads 'thank you for your support, our town'. Hundreds of people came.")
    result = clean_text(text)
    assert result.text == text and not result.removed


def test_a_document_that_is_all_noise_keeps_its_text_and_says_so():
    from evalkit.inputs.clean import clean_documents, cleaning_summary
    from evalkit.core.types import Document

    (document,) = clean_documents([Document(id="n", text="Advertisement\nShare", references=("x",))])
    assert document.text == "Advertisement\nShare"
    assert "skipped" in document.metadata["cleaning"]
    assert cleaning_summary([document])["skipped"] == 1
