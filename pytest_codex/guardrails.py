"""The guardrail toolkit under this distribution's own name.

Guardrail authors may import from here (``from pytest_codex.guardrails import Guardrail,
Finding, Inputs, Result, hookimpl``) rather than from the top-level ``guardrails`` package,
whose name other distributions share: this module checks first that ``guardrails`` is ours
and fails with one line naming both distributions when it is not.
"""

from __future__ import annotations

from .distribution import check_guardrails_owner

check_guardrails_owner()

from guardrails import *  # noqa: E402,F403
from guardrails import __all__  # noqa: E402,F401
