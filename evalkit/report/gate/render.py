"""How a gate result reads: terminal text, Markdown for a pull request, JUnit XML and JSON.

A pass is a short summary: rows are shown only for checks that regressed or improved (the
rest are counted); a reason the run could not be compared is said once, with the checks it
affects, not once per (system, value). Every change is one signed number, ``new - baseline``,
with which way it went: ``rouge1_f -0.0470 (worse)``.

Text for people (terminal, Markdown, JUnit) shows a bidirectional control in a system name or document id
as a visible marker (``⟨U+202E⟩``, :func:`evalkit.report.bidi.visible_bidi`), so it cannot reverse a line
of a pull-request comment; JSON keeps the exact string (:meth:`GateResult.to_json` escapes it). JSON has no
infinity: a number that is ±inf is ``null`` there, with a note naming it.
"""

from __future__ import annotations

import math
import re
import statistics
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from evalkit.report.bidi import visible_bidi
from evalkit.report.tables import json_number

if TYPE_CHECKING:  # the result types are read, never built, here: decision imports this module
    from evalkit.report.gate.decision import Check, GateResult

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 does not allow anywhere in a document (production ``Char``, section 2.2)."""

HEADER = ("system", "metric", "baseline", "new", "change", "p", "p (Holm)", "tolerance", "n", "verdict")


def headline(result: GateResult) -> str:
    what = {"passed": "passed", "regressed": "REGRESSED", "incomparable": "COULD NOT COMPARE"}[result.verdict]
    n = len(result.checks)
    if result.verdict == "incomparable":
        affected = sum(c.status == "error" for c in result.checks)
        counts = f"{len(result.errors)} problem(s)" + (f" affecting {affected} of {n} checks" if n else "")
    else:
        improved = sum(c.improved for c in result.checks)
        counts = (f"{len(result.regressions)} of {n} checks regressed, {improved} improved, "
                  f"on {result.n_documents} documents")
    return f"evalkit gate {what}: run {result.run_id} vs baseline {result.baseline_run} ({counts})"


def _status(check: Check, icons: bool = False) -> str:
    if check.status == "error":
        return "⚠️ could not compare" if icons else "COULD NOT COMPARE"
    if check.status == "regressed":
        return "❌ regressed" if icons else "REGRESSED"
    label = "improved" if check.improved else "pass"
    return ("✅ " + label) if icons else label


def _cells(check: Check, icons: bool = False) -> list[str]:
    return [check.system, check.metric, num(check.baseline), num(check.new), change_text(check),
            p_text(check.p_value), p_text(check.p_adjusted), num(check.tolerance), str(check.n),
            _status(check, icons)]


def _shown(result: GateResult, all_rows: bool) -> tuple[list[Check], int]:
    """The checks that get a row, and how many compared checks are only counted."""
    compared = [c for c in result.checks if c.status != "error"]
    shown = compared if all_rows else [c for c in compared if c.notable]
    return shown, len(compared) - len(shown)


def _affected(result: GateResult, error: str) -> str:
    hit = [c for c in result.checks if c.status == "error" and c.reason == error]
    if not hit:
        return ""
    systems = sorted({c.system for c in hit})
    values = sorted({c.metric for c in hit})
    return f" [{len(hit)} check(s): {', '.join(systems)} x {', '.join(values)}]"


def _headed(check: Check) -> str:
    """``lead / rouge1_f -0.0470 (worse): ...`` (a reason that is not a change gets a colon)."""
    joint = " " if check.reason[:1] in "+-" and check.reason else ": "
    return f"{check.system} / {check.metric}{joint}{check.reason}"


def mde_line(result: GateResult) -> str:
    """One line: each gated value's minimum detectable effect at 80% power (median over its systems), or ""."""
    by_metric: dict[str, list[float]] = {}
    for c in result.checks:
        if c.status != "error" and c.mde == c.mde:
            by_metric.setdefault(c.metric, []).append(c.mde)
    if not by_metric:
        return ""
    parts = [f"{metric} {num(statistics.median(values))}" for metric, values in by_metric.items()]
    several = any(len(values) > 1 for values in by_metric.values())
    return (f"Minimum detectable effect at 80% power (paired by document, two-sided alpha {result.alpha:g}, "
            f"{result.n_documents} documents): " + ", ".join(parts) + (" (median over systems)" if several else "")
            + "; a smaller true change is likely to pass as noise.")


def claims_line(result: GateResult) -> str:
    """One line on how checks with a margin decide, when the policy gives any, else ""."""
    if not any(c.claim for c in result.checks):
        return ""
    return (f"A check with a non-inferiority or equivalence margin passes only when TOST (two one-sided paired t "
            f"tests at alpha {result.alpha:g}, Schuirmann 1987) shows it: the {1 - 2 * result.alpha:.0%} CI of the "
            "difference lies above -margin (or inside +/-margin); a noisy comparison fails.")


