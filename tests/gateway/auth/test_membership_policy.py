"""Thread membership decides who reads, posts and manages members."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gateway.auth import (
    Forbidden,
    Principal,
    can_manage_members,
    can_post,
    can_read,
    require_manage_members,
    require_post,
    require_read,
    thread_members,
)

THREAD = {"thread_id": "t1", "created_by": "alice", "members": ["alice", "bob"]}


def who(user: str) -> Principal:
    return Principal(user_id=user, expires_at=0.0, claims={})


def test_members_read_and_post() -> None:
    for user in ("alice", "bob"):
        assert can_read(who(user), THREAD) and can_post(who(user), THREAD)
        require_read(who(user), THREAD)
        require_post(who(user), THREAD)


def test_non_member_is_refused() -> None:
    assert not can_read(who("mallory"), THREAD)
    with pytest.raises(Forbidden, match=r"^you are not a member of this thread$") as info:
        require_post(who("mallory"), THREAD)
    assert (info.value.status, info.value.close_code) == (403, 1008)
    assert info.value.to_json() == (
        '{"error":{"code":"forbidden","message":"you are not a member of this thread; '
        "ask the thread's creator for access\"}}"
    )


def test_removed_member_loses_access_on_the_next_check() -> None:
    after_removal = {**THREAD, "members": ["alice"]}
    assert can_read(who("bob"), THREAD) and not can_read(who("bob"), after_removal)


def test_only_the_creator_manages_members() -> None:
    assert can_manage_members(who("alice"), THREAD)
    assert not can_manage_members(who("bob"), THREAD)
    with pytest.raises(Forbidden, match=r"^only the thread's creator can change its members$"):
        require_manage_members(who("bob"), THREAD)


@pytest.mark.parametrize(
    "thread",
    [
        None,
        {},
        {"members": "alice"},
        {"members": None},
        {"members": [None, 5, ""]},
        {"created_by": ""},
    ],
)
def test_malformed_or_missing_threads_allow_nothing(thread: object) -> None:
    assert not can_read(who("alice"), thread)
    assert not can_manage_members(who("alice"), thread)
    assert not can_manage_members(who(""), thread)


def test_attribute_documents_and_plain_user_ids() -> None:
    @dataclass(frozen=True)
    class Thread:
        created_by: str
        members: tuple[str, ...] = field(default=())

    thread = Thread("alice", ("alice", "carol"))
    assert thread_members(thread) == {"alice", "carol"}
    assert can_post("carol", thread) and not can_manage_members("carol", thread)
