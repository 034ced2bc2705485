"""``python -m evalkit.cli``: the same as ``evalkit``."""

import sys

from evalkit.cli.main import main

sys.exit(main())
