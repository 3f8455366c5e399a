"""Small keyed document collections beside the messages (plugin state, plugin status).

One document per key, `_id` = the key: FerretDB's SQLite backend pushes down only `_id`
equality (see MongoStore), so reads by key stay cheap; `find()` scans and is meant for small
collections (a plugin's keys, the status of a few plugins). Runs on the MongoStore's client
and thread limiter, so it needs no connection of its own and shares its readiness.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._documents import check_document
from ._errors import AdapterClosedError

if TYPE_CHECKING:
    from pymongo.collection import Collection

    from ._store import MongoStore

__all__ = ["DocumentCollection"]

Doc = dict[str, Any]


class DocumentCollection:
    def __init__(self, store: MongoStore, name: str) -> None:
        self._store = store
        self._name = name

    def _coll(self) -> Collection[Doc]:
        db = self._store._db
        if db is None:
            raise AdapterClosedError("the store is closed")
        return db[self._name]

    async def get(self, key: str) -> Doc | None:
        """The document stored under `key` (without `_id`), or None."""
        return await self._store._call(lambda: self._coll().find_one({"_id": key}, {"_id": 0}))

    async def put(self, key: str, doc: Mapping[str, Any]) -> None:
        """Store `doc` under `key`, replacing what was there."""
        check_document(doc)
        body = {k: v for k, v in doc.items() if k != "_id"}
        await self._store._call(lambda: self._coll().replace_one({"_id": key}, body, upsert=True))

    async def insert(self, key: str, doc: Mapping[str, Any]) -> bool:
        """Store `doc` under `key` unless the key exists; False when it did."""
        from pymongo.errors import DuplicateKeyError

        check_document(doc)

        def run() -> bool:
            try:
                self._coll().insert_one({**doc, "_id": key})
            except DuplicateKeyError:
                return False
            return True

        return await self._store._call(run)

    async def delete(self, key: str) -> bool:
        """Remove `key`; False when it was not there."""
        result = await self._store._call(lambda: self._coll().delete_one({"_id": key}))
        return bool(result.deleted_count)

    async def find(self, query: Mapping[str, Any], *, limit: int = 1_000) -> list[Doc]:
        """Documents matching `query` (each with its key as `_id`), at most `limit`."""
        return await self._store._call(
            lambda: list(self._coll().find(dict(query)).limit(max(1, limit)))
        )
