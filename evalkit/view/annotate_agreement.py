"""The table of ``GET /agreement/{run}``: how far the annotators agree, question by question, and where they disagree most.

For each yes/no or scale question of a rubric version: Krippendorff's alpha (nominal for yes/no;
ordinal and interval for scales), raw agreement, Cohen's kappa (two annotators), Fleiss' kappa,
then the summaries with the most disagreement; pairwise preferences get nominal alpha. When the
run has an LLM judge answering a question of the rubric, the judge is placed among the annotators
(:func:`evalkit.report.agreement.among_annotators`). Statistics: :mod:`evalkit.report.agreement`.
"""

from __future__ import annotations

import math
from typing import Any

from evalkit.inputs.human_rubric import HumanRubric
from evalkit.report.agreement import (
    Rating,
    agreement_row,
    among_annotators,
    disagreements,
)
from evalkit.run.labels import judge_ratings, ratings_by_question
from evalkit.view.annotate_shell import esc


def _number(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def agreement_html(run: Any, labels: list, rubric: HumanRubric) -> str:
    by_question = ratings_by_question(run, labels, rubric)
    rows, worst, judged = [], [], []
    judges = judge_ratings(run, rubric)
    for q in rubric.rated:
        ratings = [Rating(item, coder, value) for item, coder, value in by_question[q.name]]
        if not ratings:
            continue
        for level in (("nominal",) if q.kind == "yesno" else ("ordinal", "interval")):
            rows.append(agreement_row(q.name, ratings, level))
        level = "nominal" if q.kind == "yesno" else "interval"
        worst += [(q.name, *entry) for entry in disagreements(ratings, level, top=5)]
        if q.name in judges:
            judge = [Rating(item, f"judge ({coder})", value) for item, coder, value in judges[q.name]
                     if item in {r.item for r in ratings}]
            judged.append((q.name, level, *among_annotators(ratings, judge, level)))
    pairwise = [lab for lab in labels if lab.kind == "pairwise" and lab.rubric_version == rubric.version]
    for q in rubric.rated:
        ratings = [Rating(lab.summary_hash, lab.annotator, lab.answers.get(q.name)) for lab in pairwise
                   if lab.answers.get(q.name) is not None]
        if ratings:
            rows.append(agreement_row(f"{q.name} (pairwise)", ratings, "nominal"))
    if not rows:
        return "<p id=\"no-labels\">No labels under this rubric version yet.</p>"
    head = ("<table id=\"agreement\"><tr><th>question</th><th>level</th><th>items (2+ labels)</th>"
            "<th>annotators</th><th>labels</th><th>Krippendorff's α</th><th>raw agreement</th>"
            "<th>Cohen's κ</th><th>Fleiss' κ</th></tr>")
    cells = "".join(
        f"<tr><td>{esc(r.question)}</td><td>{r.level}</td><td>{r.items}</td><td>{r.coders}</td><td>{r.ratings}</td>"
        f"<td class=\"alpha\">{_number(r.alpha)}</td><td>{_number(r.raw)}</td><td>{_number(r.cohen)}</td>"
        f"<td>{_number(r.fleiss)}</td></tr>" for r in rows)
    out = head + cells + "</table>"
    if worst:
        worst.sort(key=lambda t: -t[2])
        out += ("<h3>Most disagreement</h3><table id=\"disagreement\"><tr><th>question</th><th>document</th>"
                "<th>system</th><th>spread</th><th>labels</th></tr>" + "".join(
                    f"<tr><td>{esc(q)}</td><td>{esc(item[0])}</td><td>{esc(item[1])}</td><td>{spread:.2f}</td>"
                    f"<td>{esc(', '.join(str(v) for v in values))}</td></tr>"
                    for q, item, spread, values in worst[:10]) + "</table>")
    for question, level, people, with_judge, coders in judged:
        out += (f"<h3>The judge among the annotators: {esc(question)}</h3><p>α ({level}) among people "
                f"{_number(people)}; with the judge as one more annotator {_number(with_judge)}</p>"
                "<table class=\"judge\"><tr><th>annotator</th><th>α vs the other people</th><th>items</th></tr>"
                + "".join(f"<tr><td>{esc(c.coder)}{' (judge)' if c.judge else ''}</td><td>{_number(c.alpha)}</td>"
                          f"<td>{c.items}</td></tr>" for c in coders) + "</table>")
    return out