def _rest_line(rest: int, shown: int, errors: bool = False) -> str:
    which = f"{rest} other" if shown else f"the {rest} compared" if errors else f"all {rest}"
    return (f"{which} check(s) passed (no change beyond the tolerance that is also significant); "
            "--all lists every check")


def text(result: GateResult, *, all_rows: bool = False) -> str:
    lines = [headline(result)]
    shown, rest = _shown(result, all_rows)
    if shown:
        rows = [[visible_bidi(cell) for cell in _cells(c)] for c in shown]  # markers before the widths
        widths = [max(len(r[i]) for r in [list(HEADER), *rows]) for i in range(len(HEADER))]

        def fmt(cells: list[str] | tuple[str, ...]) -> str:
            return "  ".join(c.ljust(w) if i in (0, 1, 4, 9) else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        lines += ["", fmt(HEADER), "  ".join("-" * w for w in widths), *map(fmt, rows)]
    if rest:
        lines += ["", _rest_line(rest, len(shown), bool(result.errors))]
    for check in result.regressions:
        lines += ["", f"REGRESSED {_headed(check)}"]
        if check.worst:
            lines.append("  most affected documents (baseline -> new, change):")
            lines += [f"    {d}: {num(b)} -> {num(n)}  ({signed(n - b)})" for d, b, n, _ in check.worst]
    if result.errors:
        lines += ["", "Could not compare:", *[f"  - {e}{_affected(result, e)}" for e in result.errors]]
    if result.notes:
        lines += ["", "Notes:", *[f"  - {n}" for n in result.notes]]
    if result.policy is not None:
        lines += ["", f"Regressed = worse by more than the tolerance and significant: {result.policy.describe()}."]
    lines += [claims_line(result)] if claims_line(result) else []  # the MDE line is in the Markdown and JSON
    return visible_bidi("\n".join(lines))


def _md(value: Any) -> str:
    return visible_bidi(str(value)).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _md_headed(check: Check) -> str:
    """``**lead / rouge1_f** -0.0470 (worse): ...`` (a reason that is not a change gets a colon)."""
    return _md(_headed(check)).replace(f"{_md(check.system)} / {_md(check.metric)}",
                                       f"**{_md(check.system)} / {_md(check.metric)}**", 1)


def _md_table(checks: list[Check]) -> list[str]:
    out = ["| " + " | ".join(HEADER) + " |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    out += ["| " + " | ".join(_md(c) for c in _cells(check, icons=True)) + " |" for check in checks]
    return out


def markdown(result: GateResult, *, all_rows: bool = False) -> str:
    """Short enough for a pull-request comment: notable rows, then every row folded away."""
    icon = {"passed": "✅", "regressed": "❌", "incomparable": "⚠️"}[result.verdict]
    out = [f"## {icon} {_md(headline(result))}", ""]
    if result.policy is not None:
        out += [f"A check regresses when the new run is worse by more than its tolerance **and** the change is "
                f"significant ({_md(result.policy.describe())}).", ""]
    for line in (claims_line(result), mde_line(result)):
        out += [_md(line), ""] if line else []
    shown, rest = _shown(result, all_rows)
    if shown:
        out += [*_md_table(shown), ""]
    compared = [c for c in result.checks if c.status != "error"]
    if rest:
        out += [_rest_line(rest, len(shown), bool(result.errors)).split(";")[0] + ".", "",
                f"<details><summary>All {len(compared)} compared checks</summary>", "", *_md_table(compared), "",
                "</details>", ""]
    if result.regressions:
        out += ["### Regressions", ""]
        for c in result.regressions:
            out += [_md_headed(c), ""]
            if c.worst:
                out += [f"Most affected documents ({len(c.worst)} shown):", "",
                        "| document | baseline | new | change |", "|---|---:|---:|---:|"]
                out += [f"| {_md(d)} | {num(b)} | {num(n)} | {signed(n - b)} |" for d, b, n, _ in c.worst]
                out.append("")
    if result.errors:
        out += ["### Could not compare", "", *[f"- {_md(e)}{_md(_affected(result, e))}" for e in result.errors], ""]
    if result.notes:
        out += ["### Notes", "", *[f"- {_md(n)}" for n in result.notes], ""]
    return "\n".join(out)


def junit(result: GateResult) -> str:
    failures = len(result.regressions)
    errors = sum(c.status == "error" for c in result.checks) or (1 if result.errors and not result.checks else 0)
    tests = len(result.checks) or errors
    suites = ET.Element("testsuites", name="evalkit-gate", tests=str(tests), failures=str(failures),
                        errors=str(errors))
    suite = ET.SubElement(suites, "testsuite", name=f"evalkit-gate.{result.run_id}", tests=str(tests),
                          failures=str(failures), errors=str(errors), skipped="0", time="0")
    properties = ET.SubElement(suite, "properties")
    for name, value in (("verdict", result.verdict), ("baseline_run", result.baseline_run), ("run", result.run_id),
                        ("alpha", f"{result.alpha:g}")):
        ET.SubElement(properties, "property", name=name, value=value)
    for c in result.checks:
        case = ET.SubElement(suite, "testcase", classname=f"evalkit.gate.{c.system}", name=c.metric, time="0")
        if c.status == "regressed":
            element = ET.SubElement(case, "failure", type="regression", message=_headed(c))
            element.text = "\n".join(f"{d}: {num(b)} -> {num(n)} ({signed(n - b)})" for d, b, n, _ in c.worst)
        elif c.status == "error":
            ET.SubElement(case, "error", type="could-not-compare", message=f"{c.system} / {c.metric}: {c.reason}")
        else:
            ET.SubElement(case, "system-out").text = c.reason
    if result.errors and not result.checks:
        case = ET.SubElement(suite, "testcase", classname="evalkit.gate", name="compare", time="0")
        ET.SubElement(case, "error", type="could-not-compare", message=result.errors[0]).text = "\n".join(result.errors)
    if result.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(result.notes)
    for element in suites.iter():  # a system name or document id may carry any character; XML cannot
        element.attrib = {key: _xml_safe(value) for key, value in element.attrib.items()}
        element.text = None if element.text is None else _xml_safe(element.text)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _xml_safe(text: str) -> str:
    """``text`` with each character XML 1.0 forbids written as its visible escape (ESC -> ``\\x1b``)."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}",
                        visible_bidi(text))


def _infinite(check: Check) -> str:
    """``"new is inf, change is inf, worst doc-3 new is inf"``: the check's JSON numbers that are ±inf (written
    as ``null``), or ""."""
    numbers = [("baseline", check.baseline), ("new", check.new), ("change", check.change), ("worse_by", check.drop),
               ("ci_low", check.ci_low), ("ci_high", check.ci_high), ("mde", check.mde),
               ("tolerance", check.tolerance)]
    numbers += [(f"worst {d} {name}", value) for d, b, n, _ in check.worst
                for name, value in (("baseline", b), ("new", n))]
    return ", ".join(f"{name} is {value}" for name, value in numbers if value is not None and math.isinf(value))


def as_dict(result: GateResult) -> dict[str, Any]:
    """The result as JSON-ready data: ``change`` is ``new - baseline``; ``worse_by`` is positive when worse."""
    policy = result.policy
    return {
        "verdict": result.verdict, "exit_code": result.exit_code, "run": result.run_id,
        "baseline_run": result.baseline_run, "n_documents": result.n_documents, "alpha": result.alpha,
        "policy": None if policy is None else {"source": policy.source, "test": policy.test,
                                               "correction": policy.correction, "n_resamples": policy.n_resamples,
                                               "seed": policy.seed, "max_lost": policy.max_lost},
        "checks": [{
            "system": c.system, "metric": c.metric, "status": c.status, "improved": c.improved, "reason": c.reason,
            "direction": c.direction, "ideal": c.ideal, "tolerance": json_number(c.tolerance), "n": c.n,
            "n_lost": c.n_lost,
            "baseline": json_number(c.baseline), "new": json_number(c.new), "change": json_number(c.change),
            "worse_by": json_number(c.drop), "p_value": json_number(c.p_value), "p_adjusted": json_number(c.p_adjusted),
            "fingerprint_changed": c.fingerprint_changed, "lost": list(c.lost), "claim": c.claim,
            "ci_low": json_number(c.ci_low), "ci_high": json_number(c.ci_high), "mde": json_number(c.mde),
            "worst": [{"document_id": d, "baseline": json_number(b), "new": json_number(n),
                       "change": json_number(n - b)} for d, b, n, _ in c.worst],
        } for c in result.checks],
        "errors": list(result.errors),
        "notes": [*result.notes, *(f"{c.system} / {c.metric}: {found}: written as null, as strict JSON has no "
                                   "Infinity; a score that is not finite is a metric's fault, see the run's scores"
                                   for c in result.checks if (found := _infinite(c)))],
    }


def num(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.4f}"


def signed(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:+.4f}"


def p_text(value: float | None) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:.1e}" if value < 0.001 else f"{value:.3f}"


def change_text(check: Check) -> str:
    """One signed number per change, with which way it went: ``-0.0470 (worse)``."""
    if check.change != check.change:
        return "n/a"
    what = f" in distance from {check.ideal:g}" if check.direction == "closer" and check.ideal is not None else ""
    if check.drop == 0 or check.drop != check.drop:
        return signed(check.change) + what
    return f"{signed(check.change)}{what} ({'worse' if check.drop > 0 else 'better'})"
