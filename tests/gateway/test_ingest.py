"""Message ids (fresh ones UUIDv7, retried ones stable per sender) and the memory of recent
posts behind 409 on a reused client_msg_id."""

from __future__ import annotations

import uuid

import pytest

import gateway.ingest as ingest_module
from config.settings import load_settings
from gateway.ingest import Ingest, message_id_for
from protocol.refusals import Conflict


def test_fresh_ids_are_uuid7_and_distinct() -> None:
    first, second = message_id_for("alice", None), message_id_for("alice", None)
    assert first != second
    assert uuid.UUID(first).version == 7


def test_a_client_msg_id_names_the_same_message_for_the_same_sender_only() -> None:
    assert message_id_for("alice", "c1") == message_id_for("alice", "c1")
    assert message_id_for("alice", "c1") != message_id_for("bob", "c1")
    assert message_id_for("alice", "c1") != message_id_for("alice", "c2")


def _memory_only() -> Ingest:
    # The memory of recent posts needs none of the collaborators (only accept() does).
    return Ingest(load_settings(), None, None, None, None, None)  # type: ignore[arg-type]


def test_a_reused_client_msg_id_is_refused_while_remembered_then_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(ingest_module.time, "monotonic", lambda: now[0])
    ingest = _memory_only()
    ingest._remember("alice", "c1", "t1", "first text")
    ingest._check_reuse("alice", "c1", "t1", "first text")  # the same post again: fine
    with pytest.raises(Conflict):
        ingest._check_reuse("alice", "c1", "t1", "other text")
    now[0] += ingest_module._REMEMBER_S + 1
    ingest._check_reuse("alice", "c1", "t1", "other text")  # forgotten: the first text stands
    ingest._remember("bob", "c9", "t1", "later")  # a later post ages the old one out
    assert list(ingest._recent) == [("bob", "c9")]
