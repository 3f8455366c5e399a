"""Fan-out of chat.events to the WebSocket connections of this gateway.

``publish`` is synchronous on purpose: the frame is encoded once per event (JSON payload and
the complete unmasked wire frame, identical for every recipient since no compression is
negotiated), then appended to each subscriber's mailbox with no checkpoint per recipient.

How the bytes reach the sockets (raw listener; see ``_outbox``): with the flusher running
(``run_flusher``, started with the listener) mailboxes stay corked until the publishing task
yields, then one task writes each connection's whole burst with ONE non-blocking write —
the records of a Kafka poll cost one syscall per connection, not one per event. Without
the flusher a frame is written at once when the connection's writer is idle (asyncio
transport style). Only when the kernel buffer is full does the connection's own writer task
take over; a mailbox that then overflows closes the connection as a slow consumer (4000).

Seam between replay and live (``subscribe`` → history → ``go_live``): a new subscription is
*pending* — live events are buffered in it with their seq — while the connection replays
missed messages from the store; ``go_live`` then moves the buffered events with a seq above
the last replayed one into the mailbox, and later live events below that floor are skipped.
Everything in chat.events was stored before it was published, so nothing falls in between.

Assistant turns (``publish_turn``): records of `chat.turns` go to the thread's live
subscribers only; a pending one gets, at ``go_live``, each running turn's `started` frame with
the text so far (``ActiveTurns``), then the live deltas: no gap, no duplicate.

Presence is counted per (thread, user) over this gateway's connections: ``subscribe``
reports the first, ``unsubscribe``/``close`` the last; the connection publishes the event.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import trio

from gateway.ws._connection_limit import ConnectionLimiter
from gateway.ws._outbox import Outbox, OutFrame
from gateway.ws._turns import ActiveTurns
from gateway.ws.protocol import (
    CloseCode,
    encode_event,
    error_frame,
    profile_frame,
    thread_frame,
    wire_text_frame,
)
from protocol.events import (
    Event,
    MembershipEvent,
    MessageDeleted,
    MessageEdited,
    MessageEvent,
    ProfileEvent,
)
from protocol.turns import TurnRecord, encode_turn
from telemetry.metrics import Metrics

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["FanoutHub", "Peer", "Subscription"]

SLOW_CONSUMER_REASON = "slow consumer: reconnect and subscribe with since_seq"
# Names in a `subscribed` frame's `online` list: enough for a chat's member list, bounded
# for a thread with thousands of listeners.
ONLINE_LIST_LIMIT = 100
_EPHEMERAL = -1  # seq marker of typing/presence frames buffered in a pending subscription

# Events with a seq in their thread (a message, an edit, a delete): ordered against the
# subscriber's replay floor; the others (typing, presence) are ephemeral.
_SEQUENCED = (MessageEvent, MessageEdited, MessageDeleted)


class Subscription:
    __slots__ = ("active", "floor", "outbox", "peer", "pending", "thread_id")

    def __init__(self, peer: Peer, thread_id: str) -> None:
        self.peer = peer
        self.outbox = peer.outbox
        self.thread_id = thread_id
        # Not None while the connection replays history: (seq, frame) seen meanwhile.
        self.pending: list[tuple[int, OutFrame]] | None = []
        self.floor = 0  # live message events with seq <= floor were already replayed
        self.active = True


class Peer:
    """One connection as the hub sees it."""

    __slots__ = ("on_removed", "outbox", "subs", "user_id")

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.user_id: str | None = None
        self.subs: dict[str, Subscription] = {}
        # Called when a MembershipEvent removed the user: (thread_id, user went offline).
        self.on_removed: Callable[[str, bool], None] | None = None


class FanoutHub:
    def __init__(
        self,
        *,
        metrics: Metrics | None = None,
        mailbox_frames: int = 1024,
        max_connections_per_user: int = 20,
    ) -> None:
        self.metrics = metrics if metrics is not None else Metrics()
        self.mailbox_frames = mailbox_frames
        self._limiter = ConnectionLimiter(max_connections_per_user)
        self._peers: set[Peer] = set()
        # user_id -> that user's authenticated connections here: whom to tell of a new thread
        self._by_user: dict[str, set[Peer]] = {}
        self._topics: dict[str, dict[Peer, Subscription]] = {}
        # thread_id -> user_id -> that user's subscriptions to the thread on this gateway
        self._present: dict[str, dict[str, int]] = {}
        #: the actor system supervising this gateway's ConnectionActors (set by the listener)
        self._dirty: list[Outbox] = []
        self._flusher_alive = False
        self._flusher_task: trio.lowlevel.Task | None = None
        self.turns = ActiveTurns()

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics | None = None) -> FanoutHub:
        return cls(
            metrics=metrics,
            mailbox_frames=settings.ws_mailbox_frames,
            max_connections_per_user=settings.max_connections_per_user,
        )

    # --- connections --------------------------------------------------------------------
    @property
    def flusher_running(self) -> bool:
        return self._flusher_alive

    @property
    def connection_count(self) -> int:
        return len(self._peers)

    def subscriber_count(self, thread_id: str) -> int:
        return len(self._topics.get(thread_id, ()))

    def new_outbox(self) -> Outbox:
        return Outbox(self.mailbox_frames)

    def open(self, outbox: Outbox) -> Peer:
        peer = Peer(outbox)
        self._peers.add(peer)
        self.metrics.ws_connections.set(len(self._peers))
        return peer

    def authenticate(self, peer: Peer, user_id: str) -> None:
        """Bind the connection to its user; ``TooManyConnections`` (close 1008) past the cap."""
        if peer.user_id is not None:
            return
        self._limiter.acquire(user_id)
        peer.user_id = user_id
        self._by_user.setdefault(user_id, set()).add(peer)

    def close(self, peer: Peer) -> list[str]:
        """Forget the connection; returns the threads where its user is now offline."""
        offline = [tid for tid in list(peer.subs) if self._drop(peer.subs[tid])]
        # Peer ↔ Subscription and Peer → its actor's callback → Peer are cycles: cut them so
        # a closed connection is freed by reference counting, not by a full collection.
        peer.subs.clear()
        peer.on_removed = None
        if peer in self._peers:
            self._peers.discard(peer)
            if peer.user_id is not None:
                self._limiter.release(peer.user_id)
                mine = self._by_user.get(peer.user_id)
                if mine is not None:
                    mine.discard(peer)
                    if not mine:
                        del self._by_user[peer.user_id]
            self.metrics.ws_connections.set(len(self._peers))
        return offline

    def close_all(self, code: int, reason: str) -> int:
        """Ask every connection to close (drain: 1001); returns how many were asked."""
        for peer in self._peers:
            peer.outbox.close(code, reason)
        return len(self._peers)

    # --- subscriptions ------------------------------------------------------------------
    def subscribe(self, peer: Peer, thread_id: str) -> tuple[Subscription, bool]:
        """Start (or restart) buffering live events for the thread.

        Returns the pending subscription and whether this is the user's first connection
        on the thread here (publish presence online after ``go_live``).
        """
        assert peer.user_id is not None, "authenticate before subscribing"
        sub = peer.subs.get(thread_id)
        if sub is not None:
            sub.pending = []
            return sub, False
        sub = Subscription(peer, thread_id)
        peer.subs[thread_id] = sub
        self._topics.setdefault(thread_id, {})[peer] = sub
        users = self._present.setdefault(thread_id, {})
        count = users.get(peer.user_id, 0) + 1
        users[peer.user_id] = count
        return sub, count == 1

    def online(self, thread_id: str, *, besides: str, limit: int = ONLINE_LIST_LIMIT) -> list[str]:
        """Users subscribed to the thread on this gateway (at most `limit`), not `besides`.

        Presence frames only tell changes; this is what a new subscriber is told is already
        there. Users on other gateways appear as their next presence change arrives.
        """
        users = self._present.get(thread_id, {})
        return [user for user in itertools.islice(users, limit + 1) if user != besides][:limit]

    def go_live(self, sub: Subscription, last_seq: int) -> int:
        """Flush what was buffered during replay above ``last_seq``; returns the new last seq.

        Call with no checkpoint between this and queueing the ``subscribed`` frame.
        """
        pending, sub.pending = sub.pending, None
        outbox = sub.outbox
        for seq, frame in pending or ():
            if seq == _EPHEMERAL or seq > last_seq:
                if not outbox.push(frame):
                    self._slow(outbox)
                    break
                if seq != _EPHEMERAL:
                    last_seq = seq
        sub.floor = last_seq
        # The turns running now, with their text so far: the deltas that follow go live.
        for started in self.turns.snapshots(sub.thread_id):
            payload = encode_turn(started)
            if not outbox.push(OutFrame(payload, wire_text_frame(payload))):
                self._slow(outbox)
                break
        return last_seq

    def unsubscribe(self, peer: Peer, thread_id: str) -> bool:
        """Drop one subscription; True when the user is now offline on the thread."""
        sub = peer.subs.get(thread_id)
        return sub is not None and self._drop(sub)

    def _drop(self, sub: Subscription) -> bool:
        if not sub.active:
            return False
        sub.active = False
        peer = sub.peer
        peer.subs.pop(sub.thread_id, None)
        topic = self._topics.get(sub.thread_id)
        if topic is not None:
            topic.pop(peer, None)
            if not topic:
                del self._topics[sub.thread_id]
        assert peer.user_id is not None
        users = self._present.get(sub.thread_id, {})
        count = users.get(peer.user_id, 0) - 1
        if count > 0:
            users[peer.user_id] = count
            return False
        users.pop(peer.user_id, None)
        if not users:
            self._present.pop(sub.thread_id, None)
        return True

    # --- fan-out ------------------------------------------------------------------------
    def publish(self, event: Event) -> int:
        """Deliver one chat.events record; returns the number of mailboxes it was put in.

        Synchronous: no checkpoint at all, so never ``await`` it. With the flusher running
        (``run_flusher``), frames are corked until the publishing task next yields: a burst
        (the records of one Kafka poll) then costs one write per connection, not one per
        event. Without it each frame is written at once.
        """
        if self._flusher_alive:
            delivered = self._deliver(event, self._dirty)
            task = self._flusher_task
            if task is not None and self._dirty:
                self._flusher_task = None
                trio.lowlevel.reschedule(task)
            return delivered
        return self._deliver(event, None)

    async def run_flusher(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Write corked mailboxes once per scheduler turn (one task for the whole gateway)."""
        if self._flusher_alive:
            raise RuntimeError("the fan-out flusher is already running")
        self._flusher_alive = True
        task_status.started()
        try:
            while True:
                if not self._dirty:
                    self._flusher_task = trio.lowlevel.current_task()

                    def abort(_: object) -> trio.lowlevel.Abort:
                        self._flusher_task = None
                        return trio.lowlevel.Abort.SUCCEEDED

                    await trio.lowlevel.wait_task_rescheduled(abort)
                dirty, self._dirty = self._dirty, []
                for outbox in dirty:
                    outbox.uncork()
                await trio.lowlevel.checkpoint()
        finally:
            self._flusher_alive = False
            dirty, self._dirty = self._dirty, []
            for outbox in dirty:
                outbox.uncork()

    def publish_turn(self, record: TurnRecord) -> int:
        """Deliver one `chat.turns` record to the thread's live subscribers (synchronous).

        Pending subscribers get nothing now: their ``go_live`` sends the snapshot, which
        already holds this record.
        """
        if not self.turns.observe(record):
            return 0
        topic = self._topics.get(record.thread_id)
        if not topic:
            return 0
        payload = encode_turn(record)
        frame = OutFrame(payload, wire_text_frame(payload))
        corked = self._dirty if self._flusher_alive else None
        delivered = 0
        slow: list[Outbox] = []
        for sub in topic.values():
            if sub.pending is not None:
                continue
            outbox = sub.outbox
            if corked is not None and not outbox.corked:
                outbox.corked = True
                corked.append(outbox)
            if outbox.push(frame):
                delivered += 1
            else:
                slow.append(outbox)
        for outbox in slow:
            self._slow(outbox)
        if corked is not None and corked:
            task = self._flusher_task
            if task is not None:
                self._flusher_task = None
                trio.lowlevel.reschedule(task)
        return delivered

    def publish_many(self, events: Iterable[Event]) -> int:
        """Deliver a batch (e.g. one Kafka poll): each connection gets ONE write for all of it.

        Mailboxes are corked while the batch is queued, then each is flushed with a single
        write, so a burst of n events costs one syscall per recipient instead of n.
        """
        if self._flusher_alive:
            return sum(self.publish(event) for event in events)
        corked: list[Outbox] = []
        delivered = 0
        try:
            for event in events:
                delivered += self._deliver(event, corked)
        finally:
            for outbox in corked:
                outbox.uncork()
        return delivered

    def _deliver(self, event: Event, corked: list[Outbox] | None) -> int:
        if isinstance(event, MembershipEvent):
            self._apply_membership(event)
            return 0
        if isinstance(event, ProfileEvent):
            return self._tell_profile(event)
        topic = self._topics.get(event.thread_id)
        if not topic:
            return 0
        payload = encode_event(event)
        frame = OutFrame(payload, wire_text_frame(payload))
        slow: list[Outbox] | None = None
        delivered = 0
        if isinstance(event, _SEQUENCED):
            seq = event.seq
            for sub in topic.values():
                pending = sub.pending
                if pending is not None:
                    pending.append((seq, frame))
                    if len(pending) > self.mailbox_frames:
                        slow = slow or []
                        slow.append(sub.outbox)
                elif seq > sub.floor:
                    outbox = sub.outbox
                    if corked is not None and not outbox.corked:
                        outbox.corked = True
                        corked.append(outbox)
                    if outbox.push(frame):
                        delivered += 1
                    else:
                        slow = slow or []
                        slow.append(outbox)
        else:
            # Typing and presence are about someone else: never echoed to the user's own tabs.
            skip_user = event.user_id
            for sub in topic.values():
                if sub.peer.user_id == skip_user:
                    continue
                pending = sub.pending
                if pending is not None:
                    pending.append((_EPHEMERAL, frame))
                    if len(pending) > self.mailbox_frames:
                        slow = slow or []
                        slow.append(sub.outbox)
                else:
                    outbox = sub.outbox
                    if corked is not None and not outbox.corked:
                        outbox.corked = True
                        corked.append(outbox)
                    if outbox.push(frame):
                        delivered += 1
                    else:
                        slow = slow or []
                        slow.append(outbox)
        if slow:
            for outbox in slow:
                self._slow(outbox)
        if delivered:
            self.metrics.broadcast.inc(delivered)
        return delivered

    def _slow(self, outbox: Outbox) -> None:
        if not outbox.closing:
            outbox.close(CloseCode.SLOW_CONSUMER, SLOW_CONSUMER_REASON, discard=True)
            self.metrics.slow_consumers.inc()

    def _apply_membership(self, event: MembershipEvent) -> None:
        topic = self._topics.get(event.thread_id) or {}
        self._tell_members(event, topic)
        if not topic:
            return
        members = frozenset(event.members)
        removed = [sub for sub in topic.values() if sub.peer.user_id not in members]
        for sub in removed:
            offline = self._drop(sub)
            payload = error_frame(
                "forbidden",
                "you are no longer a member of this thread",
                field="thread_id",
                thread_id=event.thread_id,
            )
            if not sub.outbox.push(OutFrame(payload, wire_text_frame(payload))):
                self._slow(sub.outbox)
            if sub.peer.on_removed is not None:
                sub.peer.on_removed(event.thread_id, offline)

    def _tell_members(self, event: MembershipEvent, topic: dict[Peer, Subscription]) -> None:
        """A `thread` frame to each member's connection not yet subscribed to the thread:
        it was created with them in it, or they were added, and the client lists it now
        instead of on its next poll of GET /api/threads."""
        archived = True if event.archived else None
        payload = thread_frame(event.thread_id, list(event.members), event.title, archived)
        frame = OutFrame(payload, wire_text_frame(payload))
        # A rename or an archive is news to every member's connection.
        changed = event.title is not None or event.archived
        for user in event.members:
            for peer in self._by_user.get(user, ()):
                if (changed or peer not in topic) and not peer.outbox.push(frame):
                    self._slow(peer.outbox)

    def _tell_profile(self, event: ProfileEvent) -> int:
        """A `profile` frame to every connection of the people who share a thread with the
        user (the record names them: the gateway that made the change looked them up)."""
        payload = profile_frame(event.user_id, event.display_name)
        frame = OutFrame(payload, wire_text_frame(payload))
        told = 0
        for user in event.audience:
            for peer in self._by_user.get(user, ()):
                if peer.outbox.push(frame):
                    told += 1
                else:
                    self._slow(peer.outbox)
        return told
