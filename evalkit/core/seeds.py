"""Seeds for repeated samples: one reproducible seed per (run seed, document, sample index).

A system with ``samples: k`` asks for k independent replies per document. Engines that take a
seed (a torch generator, CTranslate2's ``sampling_seed``, an API's ``seed``) get
:func:`sample_seed`, so a re-run draws the same replies and sample 3 does not depend on
whether samples 0-2 were computed in this process.
"""

from __future__ import annotations

import hashlib


def sample_seed(base_seed: int, document_hash: str, sample: int) -> int:
    """A 31-bit seed from the run's seed, the document's content hash and the sample index."""
    data = f"{int(base_seed)}\x1f{document_hash}\x1f{int(sample)}".encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big") & 0x7FFFFFFF
