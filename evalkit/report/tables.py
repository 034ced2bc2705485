"""Text tables of a run: the per-system means and the significance ranking.

Which values are shown, how they are headed and scaled come from the run's measures
(:meth:`evalkit.run.record.Run.measures`): a metric added to evalkit appears here with its label
and unit without this module knowing its name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from evalkit.report.bidi import visible_bidi


def stopped_at_budget(details: Mapping[str, Any]) -> bool:
    """True when a summary's details say the length budget ended it, not the model: ``stop_reason`` ``length``
    (a local model's ``max_new_tokens``, an API's ``max_tokens``) or ``cut`` (it ends mid-sentence there)."""
    return details.get("stop_reason") == "length" or details.get("cut") is True


def records_stops(details: Mapping[str, Any]) -> bool:
    """True when a summary's details say how it ended (models record ``stop_reason``; extractive strategies don't)."""
    return "stop_reason" in details or isinstance(details.get("cut"), bool)


def cut_counts(summaries: pd.DataFrame) -> dict[str, int | None]:
    """System -> how many of its summaries the length budget stopped (:func:`stopped_at_budget`), or ``None``
    for a system none of whose summaries records how it ended; failed summaries are not counted.

    ``summaries`` is a run's summaries frame (:attr:`evalkit.run.record.Run.summaries`): the details are
    read as the run stores them, once per summary, so no stored value is added for this count.
    """
    if summaries is None or "details" not in summaries.columns:
        return {}
    out: dict[str, int | None] = {}
    errors = summaries["error"] if "error" in summaries.columns else [None] * len(summaries)
    for system, details, error in zip(summaries["system"], summaries["details"], errors):
        details = details if isinstance(details, Mapping) else {}
        system = str(system)
        out.setdefault(system, None)
        if (isinstance(error, str) and error) or not records_stops(details):
            continue
        out[system] = (out[system] or 0) + int(stopped_at_budget(details))
    return out


def cut_legend() -> str:
    """What the ``cut`` column counts, in one line (the CLI legend and the HTML report's header title)."""
    return ("cut = summaries the length budget stopped (stop_reason length: max_new_tokens / max_tokens), "
            "so they may end mid-sentence; - = the system records no stop reason")


def headline_metrics(run) -> list[str]:
    """The values a run shows by default: its metrics' headline measures, in declaration order."""
    available = set(run.values()["metric"])
    return [name for name, m in run.measures().items() if m.headline and name in available]


def format_table(run, metrics: Sequence[str] | None = None) -> str:
    """The per-system mean table as text: value names as columns, fractions in %, and a legend.

    Columns are headed by the value names (what ``--metrics`` takes); the legend under the
    table gives each one's label and unit from its measure.
    """
    frame = run.values()
    available = set(frame["metric"])
    if metrics is not None:
        missing = [m for m in metrics if m not in available]
        if missing:
            import difflib

            hints = []
            for name in missing:
                close = difflib.get_close_matches(name, sorted(available), n=1)
                hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise KeyError(f"metric(s) {', '.join(hints)} not in this run; it has {', '.join(sorted(available))}")
        chosen = list(metrics)
    else:
        chosen = headline_metrics(run)
    if not chosen:
        return "(no scores in this run)"
    table = run.table(chosen)
    errors = run.summaries.groupby("system")["error"]
    counts = errors.apply(lambda e: int(e.notna().sum()))
    ok = run.summaries[run.summaries["error"].isna()]
    made = ok.groupby("system")["document_id"].nunique()  # documents, not samples: the unit of the means
    measures = [run.measure(m) for m in chosen]
    cuts = cut_counts(run.summaries)
    show_cuts = any(n is not None for n in cuts.values())  # a column only where a system can be cut
    header = ["system", "n", *chosen, "failed", *(["cut"] if show_cuts else [])]
    lines = []
    for system, row in table.iterrows():
        cells = [visible_bidi(str(system)), str(made.get(system, 0)), *(m.format(row[m.name]) for m in measures),
                 str(counts.get(system, 0))]
        if show_cuts:
            cells.append("-" if cuts.get(str(system)) is None else str(cuts[str(system)]))
        lines.append(cells)
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "  ".join("-" * w for w in widths)
    legend = [f"  {m.name}: {m.axis_label}" for m in measures]
    warning = []
    if int(counts.sum()):
        partial = ", ".join(f"{system} {counts[system]}/{counts[system] + made.get(system, 0)}"
                            for system in counts.index if counts[system])
        warning = ["", f"WARNING: summaries failed ({partial}): those documents are left out of the system's means; "
                   "compare systems on equal n only (errors in summaries.jsonl)"]
    if show_cuts:
        stopped = ", ".join(f"{system} {n}/{made.get(system, 0)}" for system, n in cuts.items() if n)
        if stopped:
            warning += ["", f"NOTE: summaries stopped at the length budget ({stopped}): their text may end "
                        "mid-sentence; raise max_new_tokens / max_tokens or ask for a shorter target"]
    counted = "failed = summaries that could not be made" + (f"; {cut_legend()}" if show_cuts else "")
    from evalkit.report.judging import format_diagnostics

    judged = format_diagnostics(run)  # empty without a judge
    columns = f"Columns (means over the n documents with a summary; {counted}):"
    text = "\n".join([fmt(header), rule, *map(fmt, lines), *warning, "", columns, *legend,
                      *(["", judged] if judged else [])])
    return visible_bidi(text)


def ranking_rows(run, metric: str, *, alpha: float = 0.05, n_resamples: int | None = None,
                 seed: int = 0) -> list[dict]:
    """The ranking of one value as JSON-ready rows: the one computation behind the CLI, the HTML report
    and ``report --json``, so each shows the same interval for every number. Oracles are upper bounds
    (listed last, neither ranked nor tested); ``[]`` when fewer than two systems can be ranked."""
    from evalkit.report import stats

    frame = run.values()
    measure = run.measure(metric)
    bounds = run.manifest.upper_bounds()
    ranked = set(frame.loc[frame["metric"] == metric, "system"]) - set(bounds)
    if measure.higher_is_better is None or len(ranked) < 2:
        return []
    table = stats.ranking(frame, metric, alpha=alpha, higher_is_better=measure.higher_is_better,
                          n_resamples=stats.N_RESAMPLES if n_resamples is None else n_resamples, seed=seed,
                          upper_bounds=bounds)
    return [{k: (json_number(v) if k in ("mean", "ci_low", "ci_high") else
                 None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else
                 int(v) if k in ("rank", "n", "n_undefined", "rank_best", "rank_worst") else
                 bool(v) if k == "upper_bound" else str(v))
             for k, v in row.items()} for row in table.to_dict("records")]


def json_number(value) -> float | None:
    """A JSON-ready float: ``None`` for undefined (NaN) values."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if value != value or value in (float("inf"), float("-inf")) else value


def json_ready(value: Any) -> Any:
    """``value`` with every float made JSON-ready (:func:`json_number`: NaN and ±inf become ``None``), through
    dicts, lists and tuples; other values as they are."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, float):  # numpy's float64 is a float too
        return json_number(value)
    return value


def format_ranking(run, metric: str | None = None, alpha: float = 0.05) -> str:
    """Which systems are significantly better than which on one metric (default: the first headline one)."""
    if metric is None:
        directed = [m for m in headline_metrics(run) if run.measure(m).higher_is_better is not None]
        metric = directed[0] if directed else None
    rows = ranking_rows(run, metric, alpha=alpha) if metric is not None else []
    if not rows:
        return ""
    measure = run.measure(metric)
    scale = measure.display_factor

    def interval(row: dict) -> str:
        if row["mean"] is None:
            return f"{'n/a':>6}"
        return f"{scale * row['mean']:6.1f} [{scale * row['ci_low']:.1f}, {scale * row['ci_high']:.1f}]"

    lines = [f"Ranking on {measure.axis_label} (95% bootstrap CI; '>' = better by a paired permutation test, "
             f"Holm-corrected, alpha={alpha}):"]
    for row in rows:
        if row["rank"] is None:  # an upper bound, or a system with no finite mean: the note says which
            lines.append(f"  -  {row['system']:<14} {interval(row)}  {row['note']}")
        else:
            lines.append(f"  {row['rank']}. {row['system']:<14} {interval(row)}  {row['better_than']}")
    from evalkit.report.sampling import run_detectable

    detectable = run_detectable(run, metric, alpha=alpha)
    if detectable is not None:
        lines.append(detectable.describe(measure))
    return visible_bidi("\n".join(lines))


_CONDITION = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(>=|<=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


def format_pass_rates(run: Any, condition: str) -> str:
    """Per system, how often its samples meet ``condition`` (``"rougeL_f>=0.3"``, on the stored scale):
    the mean per-document pass rate, and with k = the fewest samples any of its documents has, pass^k
    (all k samples pass; Yao et al. 2024) and pass@k (at least one does; Chen et al. 2021), averaged over
    documents (:func:`evalkit.report.sampling.pass_rates`)."""
    from evalkit.core.errors import ConfigError
    from evalkit.report.sampling import pass_rates

    match = _CONDITION.match(condition)
    if not match:
        raise ConfigError(f"--pass {condition!r}: write METRIC>=VALUE or METRIC<=VALUE on the stored scale "
                          "(fractions for ROUGE), e.g. --pass 'rougeL_f>=0.3'")
    metric, operator, threshold = match.group(1), match.group(2), float(match.group(3))
    try:
        rates = pass_rates(run.sample_scores, metric, threshold, higher_is_better=operator == ">=")
    except ValueError as exc:
        raise ConfigError(f"--pass {condition!r}: {exc}") from exc
    lines = [f"Pass rates: {metric} {operator} {threshold:g} (per document over its samples, then the mean over "
             "documents; k = the fewest samples a document of the system has)",
             f"{'system':<24} {'documents':>9} {'k':>3} {'pass rate':>9} {'pass^k':>7} {'pass@k':>7}"]
    for system, rows in rates.groupby("system", sort=False):
        k = int(rows["n"].min())
        per_k = pass_rates(run.sample_scores[run.sample_scores["system"] == system], metric, threshold,
                           higher_is_better=operator == ">=", k=k)
        lines.append(f"{system!s:<24} {len(rows):>9} {k:>3} {rows['rate'].mean():>9.3f} "
                     f"{per_k['pass_hat_k'].mean():>7.3f} {per_k['pass_at_k'].mean():>7.3f}")
    return visible_bidi("\n".join(lines))
