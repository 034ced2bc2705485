"""The baseline file: a run's per-document scores for the gated values, and what makes them comparable.

A baseline keeps, for the gated systems and values, every per-document score of a run,
together with each metric instance's signature and config, each system's fingerprint and the
data's identity (document ids, the manifest's documents digest, per-document text hashes and
length targets). It is written with sorted keys and one value per line, so the same run
always gives the same bytes and a changed score is a one-line diff.

Baselines written before metric instances were recorded (their ``metrics`` entries have a
``kind`` but no ``instance``) read the same way: their ``kind`` was the instance key.
"""

from __future__ import annotations

import difflib
import gzip
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evalkit.core.errors import GateError, PolicyError
from evalkit.core.fingerprint import digest
from evalkit.core.redact import shown
from evalkit.report.bidi import strict_json
from evalkit.report.gate.policy import Policy
from evalkit.run.record import Run
from evalkit.run.schema import MetricEntry, RunManifest

log = logging.getLogger(__name__)

BASELINE_FORMAT = "evalkit-baseline"
BASELINE_VERSION = 1


def as_run(run) -> Run:
    return run if isinstance(run, Run) else Run.load(run)


def instance(name: str, manifest: RunManifest) -> tuple[str, MetricEntry]:
    """The key and entry of the metric instance that produced value ``name`` in a run's manifest."""
    instances = manifest.metrics
    key = manifest.instance_of(name)
    if key is None:
        if len(instances) == 1:  # an old run whose metric could not be rebuilt: its only metric
            key = next(iter(instances))
        else:
            raise GateError(f"cannot tell which metric produced {name!r} in run {manifest.run_id or '?'} "
                            f"(its metrics: {sorted(instances)}); its signature cannot be checked")
    return key, instances[key]


def baseline_instance(info: Mapping[str, Any]) -> str | None:
    """The metric instance key a baseline entry was scored by (old baselines stored it as ``kind``)."""
    return info.get("instance") or info.get("kind")


def document_identity(run: Run, documents=None) -> dict[str, Any]:
    """The identity of a run's documents: ids, digest, per-document hashes and length targets.

    Per-document hashes (:func:`evalkit.run.store.document_hash` of text and references) come from
    the manifest, or else from ``documents`` when given; they are kept only when they reproduce
    the manifest's documents digest. ``hashes`` is ``None`` when they cannot be had (the
    digest alone then decides).
    """
    data = run.manifest.data
    hashes = data.document_hashes
    if hashes is None and documents is not None:
        from evalkit.core.fingerprint import document_hash

        pairs = [[d.id, document_hash(d.text, d.references)] for d in documents]
        if digest(pairs) != data.documents:
            raise GateError(f"the documents given are not the ones run {run.run_id} was made on "
                            f"(their digest {digest(pairs)} differs from the manifest's {data.documents})")
        hashes = dict(pairs)
    summaries = run.summaries
    ids = sorted(hashes) if hashes is not None else sorted(set(summaries["document_id"].astype(str)))
    targets = {document: target.key() for document, target in run.targets().items()}  # the baseline's format
    return {"spec": data.spec, "n_documents": len(ids) if data.n_documents is None else data.n_documents,
            "documents": data.documents, "ids": ids,
            "hashes": dict(sorted(hashes.items())) if hashes is not None else None,
            "targets": dict(sorted(targets.items()))}


def values_of(frame, system: str, metric: str) -> dict[str, float]:
    """Document id -> value (NaN when undefined) of one system on one metric of ``run.values()``."""
    rows = frame[(frame["system"] == system) & (frame["metric"] == metric)]
    rows = rows.drop_duplicates("document_id")
    return {str(d): float(v) for d, v in zip(rows["document_id"], rows["value"])}


def systems_of(run: Run, frame=None) -> list[str]:
    order = list(run.manifest.systems)
    present = set((run.values() if frame is None else frame)["system"])
    return order + sorted(present - set(order))


def gated_values(run: Run, policy: Policy, frame=None) -> tuple[list[str], list[str]]:
    """The values of ``run`` the policy gates by default, and the required ones the run lacks."""
    frame = run.values() if frame is None else frame
    present = list(dict.fromkeys(frame["metric"]))
    declared = [n for n in run.measures() if n in set(present)]
    ordered = declared + [n for n in present if n not in declared]
    gated = [n for n in ordered if policy.rule(None, n, run.measure(n)) is not None]
    missing = [name for name, override in policy.metrics.items()
               if name not in present and override.gate is not False and override.optional is not True]
    return gated, missing


