"""The published JSON Schemas, loaded from the installed package (or the source tree).

The schemas live in ``schemas/`` at the top of the repository and are shipped inside the
wheel as ``pytest_codex/schemas/``; :func:`schema_dir` finds whichever is present.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SchemaValidationError, UsageError

# jsonschema costs ~50 ms to import: loaded on first validation, not at start-up.
if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from referencing import Registry

SCHEMA_FILES: dict[str, str] = {
    "manifest": "manifest.schema.json",
    "event": "event.schema.json",
    "config": "config.schema.json",
    "summary": "summary.schema.json",
    "codex-event": "codex-event.schema.json",
    "attestation-predicate": "attestation-predicate.schema.json",
}


def schema_dir() -> Path:
    """The directory holding the schema files."""
    packaged = Path(__file__).with_name("schemas")
    if packaged.is_dir():
        return packaged
    source_tree = Path(__file__).resolve().parent.parent / "schemas"
    if source_tree.is_dir():
        return source_tree
    raise FileNotFoundError(f"pytest-codex schemas not found next to {__file__}; reinstall")


def schema_names() -> list[str]:
    """The names :func:`load_schema` accepts, for schemas that exist."""
    directory = schema_dir()
    return [name for name, file in SCHEMA_FILES.items() if (directory / file).is_file()]


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """One schema by name (``manifest``, ``event``, ``config``, ``summary``, ``codex-event``)."""
    file = SCHEMA_FILES.get(name)
    if file is None or not (schema_dir() / file).is_file():
        known = ", ".join(schema_names())
        raise UsageError(f"unknown schema {name!r}; choose one of: {known}")
    document: dict[str, Any] = json.loads((schema_dir() / file).read_text(encoding="utf-8"))
    return document


@functools.cache
def _registry() -> Registry[Any]:
    from referencing import Registry, Resource

    resources = [
        (schema["$id"], Resource.from_contents(schema))
        for schema in (load_schema(name) for name in schema_names())
    ]
    return Registry().with_resources(resources)


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """A cached validator for one schema (cross-schema ``$ref`` resolved)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(name), registry=_registry())


def iter_errors(name: str, document: Any) -> Iterator[ValidationError]:
    """Every validation error of ``document`` against schema ``name``."""
    return validator(name).iter_errors(document)


def describe(error: ValidationError) -> str:
    """A one-line description of a validation error, with its JSON path."""
    where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{where.lstrip('.') or '<root>'}: {error.message}"


def validate(name: str, document: Any, *, what: str | None = None) -> None:
    """Raise :class:`SchemaValidationError` when ``document`` does not match schema ``name``."""
    from jsonschema.exceptions import best_match

    error = best_match(iter_errors(name, document))
    if error is not None:
        label = what or f"{name} document"
        raise SchemaValidationError(
            f"{label} does not validate against the {name} schema: {describe(error)}"
        )


def is_valid(name: str, document: Any) -> bool:
    """Whether ``document`` matches schema ``name``."""
    return validator(name).is_valid(document)


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` (a user's JSON Schema) is not a valid Draft 2020-12 schema, or None."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return str(exc.message)
    return None


def named_problem(name: str, document: Any) -> str | None:
    """The best-matching error of ``document`` against the published schema ``name``
    (``manifest``, ``event``, ...), described in one line, or None when it is valid."""
    from jsonschema.exceptions import best_match

    error = best_match(iter_errors(name, document))
    return None if error is None else " ".join(describe(error).split())


def document_problem(schema: Any, document: Any) -> str | None:
    """The best-matching error of ``document`` against a user's ``schema``, or None."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema).iter_errors(document))
    return None if error is None else describe(error)
