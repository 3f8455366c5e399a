"""Adapters: the only code that talks to Kafka and MongoDB (blocking clients in threads).

KafkaProducer   idempotent producer; `await produce()` returns once the broker acked
KafkaConsumer   at-least-once consumer; `get()`/`ack()`, commits only contiguous acks
MongoStore      messages and threads; idempotent inserts, history by seq
run_pipeline    consume → handler → ack, poison records to the DLQ
"""

from __future__ import annotations

from ._admin import ensure_topics
from ._backoff import backoff_delays
from ._consumer import KafkaConsumer
from ._documents import check_document
from ._errors import (
    AdapterClosedError,
    AdapterError,
    AdapterUnavailableError,
    InvalidDocumentError,
    PoisonRecordError,
    ProduceError,
    ProduceRejectedError,
    SeqConflictError,
    StoreError,
    StoreUnavailableError,
    UnknownOutcomeError,
)
from ._kafka_config import consumer_config, producer_config
from ._offsets import OffsetTracker, TopicPartitionKey
from ._pipeline import Handler, run_pipeline
from ._producer import KafkaProducer
from ._store import MongoStore
from ._types import (
    ConsumedRecord,
    ConsumerCounters,
    DeliveryInfo,
    HistoryPage,
    ProducerCounters,
    Readiness,
    StoreCounters,
    StoredMessage,
)

__all__ = [
    "AdapterClosedError",
    "AdapterError",
    "AdapterUnavailableError",
    "ConsumedRecord",
    "ConsumerCounters",
    "DeliveryInfo",
    "Handler",
    "HistoryPage",
    "InvalidDocumentError",
    "KafkaConsumer",
    "KafkaProducer",
    "MongoStore",
    "OffsetTracker",
    "PoisonRecordError",
    "ProduceError",
    "ProduceRejectedError",
    "ProducerCounters",
    "Readiness",
    "SeqConflictError",
    "StoreCounters",
    "StoreError",
    "StoreUnavailableError",
    "StoredMessage",
    "TopicPartitionKey",
    "UnknownOutcomeError",
    "backoff_delays",
    "check_document",
    "consumer_config",
    "ensure_topics",
    "producer_config",
    "run_pipeline",
]
