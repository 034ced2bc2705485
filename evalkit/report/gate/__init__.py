"""A CI regression gate on summary quality: save a run as a baseline, then check new runs against it.

``evalkit baseline save RUN FILE`` keeps, for the gated systems and values, every per-document
score of a run with what makes scores comparable (:mod:`evalkit.report.gate.baseline`).
``evalkit check RUN --baseline FILE`` compares a new run with it, one check per gated
(system, value) (:mod:`evalkit.report.gate.decision`): a check **regresses** when the new run is worse
by more than the tolerance **and** the paired permutation test, Holm-corrected across the
checks, is significant at ``alpha``.

What is gated comes from the run's measures: every value whose measure has a direction and a
``tolerance`` (ROUGE F-scores, BERTScore F1, length_ok, entity precision...), with that
tolerance and direction; the policy (:mod:`evalkit.report.gate.policy`, ``configs/gate-policy.yaml``)
only overrides. The gate reads only runs (manifest + tables): it builds no metric and loads
no data.

Anything that makes the comparison meaningless is *could not compare* (exit code 3), never a
pass: a gated metric scored with another signature, other documents (ids, texts, references
or length targets), a gated system or value missing from the run. A system whose fingerprint
changed is not an error (that is the change under test) but is reported.

Exit codes: 0 passed, 1 regressed, 2 usage error (bad arguments, missing file, invalid policy),
3 could not compare. Reports: :mod:`evalkit.report.gate.render` (text, Markdown, JUnit, JSON).
"""

from evalkit.core.errors import GateError, PolicyError
from evalkit.report.gate.baseline import BASELINE_FORMAT, BASELINE_VERSION, document_identity, load_baseline, save_baseline
from evalkit.report.gate.commands import add_commands, cmd_baseline_save, cmd_check, main
from evalkit.report.gate.decision import (EXIT_CODES, EXIT_INCOMPARABLE, EXIT_PASSED, EXIT_REGRESSED, EXIT_USAGE,
                                   WORST_SHOWN, Check, GateResult, Verdict, check)
from evalkit.report.gate.policy import DEFAULT_POLICY, MetricRule, Override, Policy

__all__ = ["BASELINE_FORMAT", "BASELINE_VERSION", "DEFAULT_POLICY", "EXIT_CODES", "EXIT_INCOMPARABLE",
           "EXIT_PASSED", "EXIT_REGRESSED", "EXIT_USAGE", "WORST_SHOWN", "Check", "GateError", "GateResult",
           "MetricRule", "Override", "Policy", "PolicyError", "Verdict", "add_commands", "check",
           "cmd_baseline_save", "cmd_check", "document_identity", "load_baseline", "main", "save_baseline"]
