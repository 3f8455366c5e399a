"""ConnectionActor: the protocol logic of one WebSocket connection, whatever carries it.

A transport (the raw listener in ``gateway.ws.listener`` or the Quart route) owns the socket
and spawns one ConnectionActor per connection on the actor runtime (``actors``), supervised
and never restarted. Its reader parses client frames and ``tell``s the commands; its writer
drains the actor's ``Outbox`` (replies and the hub's live frames, in one order) and, once the
outbox is closed, writes the close frame and ends the connection, then stops the actor. So
the actor never touches the socket and runs the same over both transports.

Life of a connection: authenticate (bearer subprotocol, or an ``auth`` frame within
``auth_timeout_s``) → serve commands until the token expires (close 1008) unless a later
``auth`` frame refreshed it. Refusals from identity and limits close the connection with
their ``close_code``; refusals of single commands (not a member, rate limited, text too
large...) become ``error`` frames naming the field, and the connection stays open.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, ClassVar, Literal

import trio

from actors import Actor, ActorStopped, MailboxFull, MailboxPolicy
from gateway.ws._errors import CommandInvalid
from gateway.ws._inbound import Inbound, Removed
from gateway.ws._outbox import OutFrame
from gateway.ws.hub import SLOW_CONSUMER_REASON
from gateway.ws.protocol import (
    PONG,
    Auth,
    CloseCode,
    Delete,
    Edit,
    Ping,
    Read,
    Send,
    StopTurn,
    Subscribe,
    Typing,
    Unsubscribe,
    ack_frame,
    encode_event,
    error_frame,
    subscribed_frame,
    wire_text_frame,
)
from protocol.events import PresenceEvent, TypingEvent
from protocol.refusals import (
    AuthError,
    AuthFrameRejected,
    AuthTimeout,
    ExpiredToken,
    PrincipalMismatch,
    Refusal,
)

if TYPE_CHECKING:
    from gateway.auth import Principal
    from gateway.ws._interfaces import AcceptedMessage, ConnectionServices
    from gateway.ws._options import WsOptions
    from gateway.ws._outbox import Outbox
    from gateway.ws.hub import FanoutHub, Peer, Subscription

__all__ = ["ConnectionActor", "Inbound", "Removed"]

log = logging.getLogger("parley.ws")


def frame(payload: bytes) -> OutFrame:
    return OutFrame(payload, wire_text_frame(payload))


_PONG = frame(PONG)


def _send_error(cmd: Send | Edit | Delete, exc: Refusal) -> bytes:
    return error_frame(
        exc.code,
        exc.message,
        field=getattr(exc, "field", None),
        thread_id=cmd.thread_id,
        client_msg_id=cmd.client_msg_id,
        retry_after_s=exc.retry_after_s,
    )


class ConnectionActor(Actor[Inbound]):
    """One connection's commands, in order; replies and live events share its outbox.

    Spawned per connection with ``Restart.TEMPORARY`` (a connection's state dies with its
    socket, so a crash is never restarted: ``on_stopped`` closes with 1011 instead). The
    transport's reader ``tell``s it each command; mailbox policy REJECT — a client with more
    than ``mailbox_capacity`` commands queued is closed with 1008 by the transport.
    """

    __slots__ = (
        "_auth_deadline",
        "_bearer",
        "_hub",
        "_options",
        "_outbox",
        "_peer",
        "_principal",
        "_rate_refusals",
        "_services",
        "_tokens",
        "_tokens_at",
        "_typing_at",
        "_via",
        "_wall_clock",
    )

    mailbox_capacity: ClassVar[int] = 256
    mailbox_policy: ClassVar[MailboxPolicy] = MailboxPolicy.REJECT
    stop_grace: ClassVar[float] = 2.0

    def __init__(
        self,
        *,
        services: ConnectionServices,
        hub: FanoutHub,
        outbox: Outbox,
        options: WsOptions,
        via: str = "ws",
        bearer_token: str | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._services = services
        self._hub = hub
        self._outbox = outbox
        self._options = options
        self._via = via
        self._bearer = bearer_token
        self._wall_clock = wall_clock
        self._principal: Principal | None = None
        self._peer: Peer | None = None
        self._typing_at: dict[str, float] = {}
        self._rate_refusals = 0
        self._tokens = float(options.command_burst)
        self._tokens_at = 0.0
        # From construction, not from on_started(): the transport's timer may look at this
        # actor before the runtime has run its first hook.
        self._auth_deadline = trio.current_time() + options.auth_timeout_s

    @property
    def principal(self) -> Principal | None:
        return self._principal

    # --- lifecycle (actors runtime hooks) -----------------------------------------------
    async def on_started(self) -> None:
        peer = self._hub.open(self._outbox)
        peer.on_removed = self._on_removed
        self._peer = peer
        if self._bearer is not None:
            token, self._bearer = self._bearer, None
            await self._login(token)

    async def receive(self, msg: Inbound) -> None:
        if self._outbox.closing:
            return  # on its way out: nothing more is done for this client
        if self._principal is None:
            if not isinstance(msg, Auth):
                self._refuse(AuthFrameRejected("the first frame must be an auth frame"))
                return
            await self._login(msg.token)
            return
        # No timer per connection for the token's expiry (a cancel scope per idle connection
        # costs ~1 KB): the transport calls check_deadlines() every expiry_check_s, and every
        # command is checked before it runs.
        if self.check_expiry():
            return
        if not self._take_token():
            self._close(CloseCode.POLICY, "rate_limited: too many frames per second")
            return
        await self._handle(msg)

    async def on_stopped(self, error: BaseException | None) -> None:
        if error is not None:
            log.error("websocket connection failed", exc_info=error)
            self._outbox.close(CloseCode.INTERNAL, "internal error")
        else:
            # Stopped by the runtime (shutdown) rather than by its socket ending.
            self._outbox.close(CloseCode.GOING_AWAY, "server shutting down")
        if self._peer is None:
            return
        offline = self._hub.close(self._peer)
        if offline and self._principal is not None:
            # The runtime shields this hook for at most stop_grace seconds.
            for thread_id in offline:
                await self._presence(thread_id, "offline")

    def check_deadlines(self) -> None:
        """Called by the transport's timer: auth deadline (1008) and token expiry (1008)."""
        if self._principal is None:
            if not self._outbox.closing and trio.current_time() > self._auth_deadline:
                timeout = self._options.auth_timeout_s
                self._refuse(AuthTimeout(f"no auth frame within {timeout:g} s"))
            return
        self.check_expiry()

    def check_expiry(self) -> bool:
        """Close with 1008 if the token ran out without a refresh; True when it did."""
        principal = self._principal
        if principal is None or self._outbox.closing:
            return False
        if principal.expires_at > self._wall_clock():
            return False
        self._refuse_expired()
        return True

    # --- authentication -----------------------------------------------------------------
    async def _login(self, token: str) -> None:
        assert self._peer is not None
        # Verifying counts against the auth deadline too (a slow provider cannot stretch it).
        with trio.move_on_at(self._auth_deadline) as deadline:
            try:
                principal = await self._services.verifier.verify(token)
            except Refusal as exc:
                self._refuse(exc)
                return
        if deadline.cancelled_caught:
            timeout = self._options.auth_timeout_s
            self._refuse(AuthTimeout(f"no auth frame within {timeout:g} s"))
            return
        try:
            self._hub.authenticate(self._peer, principal.user_id)
        except Refusal as exc:
            self._refuse(exc)
            return
        self._principal = principal
        self._tokens_at = trio.current_time()

    async def _refresh(self, cmd: Auth) -> None:
        assert self._principal is not None
        try:
            principal = await self._services.verifier.verify(cmd.token)
        except Refusal as exc:
            self._refuse(exc)
            return
        if principal.user_id != self._principal.user_id:
            self._refuse(PrincipalMismatch("the refreshed token belongs to another user"))
            return
        self._principal = principal

    def _refuse_expired(self) -> None:
        self._refuse(ExpiredToken("access token expired on this connection"))

    def _refuse(self, exc: Refusal) -> None:
        """Tell the client why in an error frame, then close with the refusal's code."""
        if not self._outbox.closing:
            self._outbox.push(frame(exc.to_ws_frame().encode()))
        self._close(exc.close_code, exc.close_reason)

    def _close(self, code: int, reason: str) -> None:
        self._outbox.close(code, reason)

    # --- commands -----------------------------------------------------------------------
    async def _handle(self, item: Inbound) -> None:
        if isinstance(item, Send):
            await self._send(item)
        elif isinstance(item, Subscribe):
            await self._subscribe(item)
        elif isinstance(item, Ping):
            await self._outbox.put(_PONG)
        elif isinstance(item, Typing):
            await self._typing(item)
        elif isinstance(item, Unsubscribe):
            await self._unsubscribe(item.thread_id)
        elif isinstance(item, Auth):
            await self._refresh(item)
        elif isinstance(item, Edit | Delete):
            await self._change(item)
        elif isinstance(item, Read):
            await self._read(item)
        elif isinstance(item, StopTurn):
            await self._stop_turn(item)
        elif isinstance(item, CommandInvalid):
            await self._outbox.put(frame(error_frame("invalid", item.message, field=item.field)))
        elif isinstance(item, Removed):
            self._typing_at.pop(item.thread_id, None)
            if item.offline:
                await self._presence(item.thread_id, "offline")

    async def _send(self, cmd: Send) -> None:
        """Queue the message for Kafka and move on: its ack (or error) comes with the report.

        Several sends of one connection are in flight at once, in the order sent (one
        producer, keyed by thread), with no task per send. ``hold`` keeps a polite close
        waiting until every one of them was answered.
        """
        assert self._principal is not None
        self._outbox.hold()
        try:
            await self._services.ingest.submit(
                self._principal,
                cmd.thread_id,
                cmd.text,
                cmd.client_msg_id,
                self._via,
                partial(self._sent, cmd),
            )
        except AuthError as exc:
            self._outbox.release()
            self._refuse(exc)
            return
        except Refusal as exc:
            self._outbox.release()
            if exc.code == "rate_limited":
                self._rate_refusals += 1
                if self._rate_refusals >= self._options.rate_refusals_before_close:
                    self._close(CloseCode.POLICY, "rate_limited: kept sending past the limit")
                    return
            await self._outbox.put(frame(_send_error(cmd, exc)))
            return
        except BaseException:
            self._outbox.release()
            raise
        self._rate_refusals = 0

    async def _change(self, cmd: Edit | Delete) -> None:
        """An edit or a delete: rare, so answered in line (its ack once Kafka has it)."""
        assert self._principal is not None
        text = cmd.text if isinstance(cmd, Edit) else None
        try:
            accepted = await self._services.ingest.accept_change(
                self._principal, cmd.thread_id, cmd.message_id, text, cmd.client_msg_id, self._via
            )
        except AuthError as exc:
            self._refuse(exc)
            return
        except Refusal as exc:
            await self._outbox.put(frame(_send_error(cmd, exc)))
            return
        await self._outbox.put(
            frame(ack_frame(cmd.client_msg_id, accepted.message_id, accepted.thread_id))
        )

    async def _read(self, cmd: Read) -> None:
        """Raise the read marker; silent when it worked (the next boot snapshot shows it)."""
        assert self._principal is not None
        try:
            await self._services.threads.mark_read(
                self._principal.user_id, cmd.thread_id, cmd.seq
            )
        except AuthError as exc:
            self._refuse(exc)
        except Refusal as exc:
            field = getattr(exc, "field", None)
            await self._error(exc.code, exc.message, cmd.thread_id, field=field)

    async def _stop_turn(self, cmd: StopTurn) -> None:
        """Any member may stop the thread's turn; the `finished` turn frame is the answer."""
        assert self._principal is not None
        try:
            await self._services.ingest.request_stop(self._principal, cmd.thread_id, cmd.turn_id)
        except AuthError as exc:
            self._refuse(exc)
        except Refusal as exc:
            await self._error(
                exc.code, exc.message, cmd.thread_id, field=getattr(exc, "field", None)
            )

    def _sent(self, cmd: Send, outcome: AcceptedMessage | Refusal) -> None:
        # Called from the producer's delivery report: no task, so no await here.
        try:
            if isinstance(outcome, Refusal):
                payload = _send_error(cmd, outcome)
            else:
                payload = ack_frame(cmd.client_msg_id, outcome.message_id, outcome.thread_id)
            if not self._outbox.push(frame(payload)) and not self._outbox.closing:
                # A client that does not read its acks: the same as any slow reader. It
                # resends with the same client_msg_id after reconnecting (no duplicate).
                self._outbox.close(CloseCode.SLOW_CONSUMER, SLOW_CONSUMER_REASON, discard=True)
        finally:
            self._outbox.release()

    async def _subscribe(self, cmd: Subscribe) -> None:
        assert self._principal is not None and self._peer is not None
        peer, thread_id = self._peer, cmd.thread_id
        if thread_id not in peer.subs and len(peer.subs) >= self._options.max_subscriptions:
            limit = self._options.max_subscriptions
            await self._error(
                "too_many_subscriptions", f"at most {limit} threads per connection", thread_id
            )
            return
        try:
            await self._services.threads.require_member(self._principal.user_id, thread_id)
        except Refusal as exc:
            await self._error(exc.code, exc.message, thread_id, field=getattr(exc, "field", None))
            return
        sub, first = self._hub.subscribe(peer, thread_id)
        try:
            last = await self._replay(sub, cmd.since_seq)
        except Refusal as exc:
            if self._hub.unsubscribe(peer, thread_id) and not first:
                await self._presence(thread_id, "offline")
            await self._error(exc.code, exc.message, thread_id)
            return
        if not sub.active:
            return  # removed from the thread meanwhile; the hub already said so
        # No checkpoint from here to the subscribed frame: that is the seam.
        last = self._hub.go_live(sub, last)
        assert self._principal is not None
        online = self._hub.online(thread_id, besides=self._principal.user_id)
        self._outbox.push(frame(subscribed_frame(thread_id, last, online)))
        if first:
            await self._presence(thread_id, "online")

    async def _replay(self, sub: Subscription, since_seq: int) -> int:
        """Send stored messages with seq > since_seq; returns the last seq sent."""
        page_size = self._options.history_page
        last = since_seq
        while True:
            after = last
            page = await self._services.threads.history(sub.thread_id, after, page_size)
            for event in page:
                if event.seq > last:
                    await self._outbox.put(frame(encode_event(event)))
                    last = event.seq
            if not sub.active or self._outbox.closing:
                return last
            if len(page) < page_size or last <= after:
                return last

    async def _unsubscribe(self, thread_id: str) -> None:
        assert self._peer is not None
        self._typing_at.pop(thread_id, None)
        if self._hub.unsubscribe(self._peer, thread_id):
            await self._presence(thread_id, "offline")

    async def _typing(self, cmd: Typing) -> None:
        assert self._principal is not None and self._peer is not None
        sub = self._peer.subs.get(cmd.thread_id)
        if sub is None or not sub.active:
            await self._error("forbidden", "subscribe to the thread first", cmd.thread_id)
            return
        now = trio.current_time()
        last = self._typing_at.get(cmd.thread_id)
        if last is not None and now - last < self._options.typing_interval_s:
            return  # typing is advisory: extra frames are dropped, not refused
        self._typing_at[cmd.thread_id] = now
        await self._services.ingest.publish_ephemeral(
            TypingEvent(thread_id=cmd.thread_id, user_id=self._principal.user_id)
        )

    async def _presence(self, thread_id: str, status: Literal["online", "offline"]) -> None:
        assert self._principal is not None
        event = PresenceEvent(thread_id=thread_id, user_id=self._principal.user_id, status=status)
        # Presence is best effort; the next change corrects it.
        with contextlib.suppress(Refusal):
            await self._services.ingest.publish_ephemeral(event)

    async def _error(
        self, code: str, message: str, thread_id: str, *, field: str | None = "thread_id"
    ) -> None:
        await self._outbox.put(frame(error_frame(code, message, field=field, thread_id=thread_id)))

    # --- helpers ------------------------------------------------------------------------
    def _take_token(self) -> bool:
        now = trio.current_time()
        opts = self._options
        self._tokens = min(
            float(opts.command_burst),
            self._tokens + (now - self._tokens_at) * opts.command_rate_per_s,
        )
        self._tokens_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def _on_removed(self, thread_id: str, offline: bool) -> None:
        # If the mailbox is full only a presence update is lost; the removal already happened.
        with contextlib.suppress(MailboxFull, ActorStopped):
            self.ref.tell(Removed(thread_id, offline))
