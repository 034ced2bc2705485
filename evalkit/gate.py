"""A CI regression gate on summary quality: save a run as a baseline, then check new runs against it.

``evalkit baseline save RUN FILE`` keeps, for the gated systems and metrics, every per-document
score of a run, together with what makes scores comparable: each metric's signature, each
system's fingerprint and the data's identity (document ids, the manifest's documents digest,
per-document text hashes and length targets). ``evalkit check RUN --baseline FILE`` then
compares a new run with it, one check per gated (system, metric).

The decision for one check, with scores paired by ``document_id``:

- ``drop = mean(baseline) - mean(new)`` for a metric where higher is better (and
  ``mean(new) - mean(baseline)`` where lower is better), over the documents defined in both;
- ``p``: the two-sided paired permutation (sign-flip) test of :func:`evalkit.stats.paired_test`
  (Dror et al. 2018), seeded, so the gate gives the same answer on every machine;
- ``p_adjusted``: Holm (1979) over all the gated checks of the run (``correction: none`` turns
  it off), so that a gate of 3 systems x 6 metrics does not raise a false alarm on one of its
  18 checks far more often than ``alpha``;
- the check **regresses** when ``drop > tolerance`` **and** ``p_adjusted <= alpha``. The
  tolerance (in the metric's own units) ignores changes too small to matter even when they are
  consistent; the test ignores changes that are large on average but no more than noise.

The two-sided p-value is the number ``evalkit report`` and :mod:`evalkit.stats` report for the
same data; used for a one-directional decision it is conservative (a false alarm per check has
probability at most ``alpha / 2``), which is the right side to err on for a gate that blocks
merges. A document whose value was defined in the baseline but is undefined in the new run (a
summary that now fails) is not silently dropped: more than ``max_lost`` of them fails the check.

Anything that makes the comparison meaningless is *could not compare* (exit code 3), never a
pass: a gated metric scored with another signature (say a different BERTScore model), other
documents (ids, texts, references or length targets), a gated system or metric missing from
the run, or a policy without a tolerance for a gated metric. A system whose fingerprint changed
is not an error — that is the change under test — but is reported.

Exit codes: 0 passed, 1 regressed, 2 usage error (bad arguments, missing file, invalid policy),
3 could not compare.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from evalkit import stats
from evalkit.fingerprint import digest
from evalkit.runs import instance_of, metric_instances

log = logging.getLogger(__name__)

DEFAULT_POLICY = Path(__file__).resolve().parent / "configs" / "gate-policy.yaml"
BASELINE_FORMAT = "evalkit-baseline"
BASELINE_VERSION = 1

EXIT_PASSED, EXIT_REGRESSED, EXIT_USAGE, EXIT_INCOMPARABLE = 0, 1, 2, 3
Verdict = Literal["passed", "regressed", "incomparable"]
EXIT_CODES: dict[str, int] = {"passed": EXIT_PASSED, "regressed": EXIT_REGRESSED, "incomparable": EXIT_INCOMPARABLE}
WORST_SHOWN = 5
"""How many of the most affected documents a regression lists."""

from evalkit.errors import GateError, PolicyError  # noqa: E402  (re-exported)


# -- policy ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MetricRule:
    """How one metric is gated."""

    tolerance: float
    """The largest drop that is accepted, in the metric's own units (0.005 = half a ROUGE point)."""
    direction: Literal["higher", "lower"] = "higher"
    """Which way is better."""
    optional: bool = False
    """Gate it only when the run has it (no warning when it does not)."""


_RULE_KEYS = {"tolerance", "direction", "optional"}
_POLICY_KEYS = {"alpha", "correction", "test", "n_resamples", "seed", "max_lost", "metrics", "systems"}


def _rule(name: str, value: Any, base: MetricRule | None, where: str) -> MetricRule:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{where}: {name} must be a mapping such as {{tolerance: 0.005, direction: higher}}")
    unknown = set(value) - _RULE_KEYS
    if unknown:
        raise PolicyError(f"{where}: {name} has unknown key(s) {sorted(unknown)}; allowed: {sorted(_RULE_KEYS)}")
    if base is None and "tolerance" not in value:
        raise PolicyError(f"{where}: {name} needs a tolerance (the accepted drop, in the metric's units)")
    tolerance = value.get("tolerance", base.tolerance if base else None)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
        raise PolicyError(f"{where}: {name}.tolerance must be a number >= 0, got {tolerance!r}")
    direction = value.get("direction", base.direction if base else "higher")
    if direction not in ("higher", "lower"):
        raise PolicyError(f"{where}: {name}.direction must be 'higher' or 'lower' (which way is better), "
                          f"got {direction!r}")
    optional = value.get("optional", base.optional if base else False)
    if not isinstance(optional, bool):
        raise PolicyError(f"{where}: {name}.optional must be true or false, got {optional!r}")
    return MetricRule(float(tolerance), direction, optional)


