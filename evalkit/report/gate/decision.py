"""The gate's decision: compare a run with a baseline, one check per gated (system, value).

The decision for one check, with scores paired by ``document_id``:

- ``drop = mean(baseline) - mean(new)`` for a value where higher is better (and
  ``mean(new) - mean(baseline)`` where lower is better), over the documents defined in both;
- ``p``: the two-sided paired permutation (sign-flip) test of :func:`evalkit.report.stats.paired_test`
  (Dror et al. 2018), seeded, so the gate gives the same answer on every machine;
- ``p_adjusted``: Holm (1979) over all the gated checks of the run (``correction: none`` turns
  it off);
- the check **regresses** when ``drop > tolerance`` **and** ``p_adjusted <= alpha``.

A rule with a claim (``non_inferiority: {margin: m}`` or ``equivalence: {margin: m}`` in the
policy) is decided by TOST on the paired per-document changes instead (Schuirmann 1987;
:func:`evalkit.report.sampling.tost`): it passes only when the ``1 - 2 alpha`` t interval of the
mean change lies above ``-m`` (non-inferiority) or inside ``(-m, m)`` (equivalence), and regresses
otherwise, however noisy the comparison. Its p-value is the TOST p-value, outside the Holm family:
the gate passes only when every claim is shown, an intersection-union test that needs no
correction (Berger 1982). Every compared check also carries the minimum detectable effect of its
paired design at 80% power (:func:`evalkit.report.sampling.minimum_detectable_effect`).

A document whose value was defined in the baseline but is undefined in the new run is not
silently dropped: more than ``max_lost`` of them fails the check. Anything that makes the
comparison meaningless (another metric signature, other documents, a missing system or value)
makes the check "could not compare", never a pass.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from evalkit.report import sampling, stats
from evalkit.core.errors import GateError, PolicyError
from evalkit.report.gate.baseline import (as_run, baseline_instance, check_baseline, document_identity, gated_values,
                                   instance, load_baseline, systems_of, values_of)
from evalkit.report.gate.policy import Policy
from evalkit.report.bidi import strict_json
from evalkit.report.gate import render
from evalkit.report.gate.render import change_text, num, p_text
from evalkit.core.types import Measure

EXIT_PASSED, EXIT_REGRESSED, EXIT_USAGE, EXIT_INCOMPARABLE = 0, 1, 2, 3
Verdict = Literal["passed", "regressed", "incomparable"]
EXIT_CODES: dict[str, int] = {"passed": EXIT_PASSED, "regressed": EXIT_REGRESSED, "incomparable": EXIT_INCOMPARABLE}
WORST_SHOWN = 5
"""How many of the most affected documents a regression lists."""


@dataclass
class Check:
    """The outcome for one gated (system, value)."""

    system: str
    metric: str
    status: Literal["passed", "regressed", "error"]
    reason: str
    """One line: why it passed, regressed or could not be compared."""
    direction: str = "higher"
    """``higher``, ``lower``, or ``closer`` (to ``ideal``: the means and changes are of the distance from it)."""
    ideal: float | None = None
    tolerance: float = math.nan
    n: int = 0
    """Documents with a value in both runs (the pairs tested)."""
    n_lost: int = 0
    """Documents with a value in the baseline but none in the new run."""
    baseline: float = math.nan
    """Baseline mean over the ``n`` paired documents."""
    new: float = math.nan
    """New mean over the same documents."""
    drop: float = math.nan
    """How much worse the new run is (positive = worse), in the value's units."""
    p_value: float = math.nan
    p_adjusted: float = math.nan
    worst: list[tuple[str, float, float, float]] = field(default_factory=list)
    """The most affected documents: ``(document_id, baseline, new, drop)``, largest drop first."""
    lost: list[str] = field(default_factory=list)
    """Ids of documents that lost their value."""
    fingerprint_changed: bool = False
    """The system's fingerprint differs from the baseline's (the change under test)."""
    improved: bool = False
    """Better by more than the tolerance, and significant (reported, never a failure)."""
    claim: str | None = None
    """``non_inferiority`` or ``equivalence`` when the policy asks the run to show one (TOST), else ``None``."""
    ci_low: float = math.nan
    """For a claim: the lower end of the ``1 - 2 alpha`` interval of ``new - baseline``."""
    ci_high: float = math.nan
    """For a claim: the upper end of that interval."""
    mde: float = math.nan
    """The smallest true change this paired comparison detects at 80% power (two-sided alpha), in value units."""

    @property
    def change(self) -> float:
        """``new - baseline`` (signed, in the value's units)."""
        return self.new - self.baseline

    @property
    def notable(self) -> bool:
        """Worth a row in a short report: regressed, could not compare, or improved."""
        return self.status != "passed" or self.improved