def save_baseline(run, path: str | Path, systems: Sequence[str] | None = None, metrics: Sequence[str] | None = None,
                  policy: Policy | Mapping[str, Any] | str | Path | None = None, documents=None) -> dict[str, Any]:
    """Write a compact baseline of ``run`` to ``path`` (gzip when it ends in ``.gz``) and return it.

    ``systems`` default to all of the run's systems; ``metrics`` to the values the policy gates
    (by their measures' defaults and its overrides) that the run has. A value the policy names
    as required but the run lacks is logged as a warning and listed under ``not_gated``.
    """
    run = as_run(run)
    policy = Policy.load(policy)
    frame = run.values()
    available_systems = systems_of(run, frame)
    available_metrics = set(frame["metric"])
    if systems is None:
        systems = available_systems
    missing = [s for s in systems if s not in available_systems]
    if missing:
        raise ValueError(f"system(s) {missing} not in run {run.run_id}; it has {available_systems}")
    not_gated: list[str] = []
    if metrics is None:
        metrics, not_gated = gated_values(run, policy, frame)
        for name in not_gated:
            close = difflib.get_close_matches(name, sorted(available_metrics), n=1)
            log.warning("the policy gates %s but run %s has no such value%s; it is not in the baseline",
                        name, run.run_id, f" (did you mean {close[0]}?)" if close else "")
    else:
        absent = [m for m in metrics if m not in available_metrics]
        if absent:
            raise ValueError(f"metric(s) {absent} not in run {run.run_id}; it has {sorted(available_metrics)}")
    unruled = [f"{s}/{m}" for s in systems for m in metrics if policy.rule(s, m, run.measure(m)) is None]
    if unruled:
        raise PolicyError(f"{policy.source}: no tolerance for {', '.join(unruled)}; give one under 'metrics:' in "
                          "the policy (e.g. metrics: {NAME: {tolerance: 0.01, direction: higher}}) or pass another "
                          "--policy")
    if not systems or not metrics:
        raise ValueError(f"nothing to gate in run {run.run_id}: systems {list(systems)}, metrics {list(metrics)}")

    signatures = {key: entry.signature for key, entry in run.manifest.metrics.items()}
    identity = document_identity(run, documents)
    gated_metrics = {}
    for name in metrics:
        key, entry = instance(name, run.manifest)
        gated_metrics[name] = {"kind": entry.kind, "instance": key, "signature": entry.signature,
                               "config": entry.config, "measure": run.measure(name).to_dict()}
    manifest = run.manifest
    scores: dict[str, dict[str, dict[str, float | None]]] = {}
    for system in systems:
        scores[system] = {}
        for name in metrics:
            values = values_of(frame, system, name)
            scores[system][name] = {d: (None if math.isnan(values[d]) else values[d]) if d in values else None
                                    for d in identity["ids"]}
            infinite = [d for d, v in scores[system][name].items() if v is not None and math.isinf(v)]
            if infinite:  # JSON has no infinity, and a gate cannot compare an infinite mean anyway
                raise ValueError(f"{system} / {name} is infinite on {len(infinite)} document(s) of run {run.run_id} "
                                 f"(e.g. {infinite[0]}): a baseline needs finite values; fix the metric, or set "
                                 f"gate: false for {name} in the policy")
            if all(v is None for v in scores[system][name].values()):
                log.warning("%s has no defined %s value in run %s; its check will not be able to compare",
                            system, name, run.run_id)
    baseline = {
        "format": BASELINE_FORMAT,
        "version": BASELINE_VERSION,
        "run": {"run_id": run.run_id, "name": manifest.name, "created": manifest.created,
                "git_commit": manifest.git_commit},
        "data": {key: identity[key] for key in ("spec", "n_documents", "documents", "ids", "hashes", "targets")},
        "metric_signature": manifest.metric_signature,
        "metric_signatures": dict(signatures),
        "metrics": gated_metrics,
        "systems": {s: {"kind": manifest.kind_of(s),
                        "fingerprint": manifest.systems[s].fingerprint if s in manifest.systems else None}
                    for s in systems},
        "not_gated": not_gated,
        "scores": scores,
    }
    # a bidi control in a name stays an escape, so a pull request's diff of the committed file shows it in order
    text = strict_json(baseline, indent=1, sort_keys=True) + "\n"
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
        baseline = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GateError(f"{path}: not a readable evalkit baseline ({exc}); re-save it with "
                        "evalkit baseline save RUN FILE") from exc
    check_baseline(baseline, str(path))
    return baseline


