"""``evalkit plan PILOT_RUN --effect 0.01``: how many documents (and samples) an evaluation needs.

From a pilot run's variance components (:mod:`evalkit.report.sampling`): for each pair of its
systems, the variance of a document's difference of means splits into what pairing cannot remove
(``sigma_bd^2``, documents on which one system does better than the other) and the two systems'
sampling noise (``sigma_wA^2 + sigma_wB^2``, divided by the k samples per document). The documents
needed to detect a true difference ``effect`` with a two-sided paired test at ``alpha`` and
``power`` are ``n = ceil(((z_{1-alpha/2} + z_power) * sd_diff / effect)^2)`` (Cohen 1988, ch. 2):
the inverse of the minimum detectable effect every report states. A pilot with one system that
drew several samples plans the comparison of that system with a changed version of itself, with no
document-by-change interaction (``sigma_bd = 0``: the most optimistic case).
"""

from __future__ import annotations

import argparse
import math
import statistics
from dataclasses import dataclass
from typing import Any

from evalkit.core.errors import DataError

SAMPLE_COUNTS = (1, 2, 3, 5, 10)
"""The samples per document the table of ``evalkit plan`` shows (plus ``--samples``)."""


@dataclass(frozen=True)
class Plan:
    """A sizing from a pilot run: the variance of a document's difference, split by source."""

    metric: str
    n_pilot: int
    """Documents of the pilot with a value for the systems compared."""
    between: float
    """``sigma_bd^2``: the median over system pairs of the variance of the true per-document difference."""
    within: float
    """``sigma_wA^2 + sigma_wB^2``: the median over pairs of the two systems' sampling noise per sample."""
    pairs: tuple[str, ...]
    """The system pairs it was measured on (``a vs b``), or the one system (sampling noise only)."""

    def documents(self, effect: float, k: int, *, alpha: float, power: float) -> int:
        from evalkit.report.sampling import documents_needed

        return documents_needed(effect, self.between + self.within / k, alpha=alpha, power=power)


def pilot_plan(run: Any, metric: str | None, systems: list[str] | None = None) -> Plan:
    """The :class:`Plan` of a pilot run on ``metric`` (default: its first headline value with a direction)."""
    from evalkit.report import sampling
    from evalkit.report.tables import headline_metrics

    samples = sampling.sample_frame(run)
    if metric is None:
        directed = [m for m in headline_metrics(run) if run.measure(m).higher_is_better is not None]
        if not directed:
            raise DataError(f"{run.run_id}: the pilot has no headline value with a better direction; pass --metric")
        metric = directed[0]
    try:
        sampling.check_metric(samples, metric)
    except ValueError as exc:
        raise DataError(f"--metric: {exc}") from None
    rows = samples[(samples["metric"] == metric) & samples["value"].notna()]
    bounds = set(run.manifest.upper_bounds())
    names = sorted(set(rows["system"]) - bounds) if systems is None else systems
    unknown = [s for s in names if s not in set(rows["system"])]
    if unknown:
        raise DataError(f"--systems: {', '.join(unknown)} not in the pilot with a {metric} value; it has "
                        f"{', '.join(sorted(set(rows['system'])))}")
    n_pilot = rows[rows["system"].isin(names)]["document_id"].nunique()
    if n_pilot < 2:
        raise DataError(f"{run.run_id}: the pilot has {n_pilot} document(s) with a {metric} value; a plan needs "
                        "at least 2 to measure how documents vary (run the pilot on 10 or more)")
    if len(names) >= 2:
        pairs = [p for p in sampling.pair_variances(rows, metric, names) if not math.isnan(p.between)]
        if not pairs:
            raise DataError(f"{run.run_id}: no two systems share 2 documents with a {metric} value")
        return Plan(metric, max(p.n_documents for p in pairs), statistics.median(p.between for p in pairs),
                    statistics.median(p.within for p in pairs), tuple(f"{p.system_a} vs {p.system_b}" for p in pairs))
    _, matrix = sampling.sample_matrix(rows, names[0], metric)
    parts = sampling.variance_components(matrix)
    if math.isnan(parts.within):
        raise DataError(f"{run.run_id}: the pilot has one system ({names[0]}) with one sample per document: nothing "
                        "measures how a comparison varies; add a second system or draw samples: k > 1")
    return Plan(metric, parts.n_documents, 0.0, 2 * parts.within, (names[0],))


