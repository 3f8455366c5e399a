"""Errors raised by the Kafka, MongoDB and model-server adapters.

    AdapterError                      base of everything below
    ├── AdapterClosedError            we stopped this adapter; it takes no more requests
    ├── AdapterUnavailableError       the service (broker, store) cannot be reached right now
    ├── ProduceError                  base of producer failures
    │   ├── ProduceRejectedError      librdkafka refused the record before queueing it: nothing
    │   │                             was written (too large, unknown topic, bad header)
    │   └── UnknownOutcomeError       a delivery report carried an error: the record may or may
    │                                 not be in the log; retry with the same key and message id
    ├── StoreError                    base of MongoDB/FerretDB failures
    │   ├── StoreUnavailableError     no server answered in time (also an AdapterUnavailableError)
    │   ├── InvalidDocumentError      the document can never be stored (`$` key, `.` in a key)
    │   └── SeqConflictError          another writer already holds (thread_id, seq)
    ├── PoisonRecordError             raised by a record handler: the record can never be
    │                                 processed; its caller sends it to the DLQ and acks it
    └── LlmError                      base of chat-completion (assistants' model) failures
        ├── LlmUnavailableError       the model server cannot be reached, or the connection
        │                             broke mid-reply (also an AdapterUnavailableError)
        ├── LlmTimeoutError           no first token within the first-token deadline, or the
        │                             stream stalled past the idle deadline
        ├── LlmStatusError            the server answered HTTP 4xx/5xx, or sent an error object
        │                             in the stream; `status` and the server's message
        └── LlmProtocolError          the answer is not an OpenAI chat-completion stream (bad
                                      SSE, bad JSON, no choices, ended before `[DONE]`)

Following trio, *Closed* means we closed it and *Unavailable*/*UnknownOutcome* mean the
infrastructure failed. Every class says when it is raised.
"""

from __future__ import annotations

__all__ = [
    "AdapterClosedError",
    "AdapterError",
    "AdapterUnavailableError",
    "InvalidDocumentError",
    "LlmError",
    "LlmProtocolError",
    "LlmStatusError",
    "LlmTimeoutError",
    "LlmUnavailableError",
    "PoisonRecordError",
    "ProduceError",
    "ProduceRejectedError",
    "SeqConflictError",
    "StoreError",
    "StoreUnavailableError",
    "UnknownOutcomeError",
]


class AdapterError(Exception):
    """Base of every adapter failure; str(exc) is one complete sentence."""


class AdapterClosedError(AdapterError):
    """Raised by a request made after (or while) its adapter was stopped by its owner."""


class AdapterUnavailableError(AdapterError):
    """Raised when the broker or store cannot be reached; the caller may retry later."""


class ProduceError(AdapterError):
    """Base of producer failures."""


class ProduceRejectedError(ProduceError):
    """Raised by `produce()` when librdkafka refused the record: it was never queued."""


class UnknownOutcomeError(ProduceError):
    """Raised by `produce()` when the delivery report carried an error.

    The broker may still have written the record (a timed-out request can succeed), so the
    caller must treat the outcome as unknown and retry with the same key and message id.
    """

    def __init__(self, message: str, *, code: str = "", retriable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retriable = retriable


class StoreError(AdapterError):
    """Base of MongoDB/FerretDB failures."""


class StoreUnavailableError(StoreError, AdapterUnavailableError):
    """Raised when no server answered within the store's timeouts (outage, restart)."""


class InvalidDocumentError(StoreError):
    """Raised before writing a document that neither MongoDB nor FerretDB can hold."""


class SeqConflictError(StoreError):
    """Raised by `insert_message` when (thread_id, seq) is taken by a different message."""


class PoisonRecordError(AdapterError):
    """Raised by a record handler for a record that can never be processed.

    The handler's caller (the core's thread actor) sends the record to the dead-letter topic
    with `str(exc)` as the reason (`send_to_dead_letter`), then acknowledges it so its
    partition moves on.
    """


class LlmError(AdapterError):
    """Base of the chat-completions client's failures; str(exc) is one complete sentence."""


class LlmUnavailableError(LlmError, AdapterUnavailableError):
    """Raised when the model server refuses or drops the connection (down, restarting)."""


class LlmTimeoutError(LlmError):
    """Raised when the first token, or the next chunk of a started reply, is overdue.

    The HTTP stream is closed before this is raised, so the server stops generating.
    """


class LlmStatusError(LlmError):
    """Raised when the server answers an error status (400 prompt too long, 401 bad key, 429,
    500...) or sends an error object inside the stream; `status` is the HTTP status (or the
    error object's code, or None)."""

    def __init__(self, message: str, *, status: int | None) -> None:
        super().__init__(message)
        self.status = status


class LlmProtocolError(LlmError):
    """Raised when the answer is not an OpenAI-compatible chat-completion event stream."""
