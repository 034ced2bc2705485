"""Entity normalisation rules (times, units, scores, PTB-split names, casing): pure functions, no model.

Every expected value is worked out by hand in the comment next to it.
"""

from __future__ import annotations

from evalkit.metrics.entities import detokenize, entity_key, looks_lowercased, normalize_tokens
from evalkit.metrics.entities.lexicon import capitalized_forms
from evalkit.metrics.entities.truecase import casing_table, display_name, truecase


def test_clock_times_read_as_one_24_hour_token():
    # 3 pm = 15:00 in every spelling; "p.m." with or without spaces and periods.
    for text in ("3 pm", "3pm", "3 p.m.", "3p.m.", "3PM", "15:00", "3:00 pm", "3.00pm"):
        assert normalize_tokens(text) == ["15:00"], text
    # 12 am is midnight, 12 pm is noon; 9.30am has its minutes.
    assert normalize_tokens("12am") == ["00:00"]
    assert normalize_tokens("12 pm") == ["12:00"]
    assert normalize_tokens("left at 9.30am") == ["left", "at", "09:30"]
    # A 24-hour time only when it cannot be a 12-hour one (13-23 h, or a leading zero).
    assert normalize_tokens("09:30") == ["09:30"]
    assert normalize_tokens("3:00") == ["3", "00"]  # 3 am or 3 pm: ambiguous, left as two numbers
    assert normalize_tokens("10:30") == ["10", "30"]  # likewise
    # Not times: an hour beyond 12 with pm, a decimal, a ratio, the verb "am".
    assert normalize_tokens("13pm") == ["13pm"]
    assert normalize_tokens("£15.30") == ["1530"]
    assert normalize_tokens("i am here") == ["i", "am", "here"]


def test_units_split_from_their_number():
    assert normalize_tokens("a 10kg bag") == ["a", "10", "kg", "bag"]
    assert normalize_tokens("a 10 kg bag") == ["a", "10", "kg", "bag"]
    assert normalize_tokens("70mph") == ["70", "mph"]
    # Ordinals and decades are not units.
    assert normalize_tokens("21st in the 1990s") == ["21st", "in", "the", "1990s"]


def test_a_score_is_not_part_of_a_name():
    assert entity_key("Leeds Rhinos 29-10", name=True) == ("leeds", "rhinos")
    assert entity_key("3-1 Arsenal", name=True) == ("arsenal",)
    # Only names lose it; a number entity keeps it, and a name of digits only is kept whole.
    assert entity_key("Leeds Rhinos 29-10") == ("leeds", "rhinos", "29", "10")
    assert entity_key("29-10", name=True) == ("29", "10")
    # A number that is not a score stays in the name ("Apollo 11"); so does a year range.
    assert entity_key("Apollo 11", name=True) == ("apollo", "11")
    assert entity_key("the 2014-15 season", name=True) == ("2014", "15", "season")


def test_lowercase_us_read_as_a_name_is_the_country():
    # In lowercased text "the us" is the country; NER calling it a name settles it.
    assert entity_key("the us", name=True) == ("US",)
    assert entity_key("us senate", name=True) == ("US", "senate")
    # In running text (and any non-name) the lowercase word stays the pronoun.
    assert normalize_tokens("they told us") == ["they", "told", "us"]


def test_ptb_split_names_are_rejoined():
    # PTB writes O'Sullivan as "o ' sullivan": one word again, as the source's "O'Sullivan" reads.
    assert normalize_tokens("ronnie o ' sullivan") == ["ronnie", "osullivan"]
    assert normalize_tokens("Ronnie O'Sullivan") == ["ronnie", "osullivan"]
    assert detokenize("ronnie o ' sullivan met d ' souza .") == "ronnie o'sullivan met d'souza."
    # A possessive's "s" before a closing quote is not a split name: "' jo 's ' car" is 'jo's' car.
    assert detokenize("he paid for ' jo 's ' car fare .") == "he paid for ' jo's ' car fare."
    assert normalize_tokens("for ' jo 's ' car") == ["for", "jo", "car"]
    # A quote after a longer word is not a name: "jones '" stays a plural possessive.
    assert normalize_tokens("the jones ' house") == ["the", "jones", "house"]


def test_sentence_capitalized_text_counts_as_lowercased():
    # Only sentence starts are capitalized: nothing inside a sentence tells the casing.
    assert looks_lowercased("Paul merson joined burnley. He said it was a big day.")
    assert looks_lowercased("the fbi said so .")
    # A capital inside a sentence ("Dubai", "Urho") shows the text is cased.
    assert not looks_lowercased("UNK was expelled from the Dubai Open.")
    assert not looks_lowercased("Dr. Urho Kujala said so.")
    # Restored from the source: "merson", "burnley" only appear capitalized there.
    table = casing_table(["Paul Merson, 46, joined Burnley in 2010. Merson played for Arsenal."])
    assert truecase("Paul merson joined burnley.", table) == "Paul Merson joined Burnley."


def test_the_casing_lexicon_keeps_words_mostly_written_capitalized():
    from math import log

    probabilities = {
        "glasgow": log(1e-7), "Glasgow": log(1.7e-6),  # 17 to 1: capitalized
        "apple": log(1e-5), "Apple": log(1.96e-5),  # 1.96 to 1: under 2, stays lowercase
        "monday": log(1e-6), "Monday": log(2e-6),  # exactly 2 to 1: capitalized
        "building": log(1e-4), "Building": log(5e-6),  # sentence starts only
        "Corbyn": log(3e-9),  # no lowercase form at all
        "mcdonald": log(1e-7), "McDonald": log(7e-6), "Mcdonald": log(1e-6),  # the most probable capitalized form
        "F-16": log(1e-5), "U.S.": log(1e-4),  # not alphabetic: left out
    }
    assert capitalized_forms(probabilities) == {
        "glasgow": "Glasgow", "monday": "Monday", "corbyn": "Corbyn", "mcdonald": "McDonald"}
    assert capitalized_forms(probabilities, ratio=1.5) == {
        "glasgow": "Glasgow", "apple": "Apple", "monday": "Monday", "corbyn": "Corbyn", "mcdonald": "McDonald"}


def test_the_document_casing_comes_before_the_lexicon():
    # The source writes "united" in lowercase inside a sentence, so "united" stays lowercase
    # although the lexicon would write it "United"; "glasgow" is not in the source: "Glasgow";
    # "post-glasgow" takes the lexicon's form for each part; a word in neither stays as written.
    table = casing_table(["The workers formed a united front. They met on Monday."])
    lexicon = {"united": "United", "glasgow": "Glasgow", "monday": "Monday"}
    assert truecase("the united front met in glasgow on monday , post-glasgow zorbs .", table, lexicon) == (
        "The united front met in Glasgow on Monday , post-Glasgow zorbs .")
    assert truecase("the united front met in glasgow .", table) == "The united front met in glasgow ."


def test_display_name_in_a_clean_casing():
    assert display_name("tony Abbott") == "Tony Abbott"
    assert display_name("europe") == "Europe"
    assert display_name("duchess of cambridge") == "Duchess of Cambridge"
    assert display_name("o'sullivan") == "O'Sullivan"
    assert display_name("McDonald") == "McDonald"  # a capital already there is kept
