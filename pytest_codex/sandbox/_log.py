"""The sandbox's logger, imported when there is something to log (start-up stays light)."""

from __future__ import annotations


class _Logger:
    """``logging.getLogger("pytest_codex.sandbox")``, looked up at the first message."""

    def warning(self, message: str, *args: object) -> None:
        import logging

        logging.getLogger("pytest_codex.sandbox").warning(message, *args)


logger = _Logger()