@dataclass(frozen=True)
class Policy:
    """What the gate checks and how strictly (see ``configs/gate-policy.yaml``)."""

    metrics: Mapping[str, MetricRule]
    """Gated metric name -> rule."""
    systems: Mapping[str, Mapping[str, MetricRule]] = field(default_factory=dict)
    """Per-system overrides: system -> metric -> rule (merged over ``metrics``)."""
    alpha: float = 0.05
    correction: Literal["holm", "none"] = "holm"
    test: stats.Method = "permutation"
    n_resamples: int = 10000
    seed: int = 0
    max_lost: int = 0
    """Documents that may lose their value (a summary that now fails) before a check fails."""
    source: str = "(inline)"
    """Where the policy came from, for messages."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "(inline)") -> Policy:
        if not isinstance(data, Mapping):
            raise PolicyError(f"{source}: a policy is a mapping with 'metrics' (and optionally alpha, systems...)")
        unknown = set(data) - _POLICY_KEYS
        if unknown:
            raise PolicyError(f"{source}: unknown policy key(s) {sorted(unknown)}; allowed: {sorted(_POLICY_KEYS)}")
        raw_metrics = data.get("metrics")
        if not isinstance(raw_metrics, Mapping) or not raw_metrics:
            raise PolicyError(f"{source}: the policy needs 'metrics', e.g. metrics: {{rouge1_f: {{tolerance: 0.005}}}}")
        metrics = {str(n): _rule(str(n), v, None, source) for n, v in raw_metrics.items()}
        systems: dict[str, dict[str, MetricRule]] = {}
        for system, overrides in (data.get("systems") or {}).items():
            if not isinstance(overrides, Mapping):
                raise PolicyError(f"{source}: systems.{system} must map metric names to rules")
            systems[str(system)] = {str(n): _rule(f"systems.{system}.{n}", v, metrics.get(str(n)), source)
                                    for n, v in overrides.items()}
        alpha = data.get("alpha", 0.05)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
            raise PolicyError(f"{source}: alpha must lie strictly between 0 and 1 (e.g. 0.05), got {alpha!r}")
        correction = data.get("correction", "holm")
        if correction not in stats.CORRECTIONS:
            raise PolicyError(f"{source}: correction must be one of {stats.CORRECTIONS}, got {correction!r}")
        test = data.get("test", "permutation")
        if test not in stats.METHODS:
            raise PolicyError(f"{source}: test must be one of {stats.METHODS}, got {test!r}")
        whole = {}
        for key, default, low in (("n_resamples", 10000, 1), ("seed", 0, 0), ("max_lost", 0, 0)):
            value = data.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise PolicyError(f"{source}: {key} must be a whole number >= {low}, got {value!r}")
            whole[key] = value
        return cls(metrics=metrics, systems=systems, alpha=float(alpha), correction=correction, test=test,
                   source=source, **whole)

    @classmethod
    def load(cls, value: Policy | Mapping[str, Any] | str | Path | None = None) -> Policy:
        """A policy from a :class:`Policy`, a mapping, a YAML path, or ``None`` for the bundled default."""
        if isinstance(value, Policy):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        import yaml

        path = Path(value) if value is not None else DEFAULT_POLICY
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such policy file")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise PolicyError(f"{path}: not valid YAML: {exc}") from exc
        return cls.from_dict(data or {}, source=str(path))

    def rule(self, system: str, metric: str) -> MetricRule | None:
        """The rule for ``metric`` on ``system`` (a per-system override wins), or ``None``."""
        return self.systems.get(system, {}).get(metric) or self.metrics.get(metric)

    def describe(self) -> str:
        test = "paired permutation test" if self.test == "permutation" else "paired bootstrap test"
        correction = ", Holm-corrected across the gated checks" if self.correction == "holm" else ""
        return f"two-sided {test} ({self.n_resamples} resamples, seed {self.seed}){correction}, alpha={self.alpha:g}"


# -- what a run is made of ------------------------------------------------------------------------

def _as_run(run):
    from evalkit.runs import Run

    return run if isinstance(run, Run) else Run.load(run)


def _instance(name: str, manifest: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The key and entry of the metric instance that produced value ``name`` in a run's manifest."""
    instances = metric_instances(manifest)
    key = instance_of(manifest).get(name)
    if key is None:
        if len(instances) == 1:  # an old run whose metric could not be rebuilt: its only metric
            key = next(iter(instances))
        else:
            raise GateError(f"cannot tell which metric produced {name!r} in run {manifest.get('run_id', '?')} "
                            f"(its metrics: {sorted(instances)}); its signature cannot be checked")
    return key, instances[key]


