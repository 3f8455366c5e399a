"""Adapters: the only code that talks to Kafka, MongoDB and the model server.

    KafkaProducer   idempotent producer (acks=all); `await produce()` returns once the
                    broker acknowledged; `send_to_dlq()`; `flush()`; bounded in-flight
    KafkaConsumer   at-least-once consumer; `get()` / `async for` hands records out,
                    `ack()` marks them done, only contiguous acks are committed
    MongoStore      messages and threads on MongoDB or FerretDB; idempotent inserts,
                    history by seq, membership; takes and returns typed records
                    (MessageEvent, ThreadRecord), the documents are its own (`_codec`)
    send_to_dead_letter
                    a record that can never be processed to the DLQ, retried with
                    backoff until Kafka has it (the one dead-letter path)
    ensure_topics   create topics (AdminClient) if missing
    ProcessBoard    the deployment's process announcements and operator commands, kept
                    through a MongoStore (collections `processes`, `ops_commands`)
    ChatCompletions streaming chat completions from any OpenAI-compatible model server
                    (httpx on Trio, server-sent events); cancelling the caller's scope
                    closes the HTTP stream, so the server stops generating

Each takes its own options (`KafkaOptions`, `StoreOptions`), never the whole Settings:
`parley._options` makes them from the operator's settings.

Each of the three is a service with `async run(task_status=...)` and `stop()`, which is how
`actors._service.ServiceActor` runs it as a supervised actor; `run()` may run again after a
crash. Started store → producer → consumer, the actor system's drain stops them in reverse:
the consumer stops handing out records, waits (bounded) for those handed out to be acked,
commits synchronously and closes; the producer refuses new records and flushes within its
deadline (`unflushed` says what was left); the store closes. Each exposes `readiness`
(ready + one sentence) and `counters` (plain ints for /metrics).

Threads: a Producer's poll/flush run on its own thread (reports come back to Trio in one
`run_sync_soon` per poll); a Consumer lives entirely on its own thread (rebalance callbacks
included, so close never races a poll); pymongo runs on a CapacityLimiter sized to its pool.
"""

from __future__ import annotations

from ._admin import ensure_topics
from ._backoff import backoff_delays
from ._child import ChildExited, SupervisedChild, free_port
from ._consumer import KafkaConsumer
from ._dead_letter import send_to_dead_letter
from ._docs import DocumentCollection
from ._documents import check_document
from ._errors import (
    AdapterClosedError,
    AdapterError,
    AdapterUnavailableError,
    InvalidDocumentError,
    LlmError,
    LlmProtocolError,
    LlmStatusError,
    LlmTimeoutError,
    LlmUnavailableError,
    PoisonRecordError,
    ProduceError,
    ProduceRejectedError,
    SeqConflictError,
    StoreError,
    StoreUnavailableError,
    UnknownOutcomeError,
)
from ._files import (
    extract_tar,
    list_dirs,
    path_exists,
    read_files,
    read_text,
    remove_tree,
    rename_path,
    run_command,
    watch_changes,
    write_files,
)
from ._git import GitError, git, git_bytes
from ._kafka_config import consumer_config, producer_config
from ._llm import ChatCompletions, ChatMessage, ChatRequest, Completion, OnDelta
from ._offsets import OffsetTracker, TopicPartitionKey
from ._options import KafkaOptions, LlmOptions, StoreOptions
from ._processes import ProcessBoard
from ._producer import KafkaProducer
from ._replay import read_whole_topic
from ._shared import SharedAdapters
from ._store import MongoStore
from ._types import (
    ConsumedRecord,
    ConsumerCounters,
    DeliveryInfo,
    HistoryPage,
    ProducerCounters,
    Readiness,
    StoreCounters,
    StoredChange,
    StoredMessage,
)

__all__ = [
    "AdapterClosedError",
    "AdapterError",
    "AdapterUnavailableError",
    "ChatCompletions",
    "ChatMessage",
    "ChatRequest",
    "ChildExited",
    "Completion",
    "ConsumedRecord",
    "ConsumerCounters",
    "DeliveryInfo",
    "DocumentCollection",
    "GitError",
    "HistoryPage",
    "InvalidDocumentError",
    "KafkaConsumer",
    "KafkaOptions",
    "KafkaProducer",
    "LlmError",
    "LlmOptions",
    "LlmProtocolError",
    "LlmStatusError",
    "LlmTimeoutError",
    "LlmUnavailableError",
    "MongoStore",
    "OffsetTracker",
    "OnDelta",
    "PoisonRecordError",
    "ProcessBoard",
    "ProduceError",
    "ProduceRejectedError",
    "ProducerCounters",
    "Readiness",
    "SeqConflictError",
    "SharedAdapters",
    "StoreCounters",
    "StoreError",
    "StoreOptions",
    "StoreUnavailableError",
    "StoredChange",
    "StoredMessage",
    "SupervisedChild",
    "TopicPartitionKey",
    "UnknownOutcomeError",
    "backoff_delays",
    "check_document",
    "consumer_config",
    "ensure_topics",
    "extract_tar",
    "free_port",
    "git",
    "git_bytes",
    "list_dirs",
    "path_exists",
    "producer_config",
    "read_files",
    "read_text",
    "read_whole_topic",
    "remove_tree",
    "rename_path",
    "run_command",
    "send_to_dead_letter",
    "watch_changes",
    "write_files",
]
