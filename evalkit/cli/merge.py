"""``evalkit merge STORE... --into STORE``: combine the stores of sharded runs (``evalkit run --shard I/N``).

Content-keyed rows (summaries, scores, artifacts) are copied; a row the target already holds
under the same key with another value is a conflict, reported and never overwritten. Then
``evalkit run CONFIG --store TARGET`` computes nothing and writes the whole run (docs/scale.md).
"""

from __future__ import annotations

import sys
from typing import Any

from evalkit.run.store import merge_stores


def add_commands(subparsers: Any) -> None:
    """``evalkit merge``: see the module docstring."""
    parser = subparsers.add_parser("merge", help="combine the stores of sharded runs into one store")
    parser.add_argument("stores", nargs="+", metavar="STORE", help="stores to merge from (e.g. shards/*.sqlite)")
    parser.add_argument("--into", required=True, metavar="STORE", help="the store to merge into (created if missing)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any row conflicts (default: a warning)")
    parser.set_defaults(func=cmd_merge)


def cmd_merge(args: Any) -> int:
    results = merge_stores(args.stores, args.into)
    for result in results:
        print(result.describe())
    totals: dict[str, int] = {}
    for result in results:
        for table, count in result.copied.items():
            totals[table] = totals.get(table, 0) + count
    clashes = sum(sum(r.conflicts.values()) for r in results)
    print(f"Merged {len(results)} store(s) into {args.into}: copied "
          + ", ".join(f"{n} {t}" for t, n in totals.items()) + f"; {clashes} conflicts.")
    if clashes:
        examples = [e for r in results for e in r.examples][:5]
        print(f"evalkit: {'error' if args.strict else 'warning'}: {clashes} row(s) differ from what {args.into} holds "
              f"under the same key and were kept as they were (e.g. {', '.join(examples)}); a system or metric that "
              "is not deterministic computed them twice", file=sys.stderr)
        return 1 if args.strict else 0
    return 0
