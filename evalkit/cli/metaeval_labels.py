"""``evalkit meta-eval RUN --labels [STORE]``: which of a run's metrics agrees with your annotators.

The labels come from the store (``evalkit view`` wrote them there) or from an export
(``--labels-file``); only the run's current labels count (stale ones and those for summaries the
run no longer has are reported in one line each). Each rated question of the rubric becomes a
human column (the mean over annotators per summary), correlated with every metric of the run at
summary and system level with bootstrap intervals (:class:`evalkit.report.metaeval.MetaEval`).
When the run has an LLM judge that answers a question, the judge is placed among the annotators
(:func:`evalkit.report.agreement.among_annotators`). Pairwise labels (``/annotate/RUN/pairwise``) get
their own section (:mod:`evalkit.report.metaeval_pairwise`): each system's human win rate, its
system-level Spearman and Kendall correlation with every metric's system mean, and a pairwise
judge's raw agreement and Cohen's kappa with the people's answers.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any

from evalkit.core.errors import ConfigError, DataError
from evalkit.inputs.human_rubric import HUMAN_RUBRICS, HumanRubric, load_human_rubric
from evalkit.inputs.labelstudio import from_tasks
from evalkit.report.agreement import Rating, among_annotators
from evalkit.report.judging import pair_verdicts
from evalkit.report.metaeval import METHODS, MetaEval, format_table
from evalkit.report.metaeval_pairwise import PairwiseMetaEval, format_pairwise, judge_agreement, pairwise_json
from evalkit.report.tables import json_ready
from evalkit.run.labels import (
    Label,
    LabelStore,
    Study,
    human_items,
    judge_ratings,
    label_status,
    metric_values,
    pairwise_by_question,
    ratings_by_question,
    read_jsonl,
    run_store,
)
from evalkit.run.record import Run
from evalkit.run.store import Store

log = logging.getLogger(__name__)


def _read_labels(path: str) -> list[Label]:
    if not Path(path).is_file():
        raise DataError(f"no such labels file: {path}; give a JSONL or Label Studio export (evalkit labels export)")
    if path.endswith((".jsonl", ".ndjson")):
        return read_jsonl(path)
    try:
        return [Label.from_dict(r) for r in from_tasks(json.loads(Path(path).read_text(encoding="utf-8")))]
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: neither JSONL (.jsonl) nor a Label Studio JSON export ({exc})") from exc


def _rubric(version: str, stored: dict[str, HumanRubric], given: str | None, root: Path) -> HumanRubric:
    """The rubric of ``version``: --rubric, the store's copy, the study's file or a built-in one of that version."""
    candidates = []
    if given:
        candidates.append(load_human_rubric(given))
    if version in stored:
        return stored[version]
    study = Study.load(root)
    for name in [study.rubric, *sorted(p.stem for p in HUMAN_RUBRICS.glob("*.yaml"))]:
        try:
            candidates.append(load_human_rubric(name))
        except ConfigError:
            continue
    for rubric in candidates:
        if rubric.version == version:
            return rubric
    raise ConfigError(f"the labels answer rubric version {version}, which neither the store nor the rubric files "
                      "know; pass that rubric's YAML with --rubric")


def meta_eval_labels(args: Any) -> int:
    """The ``--labels``/``--labels-file`` form of ``evalkit meta-eval`` (see the module docstring)."""
    run = Run.load(args.data)
    store_path = args.labels or run_store(run)
    stored: dict[str, HumanRubric] = {}
    if Path(store_path).is_file():
        with Store(store_path) as store:
            stored = LabelStore(store).rubrics()
            labels = [] if args.labels_file else LabelStore(store).all()
    elif not args.labels_file:
        raise DataError(f"no store at {store_path}: label the run in `evalkit view` first, or pass --labels STORE "
                        "or --labels-file FILE")
    if args.labels_file:
        labels = _read_labels(args.labels_file)
    status = label_status(run, labels)
    for line in status.messages(run.run_id):
        log.warning("%s", line)
    pointwise = Counter(lab.rubric_version for lab in status.current if lab.kind == "pointwise")
    versions = pointwise or Counter(lab.rubric_version for lab in status.current if lab.kind == "pairwise")
    if not versions:
        raise DataError(f"run {run.run_id}: no current labels to correlate with; label it in `evalkit view` "
                        "(/annotate/RUN or /annotate/RUN/pairwise) or import labels (evalkit labels import)")
    version = args.rubric_version or versions.most_common(1)[0][0]
    given = Counter(lab.rubric_version for lab in status.current)
    if version not in given:
        raise ConfigError(f"--rubric-version {version}: no labels of that version; have {', '.join(given)}")
    rubric = _rubric(version, stored, args.rubric, run.run_dir.parent)
    current = list(status.current)
    wanted = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    annotators = sorted({lab.annotator for lab in current if lab.rubric_version == version})
    out: dict[str, Any] = {}
    if version in pointwise:
        items, columns = human_items(run, current, rubric, wanted)
        levels = [lv.strip() for lv in (args.levels or "summary,system").split(",") if lv.strip()]
        methods = [m.strip() for m in (args.methods or ",".join(METHODS)).split(",") if m.strip()]
        humans = sorted({h for item in items for h in item.human}, key=[q.name for q in rubric.questions].index)
        evaluation = MetaEval(items, columns, humans=humans, n_resamples=args.resamples, seed=args.seed)
        results = evaluation.table(levels, methods)
        print(f"meta-eval of run {run.run_id} on human labels: {len(items)} summaries, {len(annotators)} annotators, "
              f"rubric {rubric.name} version {version}; r [95% CI] with the mean human label, seeded bootstrap "
              f"({args.resamples} resamples, seed {args.seed}); summary = per-document mean, system = system means")
        print("which metric agrees with your annotators")
        print(format_table(results))
        out = {**json.loads(evaluation.to_json(results)), "judge": _judge_among_annotators(run, current, rubric)}
    pairwise = _pairwise_section(run, current, rubric, wanted, args)
    if pairwise is not None:
        out["pairwise"] = pairwise
    if args.json:
        Path(args.json).write_text(json.dumps(json_ready(out), indent=2, allow_nan=False), encoding="utf-8")
    if args.chart and version not in pointwise:
        log.warning("--chart draws the pointwise correlations; run %s has no pointwise labels of version %s, so no "
                    "chart was written", run.run_id, version)
    elif args.chart:
        from evalkit.report.plots.human import human_agreement_chart

        human_agreement_chart(results, args.chart_human or humans[0], methods[0], levels).savefig(args.chart, dpi=120)
    return 0


def _pairwise_section(run: Run, labels: list[Label], rubric: HumanRubric, wanted: list[str] | None,
                      args: Any) -> dict[str, Any] | None:
    """Print, and return as JSON-ready data, the pairwise labels' win rates, their system-level correlation with
    each metric, and a pairwise judge's agreement with them; None when there are no pairwise labels."""
    answers = {q: rows for q, rows in pairwise_by_question(run, labels, rubric).items() if rows}
    if not answers:
        return None
    evaluation = PairwiseMetaEval(answers, metric_values(run, wanted), n_resamples=args.resamples, seed=args.seed)
    results = evaluation.table()
    judges = [judge_agreement(key, question, rows, verdicts) for key, verdicts in pair_verdicts(run).items()
              for question, rows in answers.items()]
    annotators = {row[3] for rows in answers.values() for row in rows}
    print(f"\npairwise human labels of run {run.run_id}: {sum(map(len, answers.values()))} answers by "
          f"{len(annotators)} annotators, rubric {rubric.name} version {rubric.version}; win rate = (wins + ties/2) / "
          f"comparisons; each metric's system mean vs the win rate, r [95% CI], documents resampled "
          f"({args.resamples} resamples, seed {args.seed})")
    print(format_pairwise(evaluation, results, judges))
    return pairwise_json(evaluation, results, judges)


