"""The combined factuality view: entity precision, NLI and judge scores side by side, and per document
the unsupported entities next to the unsupported claims."""

from __future__ import annotations


import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from evalkit.report import plots  # noqa: E402
from evalkit.metrics.entities import EntityOverlap  # noqa: E402
from evalkit.metrics.judge import LLMJudge  # noqa: E402
from evalkit.metrics.length import LengthCompliance  # noqa: E402
from evalkit.run.record import Run  # noqa: E402

# entity precision and judge support per (document, system), chosen by hand
VALUES = {("d1", "lead"): (1.0, 1.0), ("d2", "lead"): (1.0, 0.5), ("d1", "model"): (0.5, 0.5), ("d2", "model"): (0.75, 0.0)}


@pytest.fixture()
def run(tmp_path) -> Run:
    judge = LLMJudge(model="judge-model", rubric="claims", prefix="claims")
    metrics = {"entities": EntityOverlap().describe(), "claims": judge.describe(), "length": LengthCompliance().describe()}
    rows = []
    for (doc, system), (precision, supported) in VALUES.items():
        rows += [(doc, system, "entity_precision_source", precision, None), (doc, system, "claims_supported", supported, None),
                 (doc, system, "length_words", 40.0, None)]
    facts = pd.DataFrame([
        {"document_id": "d2", "system": "model", "metric": "entities", "info": {"unsupported_entities": ["Zorbulon Quaxley"]}},
        {"document_id": "d2", "system": "model", "metric": "claims", "info": {"unsupported_claims": ["He won the prize in 2031."]}}])
    scores = pd.DataFrame(rows, columns=["document_id", "system", "metric", "value", "note"])
    summaries = pd.DataFrame([{"document_id": d, "system": s, "text": "x", "error": None, "details": {}}
                              for d, s in VALUES])
    manifest = {"systems": {"lead": {"kind": "lead", "fingerprint": "lead@0"}, "model": {"kind": "hf-chat", "fingerprint": "hf-chat@0"}},
                "metrics": metrics}
    return Run(tmp_path, manifest, scores, summaries, facts)


def test_overview_shows_each_factuality_value_with_its_label_and_hand_means(run):
    assert plots.factuality_metrics(run) == ["entity_precision_source", "claims_supported"]  # length is not factuality
    figure = plots.factuality_overview(run, n_resamples=200)
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title().replace("\n", " ") for ax in panels] == ["entity precision vs source",
                                                                   "Claims supported (judge)"]
    # bar heights in % : lead (1 + 1)/2, model (0.5 + 0.75)/2 = 62.5; judge: lead 75, model 25
    heights = [[round(p.get_height(), 6) for p in ax.patches] for ax in panels]
    assert heights == [[100.0, 62.5], [75.0, 25.0]]
    assert figure._repr_png_()[:4] == b"\x89PNG"


def test_unsupported_entities_and_claims_side_by_side(run):
    table = plots.unsupported_table(run, "d2")
    assert table.loc["model", "unsupported entities"] == "Zorbulon Quaxley"
    assert table.loc["model", "unsupported claims"] == "He won the prize in 2031."
    assert table.loc["lead", "unsupported entities"] == "none" and table.loc["lead", "unsupported claims"] == "none"


def test_a_run_without_factuality_metrics_says_so(run):
    run.manifest = run.manifest.model_copy(update={"metrics": {"length": run.manifest.metrics["length"]}})
    with pytest.raises(ValueError, match="nothing to show because the run has no factuality metric"):
        plots.factuality_overview(run)
