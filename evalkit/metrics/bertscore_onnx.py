"""Embedding engines for BERTScore: PyTorch, and the same network exported to ONNX fp32.

An engine maps a padded batch of token ids and its attention mask to the contextual
embeddings of the last kept layer (bert_score's ``get_model`` drops the layers above
``num_layers``, so that is ``hidden_states[num_layers]``). Tokenization, padding, idf weights
and matching stay in :mod:`evalkit.metrics.bertscore`, shared by both engines.

The ONNX engine exports the truncated torch model once (``torch.onnx.export(..., dynamo=False)``,
dynamic batch and sequence axes) and runs it with ONNX Runtime's CPU provider in fp32, with
one intra-op thread per physical core that other processes leave free (see
:func:`evalkit.core.cpus.threads_for`).
The exported file is cached under
``$EVALKIT_CACHE/onnx`` (default ``~/.cache/evalkit/onnx``), named by a hash of the model's
weights, configuration and the layer count, so it is made once per model; it is written to a
temporary file and renamed, so two processes exporting at once never read half a file.
``tests/test_bertscore_onnx.py`` checks that both engines give BERTScores within 1e-6 of each
other and of ``bert_score``, which is why the engine is not part of the metric's signature.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.core.cpus import busy_elsewhere, free_threads, physical_cores, threads_for  # noqa: F401  (tests read them here)

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "onnx")
EXPORT_VERSION = "2"
"""Bump when the export changes (opset, wrapper, attention), so older cached files are not reused.
2: traced with eager attention (see :func:`export`)."""
OPSET = 17
MAX_ONNX_BYTES = 1_800_000_000
"""A single ONNX protobuf holds at most 2 GB; larger models stay on torch."""


def cache_dir() -> Path:
    """Where exported models are kept: ``$EVALKIT_CACHE/onnx`` or ``~/.cache/evalkit/onnx``."""
    root = os.environ.get("EVALKIT_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "evalkit") / "onnx"


def onnx_available() -> bool:
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def model_hash(model: Any) -> str:
    """A SHA-256 over the truncated model's class, configuration, and every weight's name, shape and bytes."""
    import torch

    h = hashlib.sha256(f"{EXPORT_VERSION}|{OPSET}|{type(model).__name__}|".encode())
    config = getattr(model, "config", None)
    h.update((config.to_json_string() if config is not None else "").encode())
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(-1).view(dtype=torch.uint8).numpy().tobytes())
    return h.hexdigest()[:32]


def model_bytes(model: Any) -> int:
    return sum(p.numel() * p.element_size() for p in model.state_dict().values())


class TorchEngine:
    """bert_score's forward pass (``bert_encode``): ``model(ids, attention_mask=mask)[0]`` without gradients."""

    name = "torch"

    def __init__(self, model: Any, device: str) -> None:
        self.model = model.eval()
        self.device = device

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            out = self.model(torch.from_numpy(ids).to(self.device),
                             attention_mask=torch.from_numpy(mask).to(self.device))[0]
        return out.float().cpu().numpy()


class OnnxEngine:
    """The same network run by ONNX Runtime (CPU, fp32), exported once per model and cached."""

    name = "onnx"

    def __init__(self, model: Any, threads: int | None = None) -> None:
        import onnxruntime as ort

        model = model.to("cpu")  # ONNX Runtime runs here on the CPU provider
        path = cache_dir() / f"{model_hash(model)}.onnx"
        if not path.exists():
            export(model, path)
        options = ort.SessionOptions()
        if threads is None:
            share = free_threads()
            threads = share.threads
            if share.crowded:
                log.info("bertscore: %.1f of %d cores busy with other work; ONNX Runtime uses %d thread(s)",
                         share.busy, share.cores, threads)
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.path = path
        self.threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.shape = encoder_shape(getattr(model, "config", None))
        self.flops = 0.0
        """Floating-point operations run so far (:func:`encoder_flops` of each padded batch; 0 when unknown)."""
        self.seconds = 0.0
        """Wall time spent in ONNX Runtime so far."""

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        out = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        self.seconds += time.perf_counter() - started
        if self.shape is not None:
            self.flops += encoder_flops(*self.shape, batch=ids.shape[0], tokens=ids.shape[1])
        return out