def check_baseline(baseline: Any, where: str) -> None:
    if not isinstance(baseline, Mapping) or baseline.get("format") != BASELINE_FORMAT:
        raise GateError(f"{where}: not an evalkit baseline (no \"format\": \"{BASELINE_FORMAT}\"); make one with "
                        "evalkit baseline save RUN FILE")
    if baseline.get("version") != BASELINE_VERSION:
        raise GateError(f"{where}: baseline format version {baseline.get('version')!r}; this evalkit reads "
                        f"version {BASELINE_VERSION}: re-save the baseline with this evalkit")
    missing = [k for k in ("data", "metrics", "systems", "scores") if k not in baseline]
    if missing:
        raise GateError(f"{where}: baseline lacks {missing}; re-save it with evalkit baseline save RUN FILE")
    problem = _shape_problem(baseline)
    if problem:
        raise GateError(f"{where}: malformed baseline: {problem}; re-save it with evalkit baseline save RUN FILE")


def _no_constant(name: str) -> float:
    raise json.JSONDecodeError(f"{name} is not a number a baseline may hold (use null for an undefined value)",
                               name, 0)


_TEXT = (str, type(None))


def _shape_problem(baseline: Mapping[str, Any]) -> str | None:
    """What in a baseline's structure the gate could not read (a wrong type, a non-finite score), or None.

    Checked before anything is compared, so a hand-edited or damaged file is "could not compare"
    (exit 3), never a crash (exit 1, which would read as "regressed") or a silent pass.
    """
    def kind(value: Any, types: type | tuple[type, ...], path: str) -> str | None:
        if isinstance(value, types) and not isinstance(value, bool):
            return None
        names = "/".join(t.__name__.replace("NoneType", "null").replace("Mapping", "object")
                         for t in (types if isinstance(types, tuple) else (types,)))
        return f"{path} must be {names}, not {type(value).__name__}"

    def mapping_of(value: Any, path: str, check) -> str | None:
        problem = kind(value, Mapping, path)
        if problem:
            return problem
        for name, item in value.items():
            problem = check(item, f"{path}.{shown(name, 40)}")
            if problem:
                return problem
        return None

    def score(value: Any, path: str) -> str | None:
        problem = kind(value, (int, float, type(None)), path)
        if problem is None and value is not None and not math.isfinite(value):
            problem = f"{path} is {value}, not a finite number (use null for an undefined value)"
        return problem

    data = baseline["data"]
    checks = [
        kind(baseline.get("run") or {}, Mapping, "run"),
        kind(data, Mapping, "data"),
        kind(baseline.get("metric_signatures") or {}, Mapping, "metric_signatures"),
        kind(baseline.get("not_gated") or [], list, "not_gated"),
        lambda: kind(data.get("ids"), list, "data.ids") or next(
            (f"data.ids[{i}] must be text" for i, v in enumerate(data["ids"]) if not isinstance(v, str)), None),
        lambda: data.get("hashes") is not None and mapping_of(data["hashes"], "data.hashes",
                                                             lambda v, p: kind(v, str, p)),
        lambda: mapping_of(data.get("targets") or {}, "data.targets", lambda v, p: kind(v, _TEXT, p)),
        lambda: mapping_of(baseline["metrics"], "metrics", lambda v, p: kind(v, Mapping, p) or next(
            (kind(v.get(k), t, f"{p}.{k}") for k, t in (("instance", _TEXT), ("kind", _TEXT), ("signature", _TEXT),
                                                          ("config", (Mapping, type(None))),
                                                          ("measure", (Mapping, type(None))))
             if kind(v.get(k), t, f"{p}.{k}")), None)),
        lambda: mapping_of(baseline["systems"], "systems", lambda v, p: kind(v, Mapping, p)),
        lambda: mapping_of(baseline["scores"], "scores",
                           lambda v, p: mapping_of(v, p, lambda w, q: mapping_of(w, q, score))),
    ]
    for item in checks:
        problem = item() if callable(item) else item
        if problem:
            return problem
    return None