@dataclass
class GateResult:
    """The gate's verdict on a run, with one :class:`Check` per gated (system, value)."""

    verdict: Verdict
    checks: list[Check]
    errors: list[str]
    """Distinct reasons the run could not be compared (empty unless the verdict is "incomparable")."""
    notes: list[str]
    """What the reader should know that changes no verdict (changed fingerprints, ungated values)."""
    alpha: float
    policy: Policy | None = None
    baseline_run: str = "?"
    run_id: str = "?"
    n_documents: int = 0

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def regressions(self) -> list[Check]:
        return [c for c in self.checks if c.status == "regressed"]

    @classmethod
    def incomparable(cls, message: str, *, alpha: float = 0.05, baseline_run: str = "?",
                     run_id: str = "?") -> GateResult:
        """A result for a comparison that could not even start (an unreadable baseline)."""
        return cls("incomparable", [], [message], [], alpha, None, baseline_run, run_id)

    def headline(self) -> str:
        return render.headline(self)

    def __str__(self) -> str:
        return self.to_text()

    def to_text(self, *, all_rows: bool = False) -> str:
        """The terminal report: a short summary on a pass, every row only with ``all_rows``."""
        return render.text(self, all_rows=all_rows)

    def to_markdown(self, *, all_rows: bool = False) -> str:
        """A summary for a CI job summary or a pull-request comment."""
        return render.markdown(self, all_rows=all_rows)

    def to_junit(self) -> str:
        """JUnit XML: one testcase per (system, value); ``failure`` = regressed, ``error`` = could not compare."""
        return render.junit(self)

    def to_dict(self) -> dict[str, Any]:
        """Everything in the result as JSON-ready data (undefined numbers as ``null``)."""
        return render.as_dict(self)

    def to_json(self) -> str:
        """:meth:`to_dict` as strict JSON (no NaN or Infinity), bidirectional controls as ``\\uXXXX`` escapes."""
        return strict_json(self.to_dict(), indent=2) + "\n"