def document_identity(run, documents=None) -> dict[str, Any]:
    """The identity of a run's documents: ids, digest, per-document hashes and length targets.

    Per-document hashes (:func:`evalkit.store.document_hash` of text and references) come from
    the manifest when it has them, else from ``documents``, else from re-reading a local data
    file; they are kept only when they reproduce the manifest's documents digest (so a data
    file edited since the run is never mistaken for the run's data). ``hashes`` is ``None``
    when they cannot be had.
    """
    from evalkit.store import document_hash

    data = run.manifest.get("data") or {}
    hashes = data.get("document_hashes")
    if hashes is None:
        docs = documents
        if docs is not None:
            pairs = [[d.id, document_hash(d.text, d.references)] for d in docs]
            if digest(pairs) == data.get("documents"):
                hashes = dict(pairs)
            elif documents is not None:
                raise GateError(f"the documents given are not the ones run {run.run_id} was made on "
                                f"(their digest {digest(pairs)} differs from the manifest's {data.get('documents')})")
            else:
                log.info("the data at %s has changed since run %s; per-document hashes unavailable",
                         (data.get("spec") or {}).get("path"), run.run_id)
    summaries = run.summaries
    ids = sorted(hashes) if hashes is not None else sorted(set(summaries["document_id"].astype(str)))
    targets = {}
    if "target" in summaries.columns:
        targets = {str(k): str(v) for k, v in summaries.groupby("document_id")["target"].first().items()}
    return {"spec": data.get("spec"), "n_documents": data.get("n_documents", len(ids)),
            "documents": data.get("documents"), "ids": ids,
            "hashes": dict(sorted(hashes.items())) if hashes is not None else None,
            "targets": dict(sorted(targets.items()))}


def _values(frame, system: str, metric: str) -> dict[str, float]:
    """Document id -> value (NaN when undefined) of one system on one metric of ``run.values()``."""
    rows = frame[(frame["system"] == system) & (frame["metric"] == metric)]
    rows = rows.drop_duplicates("document_id")
    return {str(d): float(v) for d, v in zip(rows["document_id"], rows["value"])}


def _systems(run, frame=None) -> list[str]:
    order = list(run.manifest.get("systems") or {})
    present = set((run.values() if frame is None else frame)["system"])
    return order + sorted(present - set(order))


# -- baseline ---------------------------------------------------------------------------------------

