"""The local FerretDB: insert/find, and a unique index rejecting a duplicate with code 11000."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pymongo
import pytest
from pymongo.errors import BulkWriteError, DuplicateKeyError

from infra import Endpoints

pytestmark = pytest.mark.integration

Doc = dict[str, object]


@pytest.fixture
def collection(services: Endpoints) -> Iterator[pymongo.collection.Collection[Doc]]:
    client: pymongo.MongoClient[Doc] = pymongo.MongoClient(
        services.mongo_uri, serverSelectionTimeoutMS=10_000
    )
    db = client[f"test_infra_{uuid.uuid4().hex[:12]}"]
    try:
        yield db["messages"]
    finally:
        client.drop_database(db.name)
        client.close()


def test_insert_then_find(collection: pymongo.collection.Collection[Doc]) -> None:
    collection.insert_one({"message_id": "m1", "thread_id": "t1", "seq": 1, "text": "hello"})
    found = collection.find_one({"thread_id": "t1"}, {"_id": False})
    assert found == {"message_id": "m1", "thread_id": "t1", "seq": 1, "text": "hello"}


def test_duplicate_on_unique_index_fails_with_11000(
    collection: pymongo.collection.Collection[Doc],
) -> None:
    collection.create_index("message_id", unique=True)
    collection.insert_one({"message_id": "m1", "text": "first"})
    duplicate = re.escape(f"E11000 duplicate key error collection: {collection.full_name}")
    with pytest.raises(
        DuplicateKeyError,
        match=rf"^{duplicate}, full error: "
        rf"\{{'index': 0, 'code': 11000, 'errmsg': '{duplicate}'\}}$",
    ) as info:
        collection.insert_one({"message_id": "m1", "text": "again"})
    assert info.value.code == 11000
    assert collection.count_documents({"message_id": "m1"}) == 1


def test_unordered_insert_many_reports_only_the_duplicate(
    collection: pymongo.collection.Collection[Doc],
) -> None:
    collection.create_index("message_id", unique=True)
    collection.insert_one({"message_id": "m2"})
    duplicate = re.escape(f"E11000 duplicate key error collection: {collection.full_name}")
    with pytest.raises(
        BulkWriteError,
        match=r"^batch op errors occurred, full error: \{'writeErrors': \[\{'index': 1, "
        rf"'code': 11000, 'errmsg': '{duplicate}', "
        r"'op': \{'message_id': 'm2', '_id': ObjectId\('[0-9a-f]{24}'\)\}\}\], "
        r"'writeConcernErrors': \[\], 'nInserted': 2, 'nUpserted': 0, 'nMatched': 0, "
        r"'nModified': 0, 'nRemoved': 0, 'upserted': \[\]\}$",
    ) as info:
        collection.insert_many(
            [{"message_id": "m1"}, {"message_id": "m2"}, {"message_id": "m3"}], ordered=False
        )
    codes = [e["code"] for e in info.value.details["writeErrors"]]
    assert codes == [11000]
    assert sorted(str(d["message_id"]) for d in collection.find({}, {"_id": False})) == [
        "m1",
        "m2",
        "m3",
    ]
