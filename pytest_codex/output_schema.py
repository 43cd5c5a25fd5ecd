"""Output-schema checking: a command's final stdout must be JSON valid against a JSON Schema
(``exec --output-schema FILE``, the Codex SDK's ``outputSchema``; reachable from the SDK and
fixtures too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import schemas
from .errors import UsageError

EXIT_OUTPUT_SCHEMA = 6


def load_output_schema(
    path: Path | None, *, label: str = "--output-schema"
) -> dict[str, Any] | None:
    """The JSON Schema in ``path`` (None without one); a one-line :class:`UsageError` when the
    file is missing, not JSON, or not a valid Draft 2020-12 schema."""
    if path is None:
        return None
    try:
        schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{label} {path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{label} {path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    problem = schemas.schema_problem(schema)
    if problem is not None:
        raise UsageError(f"{label} {path}: not a valid JSON Schema ({problem})")
    return schema


def structured_output(
    stdout: str, schema: dict[str, Any], *, label: str = "--output-schema"
) -> tuple[Any, str | None]:
    """``(document, None)`` when ``stdout`` (all of it, else its last non-empty line) is JSON
    valid against ``schema``; ``(None, problem)`` otherwise."""
    text = stdout.strip()
    candidates = [text, *[line for line in reversed(text.splitlines()) if line.strip()][:1]]
    document: Any = None
    for candidate in candidates:
        try:
            document = json.loads(candidate)
            break
        except json.JSONDecodeError:
            continue
    else:
        return None, f"{label}: the command's final stdout is not JSON"
    problem = schemas.document_problem(schema, document)
    if problem is not None:
        return None, f"{label}: {problem}"
    return document, None