def save_baseline(run, path: str | Path, systems: Sequence[str] | None = None, metrics: Sequence[str] | None = None,
                  policy: Policy | Mapping[str, Any] | str | Path | None = None, documents=None) -> dict[str, Any]:
    """Write a compact baseline of ``run`` to ``path`` (gzip when it ends in ``.gz``) and return it.

    ``systems`` default to all of the run's systems; ``metrics`` to the policy's metrics that the
    run has (a policy metric that is not optional and missing is logged as a warning and listed
    under ``not_gated``). Scores are kept per document at full float precision, keys sorted and
    one value per line, so the same run always gives the same bytes and a changed score is a
    one-line diff.
    """
    run = _as_run(run)
    policy = Policy.load(policy)
    frame = run.values()
    available_systems = _systems(run, frame)
    available_metrics = set(frame["metric"])
    if systems is None:
        systems = available_systems
    missing = [s for s in systems if s not in available_systems]
    if missing:
        raise ValueError(f"system(s) {missing} not in run {run.run_id}; it has {available_systems}")
    not_gated = []
    if metrics is None:
        metrics = [m for m in policy.metrics if m in available_metrics]
        not_gated = [m for m in policy.metrics if m not in available_metrics and not policy.metrics[m].optional]
        for name in not_gated:
            log.warning("the policy gates %s but run %s has no such metric; it is not in the baseline",
                        name, run.run_id)
    else:
        absent = [m for m in metrics if m not in available_metrics]
        if absent:
            raise ValueError(f"metric(s) {absent} not in run {run.run_id}; it has {sorted(available_metrics)}")
    unruled = [f"{s}/{m}" for s in systems for m in metrics if policy.rule(s, m) is None]
    if unruled:
        raise PolicyError(f"{policy.source}: no tolerance for {', '.join(unruled)}; add the metric under "
                          f"'metrics:' in the policy (or pass another --policy)")
    if not systems or not metrics:
        raise ValueError(f"nothing to gate in run {run.run_id}: systems {list(systems)}, metrics {list(metrics)}")

    signatures = {key: entry.get("signature") for key, entry in metric_instances(run.manifest).items()}
    identity = document_identity(run, documents)
    gated_metrics = {}
    for name in metrics:
        key, entry = _instance(name, run.manifest)
        gated_metrics[name] = {"kind": key, "signature": entry.get("signature"), "config": entry.get("config")}
    manifest_systems = run.manifest.get("systems") or {}
    scores = {}
    for system in systems:
        scores[system] = {}
        for name in metrics:
            values = _values(frame, system, name)
            scores[system][name] = {d: (None if math.isnan(values[d]) else values[d]) if d in values else None
                                    for d in identity["ids"]}
            if all(v is None for v in scores[system][name].values()):
                log.warning("%s has no defined %s value in run %s; its check will not be able to compare",
                            system, name, run.run_id)
    baseline = {
        "format": BASELINE_FORMAT,
        "version": BASELINE_VERSION,
        "run": {"run_id": run.run_id, "name": run.manifest.get("name"), "created": run.manifest.get("created"),
                "git_commit": run.manifest.get("git_commit")},
        "data": {key: identity[key] for key in ("spec", "n_documents", "documents", "ids", "hashes", "targets")},
        "metric_signature": run.manifest.get("metric_signature"),
        "metric_signatures": dict(signatures),
        "metrics": gated_metrics,
        "systems": {s: {"kind": (manifest_systems.get(s) or {}).get("kind"),
                        "fingerprint": (manifest_systems.get(s) or {}).get("fingerprint")} for s in systems},
        "not_gated": not_gated,
        "scores": scores,
    }
    text = json.dumps(baseline, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
            handle.write(text.encode("utf-8"))  # mtime=0: the same baseline gives the same bytes
    else:
        path.write_text(text, encoding="utf-8")
    return baseline


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Read a baseline file (``.json`` or ``.json.gz``); a file that is not one raises :class:`GateError`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such baseline file; make one with: evalkit baseline save RUN {path}")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        baseline = json.loads(raw.decode("utf-8"))
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GateError(f"{path}: not a readable evalkit baseline ({exc})") from exc
    _check_baseline(baseline, str(path))
    return baseline


def _check_baseline(baseline: Any, where: str) -> None:
    if not isinstance(baseline, Mapping) or baseline.get("format") != BASELINE_FORMAT:
        raise GateError(f"{where}: not an evalkit baseline (no \"format\": \"{BASELINE_FORMAT}\")")
    if baseline.get("version") != BASELINE_VERSION:
        raise GateError(f"{where}: baseline format version {baseline.get('version')!r}; this evalkit reads "
                        f"version {BASELINE_VERSION}: re-save the baseline with this evalkit")
    missing = [k for k in ("data", "metrics", "systems", "scores") if k not in baseline]
    if missing:
        raise GateError(f"{where}: baseline lacks {missing}")


# -- the check --------------------------------------------------------------------------------------

@dataclass
class Check:
    """The outcome for one gated (system, metric)."""

    system: str
    metric: str
    status: Literal["passed", "regressed", "error"]
    reason: str
    """One line: why it passed, regressed or could not be compared."""
    direction: str = "higher"
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
    """How much worse the new run is (positive = worse), in metric units."""
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

    @property
    def change(self) -> float:
        """``new - baseline`` (signed, in metric units)."""
        return self.new - self.baseline


@dataclass
class GateResult:
    """The gate's verdict on a run, with one :class:`Check` per gated (system, metric)."""

    verdict: Verdict
    checks: list[Check]
    errors: list[str]
    """Distinct reasons the run could not be compared (empty unless the verdict is "incomparable")."""
    notes: list[str]
    """What the reader should know that changes no verdict (changed fingerprints, ungated metrics)."""
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

    # -- rendering -----------------------------------------------------------
    def headline(self) -> str:
        what = {"passed": "passed", "regressed": "REGRESSED", "incomparable": "COULD NOT COMPARE"}[self.verdict]
        counts = (f"{len(self.regressions)} of {len(self.checks)} checks regressed"
                  if self.verdict != "incomparable" else f"{len(self.errors)} problem(s)")
        return f"evalkit gate {what}: run {self.run_id} vs baseline {self.baseline_run} ({counts})"

    def __str__(self) -> str:
        header = ["system", "metric", "baseline", "new", "change", "p", "p_holm", "tol", "n", "verdict"]
        rows = [[c.system, c.metric, _num(c.baseline), _num(c.new), _signed(c.change), _p(c.p_value),
                 _p(c.p_adjusted), _num(c.tolerance), str(c.n), _status_text(c)] for c in self.checks]
        lines = [self.headline()]
        if rows:
            widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
            fmt = lambda cells: "  ".join(c.ljust(w) if i in (0, 1, 9) else c.rjust(w)
                                          for i, (c, w) in enumerate(zip(cells, widths)))
            lines += ["", fmt(header), "  ".join("-" * w for w in widths), *map(fmt, rows)]
        for check in self.regressions:
            lines += ["", f"REGRESSED {check.system} / {check.metric}: {check.reason}"]
            if check.worst:
                lines.append("  most affected documents (baseline -> new, drop):")
                lines += [f"    {d}: {_num(b)} -> {_num(n)}  ({_signed(drop)})" for d, b, n, drop in check.worst]
        if self.errors:
            lines += ["", "Could not compare:", *[f"  - {e}" for e in self.errors]]
        if self.notes:
            lines += ["", "Notes:", *[f"  - {n}" for n in self.notes]]
        if self.policy is not None:
            lines += ["", f"Regressed = worse by more than the tolerance and significant: {self.policy.describe()}."]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """A summary for a CI job summary or a pull-request comment."""
        icon = {"passed": "✅", "regressed": "❌", "incomparable": "⚠️"}[self.verdict]
        out = [f"## {icon} {_md(self.headline())}", ""]
        if self.policy is not None:
            out += [f"{self.n_documents} documents; a check regresses when the new run is worse by more than "
                    f"its tolerance **and** the change is significant ({_md(self.policy.describe())}).", ""]
        if self.checks:
            out += ["| system | metric | baseline | new | change | p-value | p (Holm) | tolerance | verdict |",
                    "|---|---|---:|---:|---:|---:|---:|---:|---|"]
            for c in self.checks:
                out.append(f"| {_md(c.system)} | {_md(c.metric)} | {_num(c.baseline)} | {_num(c.new)} | "
                           f"{_signed(c.change)} | {_p(c.p_value)} | {_p(c.p_adjusted)} | {_num(c.tolerance)} | "
                           f"{_md(_status_text(c, icons=True))} |")
            out.append("")
        if self.regressions:
            out += ["### Regressions", ""]
            for c in self.regressions:
                out += [f"**{_md(c.system)} / {_md(c.metric)}**: {_md(c.reason)}", ""]
                if c.worst:
                    out += [f"Most affected documents ({len(c.worst)} shown):", "",
                            "| document | baseline | new | drop |", "|---|---:|---:|---:|"]
                    out += [f"| {_md(d)} | {_num(b)} | {_num(n)} | {_signed(drop)} |" for d, b, n, drop in c.worst]
                    out.append("")
        if self.errors:
            out += ["### Could not compare", "", *[f"- {_md(e)}" for e in self.errors], ""]
        if self.notes:
            out += ["### Notes", "", *[f"- {_md(n)}" for n in self.notes], ""]
        return "\n".join(out)

    def to_junit(self) -> str:
        """JUnit XML: one testcase per (system, metric); ``failure`` = regressed, ``error`` = could not compare."""
        failures = len(self.regressions)
        errors = sum(c.status == "error" for c in self.checks) or (1 if self.errors and not self.checks else 0)
        tests = len(self.checks) or errors
        suites = ET.Element("testsuites", name="evalkit-gate", tests=str(tests), failures=str(failures),
                            errors=str(errors))
        suite = ET.SubElement(suites, "testsuite", name=f"evalkit-gate.{self.run_id}", tests=str(tests),
                              failures=str(failures), errors=str(errors), skipped="0", time="0")
        properties = ET.SubElement(suite, "properties")
        for name, value in (("verdict", self.verdict), ("baseline_run", self.baseline_run), ("run", self.run_id),
                            ("alpha", f"{self.alpha:g}")):
            ET.SubElement(properties, "property", name=name, value=value)
        for c in self.checks:
            case = ET.SubElement(suite, "testcase", classname=f"evalkit.gate.{c.system}", name=c.metric, time="0")
            if c.status == "regressed":
                element = ET.SubElement(case, "failure", type="regression",
                                        message=f"{c.system} / {c.metric}: {c.reason}")
                element.text = "\n".join(f"{d}: {_num(b)} -> {_num(n)} (drop {_signed(drop)})"
                                         for d, b, n, drop in c.worst)
            elif c.status == "error":
                ET.SubElement(case, "error", type="could-not-compare", message=f"{c.system} / {c.metric}: {c.reason}")
            else:
                ET.SubElement(case, "system-out").text = c.reason
        if self.errors and not self.checks:
            case = ET.SubElement(suite, "testcase", classname="evalkit.gate", name="compare", time="0")
            ET.SubElement(case, "error", type="could-not-compare", message=self.errors[0]).text = "\n".join(self.errors)
        if self.notes:
            ET.SubElement(suite, "system-out").text = "\n".join(self.notes)
        ET.indent(suites)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


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


def _compare(check: Check, base: Mapping[str, Any], new: Mapping[str, float], policy: Policy) -> None:
    """Fill in the statistics of one check (its status is decided after the correction)."""
    ids = sorted(base)
    x = np.array([np.nan if base[d] is None else float(base[d]) for d in ids])
    y = np.array([new.get(d, np.nan) for d in ids])
    check.lost = [d for d, a, b in zip(ids, x, y) if not np.isnan(a) and np.isnan(b)]
    check.n_lost = len(check.lost)
    both = ~(np.isnan(x) | np.isnan(y))
    check.n = int(both.sum())
    if check.n == 0:
        if check.n_lost > policy.max_lost:
            return  # every value lost: _decide reports it as a regression
        raise GateError(f"{check.system} / {check.metric}: no document has a value in both the baseline and the run")
    sign = 1.0 if check.direction == "higher" else -1.0
    check.baseline, check.new = float(x[both].mean()), float(y[both].mean())
    check.drop = sign * (check.baseline - check.new)
    result = stats.paired_test(y[both], x[both], method=policy.test, n_resamples=policy.n_resamples,
                               seed=policy.seed)
    check.p_value = result.p_value
    drops = sign * (x[both] - y[both])
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
            check.reason += (f"; on the other {check.n}: {_num(check.baseline)} -> {_num(check.new)}, "
                             f"p={_p(check.p_value)}")
        return
    worse = "dropped" if check.direction == "higher" else "rose"
    if check.drop > check.tolerance and check.p_adjusted <= alpha:
        check.status = "regressed"
        check.reason = (f"{worse} by {_num(check.drop)} ({_num(check.baseline)} -> {_num(check.new)} over "
                        f"{check.n} documents), more than the tolerance {_num(check.tolerance)}, and significant: "
                        f"p={_p(check.p_value)}" + (f" (Holm {_p(check.p_adjusted)})" if policy.correction == "holm"
                                                    else "") + f" <= alpha {alpha:g}" + lost)
        return
    check.status = "passed"
    check.improved = -check.drop > check.tolerance and check.p_adjusted <= alpha
    if check.drop > check.tolerance:
        why = (f"worse by {_num(check.drop)} but not significant (p={_p(check.p_value)}, "
               f"adjusted {_p(check.p_adjusted)} > alpha {alpha:g}): within noise")
    elif check.drop > 0:
        why = f"worse by {_num(check.drop)}, within the tolerance {_num(check.tolerance)}"
    elif check.drop == 0:
        why = "no change"
    else:
        why = f"better by {_num(-check.drop)} (p={_p(check.p_value)})"
    check.reason = why + lost


def check(run, baseline: str | Path | Mapping[str, Any], policy: Policy | Mapping[str, Any] | str | Path | None = None,
          alpha: float | None = None, documents=None) -> GateResult:
    """Compare ``run`` (a :class:`~evalkit.experiment.Run` or its folder) with a baseline.

    ``baseline`` is a baseline file or the dict :func:`save_baseline` returned. Everything that
    makes the comparison meaningless ends in a result with verdict ``"incomparable"`` (each
    affected check has status ``"error"`` and a reason); nothing raises for it. A malformed
    policy raises :class:`PolicyError`; a missing file :class:`FileNotFoundError`.
    """
    policy = Policy.load(policy)
    alpha = policy.alpha if alpha is None else float(alpha)
    if not 0 < alpha < 1:
        raise PolicyError(f"alpha must lie strictly between 0 and 1 (e.g. 0.05), got {alpha!r}")
    run = _as_run(run)
    try:
        if isinstance(baseline, (str, Path)):
            baseline = load_baseline(baseline)
        else:
            _check_baseline(baseline, "baseline")
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
    run_systems = _systems(run, frame)
    run_metrics = set(frame["metric"])
    run_signatures = {key: entry.get("signature") for key, entry in metric_instances(run.manifest).items()}
    manifest_systems = run.manifest.get("systems") or {}

    metric_problem: dict[str, str] = {}
    for name, info in sorted(baseline["metrics"].items()):
        if name not in run_metrics:
            metric_problem[name] = f"metric {name} is gated by the baseline but not in the run"
            continue
        try:
            kind, entry = _instance(name, run.manifest)
        except GateError as exc:
            metric_problem[name] = str(exc)
            continue
        new_signature = entry.get("signature")
        if new_signature != info.get("signature"):
            configs = ""
            old_config, new_config = info.get("config"), entry.get("config")
            if old_config != new_config:
                configs = f" (configured as {_compact(old_config)} in the baseline, {_compact(new_config)} in the run)"
            metric_problem[name] = (f"metric {name} was scored differently: {info.get('kind')} signature "
                                    f"{info.get('signature')} in the baseline, {kind} signature {new_signature} in "
                                    f"the run{configs}; re-save the baseline if the new metric settings are intended")
    gated_kinds = {info.get("kind") for info in baseline["metrics"].values()}
    old_signatures = baseline.get("metric_signatures") or {}
    changed = sorted(k for k in (set(old_signatures) | set(run_signatures)) - gated_kinds
                     if old_signatures.get(k) != run_signatures.get(k))
    if changed:
        notes.append(f"metric(s) the baseline does not gate are new, gone or configured differently: "
                     f"{', '.join(changed)}")

    checks: list[Check] = []
    for system, info in baseline["systems"].items():
        new_fingerprint = (manifest_systems.get(system) or {}).get("fingerprint")
        changed = system in run_systems and new_fingerprint != info.get("fingerprint")
        if changed:
            notes.append(f"{system} changed (the change under test): fingerprint {info.get('fingerprint')} -> "
                         f"{new_fingerprint}")
        for name in baseline["metrics"]:
            rule = policy.rule(system, name)
            item = Check(system, name, "error", "", fingerprint_changed=changed)
            if rule is not None:
                item.direction, item.tolerance = rule.direction, rule.tolerance
            checks.append(item)
            if global_error:
                item.reason = global_error
            elif system not in run_systems:
                item.reason = fail(f"system {system} is gated by the baseline but not in the run "
                                   f"(the run has {', '.join(run_systems)})")
            elif name in metric_problem:
                item.reason = fail(metric_problem[name])
            elif rule is None:
                item.reason = fail(f"{policy.source} has no tolerance for {name}; add it under 'metrics:'")
            elif system not in baseline["scores"] or name not in baseline["scores"][system]:
                item.reason = fail(f"the baseline has no scores for {system} / {name}")
            else:
                try:
                    _compare(item, baseline["scores"][system][name], _values(frame, system, name), policy)
                except GateError as exc:
                    item.reason = fail(str(exc))
                else:
                    item.status = "passed"  # provisional: decided after the correction

    tested = [c for c in checks if c.status != "error"]
    p_values = np.array([c.p_value for c in tested], dtype=float)
    adjusted = stats.holm_adjust(p_values) if policy.correction == "holm" else p_values
    for item, p_adj in zip(tested, adjusted):
        item.p_adjusted = float(p_adj)
        _decide(item, policy, alpha)

    extra = [s for s in run_systems if s not in baseline["systems"]]
    if extra:
        notes.append(f"not gated (not in the baseline): system(s) {', '.join(extra)}")
    ungated = [m for m in policy.metrics if m not in baseline["metrics"] and m in run_metrics]
    if ungated:
        notes.append(f"not gated (not in the baseline): metric(s) {', '.join(ungated)}; "
                     "re-save the baseline to gate them")
    if baseline.get("not_gated"):
        notes.append(f"the baseline run lacked policy metric(s) {', '.join(baseline['not_gated'])}: not gated")

    if not checks and not errors:
        fail("the baseline gates no (system, metric): nothing was checked")
    verdict: Verdict = "incomparable" if errors else "regressed" if any(c.status == "regressed" for c in checks) \
        else "passed"
    return GateResult(verdict, checks, errors, notes, alpha, policy, base_run, run.run_id,
                      len(identity.get("ids") or []))


# -- formatting helpers -----------------------------------------------------------------------------

def _num(value: float) -> str:
    return "n/a" if value is None or value != value else f"{value:.4f}"


def _signed(value: float) -> str:
    return "n/a" if value is None or value != value else f"{value:+.4f}"


def _p(value: float) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:.1e}" if value < 0.001 else f"{value:.3f}"


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if value is not None else "(unknown)"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _status_text(check: Check, icons: bool = False) -> str:
    if check.status == "error":
        return "⚠️ could not compare" if icons else "COULD NOT COMPARE"
    if check.status == "regressed":
        return "❌ regressed" if icons else "REGRESSED"
    label = "improved" if check.improved else "pass"
    return ("✅ " + label) if icons else label


