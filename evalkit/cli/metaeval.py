"""``evalkit meta-eval DATA``: agreement of metrics with human scores (FRANK, SummEval, your own labels).

Reads the annotated file (:mod:`evalkit.inputs.annotated`), scores it with evalkit metrics when
asked (:mod:`evalkit.run.scoring`) and prints the agreement table (:mod:`evalkit.report.metaeval`).
With ``--labels [STORE]`` (or ``--labels-file FILE``) DATA is a run folder instead: every metric
of the run is correlated with the mean human label of each question, labels read straight from
the store ``evalkit view`` wrote them to (:mod:`evalkit.run.labels`), and an LLM judge of the
run is placed among the annotators on the same statistic (:mod:`evalkit.report.agreement`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.core.errors import ConfigError
from evalkit.inputs.annotated import load_items
from evalkit.report.metaeval import (
    LEVELS,
    METHODS,
    MetaEval,
    agreement_chart,
    format_table,
)
from evalkit.run.scoring import score_items


def add_commands(subparsers: Any) -> None:
    """``evalkit meta-eval DATA``: agreement of metrics with human scores (see the module docstring)."""
    parser = subparsers.add_parser("meta-eval", help="how well metrics agree with human scores (FRANK, SummEval)")
    parser.add_argument("data", help="FRANK frank_benchmark.jsonl or SummEval model_annotations.aligned(.paired).jsonl; "
                                     "with --labels, a run folder (runs/<name>-<time>, or runs/ for the latest)")
    parser.add_argument("--labels", nargs="?", const="", metavar="STORE",
                        help="correlate the run's metrics with the human labels in STORE (default: the run's store)")
    parser.add_argument("--labels-file", help="the same, with labels from a JSONL or Label Studio export")
    parser.add_argument("--rubric", help="the human rubric (name or YAML) the labels answer, when the store does "
                                         "not hold it (default: the store's, or the built-in one of that version)")
    parser.add_argument("--chart-human", help="with --labels: the question the chart shows (default: the first)")
    parser.add_argument("--rubric-version", help="use the labels of this rubric version (default: the one with "
                                                 "most labels)")
    parser.add_argument("--format", choices=("auto", "frank", "summeval"), default="auto")
    parser.add_argument("--metric", action="append", default=[], metavar="SPEC",
                        help="an evalkit metric to score the summaries with: a kind (entities) or a YAML mapping "
                             "('{kind: nli, model: DIR}'); repeatable")
    parser.add_argument("--columns", help="comma-separated precomputed metric columns of the file (default: all; "
                                          "'none' for none)")
    parser.add_argument("--human", help="comma-separated human columns (default: all)")
    parser.add_argument("--levels", help=f"comma-separated, of {', '.join(LEVELS)} (default: all; with --labels: "
                                         "summary,system)")
    parser.add_argument("--methods", help=f"comma-separated, of {', '.join(METHODS)} (default: pearson,spearman; "
                                          "with --labels: all three)")
    parser.add_argument("--where-defined", help="only items where this metric has a value")
    parser.add_argument("--compare", action="append", default=[], metavar="A,B",
                        help="paired bootstrap test of two metrics' correlations; repeatable")
    parser.add_argument("--store", help="SQLite store for evalkit metric scores (default: none, nothing cached)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the results as JSON to this file")
    parser.add_argument("--chart", help="write a bar chart (PNG/SVG/PDF) of the first level and method here")
    parser.set_defaults(func=cmd_meta_eval)


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def cmd_meta_eval(args: Any) -> int:
    import yaml

    from evalkit.core import yamlsafe
    from evalkit.core.redact import shown

    if args.labels is not None or args.labels_file:
        from evalkit.cli.metaeval_labels import meta_eval_labels

        return meta_eval_labels(args)
    items = load_items(args.data, args.format)
    columns: dict[str, list[float | None]] = {}
    evaluation = MetaEval(items, humans=_split(args.human), n_resamples=args.resamples, seed=args.seed)
    wanted = _split(args.columns)
    file_columns = {n: list(v) for n, v in evaluation.metrics.items()}
    if wanted is None:
        columns.update(file_columns)
    elif wanted != ["none"]:
        unknown = [c for c in wanted if c not in file_columns]
        if unknown:
            raise ConfigError(f"--columns {unknown}: not in the file; it has {', '.join(file_columns)}")
        columns.update({c: file_columns[c] for c in wanted})
    specs = []
    for text in args.metric:
        try:
            specs.append(yamlsafe.safe_load(text))
        except yaml.YAMLError as exc:
            raise ConfigError(f"--metric {shown(text)!r}: not a kind or a YAML mapping ({exc})") from exc
    columns.update(score_items(items, specs, args.store) if specs else {})
    if not columns:
        raise ConfigError("nothing to correlate: the file has no metric columns; add --metric KIND")
    evaluation = MetaEval(items, columns, humans=_split(args.human), n_resamples=args.resamples, seed=args.seed)
    if args.where_defined:
        evaluation = evaluation.restrict(args.where_defined)
    levels, methods = _split(args.levels) or list(LEVELS), _split(args.methods) or ["pearson", "spearman"]
    results = evaluation.table(levels, methods)
    comparisons = []
    for pair in args.compare:
        a, _, b = pair.partition(",")
        for human in evaluation.humans:
            comparisons.append(evaluation.compare(a.strip(), b.strip(), human, levels[0], methods[0]))
    print(f"meta-eval of {args.data}: {len(evaluation.items)} items, {evaluation.doc_ids.max() + 1} documents, "
          f"{evaluation.system_ids.max() + 1} systems; r [95% CI], seeded bootstrap ({args.resamples} resamples, "
          f"seed {args.seed}); summary = per-document mean, partial = controlling for the system")
    print(format_table(results))
    for c in comparisons:
        print(f"{c['a']} - {c['b']} ({c['human']}, {c['level']} {c['method']}): {c['delta']:+.3f} "
              f"[{c['low']:.3f}, {c['high']:.3f}], paired bootstrap p = {c['p_value']:.3g}")
    if args.json:
        Path(args.json).write_text(evaluation.to_json(results, comparisons), encoding="utf-8")
    if args.chart:
        agreement_chart(results, levels[0], methods[0]).savefig(args.chart, dpi=120)
    return 0
