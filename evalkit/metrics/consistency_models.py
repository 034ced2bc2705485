"""The checkers the ``consistency`` metric runs: presets with published model ids, how each loads, how each scores a pair.

Each preset names a published checkpoint, the architecture that loads it, how a (chunk, claim)
pair becomes model input, which output means "supported", and the chunk size its authors use:

- MiniCheck (Tang, Laban & Durrett, EMNLP 2024; code ``Liyan06/MiniCheck``):
  ``lytang/MiniCheck-RoBERTa-Large`` (512 tokens), ``lytang/MiniCheck-DeBERTa-v3-Large`` (2048)
  read one text ``chunk + eos + claim`` and a 2-class head, class 1 = supported; chunks of 400
  tokens. ``lytang/MiniCheck-Flan-T5-Large`` reads ``"predict: " + chunk + eos + claim`` and its
  support is the softmax over the logits of the tokens "0" and "1" at the first decoder step
  (the decoder started with the pad id 0): P("1"). With the Flan-T5 vocabulary the first token
  of "0" is id 3 and of "1" id 209, the ids MiniCheck's code hard-codes; here they are read from
  the tokenizer. MiniCheck cuts Flan-T5 chunks at 500 whitespace words; we count tokens (500).
- FactCG (Lei et al., NAACL 2025): ``yaxili96/FactCG-DeBERTa-v3-Large``, the MiniCheck-DeBERTa
  format and head (2 classes, class 1 = supported), 400-token chunks.
- AlignScore (Zha et al., ACL 2023; code ``yuh-zha/AlignScore``): a PyTorch Lightning checkpoint
  (``yzha/AlignScore``, files ``AlignScore-base.ckpt`` / ``AlignScore-large.ckpt``) holding a
  RoBERTa encoder (``base_model.*``) and a 3-way head on the pooled output (``tri_layer``);
  input is the (chunk, claim) pair, support is softmax(tri_layer)[0] ("aligned", the default
  ``nli_sp`` mode); chunks of about 350 words.
- ``mnli``: any MNLI classifier, support ``P(entail) - P(contradict)`` from ``id2label``, as
  SummaC-ZS and the ``nli`` metric score it.
- HHEM-2.1-open (``vectara/hallucination_evaluation_model``): a custom architecture whose code
  lives on the hub; it runs only with ``trust_remote_code: true`` and scores pairs with its own
  ``predict``.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from evalkit.core.errors import ConfigError, ModelLoadError
from evalkit.metrics.nli import label_indices

log = logging.getLogger(__name__)

Architecture = Literal["classifier", "seq2seq", "alignscore", "remote-code"]


@dataclass(frozen=True)
class Preset:
    """One published checker: where it is, how it loads, how a pair is read."""

    model: str
    """Hub id (or a local folder) of the checkpoint."""
    architecture: Architecture
    """``classifier``: a sequence classifier; ``seq2seq``: a T5 that answers "0"/"1"; ``alignscore``: a
    Lightning checkpoint on a RoBERTa; ``remote-code``: a model with its own code on the hub."""
    input_format: Literal["pair", "eos-join", "predict-eos-join"]
    """``pair``: the tokenizer's (chunk, claim) pair; ``eos-join``: one text ``chunk</s>claim``;
    ``predict-eos-join``: ``predict: chunk</s>claim``."""
    support: Literal["class-1", "entail-minus-contradict", "token-1", "aligned", "predict"]
    """Which output is the support score (see the module docstring)."""
    max_length: int
    """Tokens the model reads per pair."""
    chunk_tokens: int
    """Tokens per article chunk, as the checker's authors chunk (cut further to fit ``max_length``)."""
    backbone: str | None = None
    """AlignScore: the encoder whose config and tokenizer the checkpoint was trained on."""
    checkpoint: str | None = None
    """AlignScore: the checkpoint file in the hub repository."""
    tokenizer: str | None = None
    """A tokenizer other than the model's own (HHEM uses Flan-T5's)."""


