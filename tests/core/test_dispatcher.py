"""The core's dispatcher waits for a thread whose mailbox is full instead of crashing."""

from __future__ import annotations

from typing import Any, cast

from actors import MailboxFull, Registry
from core import Core, Work
from protocol.events import PostMessage


class FullThenRoomy:
    """A registry whose thread's mailbox is full for the first `full_for` tells."""

    def __init__(self, full_for: int) -> None:
        self.full_for = full_for
        self.refused = 0
        self.told: list[Work] = []

    def tell(self, key: str, msg: Work) -> None:
        if self.refused < self.full_for:
            self.refused += 1
            raise MailboxFull(f"/parley/threads/{key}", 4096)
        self.told.append(msg)


def _work() -> Work:
    post = PostMessage(
        message_id="m1", thread_id="t1", sender_id="alice", text="hi",
        created_at="2026-11-22T00:00:00.000Z",
    )
    return Work(post, cast(Any, None))


async def test_a_full_mailbox_is_waited_for_and_the_record_delivered_once() -> None:
    registry = FullThenRoomy(full_for=3)
    core = cast(Any, Core.__new__(Core))
    work = _work()
    await core._hand_to_thread(cast(Registry[str, Work], registry), work)
    assert registry.refused == 3
    assert registry.told == [work]
