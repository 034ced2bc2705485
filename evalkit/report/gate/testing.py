"""Test helpers: the CI regression gate as a pytest test.

.. code-block:: python

    from evalkit.report.gate.testing import assert_no_regression

    def test_summaries_did_not_regress():
        assert_no_regression("runs/", "baselines/news.json.gz")

A regression raises :class:`AssertionError` whose message is the gate's Markdown summary (the
system, value, signed change, p-value and the documents most affected); a run that cannot be compared
with the baseline raises :class:`evalkit.report.gate.GateError`, so it is never a pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evalkit.report.gate import GateError, GateResult, Policy, check


def assert_no_regression(run_or_path, baseline_path: str | Path | Mapping[str, Any],
                         policy: Policy | Mapping[str, Any] | str | Path | None = None,
                         alpha: float | None = None) -> GateResult:
    """Check a run against a baseline; raise on a regression or an impossible comparison.

    Returns the :class:`~evalkit.report.gate.GateResult` when the gate passes, so a test can look at
    the checks further.
    """
    __tracebackhide__ = True  # pytest: show the message, not this frame
    result = check(run_or_path, baseline_path, policy=policy, alpha=alpha)
    if result.verdict == "incomparable":
        raise GateError(result.to_markdown())
    if result.verdict == "regressed":
        raise AssertionError(result.to_markdown())
    return result
