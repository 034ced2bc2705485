"""``python -m evalkit.gate``: the same as ``evalkit baseline save`` / ``evalkit check``."""

import sys

from evalkit.gate.commands import main

sys.exit(main())
