from __future__ import annotations

import pytest

from adapters import InvalidDocumentError, check_document


def test_plain_document_passes() -> None:
    check_document({"a": 1, "b": {"c": [1, {"d": "x"}]}, "e": None})


@pytest.mark.parametrize(
    ("doc", "pattern"),
    [
        ({"$ne": None}, r"^document key '\$ne' at '' is not allowed$"),
        ({"a": {"b.c": 1}}, r"^document key 'b\.c' at 'a' is not allowed$"),
        ({"a": [{"$where": 1}]}, r"^document key '\$where' at 'a\[0\]' is not allowed$"),
        ({"a": [[1]]}, r"^nested array at a\[0\] is not supported$"),
        ({"": 1}, r"^document key '' at '' is not allowed$"),
        ({1: 1}, r"^document key 1 at '' is not a string$"),
    ],
)
def test_refused_documents(doc: dict[object, object], pattern: str) -> None:
    with pytest.raises(InvalidDocumentError, match=pattern):
        check_document(doc)  # type: ignore[arg-type]


def test_deep_nesting_is_refused() -> None:
    doc: dict[str, object] = {}
    cur = doc
    for _ in range(40):
        nxt: dict[str, object] = {}
        cur["a"] = nxt
        cur = nxt
    with pytest.raises(
        InvalidDocumentError,
        match=r"^document nests deeper than 32 levels at 'a(\.a){32}'$",
    ):
        check_document(doc)
