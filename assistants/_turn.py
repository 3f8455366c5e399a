"""One assistant turn: the model's reply streamed as turn records, stoppable, never stuck.

    turn = Turn(started, llm, request, sink)
    nursery.start_soon(turn.run)        # sink(TurnStarted), sink(TurnDelta)..., sink(TurnFinished)
    turn.stop("stopped by bob")         # any time, any number of times

`run` always ends with exactly one `TurnFinished` and returns it with the text: `complete`
when the model finished, `stopped` when `stop()` was called (the HTTP stream is closed, so the
model server stops generating; the text so far is the partial reply), `error` when the model
failed (`reason` is the adapter's one-sentence message). Storing the reply is the caller's
part (the thread's actor): `finished.message_id` is set when there is text to store.

An outer cancellation (the owner shutting down) is not a stop: it propagates, and the owner
decides what to store (it knows whether it drains or dies). Nothing here does I/O but through
`llm` and `sink`, so the owner chooses where the records go (the thread's subscribers on
every gateway, later) and how they are bounded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from adapters import ChatCompletions, ChatRequest, LlmError
from protocol.turns import (
    MAX_DELTA_CHARS,
    TurnDelta,
    TurnFinished,
    TurnRecord,
    TurnStarted,
    TurnStatus,
    TurnText,
)

__all__ = ["Turn", "TurnOutcome", "TurnSink"]

TurnSink = Callable[[TurnRecord], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    finished: TurnFinished
    text: str
    # Seconds from the request to the first delta (None: no text came).
    first_delta_s: float | None


class Turn:
    def __init__(
        self, started: TurnStarted, llm: ChatCompletions, request: ChatRequest, sink: TurnSink
    ) -> None:
        self.started = started
        self._llm = llm
        self._request = request
        self._sink = sink
        self._scope = trio.CancelScope()
        self._stop_reason: str | None = None
        self._stop_status: TurnStatus = "stopped"
        self.text = TurnText(started)

    @property
    def turn_id(self) -> str:
        return self.started.turn_id

    def stop(self, reason: str, *, as_error: bool = False) -> None:
        """End the turn as `stopped` (`error` with `as_error`: the owner's deadline ran out);
        the first reason wins; a no-op once it finished."""
        if self._stop_reason is None:
            self._stop_reason = reason
            self._stop_status = "error" if as_error else "stopped"
        self._scope.cancel()

    def snapshot(self) -> TurnStarted:
        """The `started` record with the text so far, for a subscriber joining mid-turn."""
        return self.text.snapshot(self.started)

    async def run(self) -> TurnOutcome:
        await self._sink(self.started)
        sent = trio.current_time()
        first: list[float] = []

        async def on_delta(piece: str) -> None:
            if not first:
                first.append(trio.current_time() - sent)
            for start in range(0, len(piece), MAX_DELTA_CHARS):
                delta = TurnDelta(
                    self.started.thread_id,
                    self.turn_id,
                    self.text.next_index,
                    piece[start : start + MAX_DELTA_CHARS],
                )
                self.text.apply(delta)
                await self._sink(delta)

        status: TurnStatus = "complete"
        reason: str | None = None
        with self._scope:
            try:
                await self._llm.stream(self._request, on_delta)
            except LlmError as exc:
                status, reason = "error", str(exc)
        if self._scope.cancelled_caught:
            status, reason = self._stop_status, self._stop_reason or "stopped"
        text = self.text.text
        finished = TurnFinished(
            thread_id=self.started.thread_id,
            turn_id=self.turn_id,
            status=status,
            deltas=self.text.next_index,
            reason=reason,
            message_id=self.started.message_id if text else None,
        )
        # Marks the turn over before the last await: a late stop() changes nothing.
        self._stop_reason = self._stop_reason or "finished"
        await self._sink(finished)
        return TurnOutcome(finished, text, first[0] if first else None)
