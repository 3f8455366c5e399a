"""Chaos load driver: posters that record every outcome, readers that record every frame.

Posters send messages with client-generated ids (`client_msg_id`, a fresh UUID each) over REST
or WebSocket and record how each one ended, Jepsen-"set" style:

- accepted (A): a 202 or a WebSocket `ack` was received for it, on some attempt;
- refused: every attempt was definitely refused (nothing can have been produced);
- unknown (I): at least one attempt may have reached Kafka (timeout, connection lost after
  the request was sent, 503 "Kafka did not confirm") and no attempt was accepted.

A poster retries a message that was not accepted with the SAME client_msg_id (so Parley names
the same message_id) on the next gateway, within a bounded retry budget.

Readers open one WebSocket, subscribe to every thread from seq 0 and record every message
frame; a reader that loses its connection is no longer "continuous" (it is not reconnected:
the no-gap check applies to continuously connected readers only).

Everything is bounded in count and time and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

__all__ = [
    "Gateway",
    "LoadPlan",
    "Outcomes",
    "Reader",
    "SendRecord",
    "run_poster",
    "run_reader",
]


@dataclass(frozen=True)
class Gateway:
    name: str
    http_base: str
    ws_url: str


@dataclass(frozen=True)
class LoadPlan:
    """How much load: `rate` messages/s over all posters, at most `max_messages` in all."""

    posters: int = 4
    rate: float = 40.0
    max_messages: int = 400
    retry_budget_s: float = 40.0
    request_timeout_s: float = 8.0
    text_bytes: int = 40


@dataclass
class SendRecord:
    client_msg_id: str
    sender: str
    thread_id: str
    via: str
    first_sent: float
    attempts: int = 0
    accepted_at: float | None = None
    message_id: str | None = None
    uncertain: bool = False  # some attempt may have reached Kafka
    refusals: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        if self.accepted_at is not None:
            return "accepted"
        return "unknown" if self.uncertain else "refused"


@dataclass
class Outcomes:
    """Everything the posters saw; shared by all posters of a run."""

    records: dict[str, SendRecord] = field(default_factory=dict)
    issued: int = 0
    # (monotonic time sent, time answered, status, gateway) of each answer (drain contract);
    # status 0 = connection refused, nothing sent; -1 = sent, then no answer (reset, timeout)
    answers: list[tuple[float, float, int, str]] = field(default_factory=list)

    def accepted(self) -> dict[str, SendRecord]:
        return {k: r for k, r in self.records.items() if r.state == "accepted"}

    def unknown(self) -> set[str]:
        return {k for k, r in self.records.items() if r.state == "unknown"}

    def refused(self) -> set[str]:
        return {k for k, r in self.records.items() if r.state == "refused"}


_UNKNOWN_503 = "did not confirm"


class _Definite(Exception):
    """This attempt was refused and nothing was produced; `retry` says if retrying helps."""

    def __init__(self, why: str, *, retry: bool) -> None:
        super().__init__(why)
        self.retry = retry


class _Unknown(Exception):
    """This attempt may or may not have reached Kafka."""


def _text(size: int, cmid: str) -> str:
    base = f"chaos {cmid} "
    return (base + "x" * max(0, size - len(base)))[: max(size, len(base))]


def _classify_http(status: int, body: str) -> Exception | None:
    if status == 202:
        return None
    if status == 503:
        if _UNKNOWN_503 in body:
            return _Unknown(f"503 {body[:120]}")
        return _Definite(f"503 {body[:120]}", retry=True)
    if status == 429:
        return _Definite("429", retry=True)
    if status >= 500:
        return _Unknown(f"{status} {body[:120]}")
    return _Definite(f"{status} {body[:200]}", retry=False)


class _Poster:
    """The message a poster is working on, its retries, and when to stop."""

    def __init__(
        self,
        index: int,
        user: str,
        via: str,
        threads: Sequence[str],
        plan: LoadPlan,
        outcomes: Outcomes,
        stop: trio.Event,
    ) -> None:
        self.index, self.user, self.via, self.threads = index, user, via, threads
        self.plan, self.outcomes, self.stop = plan, outcomes, stop
        self.current: SendRecord | None = None
        self.text = ""
        # Gateway name -> monotonic time before which it asked not to be sent to (Retry-After).
        self.held_until: dict[str, float] = {}

    def hold(self, gateway: str, resp: httpx.Response) -> None:
        """Honour a 503/429's Retry-After for this gateway, as a well-behaved client does."""
        try:
            seconds = float(resp.headers.get("retry-after", ""))
        except ValueError:
            return
        self.held_until[gateway] = time.monotonic() + seconds

    def may_send_to(self, gateway: str) -> bool:
        return time.monotonic() >= self.held_until.get(gateway, 0.0)

    def next(self) -> SendRecord | None:
        """The message to (re)send now, or None when this poster is done."""
        rec = self.current
        if rec is not None:
            if time.monotonic() < rec.first_sent + self.plan.retry_budget_s:
                rec.attempts += 1
                return rec
            self.current = None  # retry budget spent: its state stays refused/unknown
        if self.stop.is_set() or self.outcomes.issued >= self.plan.max_messages:
            return None
        self.outcomes.issued += 1
        cmid = str(uuid.uuid4())
        thread_id = self.threads[(self.index + self.outcomes.issued) % len(self.threads)]
        rec = SendRecord(cmid, self.user, thread_id, self.via, time.monotonic(), attempts=1)
        self.outcomes.records[cmid] = rec
        self.text = _text(self.plan.text_bytes, cmid)
        self.current = rec
        return rec

    def finished(self) -> bool:
        """Nothing left to send: stopped (or budget spent) and no retry pending."""
        rec = self.current
        if rec is not None and time.monotonic() < rec.first_sent + self.plan.retry_budget_s:
            return False
        return self.stop.is_set() or self.outcomes.issued >= self.plan.max_messages

    def accepted(self, rec: SendRecord, message_id: str) -> None:
        rec.message_id, rec.accepted_at = message_id, time.monotonic()
        self.current = None

    def failed(self, rec: SendRecord, exc: _Definite | _Unknown) -> None:
        rec.refusals.append(str(exc))
        if isinstance(exc, _Unknown):
            rec.uncertain = True
        elif not exc.retry:
            self.current = None

    async def pace(self) -> None:
        with trio.move_on_after(self.plan.posters / self.plan.rate):
            await self.stop.wait()


