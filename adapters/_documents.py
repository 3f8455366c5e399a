"""Checks a document must pass before it reaches MongoDB or FerretDB (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._errors import InvalidDocumentError

__all__ = ["check_document"]

_MAX_DEPTH = 32


def check_document(doc: Mapping[str, Any]) -> None:
    """Raise InvalidDocumentError for what either server refuses or misreads.

    FerretDB rejects keys that start with `$` or contain `.` and nested arrays; MongoDB
    would read `$` keys as operators. Checking first turns a late server error (that a
    retry loop would mistake for an outage) into a definite, immediate one.
    """
    _check(doc, "", 0)


def _check(value: Any, path: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise InvalidDocumentError(f"document nests deeper than {_MAX_DEPTH} levels at {path!r}")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidDocumentError(f"document key {key!r} at {path!r} is not a string")
            if key.startswith("$") or "." in key or "\x00" in key or not key:
                raise InvalidDocumentError(f"document key {key!r} at {path!r} is not allowed")
            _check(item, f"{path}.{key}" if path else key, depth + 1)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if isinstance(item, list | tuple):
                raise InvalidDocumentError(f"nested array at {path}[{i}] is not supported")
            _check(item, f"{path}[{i}]", depth + 1)
