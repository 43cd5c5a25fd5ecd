"""Reviewer hand-off: record a review outcome on a run's manifest.

The run may have ended long ago, so there is no live bus: under the manifest's lock we append
the review to ``reviews[]``, write the manifest atomically, and append a ``review:recorded``
event to ``events.jsonl`` continuing the run's ``seq``.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

from . import schemas
from .atomic import atomic_write_json, locked, read_json
from .errors import UnsafePathError, UsageError
from .events import Event, JsonlFileSink, last_seq
from .timeutil import now_iso

OUTCOMES = ("approved", "changes-requested", "skip")


def default_actor() -> str:
    """Who is reviewing: ``CODEX_REVIEWER``, else the login name."""
    try:
        return os.environ.get("CODEX_REVIEWER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def record_review(
    manifest_path: Path, *, outcome: str, reason: str, actor: str | None = None
) -> dict[str, Any]:
    """Append a review to the manifest and its events; returns the review record."""
    if outcome not in OUTCOMES:
        raise UsageError(f"review outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    if not reason.strip():
        raise UsageError("a review needs a reason; pass --reason TEXT")
    review = {
        "actor": actor or default_actor(),
        "recordedAt": now_iso(),
        "outcome": outcome,
        "reason": reason.strip(),
        "manifest": str(manifest_path),
    }
    events_path = manifest_path.with_name("events.jsonl")
    with locked(manifest_path):
        document: dict[str, Any] = read_json(manifest_path)
        schemas.validate("manifest", document, what=f"manifest {manifest_path}")
        # A manifest naming another run or task than its location is forged: refuse it.
        location = (manifest_path.parent.parent.parent.name, manifest_path.parent.name)
        if (document.get("taskId"), document.get("runId")) != location:
            raise UnsafePathError(
                f"manifest {manifest_path} names task {document.get('taskId')!r} run "
                f"{document.get('runId')!r}, not its location {location[0]}/{location[1]}"
            )
        document.setdefault("reviews", []).append(review)
        document["updatedAt"] = review["recordedAt"]
        atomic_write_json(manifest_path, document)
        sink = JsonlFileSink(events_path)
        try:
            sink.handle(
                Event(
                    type="review:recorded",
                    payload={"review": review},
                    seq=last_seq(events_path) + 1,
                    timestamp=review["recordedAt"],
                    run_id=str(document["runId"]),
                )
            )
        finally:
            sink.close()
    return review