async def _rest_session(client: httpx.AsyncClient, gw: Gateway, token: str, p: _Poster) -> bool:
    """Post through `gw` until an attempt fails (False) or the poster is done (True)."""
    headers = {"authorization": f"Bearer {token}"}
    while (rec := p.next()) is not None:
        sent = time.monotonic()
        try:
            try:
                resp = await client.post(
                    f"{gw.http_base}/api/messages",
                    json={
                        "thread_id": rec.thread_id,
                        "text": p.text,
                        "client_msg_id": rec.client_msg_id,
                    },
                    headers=headers,
                )
            except httpx.ConnectError as exc:  # nothing was sent
                p.outcomes.answers.append((sent, time.monotonic(), 0, gw.name))
                raise _Definite(f"connect: {exc!r}", retry=True) from None
            except httpx.HTTPError as exc:
                p.outcomes.answers.append((sent, time.monotonic(), -1, gw.name))
                raise _Unknown(f"transport: {exc!r}") from None
            p.outcomes.answers.append((sent, time.monotonic(), resp.status_code, gw.name))
            if resp.status_code in (429, 503):
                p.hold(gw.name, resp)
            problem = _classify_http(resp.status_code, resp.text)
            if problem is not None:
                raise problem
            p.accepted(rec, str(resp.json()["message_id"]))
        except (_Definite, _Unknown) as exc:
            p.failed(rec, exc)
            return False
        await p.pace()
    return True


async def _ws_session(gw: Gateway, token: str, p: _Poster) -> bool:
    """Send frames through one WebSocket to `gw` until it fails (False) or the poster is done."""
    timeout = p.plan.request_timeout_s
    rec: SendRecord | None = None
    try:
        async with open_websocket_url(gw.ws_url, connect_timeout=timeout) as ws:
            await ws.send_message(json.dumps({"type": "auth", "token": token}))
            while (rec := p.next()) is not None:
                frame = {
                    "type": "send",
                    "thread_id": rec.thread_id,
                    "client_msg_id": rec.client_msg_id,
                    "text": p.text,
                }
                sent = time.monotonic()
                try:
                    await ws.send_message(json.dumps(frame))
                except ConnectionClosed as exc:
                    # the frame may have gone out before the close was noticed
                    raise _Unknown(f"ws closed on send: {exc.reason}") from None
                try:
                    with trio.fail_after(timeout):
                        message_id = await _await_ack(ws, gw, rec.client_msg_id, p.outcomes, sent)
                except ConnectionClosed as exc:
                    raise _Unknown(f"ws closed before the ack: {exc.reason}") from None
                except trio.TooSlowError:
                    raise _Unknown("ws: no ack in time") from None
                p.accepted(rec, message_id)
                await p.pace()
            return True
    except (_Definite, _Unknown) as exc:
        if rec is not None:
            p.failed(rec, exc)
    except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError) as exc:
        if rec is not None and p.current is rec:
            p.failed(rec, _Unknown(f"ws: {exc!r}"))
    return False


