"""How fast ``evalkit view`` answers at 1,000 documents x 6 systems (a synthesized run, no model).

    python benchmarks/view_pages.py [--documents 1000] [--systems 6] [--repeat 7]

Writes a run with the Run API (:func:`html_report_scale.synthesize`, with a 600-word source per
document) and a second one (another seed) under a temporary folder, serves them with the real
viewer (uvicorn on 127.0.0.1) and times whole HTTP requests: the first request of each page, the time
until the complete page arrives (a run page bootstraps its rankings and draws its charts, a diff page runs
its paired tests, in the background while an interim page reloads itself; both are then kept until the
runs' files change), and the median of ``--repeat`` later requests. The document page is asked for before the run page, so its
first request includes reading the run's per-document data. Goal: a document page under 300 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from html_report_scale import synthesize

from evalkit.view import serve


def fetch_ms(url: str) -> tuple[float, int, bool]:
    """One GET: milliseconds until the whole body arrived, the body's size in bytes, and whether the page is
    complete (not the interim page that reloads itself while its numbers are computed)."""
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        body = response.read()
    return 1000 * (time.perf_counter() - start), len(body), b'id="computing"' not in body


def ready_ms(url: str) -> tuple[float, float, int]:
    """The first request's time, the time until the complete page arrives (asking every 0.5 s), and its size."""
    start = time.perf_counter()
    first, size, done = fetch_ms(url)
    while not done:
        time.sleep(0.5)
        _, size, done = fetch_ms(url)
    return first, 1000 * (time.perf_counter() - start), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--systems", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=7, help="requests per page after the first (median shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        start = time.perf_counter()
        a = synthesize(root, args.documents, args.systems, seed=0, sources=True)
        b = synthesize(root, args.documents, args.systems, seed=1, sources=True)
        print(f"{args.documents} documents x {args.systems} systems, two runs written in "
              f"{time.perf_counter() - start:.1f} s")
        viewer = serve(root, port=0)
        try:
            pages = [("runs page", ""), ("document page", f"run/{a.run_id}/doc/doc-0000"),
                     ("another document", f"run/{a.run_id}/doc/doc-0500"), ("run page", f"run/{a.run_id}"),
                     ("diff page", f"diff/{a.run_id}/{b.run_id}")]
            for label, path in pages:
                first, ready, size = ready_ms(viewer.url + path)
                later = [fetch_ms(viewer.url + path)[0] for _ in range(args.repeat)]
                print(f"{label:<17} first answer {first:7.0f} ms, complete after {ready:7.0f} ms, then median "
                      f"{statistics.median(later):6.1f} ms (of {args.repeat})   {size / 1e3:7.1f} kB")
        finally:
            viewer.stop()


if __name__ == "__main__":
    main()
