"""Reviewer hand-off: record a review outcome on a run's manifest.

The run may have ended long ago, so there is no live bus: under the run's lock (and the
manifest's) we append the review to ``reviews[]``, write the manifest atomically, append a
``review:recorded`` event to ``events.jsonl`` continuing the run's ``seq``, and re-attest an
attested run.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

from . import schemas
from .atomic import atomic_write_json, locked, read_json
from .attestation import ATTESTATION_FILE, attest_run
from .errors import UsageError
from .events import Event, JsonlFileSink, last_seq
from .manifest import RunLock
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
    # A review is one more writer of the run: under the run's lock, and re-attested after,
    # so that a reviewed run still verifies (signed by the reviewer's key).
    lock = RunLock(manifest_path.parent).acquire()
    try:
        document = _append(manifest_path, review)
        if (manifest_path.parent / ATTESTATION_FILE).is_file():
            root = Path(str((document.get("paths") or {}).get("root") or manifest_path.parent))
            attest_run(manifest_path.parent, root=root, env=os.environ)
    finally:
        lock.release()
    return review


def _append(manifest_path: Path, review: dict[str, Any]) -> dict[str, Any]:
    """Append ``review`` to the manifest and its journal; the new manifest document."""
    events_path = manifest_path.with_name("events.jsonl")
    with locked(manifest_path):
        document: dict[str, Any] = read_json(manifest_path)
        schemas.validate("manifest", document, what=f"manifest {manifest_path}")
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
    return document
