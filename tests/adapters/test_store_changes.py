"""MongoStore.apply_change against the session's real FerretDB: edits and deletes are rows of
the thread's log with seqs of their own, applied to their message, and a deleted message's
text is gone from every document."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from adapters import MongoStore, SeqConflictError
from protocol.events import MessageDeleted, MessageEdited
from tests.adapters._helpers import chat_message

pytestmark = pytest.mark.integration

EDITED_AT = "2026-11-22T00:00:01.000Z"
DELETED_AT = "2026-11-22T00:00:02.000Z"


def _edit(seq: int, change: str, target: str = "m1", text: str = "fixed") -> MessageEdited:
    return MessageEdited("th1", seq, change, target, "alice", text, EDITED_AT)


def _delete(seq: int, change: str, target: str = "m1") -> MessageDeleted:
    return MessageDeleted("th1", seq, change, target, "bob", DELETED_AT)


async def _documents_with(store: MongoStore, text: str) -> list[Any]:
    def run() -> list[Any]:
        return list(store._messages().find({"thread_id": "th1", "text": text}, {"_id": 0}))

    return await trio.to_thread.run_sync(run)


async def test_an_edit_then_a_delete(store: MongoStore) -> None:
    await store.insert_message(chat_message("m1", "th1", "secret typo", 1))
    await store.insert_message(chat_message("m2", "th1", "other", 2))
    stored = await store.apply_change(_edit(3, "e1", text="secret fixed"))
    assert (stored.change, stored.duplicate) == (_edit(3, "e1", text="secret fixed"), False)

    page = await store.history("th1", after_seq=0)
    assert [m.text for m in page.messages] == ["secret fixed", "other"]
    assert page.messages[0].edited_at == EDITED_AT
    assert [c.seq for c in page.changes] == [3]

    await store.apply_change(_delete(4, "d1"))
    page = await store.history("th1", after_seq=0)
    tomb = page.messages[0]
    assert (tomb.seq, tomb.text, tomb.deleted_at) == (1, "", DELETED_AT)
    assert [type(c).__name__ for c in page.changes] == ["MessageEdited", "MessageDeleted"]
    assert page.changes[0].text == ""  # type: ignore[union-attr]
    # Neither the original nor the edited text is in any document of the thread.
    assert await _documents_with(store, "secret typo") == []
    assert await _documents_with(store, "secret fixed") == []
    assert await store.find_message("e1") is None  # a change id is not a message id
    assert (await store.find_message("m1")) == tomb


async def test_a_redelivered_change_is_a_duplicate_with_its_first_seq(store: MongoStore) -> None:
    await store.insert_message(chat_message("m1", "th1", "hi", 1))
    await store.apply_change(_edit(2, "e1"))
    again = await store.apply_change(_edit(5, "e1"))
    assert (again.change.seq, again.duplicate) == (2, True)
    with pytest.raises(SeqConflictError, match=r"^seq 2 of thread th1 is taken$"):
        await store.apply_change(_edit(2, "e2", text="other"))


async def test_an_older_edit_does_not_overwrite_a_newer_one(store: MongoStore) -> None:
    await store.insert_message(chat_message("m1", "th1", "v0", 1))
    await store.apply_change(_edit(3, "e2", text="v2"))
    await store.apply_change(_edit(2, "e1", text="v1"))  # redelivered out of order
    assert (await store.find_message("m1")).text == "v2"  # type: ignore[union-attr]
