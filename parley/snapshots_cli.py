"""`parley snapshots rebuild`: recompute the read models from the events and report every
difference with what the store holds (exit 1 if any, 0 if none).

What is compared, and what it is rebuilt from:

    thread title, members, archived   domain events (parley.domain-changes, then the pending
                                      outbox entries not published yet), deduped by event_id
    deleted messages                  message.deleted: the stored message is a tombstone
                                      (deleted_at set, no text left)
    display names                     user.profile_updated, both ways (a stored name no event
                                      set is a difference too)
    last seq of each thread           the highest seq on chat.events (messages, edits and
                                      deletes) and in the domain events; the boot snapshot's
                                      last_seq (MongoStore.last_seqs) must equal it

Threads whose creation is not in the log (older than the topic's retention) are skipped.
Read markers are not compared: they are private per-user state, not domain events.
"""

from __future__ import annotations

import sys

import orjson
import trio

from adapters import MongoStore, read_whole_topic
from config.errors import ParleyError
from config.settings import Settings, load_settings
from parley._options import kafka_options, store_options
from protocol.domain import DomainEvent, ReadModel, decode_domain_event, fold
from protocol.events import (
    EventDecodeError,
    MessageDeleted,
    MessageEdited,
    MessageEvent,
    decode_event,
)

__all__ = ["snapshots_main"]


def snapshots_main(action: str) -> int:
    if action != "rebuild":
        raise ParleyError(f"unknown snapshots action {action!r} (expected: rebuild)")
    differences = trio.run(_rebuild)
    for line in differences:
        print(line)
    if differences:
        print(f"parley snapshots: {len(differences)} difference(s)", file=sys.stderr)
        return 1
    print("parley snapshots: rebuilt from the domain events; no difference")
    return 0


async def _rebuild() -> list[str]:
    settings = load_settings()
    events: list[DomainEvent] = []
    for value in await read_whole_topic(kafka_options(settings), settings.domain_changes_topic):
        event = decode_domain_event(orjson.loads(value))
        if event is not None:
            events.append(event)
    logged_seqs = await _last_seqs_on_chat_events(settings)
    store = MongoStore(store_options(settings))
    await store.start()
    try:
        events.extend(await store.pending_outbox(10_000))
        return await _compare(store, fold(events), logged_seqs)
    finally:
        await store.close()


async def _last_seqs_on_chat_events(settings: Settings) -> dict[str, int]:
    last: dict[str, int] = {}
    for value in await read_whole_topic(kafka_options(settings), settings.events_topic):
        try:
            event = decode_event(value)
        except EventDecodeError:
            continue  # the gateways skip it too
        if isinstance(event, MessageEvent | MessageEdited | MessageDeleted):
            last[event.thread_id] = max(last.get(event.thread_id, 0), event.seq)
    return last


async def _compare(store: MongoStore, rebuilt: ReadModel, logged: dict[str, int]) -> list[str]:
    differences: list[str] = []
    stored_last = await store.last_seqs(sorted(rebuilt.threads))
    for thread_id, state in sorted(rebuilt.threads.items()):
        stored = await store.get_thread(thread_id)
        if stored is None:
            differences.append(f"{thread_id}: in the events, not in the store")
            continue
        if stored.title != state.title:
            differences.append(
                f"{thread_id}: title {stored.title!r} in the store, {state.title!r} from the events"
            )
        if tuple(stored.members) != state.members:
            differences.append(
                f"{thread_id}: members {list(stored.members)} in the store, "
                f"{list(state.members)} from the events"
            )
        if stored.archived != state.archived:
            differences.append(
                f"{thread_id}: archived {stored.archived} in the store, "
                f"{state.archived} from the events"
            )
        expected = max(logged.get(thread_id, 0), state.changed_seq)
        if stored_last.get(thread_id, 0) != expected:
            differences.append(
                f"{thread_id}: last seq {stored_last.get(thread_id, 0)} in the store, "
                f"{expected} from the events"
            )
    for message_id, thread_id in sorted(rebuilt.deleted.items()):
        if thread_id not in rebuilt.threads:
            continue
        message = await store.find_message(message_id)
        if message is None:
            differences.append(f"{thread_id}: deleted message {message_id} is not in the store")
        elif message.deleted_at is None or message.text:
            differences.append(
                f"{thread_id}: message {message_id} is deleted in the events, "
                "not a tombstone in the store"
            )
    stored_names = await store.all_profiles()
    for user_id in sorted(set(stored_names) | set(rebuilt.profiles)):
        mine, theirs = stored_names.get(user_id), rebuilt.profiles.get(user_id)
        if mine != theirs:
            differences.append(
                f"user {user_id}: display name {mine!r} in the store, {theirs!r} from the events"
            )
    return differences
