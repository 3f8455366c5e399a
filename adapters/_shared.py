"""SharedAdapters: what one process makes once and lends to each of its roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._options import KafkaOptions
    from ._producer import KafkaProducer
    from ._store import MongoStore

__all__ = ["SharedAdapters"]


@dataclass(frozen=True, slots=True)
class SharedAdapters:
    # How every consumer a role opens reaches Kafka (each role opens its own consumers).
    kafka: KafkaOptions
    # One store client and one idempotent producer per process, shared by its roles.
    store: MongoStore
    producer: KafkaProducer
