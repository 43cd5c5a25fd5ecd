"""Task ids and run ids.

A task id names a directory under ``.runs/``, so it is checked before anything touches the
filesystem. A run id is sortable (UTC time first) and unique under concurrency (random tail).
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from .errors import TaskIdError, UsageError
from .timeutil import utc_now

MAX_TASK_ID_LENGTH = 128
_TASK_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
RUN_ID_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-[0-9a-f]{8}$"
_RUN_ID = re.compile(RUN_ID_PATTERN)


def validate_task_id(task_id: str, *, source: str = "task id") -> str:
    """Return ``task_id`` if it is a safe task id, else raise :class:`TaskIdError`.

    Letters, digits, ``.``, ``_`` and ``-``; at most 128 characters; no leading dot (which
    also rules out ``.`` and ``..``).
    """
    if not task_id:
        raise TaskIdError(f"{source} is empty; give a task id such as 0303-orchestrator-autonomy")
    shown = repr(task_id) if len(task_id) <= 40 else repr(task_id[:40] + "...")
    if len(task_id) > MAX_TASK_ID_LENGTH:
        raise TaskIdError(
            f"{source} {shown} is {len(task_id)} characters long; use at most {MAX_TASK_ID_LENGTH}"
        )
    if not _TASK_ID.fullmatch(task_id):
        raise TaskIdError(
            f"{source} {shown} is not a valid task id; use letters, digits, '.', '_' and '-' "
            "only, not starting with '.'"
        )
    return task_id


class SessionIdError(UsageError):
    """A session id that is empty, too long, or not made of ``[A-Za-z0-9._-]``."""


def validate_session_id(session_id: str, *, source: str = "session id") -> str:
    """Return ``session_id`` if it is safe in a file name (same rules as a task id: it names
    ``sessions/<id>.json`` under the run directory), else raise :class:`SessionIdError`."""
    if session_id and len(session_id) <= MAX_TASK_ID_LENGTH and _TASK_ID.fullmatch(session_id):
        return session_id
    shown = repr(session_id) if len(session_id) <= 40 else repr(session_id[:40] + "...")
    raise SessionIdError(
        f"{source} {shown} is not a valid session id; use 1-{MAX_TASK_ID_LENGTH} letters, "
        "digits, '.', '_' and '-', not starting with '.'"
    )


def new_run_id(moment: datetime | None = None) -> str:
    """A new run id: ``YYYY-MM-DDTHH-MM-SS-mmmZ-<8 hex>`` in UTC."""
    moment = moment or utc_now()
    stamp = moment.strftime("%Y-%m-%dT%H-%M-%S-") + f"{moment.microsecond // 1000:03d}Z"
    return f"{stamp}-{secrets.token_hex(4)}"


def is_run_id(text: str) -> bool:
    """Whether ``text`` has the shape of a run id."""
    return bool(_RUN_ID.match(text))
