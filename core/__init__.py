"""The core role: consume `chat.commands`, one ThreadActor per thread, store, announce.

    KafkaConsumer(chat.commands, group "core") ─▶ Core (dispatcher) ─▶ Registry["threads"]
                                                                      └▶ ThreadActor(thread_id)
                                                                          └▶ ThreadSequencer

    start_core        starts the registry, the consumer and the dispatcher; returns the Core
    Core              the dispatcher: decodes, routes, dead-letters what is not a command
    ThreadActor       the one owner of a thread in the cluster (Kafka partitions by thread_id)
    ThreadSequencer   numbering, idempotent storing and announcing, without actor or Kafka
"""

from __future__ import annotations

from core._assembly import start_core
from core._dispatcher import Core
from core._sequencer import EventPublisher, MessageStore, ThreadSequencer
from core._thread_actor import CoreDeps, ThreadActor, Work

__all__ = [
    "Core",
    "CoreDeps",
    "EventPublisher",
    "MessageStore",
    "ThreadActor",
    "ThreadSequencer",
    "Work",
    "start_core",
]
