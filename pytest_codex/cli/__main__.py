"""``python -m pytest_codex.cli``: the same as the ``codex-orchestrator`` console script
(the package takes the working directory off ``sys.path`` first; see its ``__init__``)."""

import sys

from . import main

sys.exit(main())
