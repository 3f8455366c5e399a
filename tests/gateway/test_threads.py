"""ThreadDirectory's membership cache: one store lookup per thread however many ask at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from config.settings import load_settings
from gateway.threads import ThreadDirectory
from protocol.records import ThreadRecord
from protocol.refusals import Forbidden, NotFound


class GatedStore:
    """get_thread answers what was stored when it was called, once `release` is set; counts
    its calls. Only what the cache uses."""

    def __init__(self) -> None:
        self.threads: dict[str, ThreadRecord] = {}
        self.lookups = 0
        self.release = trio.Event()
        self.created: list[ThreadRecord] = []

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        self.lookups += 1
        thread = self.threads.get(thread_id)
        await self.release.wait()
        return thread

    async def create_thread(self, thread: ThreadRecord, outbox: object = ()) -> ThreadRecord:
        self.created.append(thread)
        self.threads[thread.thread_id] = thread
        return thread


def _thread(thread_id: str, members: list[str]) -> ThreadRecord:
    return ThreadRecord(thread_id=thread_id, members=tuple(members))


def directory(store: GatedStore) -> ThreadDirectory:
    return ThreadDirectory(load_settings(), store, None)  # type: ignore[arg-type]


async def test_concurrent_misses_on_one_thread_share_one_lookup() -> None:
    store = GatedStore()
    store.threads["t1"] = _thread("t1", ["alice"])
    threads = directory(store)
    async with trio.open_nursery() as nursery:
        for _ in range(50):
            nursery.start_soon(threads.require_member, "alice", "t1")
        await trio.testing.wait_all_tasks_blocked()
        assert store.lookups == 1
        store.release.set()
    await threads.require_member("alice", "t1")  # answered from the cache
    assert store.lookups == 1


async def test_waiters_get_the_shared_answer_refusals_included() -> None:
    store = GatedStore()
    store.threads["t1"] = _thread("t1", ["alice"])
    threads = directory(store)
    outcomes: list[str] = []

    async def ask(user: str, thread_id: str) -> None:
        try:
            await threads.require_member(user, thread_id)
            outcomes.append(f"{user}:{thread_id}:ok")
        except Forbidden:
            outcomes.append(f"{user}:{thread_id}:forbidden")
        except NotFound:
            outcomes.append(f"{user}:{thread_id}:missing")

    async with trio.open_nursery() as nursery:
        for user, thread_id in [("alice", "t1"), ("bob", "t1"), ("alice", "t9"), ("bob", "t9")]:
            nursery.start_soon(ask, user, thread_id)
        await trio.testing.wait_all_tasks_blocked()
        store.release.set()
    assert sorted(outcomes) == [
        "alice:t1:ok",
        "alice:t9:missing",
        "bob:t1:forbidden",
        "bob:t9:missing",
    ]
    assert store.lookups == 2


async def test_a_cancelled_lookup_leaves_its_waiters_to_look_up_again() -> None:
    store = GatedStore()
    store.threads["t1"] = _thread("t1", ["alice"])
    threads = directory(store)
    leader_scope = trio.CancelScope()
    follower_done = trio.Event()

    async def leader() -> None:
        with leader_scope:
            await threads.require_member("alice", "t1")

    async def follower() -> None:
        await threads.require_member("alice", "t1")
        follower_done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(leader)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(follower)
        await trio.testing.wait_all_tasks_blocked()
        assert store.lookups == 1
        leader_scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert store.lookups == 2  # the follower asked the store itself
        store.release.set()
    assert follower_done.is_set()


async def test_forget_during_a_lookup_makes_later_callers_look_up_afresh() -> None:
    store = GatedStore()
    store.threads["t1"] = _thread("t1", ["alice", "bob"])
    threads = directory(store)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(threads.require_member, "bob", "t1")
        await trio.testing.wait_all_tasks_blocked()
        # bob is removed here (by this gateway) while the first lookup is on its way.
        store.threads["t1"] = _thread("t1", ["alice"])
        threads.forget("t1")
        store.release.set()
    with pytest.raises(Forbidden, match=r"^you are not a member of this thread$"):
        await threads.require_member("bob", "t1")
    assert store.lookups == 2


async def test_a_created_thread_is_known_without_a_lookup() -> None:
    store = GatedStore()
    threads = directory(store)
    created = await threads.create("alice", "hello", ["bob"])
    with trio.fail_after(1):
        await threads.require_member("bob", created["thread_id"])
    assert store.lookups == 0


async def _cached_thread(store: GatedStore, members: list[str]) -> ThreadDirectory:
    store.threads["t1"] = _thread("t1", members)
    store.release.set()
    threads = directory(store)
    await threads.require_member("alice", "t1")
    store.release = trio.Event()  # later lookups wait until the test lets them answer
    return threads


async def test_an_old_entry_is_used_while_the_refresher_fetches_a_new_one(
    autojump_clock: trio.abc.Clock,
) -> None:
    store = GatedStore()
    threads = await _cached_thread(store, ["alice", "bob"])
    async with _refresher_running(threads):
        await trio.sleep(3)  # past the fresh age, within the stale limit
        store.threads["t1"] = _thread("t1", ["alice"])  # bob removed
        with trio.fail_after(0.001):  # answered from the cache: no wait on the store
            await threads.require_member("bob", "t1")
            await threads.require_member("bob", "t1")
        await trio.testing.wait_all_tasks_blocked()
        assert store.lookups == 2, "one background lookup for both uses"
        store.release.set()
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(Forbidden, match=r"^you are not a member of this thread$"):
            await threads.require_member("bob", "t1")


async def test_past_the_stale_limit_a_request_waits_for_the_store(
    autojump_clock: trio.abc.Clock,
) -> None:
    store = GatedStore()
    threads = await _cached_thread(store, ["alice", "bob"])
    async with _refresher_running(threads):
        await trio.sleep(11)
        assert await _seconds_until_bob_is_refused(threads, store) == pytest.approx(0.5)


async def test_without_a_refresher_an_old_entry_is_fetched_in_line(
    autojump_clock: trio.abc.Clock,
) -> None:
    store = GatedStore()
    threads = await _cached_thread(store, ["alice", "bob"])
    await trio.sleep(3)
    assert await _seconds_until_bob_is_refused(threads, store) == pytest.approx(0.5)
    assert store.lookups == 2


@asynccontextmanager
async def _refresher_running(threads: ThreadDirectory) -> AsyncIterator[None]:
    """The directory's background refresher, as `parley serve` runs it, for the block's time."""
    async with trio.open_nursery() as nursery:
        await nursery.start(threads.run_refresher)
        yield
        nursery.cancel_scope.cancel()


async def _seconds_until_bob_is_refused(threads: ThreadDirectory, store: GatedStore) -> float:
    """Remove bob in the store, let its lookups answer after 0.5 s; time his refusal."""
    store.threads["t1"] = _thread("t1", ["alice"])

    async def release_later() -> None:
        await trio.sleep(0.5)
        store.release.set()

    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(release_later)
        with pytest.raises(Forbidden, match=r"^you are not a member of this thread$"):
            await threads.require_member("bob", "t1")
    return trio.current_time() - t0