PRESETS: dict[str, Preset] = {
    "minicheck-roberta-large": Preset("lytang/MiniCheck-RoBERTa-Large", "classifier", "eos-join", "class-1", 512,
                                      400),
    "minicheck-deberta-v3-large": Preset("lytang/MiniCheck-DeBERTa-v3-Large", "classifier", "eos-join", "class-1",
                                         2048, 400),
    "minicheck-flan-t5-large": Preset("lytang/MiniCheck-Flan-T5-Large", "seq2seq", "predict-eos-join", "token-1",
                                      2048, 500),
    "factcg-deberta": Preset("yaxili96/FactCG-DeBERTa-v3-Large", "classifier", "eos-join", "class-1", 2048, 400),
    "alignscore-base": Preset("yzha/AlignScore", "alignscore", "pair", "aligned", 512, 350, backbone="roberta-base",
                              checkpoint="AlignScore-base.ckpt"),
    "alignscore-large": Preset("yzha/AlignScore", "alignscore", "pair", "aligned", 512, 350,
                               backbone="roberta-large", checkpoint="AlignScore-large.ckpt"),
    "mnli": Preset("MoritzLaurer/DeBERTa-v3-large-mnli-fever-anli-ling-wanli", "classifier", "pair",
                   "entail-minus-contradict", 512, 400),
    "hhem": Preset("vectara/hallucination_evaluation_model", "remote-code", "pair", "predict", 512, 400,
                   tokenizer="google/flan-t5-base"),
}
"""Preset name -> :class:`Preset`."""


def preset(name: str) -> Preset:
    """The preset called ``name``; a mistyped name gets a "did you mean"."""
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown preset {name!r}{hint}; known: {', '.join(PRESETS)}")
    return PRESETS[name]


