"""``python -m pytest_codex.cli``: the same as the ``codex-orchestrator`` console script."""

import sys

from . import main

sys.exit(main())