# -- command line -----------------------------------------------------------------------------------

def _names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _alpha(value: str) -> float:
    try:
        alpha = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"alpha must be a number, got {value!r}") from None
    if not 0 < alpha < 1:
        raise argparse.ArgumentTypeError(f"alpha must lie strictly between 0 and 1, got {value}")
    return alpha


def cmd_baseline_save(args: argparse.Namespace) -> int:
    from evalkit.data import DataError

    try:
        baseline = save_baseline(args.run, args.file, systems=_names(args.systems), metrics=_names(args.metrics),
                                 policy=args.policy)
    except (PolicyError, ValueError, FileNotFoundError, KeyError, DataError) as exc:
        print(f"evalkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except GateError as exc:
        print(f"evalkit: could not save a baseline: {exc}", file=sys.stderr)
        return EXIT_INCOMPARABLE
    hashes = "with" if baseline["data"]["hashes"] is not None else "without"
    print(f"Saved baseline of run {baseline['run']['run_id']} to {args.file}: "
          f"{len(baseline['systems'])} system(s) ({', '.join(baseline['systems'])}) x "
          f"{len(baseline['metrics'])} metric(s) ({', '.join(baseline['metrics'])}) on "
          f"{len(baseline['data']['ids'])} documents ({hashes} per-document text hashes)")
    if baseline["not_gated"]:
        print(f"Not gated (the run has no such metric): {', '.join(baseline['not_gated'])}")
    return EXIT_PASSED


def cmd_check(args: argparse.Namespace) -> int:
    try:
        result = check(args.run, args.baseline, policy=args.policy, alpha=args.alpha)
    except (PolicyError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f"evalkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(result)
    for option, text in ((args.markdown, result.to_markdown), (args.junit, result.to_junit)):
        if option:
            path = Path(option)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text(), encoding="utf-8")
    return result.exit_code


def add_commands(subparsers) -> None:
    """Register ``baseline save`` and ``check`` on an ``argparse`` subparsers object."""
    baseline = subparsers.add_parser("baseline", help="manage the CI gate's baseline (see docs/ci-gate.md)")
    actions = baseline.add_subparsers(dest="baseline_command", required=True)
    save = actions.add_parser("save", help="save a run's per-document scores as the gate's baseline")
    save.add_argument("run", help="a run folder (runs/<name>-<time>) or runs/ for the latest")
    save.add_argument("file", help="where to write the baseline (.json, or .json.gz to compress)")
    save.add_argument("--systems", help="comma-separated systems to gate (default: all of the run's)")
    save.add_argument("--metrics", help="comma-separated metrics to gate (default: the policy's that the run has)")
    save.add_argument("--policy", help=f"gate policy YAML (default: the bundled {DEFAULT_POLICY.name})")
    save.set_defaults(func=cmd_baseline_save)

    gate = subparsers.add_parser("check", help="fail (exit 1) when a run regressed against a baseline")
    gate.add_argument("run", help="the new run folder (or runs/ for the latest)")
    gate.add_argument("--baseline", required=True, help="a file written by 'evalkit baseline save'")
    gate.add_argument("--policy", help=f"gate policy YAML (default: the bundled {DEFAULT_POLICY.name})")
    gate.add_argument("--markdown", metavar="OUT.md", help="also write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)")
    gate.add_argument("--junit", metavar="OUT.xml", help="also write JUnit XML (one testcase per system x metric)")
    gate.add_argument("--alpha", type=_alpha, help="significance level (default: the policy's, 0.05)")
    gate.set_defaults(func=cmd_check)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m evalkit.gate baseline save ... | check ...`` (the same as ``evalkit ...``)."""
    parser = argparse.ArgumentParser(prog="evalkit", description="The CI regression gate on summary quality.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
