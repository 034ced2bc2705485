"""Judge diagnostics of a stored run: length bias, self-preference, order flips, chunked and refused requests.

Computed from what the run stored (scores, summaries, the judge's facts), for every ``llm-judge``
instance in the run:

- **Length bias.** For each judge value with a direction, the Pearson and Spearman correlation of the
  value with the summary's length in words (:func:`evalkit.core.text.count_words`), per system and over
  all summaries; and a **length-adjusted** mean: the residual of an ordinary least-squares regression of
  the value on length over all summaries, plus the overall mean, averaged per system. A judge that
  rewards length shows a positive correlation, and a long system's adjusted mean falls below its raw
  one. The idea is that of length-controlled AlpacaEval (Dubois et al. 2024, "Length-Controlled
  AlpacaEval: A Simple Way to Debias Automatic Evaluators"), which regresses the judge's preference on
  the length difference; here one linear term, on absolute length.
- **Self-preference.** A warning when the judge's model and a judged system's model are of one family
  (:func:`evalkit.core.families.model_family`; the families are listed there).
- **Order flips** of a pairwise judge (``mode: pairwise``): pairs, the pairs whose verdict changed when
  the two summaries swapped places, and the flip rate; each system's wins, ties and losses.
- **Long articles**: how many summaries were judged in chunks, and how many were refused.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from evalkit.core.families import model_family, model_ids
from evalkit.core.text import count_words

KIND = "llm-judge"


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r, or ``None`` for fewer than 3 pairs or a constant side."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson's r of the ranks (ties get their average rank), or ``None`` as :func:`pearson`."""
    return pearson(pd.Series(x).rank(method="average").to_numpy(), pd.Series(y).rank(method="average").to_numpy())


