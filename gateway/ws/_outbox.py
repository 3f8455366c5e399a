"""A connection's bounded mailbox of outgoing frames, fed without yielding.

The hub calls ``push`` for every recipient of an event: a list append and, only when the
writer is parked, one ``reschedule`` — no checkpoint, no channel machinery. The writer task
takes *everything* queued at once and writes it with a single write.

Direct write (the raw listener sets ``fd``): when the writer is parked, nothing is queued and
nothing is in flight, ``push`` writes the frame with one non-blocking ``os.write`` and wakes
nobody — what asyncio's transports do. Whatever the kernel does not take goes first into the
mailbox's control queue and the writer is woken, so order is kept.

Full-mailbox policy: ``push`` returns False and the hub closes the connection as a slow
consumer (close 4000); the client reconnects with ``since_seq`` and loses nothing.
"""

from __future__ import annotations

import os

import trio

__all__ = ["OutFrame", "Outbox"]


class OutFrame:
    """One server frame: the JSON payload and the complete wire frame, both built once."""

    __slots__ = ("payload", "wire")

    def __init__(self, payload: bytes, wire: bytes) -> None:
        self.payload = payload
        self.wire = wire


class Outbox:
    __slots__ = (
        "_room",
        "_task",
        "close_code",
        "close_reason",
        "closing",
        "control",
        "corked",
        "discard",
        "fd",
        "held",
        "items",
        "limit",
        "pending_close",
    )

    def __init__(self, limit: int) -> None:
        self.items: list[OutFrame] = []
        # Raw bytes the transport writes ahead of frames (pongs); not counted in the limit.
        self.control: list[bytes] = []
        self.limit = limit
        self.closing = False
        self.discard = False
        self.close_code = 1000
        self.close_reason = ""
        self._task: trio.lowlevel.Task | None = None
        self._room: trio.Event | None = None
        #: the socket's file descriptor for direct writes (-1: always queue)
        self.fd = -1
        #: inside ``FanoutHub.publish_many``: queue only, ``uncork`` writes the batch at once
        self.corked = False
        #: sends awaiting their Kafka ack; a polite close waits for their acks (see ``hold``)
        self.held = 0
        self.pending_close: tuple[int, str] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def push(self, frame: OutFrame) -> bool:
        """Queue without blocking; False when not queued: full (unless ``closing``, when the
        connection is on its way out and the frame is simply dropped)."""
        items = self.items
        if self.corked:
            if self.closing:
                return False
            if len(items) >= self.limit and not self._write_queued():
                return False
            self.items.append(frame)
            return True
        if self._task is not None and self.fd >= 0 and not (items or self.control or self.closing):
            # The writer is parked with nothing in flight: write now, wake nobody.
            wire = frame.wire
            try:
                sent = os.write(self.fd, wire)
            except OSError:  # full (EAGAIN) or broken: the writer handles it
                sent = 0
            if sent == len(wire):
                return True
            if sent:
                self.control.append(wire[sent:])
                self._wake()
                return True
        if len(items) >= self.limit or self.closing:
            return False
        items.append(frame)
        task = self._task
        if task is not None:
            self._task = None
            trio.lowlevel.reschedule(task)
        return True

    def uncork(self) -> None:
        """End of a corked batch: one direct write of everything queued, or wake the writer."""
        self.corked = False
        if self.items and not self.closing and not self._write_queued():
            self._wake()

    def _write_queued(self) -> bool:
        """Write all queued frames now if the writer is parked; True when nothing is left."""
        if self._task is None or self.fd < 0 or self.control:
            return False
        items = self.take()
        data = items[0].wire if len(items) == 1 else b"".join([f.wire for f in items])
        try:
            sent = os.write(self.fd, data)
        except OSError:  # full or broken: the writer takes over
            sent = 0
        if sent == len(data):
            return True
        self.control.append(data[sent:])
        self._wake()
        return False

    def push_control(self, data: bytes) -> None:
        if self.closing:
            return
        self.control.append(data)
        self._wake()

    async def put(self, frame: OutFrame) -> None:
        """Queue a reply or a replayed message, waiting while the mailbox is half full.

        The other half stays free for live events, so a long replay never makes the hub
        close the connection; a reader that never reads is still closed by the write timeout.
        """
        while len(self.items) >= max(1, self.limit // 2) and not self.closing:
            if self._room is None:
                self._room = trio.Event()
            await self._room.wait()
        if not self.closing:
            self.items.append(frame)
            self._wake()
        await trio.lowlevel.checkpoint()

    def hold(self) -> None:
        """A send is in flight: a polite close (the drain's 1001) waits for its ack or error,
        so a message Kafka accepted is never left without an answer to its client."""
        self.held += 1

    def release(self) -> None:
        self.held -= 1
        if self.held == 0 and self.pending_close is not None:
            code, reason = self.pending_close
            self.pending_close = None
            self.close(code, reason)

    def close(self, code: int, reason: str, *, discard: bool = False) -> None:
        """Ask the writer to finish: queued frames go first unless ``discard``; first call wins."""
        if self.closing:
            return
        if self.held and not discard:
            if self.pending_close is None:
                self.pending_close = (code, reason)
            return
        self.closing = True
        self.close_code = code
        self.close_reason = reason
        if discard:
            self.discard = True
            self.items = []
        self._wake()
        if self._room is not None:
            self._room.set()
            self._room = None

    async def wait(self) -> None:
        """Park the writer until there is something to write or the outbox is closing."""
        if self.items or self.control or self.closing:
            await trio.lowlevel.checkpoint()
            return
        self._task = trio.lowlevel.current_task()

        def abort(_: object) -> trio.lowlevel.Abort:
            self._task = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def take(self) -> list[OutFrame]:
        items = self.items
        if items:
            self.items = []
            if self._room is not None:
                self._room.set()
                self._room = None
        return items

    def take_control(self) -> list[bytes]:
        """The queued control bytes, as a list the caller owns."""
        control = self.control
        if not control:
            return []
        self.control = []
        return control

    def _wake(self) -> None:
        task = self._task
        if task is not None:
            self._task = None
            trio.lowlevel.reschedule(task)
