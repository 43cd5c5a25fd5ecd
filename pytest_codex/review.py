"""Reviewer hand-off: record a review outcome on a run's manifest.

The run may have ended long ago, so there is no live bus: :func:`pytest_codex.run.append_event`
reopens one with the run's journal and manifest sinks, and the review travels as a
``review:recorded`` event like any other: redacted, appended to ``events.jsonl`` continuing
the run's ``seq``, and folded into the manifest's ``reviews[]``; an attested run is
re-attested after (under the run's lock).
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

from .attestation import ATTESTATION_FILE, attest_run
from .errors import UsageError
from .manifest import RunLock, load_manifest
from .timeutil import now_iso

OUTCOMES = ("approved", "changes-requested", "skip")


def default_actor() -> str:
    """Who is reviewing: ``CODEX_REVIEWER``, else the login name."""
    try:
        return os.environ.get("CODEX_REVIEWER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def record_review(
    manifest_path: Path,
    *,
    outcome: str,
    reason: str,
    actor: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Append a review to the manifest and its events; returns the review record (as
    stored, secrets redacted). Approving a run that did not succeed is a :class:`UsageError`
    unless ``force`` (the record then says ``forced``)."""
    from .run import append_event

    if outcome not in OUTCOMES:
        raise UsageError(f"review outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    if not reason.strip():
        raise UsageError("a review needs a reason; pass --reason TEXT")
    review: dict[str, Any] = {
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
        status = load_manifest(manifest_path).get("status")
        if outcome == "approved" and status != "succeeded":
            if not force:
                raise UsageError(
                    f"run {manifest_path.parent.name} did not succeed (status {status}); "
                    "pass --force to approve it anyway"
                )
            review["forced"] = True
        event = append_event(manifest_path, "review:recorded", {"review": review})
        if (manifest_path.parent / ATTESTATION_FILE).is_file():
            document = load_manifest(manifest_path)
            root = Path(str((document.get("paths") or {}).get("root") or manifest_path.parent))
            attest_run(manifest_path.parent, root=root, env=os.environ)
    finally:
        lock.release()
    return dict(event.payload["review"])