def _problems_with_documents(base: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why the two runs' documents differ (empty when they are the same)."""
    problems = []
    base_ids, new_ids = set(base.get("ids") or []), set(new["ids"])
    if base_ids != new_ids:
        only_base, only_new = sorted(base_ids - new_ids), sorted(new_ids - base_ids)
        parts = []
        if only_base:
            parts.append(f"{len(only_base)} only in the baseline (e.g. {', '.join(only_base[:3])})")
        if only_new:
            parts.append(f"{len(only_new)} only in the run (e.g. {', '.join(only_new[:3])})")
        problems.append(f"the documents differ: the baseline has {len(base_ids)}, the run {len(new_ids)}; "
                        + "; ".join(parts))
        return problems
    if base.get("hashes") is not None and new["hashes"] is not None:
        changed = sorted(d for d in base_ids if base["hashes"].get(d) != new["hashes"].get(d))
        if changed:
            problems.append(f"{len(changed)} document(s) have a different text or references "
                            f"(e.g. {', '.join(changed[:3])})")
    elif base.get("documents") != new["documents"]:
        problems.append(f"the documents digest differs (baseline {base.get('documents')}, run {new['documents']}) "
                        "with the same ids: a text, a reference or the order changed, and per-document hashes are "
                        "not available to say which (keep the data file where the run read it)")
    base_targets, new_targets = base.get("targets") or {}, new["targets"]
    retargeted = sorted(d for d in base_ids if d in base_targets and d in new_targets
                        and base_targets[d] != new_targets[d])
    if retargeted:
        first = retargeted[0]
        problems.append(f"{len(retargeted)} document(s) have a different length target (e.g. {first}: "
                        f"{base_targets[first]} in the baseline, {new_targets[first]} in the run)")
    return problems


def _compare(check: Check, base: Mapping[str, Any], new: Mapping[str, float], policy: Policy, alpha: float) -> None:
    """Fill in the statistics of one check (its status is decided after the correction)."""
    ids = sorted(base)
    x = np.array([np.nan if base[d] is None else float(base[d]) for d in ids])
    y = np.array([new.get(d, np.nan) for d in ids], dtype=float)
    if check.direction == "closer":  # a two-sided value: the distance from its ideal, lower is better
        x, y = np.abs(x - check.ideal), np.abs(y - check.ideal)
    check.lost = [d for d, a, b in zip(ids, x, y) if not np.isnan(a) and np.isnan(b)]
    check.n_lost = len(check.lost)
    both = ~(np.isnan(x) | np.isnan(y))
    check.n = int(both.sum())
    if check.n == 0:
        if check.n_lost > policy.max_lost:
            return  # every value lost: _decide reports it as a regression
        raise GateError(f"{check.system} / {check.metric}: no document has a value in both the baseline and the run")
    sign = 1.0 if check.direction == "higher" else -1.0  # lower and closer: a smaller value is better
    check.baseline, check.new = float(x[both].mean()), float(y[both].mean())
    infinite = [f"{run}: {int(np.isinf(v[both]).sum())} of {check.n} documents"
                for run, v in (("baseline", x), ("run", y)) if np.isinf(v[both]).any()]
    if infinite:  # an infinite mean would read as a change of inf, "improved" or "regressed" by an undefined amount
        raise GateError(f"{check.system} / {check.metric}: infinite values ({'; '.join(infinite)}) have no mean to "
                        f"compare; fix the metric, or set gate: false for {check.metric} in the policy")
    check.drop = sign * (check.baseline - check.new)
    result = stats.paired_test(y[both], x[both], method=policy.test, n_resamples=policy.n_resamples,
                               seed=policy.seed)
    check.p_value = result.p_value
    drops = sign * (x[both] - y[both])
    if check.n > 1:
        check.mde = sampling.minimum_detectable_effect(float(drops.std(ddof=1)), check.n, alpha=alpha)
    if check.claim is not None:
        shown = sampling.tost(-drops, check.tolerance, kind=check.claim, alpha=alpha)
        check.p_value, check.p_adjusted = shown.p_value, shown.p_value
        check.ci_low, check.ci_high = (shown.ci_low, shown.ci_high) if sign > 0 else (-shown.ci_high, -shown.ci_low)
    kept = [d for d, k in zip(ids, both) if k]
    order = sorted(range(len(kept)), key=lambda i: (-drops[i], kept[i]))
    check.worst = [(kept[i], float(x[both][i]), float(y[both][i]), float(drops[i]))
                   for i in order[:WORST_SHOWN] if drops[i] > 0]


def _decide(check: Check, policy: Policy, alpha: float) -> None:
    lost = ""
    if check.n_lost:
        lost = (f"; {check.n_lost} document(s) lost their value (a failed summary or an undefined score), "
                f"e.g. {', '.join(check.lost[:3])}")
    if check.n_lost > policy.max_lost:
        check.status = "regressed"
        check.reason = (f"{check.n_lost} document(s) have a value in the baseline but none in the run "
                        f"(more than max_lost={policy.max_lost}), e.g. {', '.join(check.lost[:3])}")
        if check.n:
            check.reason += (f"; on the other {check.n}: {change_text(check)}, {num(check.baseline)} -> "
                             f"{num(check.new)}, p={p_text(check.p_value)}")
        return
    if check.claim is not None:
        _decide_claim(check, alpha, lost)
        return
    holm = f", Holm {p_text(check.p_adjusted)}" if policy.correction == "holm" else ""
    if check.drop > check.tolerance and check.p_adjusted <= alpha:
        check.status = "regressed"
        check.reason = (f"{change_text(check)}: {num(check.baseline)} -> {num(check.new)} over {check.n} documents, "
                        f"beyond the tolerance {num(check.tolerance)} and significant (p={p_text(check.p_value)}"
                        f"{holm} <= alpha {alpha:g})" + lost)
        return
    check.status = "passed"
    check.improved = -check.drop > check.tolerance and check.p_adjusted <= alpha
    if check.drop > check.tolerance:
        why = (f"{change_text(check)} but not significant (p={p_text(check.p_value)}{holm} > alpha {alpha:g}): "
               "within noise")
    elif check.drop > 0:
        why = f"{change_text(check)}, within the tolerance {num(check.tolerance)}"
    elif check.drop == 0:
        why = "no change"
    elif check.improved:
        why = f"{change_text(check)}, significant (p={p_text(check.p_value)}{holm})"
    else:
        why = f"{change_text(check)} (p={p_text(check.p_value)})"
    check.reason = why + lost


def _decide_claim(check: Check, alpha: float, lost: str) -> None:
    """Pass when TOST shows the claim at ``alpha``; regress otherwise (the burden of proof is on the run)."""
    margin = num(check.tolerance)
    interval = (f"{1 - 2 * alpha:.0%} CI of the difference [{num(check.ci_low)}, {num(check.ci_high)}] over "
                f"{check.n} documents")
    what = f"in distance from {check.ideal:g} " if check.direction == "closer" and check.ideal is not None else ""
    claim = (f"not worse than the baseline {what}by more than {margin}" if check.claim == "non_inferiority" else
             f"equivalent to the baseline {what}within +/-{margin}")
    if check.p_value <= alpha:
        check.status = "passed"
        check.reason = f"{claim} ({interval}, TOST p={p_text(check.p_value)})" + lost
        return
    check.status = "regressed"
    why = "too few documents to show anything" if check.n < 2 else (
        f"TOST p={p_text(check.p_value)} > alpha {alpha:g}; a change that small needs more documents or samples "
        f"to show (this comparison detects {num(check.mde)} at 80% power)")
    check.reason = f"could not show it is {claim} ({interval}; {why})" + lost


# -- number formats shared by the reasons and the renderers ------------------------------------------

def _measure(run, name: str, info: Mapping[str, Any]) -> Measure:
    """The value's measure: the run's, else the one the baseline recorded, else a plain one."""
    if name in run.measures():
        return run.measure(name)
    if isinstance(info.get("measure"), Mapping):
        return Measure.from_dict(info["measure"])
    return run.measure(name)


def _instance_problems(baseline: Mapping[str, Any], run, run_metrics: set[str]) -> dict[str, str]:
    """Value name -> why it cannot be compared; a changed signature is said once per metric instance."""
    problem: dict[str, str] = {}
    by_instance: dict[tuple[str, str], list[str]] = {}
    for name, info in sorted(baseline["metrics"].items()):
        if name not in run_metrics:
            problem[name] = f"metric value {name} is gated by the baseline but not in the run"
            continue
        try:
            key, entry = instance(name, run.manifest)
        except GateError as exc:
            problem[name] = str(exc)
            continue
        if entry.signature != info.get("signature"):
            by_instance.setdefault((baseline_instance(info) or key, key), []).append(name)
    for (old_key, key), names in by_instance.items():
        info = baseline["metrics"][names[0]]
        entry = run.manifest.metrics[key]
        configs = ""
        old_config, new_config = info.get("config"), entry.config
        if old_config != new_config:
            configs = f" (configured as {_compact(old_config)} in the baseline, {_compact(new_config)} in the run)"
        message = (f"metric {key} was scored differently: signature {info.get('signature')} in the baseline, "
                   f"{entry.signature} in the run{configs}, so its gated values ({', '.join(names)}) cannot "
                   "be compared; re-save the baseline if the new metric settings are intended")
        for name in names:
            problem[name] = message
    return problem


def check(run, baseline: str | Path | Mapping[str, Any], policy: Policy | Mapping[str, Any] | str | Path | None = None,
          alpha: float | None = None, documents=None) -> GateResult:
    """Compare ``run`` (a :class:`~evalkit.run.record.Run` or its folder) with a baseline.

    ``baseline`` is a baseline file or the dict :func:`save_baseline` returned. Everything that
    makes the comparison meaningless ends in a result with verdict ``"incomparable"`` (each
    affected check has status ``"error"`` and a reason; each distinct reason is listed once
    in ``errors``); nothing raises for it. A malformed policy raises :class:`PolicyError`; a
    missing file :class:`FileNotFoundError`.
    """
    policy = Policy.load(policy)
    alpha = policy.alpha if alpha is None else float(alpha)
    if not 0 < alpha < 1:
        raise PolicyError(f"alpha must lie strictly between 0 and 1 (e.g. 0.05), got {alpha!r}")
    run = as_run(run)
    try:
        if isinstance(baseline, (str, Path)):
            baseline = load_baseline(baseline)
        else:
            check_baseline(baseline, "baseline")
    except GateError as exc:
        return GateResult.incomparable(str(exc), alpha=alpha, run_id=run.run_id)
    base_run = (baseline.get("run") or {}).get("run_id", "?")
    notes: list[str] = []
    errors: list[str] = []

    def fail(message: str) -> str:
        if message not in errors:
            errors.append(message)
        return message

    try:
        identity = document_identity(run, documents)
        document_problems = _problems_with_documents(baseline["data"], identity)
    except GateError as exc:
        identity, document_problems = {"ids": []}, [str(exc)]
    global_error = "; ".join(document_problems)
    if global_error:
        fail(global_error)

    frame = run.values()
    run_systems = systems_of(run, frame)
    run_metrics = set(frame["metric"])
    run_signatures = {key: entry.signature for key, entry in run.manifest.metrics.items()}
    manifest_systems = run.manifest.systems
    metric_problem = _instance_problems(baseline, run, run_metrics)

    gated_instances = {baseline_instance(info) for info in baseline["metrics"].values()}
    old_signatures = baseline.get("metric_signatures") or {}
    changed = sorted(k for k in (set(old_signatures) | set(run_signatures)) - gated_instances
                     if old_signatures.get(k) != run_signatures.get(k))
    if changed:
        notes.append(f"metric(s) the baseline does not gate are new, gone or configured differently: "
                     f"{', '.join(changed)}")

    checks: list[Check] = []
    switched_off: list[str] = []
    for system, info in baseline["systems"].items():
        new_fingerprint = manifest_systems[system].fingerprint if system in manifest_systems else None
        changed = system in run_systems and new_fingerprint != info.get("fingerprint")
        if changed:
            notes.append(f"{system} changed (the change under test): fingerprint {info.get('fingerprint')} -> "
                         f"{new_fingerprint}")
        for name, metric_info in baseline["metrics"].items():
            if policy.disabled(system, name):
                switched_off.append(f"{system} / {name}")
                continue
            item = Check(system, name, "error", "", fingerprint_changed=changed)
            checks.append(item)
            try:
                rule = policy.rule(system, name, _measure(run, name, metric_info))
            except PolicyError as exc:
                item.reason = fail(str(exc))
                continue
            if rule is not None:
                item.direction, item.tolerance, item.ideal = rule.direction, rule.tolerance, rule.ideal
                if rule.claim is not None:
                    item.claim, item.tolerance = rule.claim, float(rule.margin)
            if global_error:
                item.reason = global_error
            elif system not in run_systems:
                item.reason = fail(f"system {system} is gated by the baseline but not in the run "
                                   f"(the run has {', '.join(run_systems)})")
            elif name in metric_problem:
                item.reason = fail(metric_problem[name])
            elif rule is None:
                item.reason = fail(f"{policy.source} gives no tolerance for {name} (and its measure none); add "
                                   f"metrics: {{{name}: {{tolerance: ...}}}} to the policy")
            elif system not in baseline["scores"] or name not in baseline["scores"][system]:
                item.reason = fail(f"the baseline has no scores for {system} / {name}; re-save the baseline")
            else:
                try:
                    _compare(item, baseline["scores"][system][name], values_of(frame, system, name), policy,
                             alpha)
                except GateError as exc:
                    item.reason = fail(str(exc))
                else:
                    item.status = "passed"  # provisional: decided after the correction

    tested = [c for c in checks if c.status != "error" and c.claim is None]
    p_values = np.array([c.p_value for c in tested], dtype=float)
    adjusted = stats.holm_adjust(p_values) if policy.correction == "holm" else p_values
    for item, p_adj in zip(tested, adjusted):
        item.p_adjusted = float(p_adj)
    for item in checks:
        if item.status != "error":
            _decide(item, policy, alpha)

    if switched_off:
        notes.append(f"not gated (gate: false in {policy.source}): {', '.join(switched_off)}")
    extra = [s for s in run_systems if s not in baseline["systems"]]
    if extra:
        notes.append(f"not gated (not in the baseline): system(s) {', '.join(extra)}")
    try:
        ungated = [m for m in gated_values(run, policy, frame)[0] if m not in baseline["metrics"]]
    except PolicyError:  # already reported on the checks it concerns
        ungated = []
    if ungated:
        notes.append(f"not gated (not in the baseline): value(s) {', '.join(ungated)}; "
                     "re-save the baseline to gate them")
    if baseline.get("not_gated"):
        notes.append(f"the baseline run lacked policy value(s) {', '.join(baseline['not_gated'])}: not gated")

    if not checks and not errors:
        fail("the baseline gates no (system, value): nothing was checked; re-save it with a policy that gates one")
    verdict: Verdict = "incomparable" if errors else "regressed" if any(c.status == "regressed" for c in checks) \
        else "passed"
    return GateResult(verdict, checks, errors, notes, alpha, policy, base_run, run.run_id,
                      len(identity.get("ids") or []))


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if value is not None else "(unknown)"