def length_adjusted(lengths: Sequence[float], scores: Sequence[float]) -> list[float]:
    """Each score minus its fitted value on length (least squares), plus the mean score."""
    x, y = np.asarray(lengths, dtype=float), np.asarray(scores, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        return list(map(float, y))
    slope, intercept = np.polyfit(x, y, 1)
    return list(map(float, y - (intercept + slope * x) + y.mean()))


def judges(run) -> dict[str, Any]:
    """Instance key -> manifest entry of every judge in the run."""
    return {key: entry for key, entry in run.manifest.metrics.items() if entry.kind == KIND}


def _lengths(run) -> pd.DataFrame:
    frame = run.summaries
    ok = frame[frame["error"].isna()] if "error" in frame.columns else frame
    return pd.DataFrame({"document_id": ok["document_id"].astype(str), "system": ok["system"].astype(str),
                         "words": [count_words(t or "") for t in ok["text"]]})


def length_bias(run) -> list[dict[str, Any]]:
    """Per judge value and system (and ``all``): n, mean, Pearson and Spearman with length, length-adjusted mean."""
    rows: list[dict[str, Any]] = []
    lengths = _lengths(run)
    values = run.values()
    for entry in judges(run).values():
        for measure in entry.measures:
            if measure.higher_is_better is None:
                continue
            scored = values[values["metric"] == measure.name].dropna(subset=["value"])
            joined = scored.merge(lengths, on=["document_id", "system"])
            if joined.empty:
                continue
            joined = joined.assign(adjusted=length_adjusted(joined["words"], joined["value"]))
            systems = [s for s in run.manifest.system_order() if s in set(joined["system"])]
            for system in [*systems, "all"]:
                part = joined if system == "all" else joined[joined["system"] == system]
                rows.append({"value": measure.name, "system": system, "n": len(part),
                             "mean_words": float(part["words"].mean()), "mean": float(part["value"].mean()),
                             "pearson": pearson(part["words"], part["value"]),
                             "spearman": spearman(part["words"], part["value"]),
                             "adjusted_mean": float(part["adjusted"].mean())})
    return rows


def family_warnings(run) -> list[str]:
    """One line per (judge, system) of one model family."""
    out = []
    specs = {str(spec.get("name") or spec.get("kind")): spec for spec in run.manifest.config.systems}
    for key, entry in judges(run).items():
        judge_model = entry.config.get("model")
        family = model_family(judge_model)
        if family is None:
            continue
        for name, system in run.manifest.systems.items():
            models = model_ids(system.settings) + model_ids(specs.get(name, {}))
            same = [m for m in models if model_family(m) == family]
            if same:
                out.append(f"judge {key!r} ({judge_model}) and system {name!r} ({same[0]}) are both of the {family} "
                           "family: a judge tends to prefer its own family's text; add a judge of another family")
    return out


def _facts(run, key: str) -> pd.DataFrame:
    facts = run.facts
    return facts[facts["metric"] == key] if len(facts) else facts


def long_articles(run) -> list[dict[str, Any]]:
    """Per judge: summaries judged, judged in chunks (more than one), refused, and the most chunks of one."""
    rows = []
    for key in judges(run):
        infos = [i for i in _facts(run, key)["info"] if isinstance(i, dict)] if len(run.facts) else []
        budgeted = [i for i in infos if "chunks" in i]
        rows.append({"judge": key, "summaries": len(infos), "chunked": sum(i["chunks"] > 1 for i in budgeted),
                     "refused": sum(bool(i.get("refused")) for i in budgeted),
                     "truncated": sum(bool(i.get("truncated")) for i in budgeted),
                     "max_chunks": max((i["chunks"] for i in budgeted), default=None),
                     "context_tokens": budgeted[0].get("context_tokens") if budgeted else None,
                     "token_count": budgeted[0].get("token_count") if budgeted else None})
    return rows


def _pairs(run, key: str):
    """``(system, document_id, systems sharing its text, pairs)`` of every summary a pairwise judge compared."""
    facts = _facts(run, key)
    if not len(facts):
        return
    for system, document, info in zip(facts["system"], facts["document_id"], facts["info"]):
        if isinstance(info, dict) and "pairs" in info:
            yield str(system), str(document), tuple(sorted(info.get("self_systems") or [system])), info["pairs"]


def pairwise(run) -> list[dict[str, Any]]:
    """Per pairwise judge: pairs (each counted once), flipped pairs and the flip rate; per system W/T/L."""
    rows = []
    for key in judges(run):
        seen: dict[tuple, bool | None] = {}
        record: dict[str, dict[str, int]] = {}
        for system, document, mine, pairs in _pairs(run, key):
            tally = record.setdefault(system, {"win": 0, "tie": 0, "loss": 0})
            for pair in pairs:
                if pair["outcome"] is not None:
                    tally[pair["outcome"]] += 1
                seen.setdefault((document, frozenset([mine, tuple(sorted(pair["opponents"]))])), pair["flipped"])
        if not record:
            continue
        read = [f for f in seen.values() if f is not None]
        rows.append({"judge": key, "pairs": len(read), "flipped": sum(read),
                     "flip_rate": sum(read) / len(read) if read else None, "systems": record})
    return rows


def pair_verdicts(run) -> dict[str, list[tuple[str, str, str, float]]]:
    """Pairwise judge -> ``[(document_id, system, opponent, score of system)]``: 1 won (in both orders), 0 lost,
    1/2 tie, one row per opponent system; pairs without a verdict are left out."""
    score = {"win": 1.0, "tie": 0.5, "loss": 0.0}
    out = {}
    for key in judges(run):
        rows = [(document, system, opponent, score[pair["outcome"]]) for system, document, _, pairs in _pairs(run, key)
                for pair in pairs if pair["outcome"] is not None for opponent in pair["opponents"]]
        if rows:
            out[key] = rows
    return out


def diagnostics(run) -> dict[str, Any]:
    """Every judge diagnostic of the run, JSON-ready (empty lists when the run has no judge)."""
    if not judges(run):
        return {"length_bias": [], "family_warnings": [], "long_articles": [], "pairwise": []}
    return {"length_bias": length_bias(run), "family_warnings": family_warnings(run),
            "long_articles": long_articles(run), "pairwise": pairwise(run)}


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _lines(found: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(caption, header, rows) of each diagnostic table, shared by the text and the HTML form."""
    tables = []
    if found["length_bias"]:
        tables.append(("Judge score vs summary length (Pearson / Spearman with words; length-adjusted mean: residual "
                       "of a least-squares fit on length plus the mean, after Dubois et al. 2024)",
                       ["value", "system", "n", "words", "mean", "pearson", "spearman", "adjusted"],
                       [[r["value"], r["system"], str(r["n"]), _num(r["mean_words"], 1), _num(r["mean"], 3),
                         _num(r["pearson"]), _num(r["spearman"]), _num(r["adjusted_mean"], 3)]
                        for r in found["length_bias"]]))
    if found["long_articles"]:
        tables.append(("Long articles (requests over the judge's context are chunked or refused, never cut)",
                       ["judge", "summaries", "chunked", "refused", "truncated", "max chunks", "context", "counted"],
                       [[r["judge"], str(r["summaries"]), str(r["chunked"]), str(r["refused"]), str(r["truncated"]),
                         str(r["max_chunks"] if r["max_chunks"] is not None else "-"),
                         str(r["context_tokens"] or "-"), str(r["token_count"] or "-")]
                        for r in found["long_articles"]]))
    for row in found["pairwise"]:
        tables.append((f"Pairwise judge {row['judge']}: {row['flipped']} of {row['pairs']} pairs flipped when the order "
                       f"was swapped (flip rate {_num(row['flip_rate'])}); a win needs both orders",
                       ["system", "wins", "ties", "losses"],
                       [[s, str(t["win"]), str(t["tie"]), str(t["loss"])] for s, t in row["systems"].items()]))
    return tables


def format_diagnostics(run) -> str:
    """The judge diagnostics as text tables (empty when the run has no judge)."""
    found = diagnostics(run)
    out = []
    for caption, header, rows in _lines(found):
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        out += ["", caption + ":", "  ".join(h.ljust(w) for h, w in zip(header, widths)),
                *("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)]
    out += [f"WARNING: {w}" for w in found["family_warnings"]]
    return "\n".join(out).strip("\n")


def diagnostics_html(run, found: dict[str, Any] | None = None) -> str:
    """The "Judge diagnostics" section of the HTML report, or ``""`` when the run has no judge; ``found``: the
    diagnostics already computed (the report's ``run_summary(run)["judging"]``), else computed here."""
    if not judges(run):
        return ""
    found = diagnostics(run) if found is None else found
    parts = ["<section id=\"judge\"><h2>Judge diagnostics</h2>"]
    parts += [f"<p class=\"warning\">{html.escape(w)}</p>" for w in found["family_warnings"]]
    for caption, header, rows in _lines(found):
        parts.append(f"<table><caption>{html.escape(caption)}</caption><thead><tr>"
                     + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>"
                     + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
                     + "</tbody></table>")
    parts.append("</section>")
    return "".join(parts)
