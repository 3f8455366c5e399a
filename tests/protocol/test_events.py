"""Kafka record schemas: round trips, and malformed records refused with the field named."""

from __future__ import annotations

import pytest

from protocol.events import (
    EventDecodeError,
    MessageEvent,
    PostMessage,
    PresenceEvent,
    decode_command,
    decode_event,
    encode,
)


def test_round_trips() -> None:
    post = PostMessage("m", "t", "alice", "hi", "2026-11-22T00:00:00.000Z", "c1")
    assert decode_command(encode(post)) == post
    event = MessageEvent("t", 3, "m", "alice", "hi", "2026-11-22T00:00:00.000Z")
    assert decode_event(encode(event)) == event
    assert "client_msg_id" not in event.client_frame()
    presence = PresenceEvent("t", "bob", "online")
    assert decode_event(encode(presence)) == presence


def test_unknown_event_types_are_ignored_for_rolling_deploys() -> None:
    assert decode_event(b'{"type":"reaction","thread_id":"t"}') is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b"not json",
            r"^value is not JSON: invalid literal, expected 'null': line 1 column 1 \(char 0\)$",
        ),
        (b"[1]", r"^value must be a JSON object$"),
        (b'{"type":"post","thread_id":"t"}', r"^field 'message_id' must be a non-empty string$"),
        (b'{"type":"bogus"}', r"^unknown command type 'bogus'$"),
    ],
)
def test_malformed_commands_name_the_problem(raw: bytes, message: str) -> None:
    with pytest.raises(EventDecodeError, match=message):
        decode_command(raw)


def test_a_message_event_needs_a_positive_integer_seq() -> None:
    raw = (
        b'{"type":"message","thread_id":"t","seq":true,"message_id":"m",'
        b'"sender_id":"a","text":"x","created_at":"c"}'
    )
    with pytest.raises(EventDecodeError, match=r"^field 'seq' must be a positive integer$"):
        decode_event(raw)


def test_an_assistant_reply_carries_how_its_turn_ended() -> None:
    post = PostMessage(
        "reply-1",
        "t",
        "plugin:assistant",
        "1, 2",
        "2026-11-22T00:00:00.000Z",
        turn_id="turn-1",
        turn_status="stopped",
        turn_reason="stopped by bob",
    )
    assert decode_command(encode(post)) == post
    event = MessageEvent(
        "t",
        4,
        "reply-1",
        "plugin:assistant",
        "1, 2",
        "2026-11-22T00:00:00.000Z",
        turn_id="turn-1",
        turn_status="error",
        turn_reason="the model server cannot be reached",
    )
    assert decode_event(encode(event)) == event
    frame = event.client_frame()
    assert (frame["turn_status"], frame["turn_reason"]) == (
        "error",
        "the model server cannot be reached",
    )
    raw = encode(post).replace(b'"stopped"', b'"paused"')
    with pytest.raises(EventDecodeError, match=r"^field 'turn_status' must be "):
        decode_command(raw)
