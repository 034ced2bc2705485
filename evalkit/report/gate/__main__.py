"""``python -m evalkit.report.gate``: the same as ``evalkit baseline save`` / ``evalkit check``."""

import sys

from evalkit.report.gate.commands import main

sys.exit(main())
