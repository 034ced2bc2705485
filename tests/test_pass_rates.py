"""`evalkit report RUN --pass METRIC>=VALUE`: per-system pass rate, pass^k and pass@k over samples, by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from evalkit.core.errors import ConfigError
from evalkit.report.tables import format_pass_rates
from evalkit.run.record import Run
from evalkit.run.schema import RunManifest

# system "a": 3 samples per document; "b": 1 sample per document
VALUES = {("a", "d1"): [0.5, 0.2, 0.4], ("a", "d2"): [0.1, 0.35, 0.31], ("b", "d1"): [0.4], ("b", "d2"): [0.2]}


def _run(tmp_path) -> Run:
    rows = [(doc, system, sample, "rougeL_f", value, None)
            for (system, doc), values in VALUES.items() for sample, value in enumerate(values)]
    scores = pd.DataFrame(rows, columns=["document_id", "system", "sample", "metric", "value", "note"])
    summaries = pd.DataFrame(columns=["document_id", "system", "text", "error", "seconds", "fingerprint", "target",
                                      "details"])
    return Run(tmp_path, RunManifest(), scores, summaries)


def _row(text: str, system: str) -> list[str]:
    (line,) = [line for line in text.splitlines() if line.split()[:1] == [system]]
    return line.split()


def test_pass_rates_pass_hat_k_and_pass_at_k_equal_the_hand_computation(tmp_path):
    text = format_pass_rates(_run(tmp_path), "rougeL_f>=0.3")
    # a: d1 passes 2 of 3 (0.5, 0.4), d2 2 of 3 (0.35, 0.31): rate 2/3; k = 3: pass^3 = C(2,3)/C(3,3) = 0,
    # pass@3 = 1 - C(1,3)/C(3,3) = 1
    assert _row(text, "a") == ["a", "2", "3", "0.667", "0.000", "1.000"]
    # b: d1 passes, d2 does not: rate, pass^1 and pass@1 all 1/2
    assert _row(text, "b") == ["b", "2", "1", "0.500", "0.500", "0.500"]


def test_lower_is_better_counts_values_at_or_under_the_threshold(tmp_path):
    text = format_pass_rates(_run(tmp_path), "rougeL_f<=0.2")
    # a: d1 1 of 3 (0.2), d2 1 of 3 (0.1): rate 1/3; pass^3 = 0; pass@3 = 1 - C(2,3)/C(3,3) = 1
    assert _row(text, "a") == ["a", "2", "3", "0.333", "0.000", "1.000"]


@pytest.mark.parametrize(("condition", "says"), [
    ("rougeL_f=0.3", "write METRIC>=VALUE or METRIC<=VALUE"),
    ("rougeLf>=0.3", "did you mean 'rougeL_f'?"),
])
def test_a_bad_condition_is_one_line_that_says_what_to_write(tmp_path, condition, says):
    with pytest.raises(ConfigError) as error:
        format_pass_rates(_run(tmp_path), condition)
    assert says in str(error.value) and "\n" not in str(error.value)