def encoder_shape(config: Any) -> tuple[int, int, int] | None:
    """``(layers, hidden size, feed-forward size)`` of a BERT-style encoder config, or None."""
    try:
        return int(config.num_hidden_layers), int(config.hidden_size), int(config.intermediate_size)
    except (AttributeError, TypeError, ValueError):
        return None


def encoder_flops(layers: int, hidden: int, ffn: int, *, batch: int, tokens: int) -> float:
    """Multiply-adds x 2 of one forward pass of a Transformer encoder over a padded ``batch x tokens`` input.

    Per layer and sequence of ``n`` tokens (Kaplan et al. 2020, "Scaling Laws for Neural Language
    Models", table 1, without the embedding): the Q, K, V and output projections ``2 * n * 4 d^2``,
    the feed-forward ``2 * n * 2 d f``, and attention scores and their weighted sum ``2 * 2 n^2 d``.
    Embeddings, layer norms, softmax and GELU (O(n d) each) are left out.
    """
    n, d = tokens, hidden
    return float(layers * batch * (2 * n * (4 * d * d + 2 * d * ffn) + 4 * n * n * d))


def export(model: Any, path: Path) -> None:
    """Export ``model`` (ids, mask) -> last hidden state to ``path``, atomically (temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Traced with the eager attention (explicit matmul, mask add, softmax) rather than SDPA:
    # ONNX Runtime runs that graph 10-15 % faster on CPU (62-69 vs 57-58 texts/s on CNN/DM
    # summaries, 2 cores) and it is the same arithmetic; the torch engine keeps its own setting.
    attention = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if attention not in (None, "eager") and hasattr(model, "set_attn_implementation"):
        try:
            model.set_attn_implementation("eager")
        except (ValueError, NotImplementedError):  # a model without an eager path: trace what it has
            attention = None
    try:
        _trace(model, path)
    finally:
        if attention not in (None, "eager"):
            model.set_attn_implementation(attention)
    log.info("bertscore: exported the embedding model to %s", path)


def _trace(model: Any, path: Path) -> None:
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids, attention_mask=attention_mask)[0]

    # A padded example, so the traced graph applies the mask rather than assuming none is needed.
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 1012, 102, 0], [101, 7592, 102, 0, 0, 0, 0, 0]])
    mask = (ids != 0).long()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    os.close(fd)
    try:
        # The tracer warns about shape checks it freezes; none depends on the batch's shape here
        # (tests/test_bertscore_onnx.py runs the file on batches of other shapes against torch).
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Encoder(model.eval()), (ids, mask), tmp, input_names=["input_ids", "attention_mask"],
                              output_names=["hidden"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={name: {0: "batch", 1: "tokens"}
                                            for name in ("input_ids", "attention_mask", "hidden")})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the cache is shared like any other
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def make_engine(engine: str, model: Any, device: str) -> TorchEngine | OnnxEngine:
    """The engine to use: ``auto`` is ONNX on CPU when onnxruntime is installed, torch otherwise (and on GPU)."""
    if engine == "torch" or (engine == "auto" and (device != "cpu" or not onnx_available())):
        return TorchEngine(model, device)
    if engine == "onnx" and not onnx_available():
        raise RuntimeError('bertscore engine: onnx needs onnxruntime and onnx: pip install "evalkit[metrics]", '
                           "or set engine: torch")
    if engine == "auto" and model_bytes(model) > MAX_ONNX_BYTES:
        log.info("bertscore: model over %d bytes, kept on torch", MAX_ONNX_BYTES)
        return TorchEngine(model, device)
    try:
        return OnnxEngine(model)
    except Exception as exc:  # an architecture the exporter cannot trace: torch still works
        if engine == "onnx":
            raise RuntimeError(f"bertscore engine onnx: could not export or load the model ({exc}); "
                               "set engine: torch") from exc
        log.warning("bertscore: ONNX export failed (%s); using torch", exc)
        return TorchEngine(model, device)