async def _await_ack(
    ws: WebSocketConnection, gw: Gateway, cmid: str, outcomes: Outcomes, sent: float
) -> str:
    while True:
        raw = await ws.get_message()
        for ev in _events(raw):
            if ev.get("client_msg_id") != cmid:
                continue
            if ev.get("type") == "ack":
                outcomes.answers.append((sent, time.monotonic(), 202, gw.name))
                return str(ev["message_id"])
            if ev.get("type") == "error":
                code, msg = str(ev.get("code")), str(ev.get("message", ""))
                status = 503 if code == "unavailable" else 400
                outcomes.answers.append((sent, time.monotonic(), status, gw.name))
                if code == "unavailable":
                    if _UNKNOWN_503 in msg:
                        raise _Unknown(f"ws error {code}: {msg}")
                    raise _Definite(f"ws error {code}: {msg}", retry=True)
                raise _Definite(f"ws error {code}: {msg}", retry=code == "rate_limited")


def _events(raw: str | bytes) -> list[dict[str, Any]]:
    data = json.loads(raw)
    if isinstance(data, list):
        return [e for e in data if isinstance(e, dict)]
    return [data] if isinstance(data, dict) else []


async def run_poster(
    index: int,
    user: str,
    token: str,
    via: str,
    threads: Sequence[str],
    gateways: Callable[[], Sequence[Gateway]],
    plan: LoadPlan,
    outcomes: Outcomes,
    stop: trio.Event,
) -> None:
    """Post until `stop` is set or the plan's message budget is spent; one message at a time.

    A failed attempt moves the poster to the next gateway, where it retries the same
    client_msg_id (bounded by `plan.retry_budget_s` per message).
    """
    p = _Poster(index, user, via, threads, plan, outcomes, stop)
    turn = index
    async with httpx.AsyncClient(timeout=plan.request_timeout_s) as client:
        while not p.finished():
            gws = [g for g in gateways() if p.may_send_to(g.name)]
            if not gws:
                await trio.sleep(0.2)
                continue
            gw = gws[turn % len(gws)]
            if via == "rest":
                done = await _rest_session(client, gw, token, p)
            else:
                done = await _ws_session(gw, token, p)
            if done:
                return
            turn += 1
            await trio.sleep(0.25)


@dataclass
class Reader:
    """Every message frame one WebSocket received, and how the connection ended."""

    name: str
    gateway: str
    delay_s: float = 0.0  # a slow reader sleeps this long after each frame
    # A paused reader reads nothing between subscribing and this event (a client that stops
    # reading: the gateway may close it 4000), then catches up and is judged like the others.
    paused_until: trio.Event | None = None
    frames: int = 0
    messages: list[tuple[str, int, str]] = field(default_factory=list)  # thread, seq, msg id
    subscribed: set[str] = field(default_factory=set)
    connected: bool = False
    continuous: bool = True
    close_code: int | None = None
    close_reason: str = ""
    error: str = ""
    # cancelled by the scenario to end the recording (the reader stays "continuous")
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)

    def seen_ids(self) -> set[str]:
        return {m for _, _, m in self.messages}

    @property
    def raw_redeliveries(self) -> int:
        return len(self.messages) - len(self.seen_ids())


async def run_reader(
    reader: Reader,
    gw: Gateway,
    token: str,
    threads: Sequence[str],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Connect, subscribe to `threads` from 0, record frames until `reader.scope` is cancelled.

    It never reconnects: a reader that lost its connection is not continuous any more.
    """
    started = False
    with reader.scope:
        try:
            async with open_websocket_url(gw.ws_url, connect_timeout=10) as ws:
                await ws.send_message(json.dumps({"type": "auth", "token": token}))
                for tid in threads:
                    await ws.send_message(
                        json.dumps({"type": "subscribe", "thread_id": tid, "since_seq": 0})
                    )
                with trio.fail_after(15):
                    while len(reader.subscribed) < len(threads):
                        await _read_one(ws, reader)
                reader.connected = True
                started = True
                task_status.started()
                if reader.paused_until is not None:
                    await reader.paused_until.wait()
                while True:
                    await _read_one(ws, reader)
                    if reader.delay_s:
                        await trio.sleep(reader.delay_s)
        except ConnectionClosed as exc:
            reader.continuous = False
            if exc.reason is not None:
                reader.close_code = exc.reason.code
                reader.close_reason = exc.reason.reason or ""
        except (OSError, HandshakeError, trio.TooSlowError) as exc:
            reader.continuous = False
            reader.error = repr(exc)
    if not started:
        reader.continuous = False
        task_status.started()


async def _read_one(ws: WebSocketConnection, reader: Reader) -> None:
    raw = await ws.get_message()
    reader.frames += 1
    for ev in _events(raw):
        kind = ev.get("type")
        if kind == "message":
            reader.messages.append((str(ev["thread_id"]), int(ev["seq"]), str(ev["message_id"])))
        elif kind == "subscribed":
            reader.subscribed.add(str(ev["thread_id"]))
        elif kind == "error":
            reader.error = f"{ev.get('code')}: {ev.get('message')}"