def _judge_among_annotators(run: Run, labels: list[Label], rubric: HumanRubric) -> list[dict[str, Any]]:
    """Print, and return as records, each judged question's alpha among people, with the judge, and leave-one-out."""
    judges = judge_ratings(run, rubric)
    if not judges:
        return []
    people = ratings_by_question(run, labels, rubric)
    out = []
    for question, rows in judges.items():
        q = rubric.question(question)
        level = "nominal" if q.kind == "yesno" else "interval"
        ratings = [Rating(item, coder, value) for item, coder, value in people[question]]
        rated = {r.item for r in ratings}
        judge = [Rating(item, f"judge:{coder}", value) for item, coder, value in rows if item in rated]
        alone, together, coders = among_annotators(ratings, judge, level)
        print(f"\nthe judge among the annotators on {question} (Krippendorff's alpha, {level}): people "
              f"{_f(alone)}, with the judge as one more annotator {_f(together)}")
        for c in coders:
            print(f"  {c.coder:<30} {'judge' if c.judge else 'person':<6}  alpha vs the other people's mean "
                  f"{_f(c.alpha)}  ({c.items} summaries)")
        out.append({"question": question, "level": level, "alpha_people": alone, "alpha_with_judge": together,
                    "leave_one_out": [{"coder": c.coder, "judge": c.judge, "alpha": c.alpha, "items": c.items}
                                      for c in coders]})
    return out


def _f(value: float) -> str:
    return "   nan" if value is None or math.isnan(value) else f"{value:6.3f}"
