"""Authorisation: a thread's members read, post and subscribe; its creator manages members.

Pure functions over the thread document the store returns, so the REST layer, the
WebSocket subscribe path and the pipeline all apply one rule. The document is a mapping
(or an object with attributes) with ``members`` (user ids) and ``created_by`` (user id).
A missing document (None) allows nothing; whether to answer 404 or 403 for it is the
caller's choice (404 avoids revealing that a thread exists).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.auth._errors import Forbidden
from gateway.auth._principal import Principal

__all__ = [
    "can_manage_members",
    "can_post",
    "can_read",
    "require_manage_members",
    "require_post",
    "require_read",
    "thread_members",
]


def _field(thread: object, name: str) -> Any:
    if isinstance(thread, Mapping):
        return thread.get(name)
    return getattr(thread, name, None)


def thread_members(thread: object) -> frozenset[str]:
    """The member ids of a thread document; malformed entries count as nobody."""
    members = _field(thread, "members") if thread is not None else None
    if isinstance(members, str) or not isinstance(members, list | tuple | set | frozenset):
        return frozenset()
    return frozenset(m for m in members if isinstance(m, str) and m)


def _user(principal: Principal | str) -> str:
    return principal if isinstance(principal, str) else principal.user_id


def can_read(principal: Principal | str, thread: object) -> bool:
    """Members read history and subscribe (a removed member stops at the next check)."""
    return thread is not None and _user(principal) in thread_members(thread)


def can_post(principal: Principal | str, thread: object) -> bool:
    """Members post; the rule is the same as reading today, kept separate for read-only roles."""
    return can_read(principal, thread)


def can_manage_members(principal: Principal | str, thread: object) -> bool:
    """Only the creator adds and removes members."""
    if thread is None:
        return False
    creator = _field(thread, "created_by")
    return isinstance(creator, str) and bool(creator) and creator == _user(principal)


def require_read(principal: Principal | str, thread: object) -> None:
    if not can_read(principal, thread):
        raise Forbidden("you are not a member of this thread")


def require_post(principal: Principal | str, thread: object) -> None:
    if not can_post(principal, thread):
        raise Forbidden("you are not a member of this thread")


def require_manage_members(principal: Principal | str, thread: object) -> None:
    if not can_manage_members(principal, thread):
        raise Forbidden("only the thread's creator can change its members")
