"""`parley snapshots rebuild`: recompute the threads read model from the domain events and
report every difference with what the store holds (exit 1 if any, 0 if none).

The domain events are read from `parley.domain-changes` (`KAFKA_DOMAIN_CHANGES_TOPIC`) from
its beginning and folded in order (deduped by event_id); pending outbox events that are not
published yet are folded after them. Threads whose creation is not in the log are skipped.
"""

from __future__ import annotations

import sys

import orjson
import trio

from adapters import MongoStore, read_whole_topic
from config.errors import ParleyError
from config.settings import load_settings
from parley._options import kafka_options, store_options
from protocol.domain import DomainEvent, decode_domain_event, fold_threads

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
    values = await read_whole_topic(kafka_options(settings), settings.domain_changes_topic)
    events: list[DomainEvent] = []
    for value in values:
        event = decode_domain_event(orjson.loads(value))
        if event is not None:
            events.append(event)
    store = MongoStore(store_options(settings))
    await store.start()
    try:
        events.extend(await store.pending_outbox(10_000))
        rebuilt = fold_threads(events)
        differences: list[str] = []
        for thread_id, state in sorted(rebuilt.items()):
            stored = await store.get_thread(thread_id)
            if stored is None:
                differences.append(f"{thread_id}: in the events, not in the store")
                continue
            if stored.title != state.title:
                differences.append(
                    f"{thread_id}: title {stored.title!r} in the store, "
                    f"{state.title!r} from the events"
                )
            if tuple(stored.members) != state.members:
                differences.append(
                    f"{thread_id}: members {list(stored.members)} in the store, "
                    f"{list(state.members)} from the events"
                )
        return differences
    finally:
        await store.close()