@dataclass
class Loaded:
    """A checker ready to score pairs."""

    tokenizer: Any
    model: Any
    device: str
    preset: Preset
    support_index: tuple[int, ...]
    """``class-1``: (1,); ``entail-minus-contradict``: (entail, contradict); ``token-1``: (id of "0", id of "1")."""
    max_length: int

    def text(self, chunk: str, claim: str) -> str | tuple[str, str]:
        """What the tokenizer is given for one pair."""
        if self.preset.input_format == "pair":
            return chunk, claim
        eos = self.tokenizer.eos_token or self.tokenizer.sep_token or ""
        joined = f"{chunk}{eos}{claim}"
        return f"predict: {joined}" if self.preset.input_format == "predict-eos-join" else joined

    def encode(self, pairs: Sequence[tuple[str, str]], *, truncate: bool) -> Any:
        texts = [self.text(c, h) for c, h in pairs]
        kwargs: dict[str, Any] = {"truncation": "only_first" if self.preset.input_format == "pair" else True,
                                  "max_length": self.max_length} if truncate else {}
        if self.preset.input_format == "pair":
            return self.tokenizer([t[0] for t in texts], [t[1] for t in texts], padding=truncate,
                                  return_tensors="pt" if truncate else None, **kwargs)
        return self.tokenizer(texts, padding=truncate, return_tensors="pt" if truncate else None, **kwargs)

    def lengths(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        """Untruncated token lengths of the pairs (to count the ones cut)."""
        if self.preset.support == "predict":
            return [0] * len(pairs)  # HHEM tokenizes inside its own predict
        return [len(ids) for ids in self.encode(pairs, truncate=False)["input_ids"]]

    def scores(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """The support score of each pair (one forward pass; the caller batches)."""
        import torch

        if self.preset.support == "predict":
            with torch.no_grad():
                return np.asarray(self.model.predict(list(pairs)).float().cpu(), dtype=float)
        encoded = self.encode(pairs, truncate=True).to(self.device)
        with torch.no_grad():
            if self.preset.architecture == "seq2seq":
                start = torch.full((len(pairs), 1), self.model.config.decoder_start_token_id or 0,
                                   dtype=torch.long, device=self.device)
                logits = self.model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"],
                                    decoder_input_ids=start).logits[:, 0, :]
                probs = torch.softmax(logits[:, list(self.support_index)].float(), dim=-1)
                return probs[:, 1].cpu().numpy().astype(float)
            if self.preset.architecture == "alignscore":
                logits = self.model(**encoded)
            else:
                logits = self.model(**encoded).logits
            probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        if self.preset.support == "entail-minus-contradict":
            entail, contra = self.support_index
            return probs[:, entail] - probs[:, contra]
        return probs[:, self.support_index[0]].astype(float)


def load(chosen: Preset, *, revision: str | None, device: str | None, trust_remote_code: bool,
         labels: dict[str, int] | None, max_length: int | None) -> Loaded:
    """``chosen`` loaded through the hub code path (a hub id or a local folder)."""
    import torch

    if chosen.architecture == "remote-code" and not trust_remote_code:
        raise ConfigError(f"consistency: {chosen.model!r} runs code downloaded from the hub (its own model "
                          "class); set trust_remote_code: true if you trust that repository")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        tokenizer, model, index = _load(chosen, revision, trust_remote_code, labels)
    except OSError as exc:
        raise ModelLoadError(f"consistency: cannot load {chosen.model!r} ({type(exc).__name__}: {exc}); give a "
                             "local folder as model, or connect once to download it from the hub") from exc
    model.to(device).eval()
    limit = max_length or min(chosen.max_length, _tokenizer_limit(tokenizer, chosen.max_length))
    return Loaded(tokenizer, model, device, chosen, index, limit)


def _tokenizer_limit(tokenizer: Any, default: int) -> int:
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 0 < limit < 1_000_000 else default


def _load(chosen: Preset, revision: str | None, trust_remote_code: bool,
          labels: dict[str, int] | None) -> tuple[Any, Any, tuple[int, ...]]:
    from transformers import (
        AutoModelForSeq2SeqLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    if chosen.architecture == "alignscore":
        return _load_alignscore(chosen, revision)
    tokenizer = AutoTokenizer.from_pretrained(chosen.tokenizer or chosen.model,
                                              revision=None if chosen.tokenizer else revision)
    if chosen.architecture == "seq2seq":
        model = AutoModelForSeq2SeqLM.from_pretrained(chosen.model, revision=revision)
        return tokenizer, model, (_first_token(tokenizer, "0"), _first_token(tokenizer, "1"))
    model = AutoModelForSequenceClassification.from_pretrained(chosen.model, revision=revision,
                                                               trust_remote_code=trust_remote_code)
    if chosen.support == "entail-minus-contradict":
        return tokenizer, model, label_indices(model.config, labels, chosen.model, what="consistency")
    if chosen.support == "class-1" and model.config.num_labels != 2:
        raise ConfigError(f"consistency: {chosen.model!r} has {model.config.num_labels} outputs; this preset "
                          "reads a 2-class supported/unsupported head (use preset: mnli for an NLI model)")
    return tokenizer, model, (1,)


def _first_token(tokenizer: Any, word: str) -> int:
    ids = tokenizer(word, add_special_tokens=False)["input_ids"]
    if not ids or ids[0] == tokenizer.unk_token_id:
        raise ConfigError(f"consistency: the tokenizer has no token for {word!r}, which the seq2seq checker "
                          "answers; give the model it was trained with")
    return int(ids[0])


def _load_alignscore(chosen: Preset, revision: str | None) -> tuple[Any, Any, tuple[int, ...]]:
    """The RoBERTa encoder and 3-way head of an AlignScore Lightning checkpoint."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, RobertaModel

    folder = Path(chosen.model)
    backbone = chosen.backbone or "roberta-base"
    if folder.is_dir():  # a local copy: the checkpoint file, and the backbone's config and tokenizer, in one folder
        path, backbone = folder / (chosen.checkpoint or ""), str(folder)
    else:
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(chosen.model, chosen.checkpoint or "", revision=revision))
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    encoder = RobertaModel(AutoConfig.from_pretrained(backbone), add_pooling_layer=True)
    if "tri_layer.weight" not in state:
        raise ModelLoadError(f"consistency: {path} is not an AlignScore checkpoint (no tri_layer head)")
    missing, _ = encoder.load_state_dict({k.removeprefix("base_model."): v for k, v in state.items()
                                          if k.startswith("base_model.") and "position_ids" not in k}, strict=False)
    missing = [k for k in missing if "position_ids" not in k]
    if missing:
        raise ModelLoadError(f"consistency: {path} does not fit the {backbone} encoder (missing {missing[:3]}); "
                             "give the backbone it was trained on")
    head = torch.nn.Linear(*reversed(state["tri_layer.weight"].shape))
    head.load_state_dict({"weight": state["tri_layer.weight"], "bias": state["tri_layer.bias"]})
    return AutoTokenizer.from_pretrained(backbone), _align_head(encoder, head), (0,)


def _align_head_class():
    import torch

    class AlignHead(torch.nn.Module):
        """AlignScore's 3-way head on the encoder's pooled output: logits (aligned, contradict, neutral)."""

        def __init__(self, encoder: Any, head: Any) -> None:
            super().__init__()
            self.encoder, self.head = encoder, head

        def forward(self, **encoded: Any) -> Any:
            return self.head(self.encoder(**encoded).pooler_output)

    return AlignHead


def _align_head(encoder: Any, head: Any) -> Any:
    """The AlignScore head module (its class is built on first use: torch is imported lazily)."""
    return _align_head_class()(encoder, head)
