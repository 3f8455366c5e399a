"""Microbenchmark of the protocol hot paths: fan-out encode and command decode.

    python -m bench.protocol_micro [--rounds 5] [--n 200000]

Prints the best of ``rounds`` for each path in ns per call of this process's CPU time
(process_time: on a shared machine wall time counts the neighbours' work too; best-of,
because only slower outliers come from them). Paths measured:
    encode_message   gateway.ws.protocol.encode_event(MessageEvent): once per event on fan-out
    decode_send      gateway.ws.protocol.parse_command(send frame): once per WS command
    decode_event     protocol.events.decode_event(chat.events value): once per event per gateway
    decode_command   protocol.events.decode_command(chat.commands value): once per post in core
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from gateway.ws.protocol import encode_event, parse_command
from protocol.events import MessageEvent, PostMessage, decode_command, decode_event, encode


def _best(fn: Callable[[], object], n: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time_ns()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time_ns() - start) / n)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    event = MessageEvent(
        thread_id="t_0123456789",
        seq=12345,
        message_id="0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        sender_id="alice",
        text="hello there, this is a message of typical length for a chat",
        created_at="2026-12-02T13:00:00.000Z",
        client_msg_id="c-42",
    )
    send = (
        '{"type":"send","thread_id":"t_0123456789","client_msg_id":"c-42",'
        '"text":"hello there, this is a message of typical length for a chat"}'
    )
    record = encode(event)
    post = encode(
        PostMessage(
            message_id=event.message_id,
            thread_id=event.thread_id,
            sender_id=event.sender_id,
            text=event.text,
            created_at=event.created_at,
            client_msg_id="c-42",
        )
    )
    paths: dict[str, Callable[[], object]] = {
        "encode_message": lambda: encode_event(event),
        "decode_send": lambda: parse_command(send),
        "decode_event": lambda: decode_event(record),
        "decode_command": lambda: decode_command(post),
    }
    for name, fn in paths.items():
        print(f"{name:16s} {_best(fn, args.n, args.rounds):8.0f} ns/call")


if __name__ == "__main__":
    main()
