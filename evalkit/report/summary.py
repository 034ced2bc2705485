"""A run's summary as plain data: what it compared, per-system means, rankings, cost and judge diagnostics.

The same numbers as ``evalkit report`` prints, for ``evalkit report --json`` and the HTML
report. Rankings are :func:`evalkit.report.stats.ranking` (bootstrap CIs, paired permutation tests,
Holm-corrected) on every headline value that has a better direction; the judge diagnostics are
:func:`evalkit.report.judging.diagnostics`, the same data the text table and the HTML section show.
"""

from __future__ import annotations

from typing import Any

from evalkit.core.cost import total_cost
from evalkit.report.bidi import strict_json
from evalkit.report.judging import diagnostics
from evalkit.report.tables import cut_counts, headline_metrics, json_number, json_ready, ranking_rows
from evalkit.run.record import Run


def value_names(run: Run) -> list[str]:
    """Every numeric value of the run: declared ones in declaration order, then any others."""
    present = list(dict.fromkeys(run.values()["metric"]))
    declared = [n for n in run.measures() if n in set(present)]
    return declared + [n for n in present if n not in declared]


def rankings(run: Run, *, alpha: float = 0.05, n_resamples: int | None = None,
             seed: int = 0) -> dict[str, list[dict]]:
    """Value name -> ranking rows (:func:`evalkit.report.tables.ranking_rows`), for each headline value
    with a direction and at least two ranked systems."""
    out: dict[str, list[dict]] = {}
    for name in headline_metrics(run):
        rows = ranking_rows(run, name, alpha=alpha, n_resamples=n_resamples, seed=seed)
        if rows:
            out[name] = rows
    return out


def detectable(run: Run, *, alpha: float = 0.05) -> dict[str, dict[str, Any]]:
    """Value name -> the minimum detectable effect of the run's design at 80% power
    (:func:`evalkit.report.sampling.run_detectable`), for each headline value with a direction."""
    from evalkit.report.sampling import run_detectable

    out = {}
    for name in headline_metrics(run):
        measure = run.measure(name)
        found = run_detectable(run, name, alpha=alpha) if measure.higher_is_better is not None else None
        if found is not None:
            out[name] = {k: json_number(v) if isinstance(v, float) else v for k, v in found.to_dict(measure).items()}
    return out


def costs(run: Run) -> dict[str, dict[str, Any]]:
    """System -> API cost (only systems an API model produced; others have no cost)."""
    out = {}
    for system, rows in run.summaries.groupby("system", sort=False):
        total = total_cost(rows)
        if total.requests:
            out[str(system)] = {"requests": total.requests, "usd": total.usd, "unpriced": total.unpriced,
                                "tokens_prompt": total.tokens_prompt, "tokens_completion": total.tokens_completion,
                                "text": total.describe()}
    return out


def run_summary(run: Run, *, alpha: float = 0.05, n_resamples: int | None = None) -> dict[str, Any]:
    """The run as JSON-ready data: identity, measures, per-system means, failures and summaries cut at the
    length budget (``None``: the system records no stop reason), rankings, cost, and the judge diagnostics
    (``judging``: :func:`evalkit.report.judging.diagnostics`, empty lists without a judge)."""
    names = value_names(run)
    table = run.table().reindex(columns=names) if names else None  # a value undefined everywhere stays, as n/a
    failed = run.summaries.groupby("system")["error"].apply(lambda e: int(e.notna().sum())).to_dict()
    systems = [str(s) for s in (table.index if table is not None else run.summaries["system"].unique())]
    cuts = cut_counts(run.summaries)
    manifest = run.manifest
    return {
        "run": run.run_id, "name": manifest.name, "created": manifest.created,
        "n_documents": manifest.data.n_documents,
        "target": manifest.config.target.to_dict() if manifest.config.target else None,
        "systems": {s: {"kind": manifest.kind_of(s), "failed": int(failed.get(s, 0)),
                        "cut": cuts.get(s)} for s in systems},
        "metrics": {key: {"kind": e.kind, "signature": e.signature, "values": [m.name for m in e.measures]}
                    for key, e in manifest.metrics.items()},
        "measures": {n: run.measure(n).to_dict() for n in names},
        "headline": headline_metrics(run),
        "means": {s: {n: json_number(table.loc[s, n]) for n in names} for s in systems} if table is not None else {},
        "rankings": rankings(run, alpha=alpha, n_resamples=n_resamples),
        "detectable": detectable(run, alpha=alpha),
        "alpha": alpha,
        "cost": costs(run),
        "judging": json_ready(diagnostics(run)),
    }


def to_json(summary: dict[str, Any]) -> str:
    """``evalkit report --json``: strict JSON, bidirectional controls in names as ``\\uXXXX`` escapes
    (:func:`evalkit.report.bidi.strict_json`)."""
    return strict_json(summary, indent=2, default=str) + "\n"
