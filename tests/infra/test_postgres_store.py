"""The local store on PostgreSQL: FerretDB's filters reach an index, in any database.

FerretDB 1.24 pushes an equality filter down as `_jsonb -> 'field' @> '"value"'`; the GIN
indexes that `infra/postgres/indexes.sql` has PostgreSQL add to every new FerretDB table are
what serve it (its own btrees cannot). Checked on the session's real stack with FerretDB's
`explain`, which returns PostgreSQL's plan.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pymongo
import pytest

from infra._postgres import Postgres

if TYPE_CHECKING:
    from infra import Endpoints

pytestmark = pytest.mark.integration


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes.extend(_plan_nodes(child))
    return nodes


def test_a_new_database_gets_gin_indexes_that_history_filters_use(services: Endpoints) -> None:
    # A schema FerretDB creates now, not at start ("pg_..." names are PostgreSQL's own).
    database = f"gin_index_{uuid.uuid4().hex[:8]}"
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        services.mongo_uri, serverSelectionTimeoutMS=10_000
    )
    try:
        db = client[database]
        db["messages"].insert_many(
            [
                {
                    "message_id": f"m{i}",
                    "thread_id": f"t{i % 50}",
                    "seq": i // 50 + 1,
                    "thread_bucket": f"t{i % 50} {(i // 50 + 1) // 100}",
                }
                for i in range(5000)
            ]
        )
        db["threads"].insert_one({"_id": "t1", "thread_id": "t1", "members": ["alice"]})
        db["users"].insert_one({"_id": "alice", "display_name": "Alice"})

        indexes = Postgres(services.state_dir).psql(
            "-c",
            f"SELECT indexname FROM pg_indexes WHERE schemaname = '{database}' "
            "AND indexdef LIKE '%USING gin%' ORDER BY indexname",
        )
        assert indexes.returncode == 0, indexes.stderr
        # "messages_1a2b3c4d_threadid_gin": the collection and the field.
        names = {f"{n.split('_')[0]}.{n.split('_')[-2]}" for n in indexes.stdout.split()}
        assert names == {
            "messages.id",
            "messages.threadbucket",
            "messages.threadid",
            "messages.messageid",
            "messages.targetid",
            "messages.outboxpending",
            "threads.id",
            "threads.members",
            "threads.threadid",
            "threads.outboxpending",
            "users.id",
            "users.outboxpending",
        }

        for find in (
            # What the store reads now (adapters/_buckets.py): one bucket of a thread.
            {"filter": {"thread_bucket": "t7 0"}},
            {"filter": {"thread_id": "t7"}, "sort": {"seq": -1}, "limit": 51},
            {"filter": {"thread_id": "t7", "seq": {"$gt": 3}}, "sort": {"seq": 1}, "limit": 101},
            {"filter": {"message_id": "m7"}},
            # What the outbox relay reads on every round (MongoStore.pending_outbox).
            {"filter": {"outbox_pending": True}, "sort": {"thread_id": 1, "seq": 1}, "limit": 100},
        ):
            explained = db.command("explain", {"find": "messages", **find})
            assert explained["filterPushdown"] is True
            scans = [
                n
                for n in _plan_nodes(explained["queryPlanner"]["Plan"])
                if n["Node Type"] in ("Bitmap Index Scan", "Seq Scan")
            ]
            assert [n["Node Type"] for n in scans] == ["Bitmap Index Scan"], explained
            assert scans[0]["Index Name"].endswith("_gin")
    finally:
        client.drop_database(database)
        client.close()
