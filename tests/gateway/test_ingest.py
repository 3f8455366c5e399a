"""Message ids: fresh ones are UUIDv7 (time-ordered), retried ones are stable per sender."""

from __future__ import annotations

import uuid

from gateway.ingest import message_id_for


def test_fresh_ids_are_uuid7_and_distinct() -> None:
    first, second = message_id_for("alice", None), message_id_for("alice", None)
    assert first != second
    assert uuid.UUID(first).version == 7


def test_a_client_msg_id_names_the_same_message_for_the_same_sender_only() -> None:
    assert message_id_for("alice", "c1") == message_id_for("alice", "c1")
    assert message_id_for("alice", "c1") != message_id_for("bob", "c1")
    assert message_id_for("alice", "c1") != message_id_for("alice", "c2")
