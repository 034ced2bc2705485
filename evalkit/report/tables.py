"""Text tables of a run: the per-system means and the significance ranking.

Which values are shown, how they are headed and scaled come from the run's measures
(:meth:`evalkit.run.record.Run.measures`): a metric added to evalkit appears here with its label
and unit without this module knowing its name.
"""

from __future__ import annotations

from collections.abc import Sequence


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
    made = errors.apply(lambda e: int(e.isna().sum()))
    measures = [run.measure(m) for m in chosen]
    header = ["system", "n", *chosen, "failed"]
    lines = []
    for system, row in table.iterrows():
        cells = [str(system), str(made.get(system, 0)), *(m.format(row[m.name]) for m in measures),
                 str(counts.get(system, 0))]
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
    return "\n".join([fmt(header), rule, *map(fmt, lines), *warning, "", "Columns (means over the n documents with a "
                      "summary; failed = summaries that could not be made):", *legend])


def format_ranking(run, metric: str | None = None, alpha: float = 0.05) -> str:
    """Which systems are significantly better than which on one metric (default: the first headline one)."""
    from evalkit.report import stats

    frame = run.values()
    if metric is None:
        directed = [m for m in headline_metrics(run) if run.measure(m).higher_is_better is not None]
        metric = directed[0] if directed else None
    if metric is None or frame.loc[frame["metric"] == metric, "system"].nunique() < 2:
        return ""
    measure = run.measure(metric)
    table = stats.ranking(frame, metric, alpha=alpha, higher_is_better=measure.higher_is_better is not False)
    scale = measure.display_factor
    lines = [f"Ranking on {measure.axis_label} (95% bootstrap CI; '>' = better by a paired permutation test, "
             f"Holm-corrected, alpha={alpha}):"]
    for _, row in table.iterrows():
        lines.append(f"  {row['rank']}. {row['system']:<14} {scale * row['mean']:6.1f} "
                     f"[{scale * row['ci_low']:.1f}, {scale * row['ci_high']:.1f}]  {row['better_than']}")
    return "\n".join(lines)