def _number(name: str, *, low: float, high: float, what: str) -> Any:
    """An argparse type: a number with ``low < value < high``, else a one-line usage error naming ``what`` it is."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not low < value < high:
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {text!r}")
        return value

    return parse


def _samples(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--samples must be a whole number >= 1, got {text!r}")
    return int(text)


def add_commands(subparsers: Any) -> None:
    """``evalkit plan``: see the module docstring."""
    parser = subparsers.add_parser("plan", help="size an evaluation set from a pilot run (documents x samples)")
    parser.add_argument("run", help="the pilot run folder (runs/<name>-<time>, or runs/ for the latest)")
    parser.add_argument("--effect", required=True, type=_number(
                            "--effect", low=0, high=math.inf, what="a positive number in the value's units (0.01 = "
                            "one ROUGE point)"),
                        help="the true difference to detect, in the value's units (0.01 = one ROUGE point)")
    parser.add_argument("--metric", help="the value (default: the pilot's first headline value with a direction)")
    parser.add_argument("--samples", type=_samples, help="samples per document and system (default: the pilot's)")
    parser.add_argument("--power", default=0.8, help="default 0.8",
                        type=_number("--power", low=0, high=1, what="a number strictly between 0 and 1 (e.g. 0.8)"))
    parser.add_argument("--alpha", default=0.05,
                        type=_number("--alpha", low=0, high=1, what="a number strictly between 0 and 1 (e.g. 0.05)"),
                        help="two-sided significance level (default 0.05)")
    parser.add_argument("--systems", help="comma-separated systems to plan from (default: every pair of the pilot)")
    parser.set_defaults(func=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    from evalkit.report.sampling import document_means, sample_frame
    from evalkit.run.record import Run

    run = Run.load(args.run)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()] if args.systems else None
    plan = pilot_plan(run, args.metric, systems)
    measure = run.measure(plan.metric)
    counts = document_means(sample_frame(run).query("metric == @plan.metric"))["n_samples"]
    pilot_k = max(1, round(float(counts[counts > 0].mean())))
    k = args.samples or pilot_k
    effect = (f"{args.effect * 100:g}-point {measure.label}" if measure.is_fraction else
              f"{args.effect:g}{' ' + measure.unit if measure.unit else ''} {measure.label}")
    worse = "drop" if measure.higher_is_better else "change" if measure.higher_is_better is None else "rise"
    needed = plan.documents(args.effect, k, alpha=args.alpha, power=args.power)
    source = (f"{len(plan.pairs)} system pair(s)" if " vs " in plan.pairs[0] else
              f"{plan.pairs[0]} alone: sampling noise only, assuming the change moves every document alike")
    print(f"Pilot {run.run_id}: {plan.n_pilot} documents, {plan.metric} ({measure.label}), from {source}")
    sampled = bool((counts > 1).any())
    noise = (f" + sampling sd {math.sqrt(plan.within):.4f} per sample, divided by k" if sampled else
             " (sampling noise included: the pilot drew one sample per document, so it cannot be told apart)")
    print(f"  per-document difference of two systems: sd {math.sqrt(plan.between):.4f} between documents "
          f"(what pairing cannot remove){noise}")
    print(f"To see a {effect} {worse} ({args.effect:g} in {plan.metric}) with {args.power:.0%} power "
          f"(two-sided alpha {args.alpha:g}, paired by document) you need about {needed} documents "
          f"(with {k} sample{'s' if k != 1 else ''} each).")
    ks = sorted(set(SAMPLE_COUNTS) | {k})
    print("  samples per document: " + "".join(f"{n:>7}" for n in ks))
    print("  documents needed:     " + "".join(f"{plan.documents(args.effect, n, alpha=args.alpha, power=args.power):>7}"
                                               for n in ks))
    if not sampled:
        print("  (more samples cannot be planned from this pilot: run it with samples: k > 1 to measure sampling "
              "noise; the table counts it as if it did not shrink)")
    elif plan.within == 0:
        print("  (the pilot shows no sampling noise: more samples per document do not help)")
    return 0
