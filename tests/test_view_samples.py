"""``evalkit view``'s document page for a run with ``samples: k``, in a real headless Chromium on a real uvicorn.

A stand-in strategy that samples (``draws_samples``) writes three different summaries of one article: 5, 9
and 12 words, the second naming a person the article never mentions. The page must show the three texts
under one heading (the first open), the length as the per-document mean over the samples with its min–max,
and the invented name marked in the second sample only. ``lead`` (one sample) looks as it always did.
"""

from __future__ import annotations

import pytest
from browser import browser, page  # noqa: F401 (fixtures)

from evalkit.core.types import Document
from evalkit.run import registry
from evalkit.run.experiment import Experiment
from evalkit.summarizers.base import Summarizer
from evalkit.view import serve

INVENTED = "Zorbulon Quaxley"
SAMPLES = ("The council met on Monday.",  # 5 words
           f"Mayor {INVENTED} said the council approved the budget.",  # 9 words
           "Residents protested outside the hall on Monday evening after the council met.")  # 12 words
WORDS = (5, 9, 12)
ARTICLE = ("The council of Brindlemoor met on Monday in the town hall. It approved the budget for the new year. "
           "Residents protested outside the hall on Monday evening after the council met.")


class StandInSampler(Summarizer):
    """Sample ``i`` of every document is ``SAMPLES[i]``: a strategy whose samples differ, with no model."""

    kind = "stand-in-sampler"

    def draws_samples(self) -> bool:
        return True

    def summarize_one(self, request):
        return SAMPLES[request.sample], {}


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    """(viewer, run): ``lead``, ``sampler`` with ``samples: 3`` and ``copies`` (textrank, which does not sample, so
    its second sample is recorded as a copy of the first) on two documents, scored on length and entities."""
    tmp = tmp_path_factory.mktemp("view-samples")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(registry.SUMMARIZERS, StandInSampler.kind, f"{__name__}:StandInSampler")
        docs = [Document("council", ARTICLE), Document("other", ARTICLE.replace("Brindlemoor", "Oakvale"))]
        run = Experiment(systems=[{"kind": "lead", "name": "lead"},
                                  {"kind": StandInSampler.kind, "name": "sampler", "samples": 3},
                                  {"kind": "textrank", "name": "copies", "samples": 2}],  # does not sample
                         metrics=[{"kind": "length"}, {"kind": "entities"}], target={"words": 20},
                         output_dir=tmp / "runs", store=tmp / "store.sqlite", progress=False).run(docs)
    viewer = serve(tmp / "runs", port=0)
    yield viewer, run
    viewer.stop()


def test_the_samples_of_a_system_are_grouped_under_one_heading_with_the_mean_and_its_range(sampled, page):
    viewer, run = sampled
    page.goto(f"{viewer.url}run/{run.run_id}/doc/council")
    boxes = page.locator(".side .summary")
    assert boxes.count() == 3  # one box per system, not one per sample
    box = page.locator('.summary[data-system="sampler"]')
    assert box.locator("h4").count() == 1 and box.locator("h4").inner_text().startswith("sampler")
    samples = box.locator("details.sample")
    assert samples.count() == 3
    assert [samples.nth(i).locator("summary").inner_text().split(" ·")[0] for i in range(3)] == [
        "sample 0", "sample 1", "sample 2"]
    assert [samples.nth(i).get_attribute("open") is not None for i in range(3)] == [True, False, False]
    assert samples.nth(0).locator(".text").inner_text().strip() == SAMPLES[0]
    assert not samples.nth(1).locator(".text").is_visible()
    for i in (1, 2):
        samples.nth(i).locator("summary").click()  # opened by a click: its own text
        assert samples.nth(i).locator(".text").inner_text().strip() == SAMPLES[i]
    # the mean over the samples, as the tables use it, and the spread over them (min–max)
    mean = sum(WORDS) / len(WORDS)  # (5 + 9 + 12) / 3 = 8.67
    row = box.locator("table.scores.mean tr", has_text="summary length")
    assert row.locator("td").nth(0).inner_text() == f"{mean:.2f} words"
    assert row.locator("td").nth(1).inner_text() == f"{min(WORDS):.2f}–{max(WORDS):.2f}"
    assert "min–max over 3 samples" in box.locator("table.scores.mean").inner_text()
    assert run.table().loc["sampler", "length_words"] == pytest.approx(mean)  # what the tables show
    # the deviation from the 20-word target: (5-20)/20 = -75% to (12-20)/20 = -40%, a range of negatives in words
    deviation = box.locator("table.scores.mean tr", has_text="deviation from word target").locator("td").nth(1)
    assert deviation.inner_text().replace("\n", " ") == "-75.0 to -40.0"
    # a sampled system's box takes two columns of the grid: its mean table has a column more than a sample's
    width = box.evaluate("b => b.getBoundingClientRect().width")
    assert width > 1.8 * page.locator('.summary[data-system="lead"]').evaluate("b => b.getBoundingClientRect().width")
    # each sample carries its own unsupported-entity marks: only sample 1 names the invented mayor
    marked = [[m.inner_text() for m in samples.nth(i).locator("mark.unsupported").all()] for i in range(3)]
    assert any(INVENTED in m for m in marked[1]) and marked[0] == [] and marked[2] == []


@pytest.mark.parametrize("system", ["lead", "copies"])
def test_a_system_with_one_sample_or_copies_of_one_looks_as_before(sampled, page, system):
    viewer, run = sampled
    page.goto(f"{viewer.url}run/{run.run_id}/doc/council")
    box = page.locator(f'.summary[data-system="{system}"]')
    assert box.locator("details").count() == 0 and box.locator("table.scores.mean").count() == 0
    assert box.locator(".text").count() == 1 and box.locator("h4").inner_text() == system
    words = len(box.locator(".text").inner_text().split())
    assert box.locator("table.scores tr", has_text="summary length").locator("td").inner_text() == f"{words:.2f} words"
