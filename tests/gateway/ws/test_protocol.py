"""The protocol without sockets: commands, the hostile-input corpus, server frames."""

from __future__ import annotations

import json
import struct

import orjson
import pytest

from gateway.schemas import _ID_PATTERN, SERVER_OWNED
from gateway.ws import CommandInvalid, FrameRejected
from gateway.ws.protocol import (
    ID_PATTERN,
    Auth,
    CloseCode,
    Ping,
    Send,
    Subscribe,
    Typing,
    Unsubscribe,
    ack_frame,
    close_reason,
    encode_event,
    error_frame,
    parse_command,
    subscribed_frame,
    wire_text_frame,
)
from gateway.ws.protocol import (
    SERVER_OWNED as WS_SERVER_OWNED,
)
from protocol.events import MessageEvent, PresenceEvent, TypingEvent


def test_rules_match_the_rest_schemas() -> None:
    assert ID_PATTERN == _ID_PATTERN
    assert WS_SERVER_OWNED == SERVER_OWNED


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ('{"type":"auth","token":"abc.def.ghi"}', Auth(token="abc.def.ghi")),
        ('{"type":"subscribe","thread_id":"t_1","since_seq":0}', Subscribe("t_1", 0)),
        ('{"type":"subscribe","thread_id":"t_1","since_seq":42}', Subscribe("t_1", 42)),
        ('{"type":"unsubscribe","thread_id":"t_1"}', Unsubscribe("t_1")),
        (
            '{"type":"send","thread_id":"t_1","client_msg_id":"c-1","text":"hi \\u202e"}',
            Send("t_1", "c-1", "hi \u202e"),
        ),
        ('{"type":"typing","thread_id":"t_1"}', Typing("t_1")),
        ('{"type":"ping"}', Ping()),
        ('{"type":"ping","v":1}', Ping()),
        ('{"type":"subscribe","thread_id":"t_1","since_seq":0,"v":1}', Subscribe("t_1", 0)),
    ],
)
def test_valid_commands(text: str, command: object) -> None:
    assert parse_command(text) == command


def test_auth_repr_hides_the_token() -> None:
    assert "secret" not in repr(parse_command('{"type":"auth","token":"secret"}'))


SINCE_SEQ = r"^field 'since_seq' must be an integer >= 0$"
ID_CHARACTERS = r" must be 1-128 characters of A-Z a-z 0-9 \. _ : @ -$"
NOT_JSON = r"^frame is not valid JSON: "


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ('{"type":"subscribe","thread_id":"t_1"}', "since_seq", SINCE_SEQ),
        ('{"type":"subscribe","thread_id":"t_1","since_seq":-1}', "since_seq", SINCE_SEQ),
        ('{"type":"subscribe","thread_id":"t_1","since_seq":1.5}', "since_seq", SINCE_SEQ),
        ('{"type":"subscribe","thread_id":"t_1","since_seq":true}', "since_seq", SINCE_SEQ),
        ('{"type":"subscribe","thread_id":"t_1","since_seq":"3"}', "since_seq", SINCE_SEQ),
        (
            '{"type":"subscribe","thread_id":"","since_seq":0}',
            "thread_id",
            r"^field 'thread_id'" + ID_CHARACTERS,
        ),
        (
            '{"type":"subscribe","thread_id":"a/b","since_seq":0}',
            "thread_id",
            r"^field 'thread_id'" + ID_CHARACTERS,
        ),
        (
            '{"type":"subscribe","thread_id":{"$ne":null},"since_seq":0}',
            "thread_id",
            r"^field 'thread_id' must not be an object or an array$",
        ),
        (
            '{"type":"send","thread_id":"t","client_msg_id":"c"}',
            "text",
            r"^field 'text' must be a string$",
        ),
        (
            '{"type":"send","thread_id":"t","text":"x"}',
            "client_msg_id",
            r"^field 'client_msg_id'" + ID_CHARACTERS,
        ),
        (
            '{"type":"send","thread_id":"t","client_msg_id":"c","text":"x","seq":3}',
            "seq",
            r"^field 'seq' is set by the server$",
        ),
        (
            '{"type":"send","thread_id":"t","client_msg_id":"c","text":"x","sender_id":"bob"}',
            "sender_id",
            r"^field 'sender_id' is set by the server$",
        ),
        (
            '{"type":"auth","token":""}',
            "token",
            r"^field 'token' must be a non-empty string of at most 16384 characters$",
        ),
        (
            '{"type":"auth"}',
            "token",
            r"^field 'token' must be a non-empty string of at most 16384 characters$",
        ),
        ('{"type":"dance"}', "type", r"^unknown command type 'dance'$"),
        # A field the command's model does not have is named (protocol.frames is the source).
        (
            '{"type":"ping","future_field":1}',
            "future_field",
            r"^field 'future_field' is not part of a 'ping' command$",
        ),
        (
            '{"type":"typing","thread_id":"t","text":"x"}',
            "text",
            r"^field 'text' is not part of a 'typing' command$",
        ),
        (
            '{"type":"ping","v":2}',
            "v",
            r"^field 'v': schema version 2 of 'ping' is not supported \(this server speaks 1\)$",
        ),
        (
            '{"type":"ping","v":true}',
            "v",
            r"^field 'v': schema version True of 'ping' is not supported \(this server speaks 1\)$",
        ),
        ('{"type":7}', "type", r"^field 'type' must be a string$"),
        ('{"thread_id":"t"}', "type", r"^field 'type' must be a string$"),
        ('{"type":"ping","x":[1]}', "x", r"^field 'x' must not be an object or an array$"),
        ('[{"type":"ping"}]', None, r"^a command must be a JSON object$"),
        ('"ping"', None, r"^a command must be a JSON object$"),
        ("[" * 500 + "]" * 500, None, r"^a command must be a JSON object$"),
    ],
)
def test_invalid_commands_name_the_field(text: str, field: str | None, message: str) -> None:
    with pytest.raises(CommandInvalid, match=message) as info:
        parse_command(text)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"type":"ping"', NOT_JSON + r"unexpected end of data: line 1 column 15 \(char 14\)$"),
        ("", NOT_JSON + r"Input is a zero-length, empty document: line 1 column 1 \(char 0\)$"),
        (
            '{"type":"subscribe","thread_id":"t","since_seq":NaN}',
            NOT_JSON
            + r"unexpected character, expected a JSON value: line 1 column 49 \(char 48\)$",
        ),
        (
            '{"type":"subscribe","thread_id":"t","since_seq":Infinity}',
            NOT_JSON
            + r"unexpected character, expected a JSON value: line 1 column 49 \(char 48\)$",
        ),
        (
            '{"type":"subscribe","thread_id":"t","since_seq":-Infinity}',
            NOT_JSON + r"no digit after sign: line 1 column 50 \(char 49\)$",
        ),
        ('{"type":"ping","type":"auth"}', r"^duplicate key 'type'$"),
        (
            '{"type":"subscribe","thread_id":"t","thread_id":"u","since_seq":0}',
            r"^duplicate key 'thread_id'$",
        ),
        (
            "[" * 10_000 + "]" * 10_000,
            NOT_JSON + r"depth limit exceeded: line 1 column 1026 \(char 1025\)$",
        ),
        (
            '{"a":' * 10_000 + "1" + "}" * 10_000,
            NOT_JSON + r"depth limit exceeded: line 1 column 5122 \(char 5121\)$",
        ),
        (
            '{"type":"subscribe","thread_id":"t","since_seq":' + "9" * 5000 + "}",
            NOT_JSON + r"number is infinity when parsed as double: line 1 column 49 \(char 48\)$",
        ),
        (
            '{"type":"subscribe","thread_id":"t","since_seq":18446744073709551615}',
            r"^field 'since_seq' holds a number out of range$",
        ),
        (
            '{"type":"send","thread_id":"t","client_msg_id":"c","text":"\\ud800"}',
            NOT_JSON + r"no low surrogate in string: line 1 column 60 \(char 59\)$",
        ),
        (
            '{"type":"send","thread_id":"t","client_msg_id":"c","text":"\ud800"}',
            NOT_JSON
            + r"str is not valid UTF-8: surrogates not allowed: line 1 column 1 \(char 0\)$",
        ),
        (
            "{'type':'ping'}",
            NOT_JSON + r"unexpected character, expected a string key: line 1 column 2 \(char 1\)$",
        ),
    ],
)
def test_hostile_json_is_refused_with_1007(text: str, message: str) -> None:
    with pytest.raises(FrameRejected, match=message) as info:
        parse_command(text)
    assert info.value.close_code == CloseCode.INVALID_PAYLOAD


def test_nul_bidi_and_zero_width_pass_through_to_ingest_checks() -> None:
    # Content rules (NUL, empty text, size) belong to gateway.schemas.check_text, shared with
    # REST; the protocol layer only guarantees a str.
    cmd = parse_command(
        '{"type":"send","thread_id":"t","client_msg_id":"c","text":"a\\u0000\\u200b\\u202e"}'
    )
    assert isinstance(cmd, Send) and cmd.text == "a\x00\u200b\u202e"


def test_server_frames() -> None:
    event = MessageEvent("t_1", 7, "m-1", "alice", "hello", "2026-01-01T00:00:00Z")
    assert orjson.loads(encode_event(event)) == {
        "type": "message",
        "thread_id": "t_1",
        "seq": 7,
        "message_id": "m-1",
        "sender_id": "alice",
        "text": "hello",
        "created_at": "2026-01-01T00:00:00Z",
    }
    assert orjson.loads(encode_event(TypingEvent("t_1", "bob"))) == {
        "type": "typing",
        "thread_id": "t_1",
        "user_id": "bob",
    }
    assert orjson.loads(encode_event(PresenceEvent("t_1", "bob", "online")))["status"] == "online"
    assert orjson.loads(ack_frame("c-1", "m-1", "t_1")) == {
        "type": "ack",
        "client_msg_id": "c-1",
        "message_id": "m-1",
        "thread_id": "t_1",
    }
    assert orjson.loads(subscribed_frame("t_1", 9)) == {
        "type": "subscribed",
        "thread_id": "t_1",
        "last_seq": 9,
    }
    assert orjson.loads(subscribed_frame("t_1", 9, ["bob"]))["online"] == ["bob"]
    assert json.loads(error_frame("invalid", "bad", field="x", retry_after_s=0.12345)) == {
        "type": "error",
        "code": "invalid",
        "message": "bad",
        "field": "x",
        "retry_after_s": 0.123,
    }


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 70_000])
def test_wire_frame_header(size: int) -> None:
    payload = b"x" * size
    wire = wire_text_frame(payload)
    assert wire[0] == 0x81  # FIN + text, never masked server-side
    length = wire[1] & 0x7F
    assert wire[1] & 0x80 == 0
    if size < 126:
        assert length == size and wire[2:] == payload
    elif size < 65_536:
        assert length == 126 and struct.unpack("!H", wire[2:4])[0] == size
        assert wire[4:] == payload
    else:
        assert length == 127 and struct.unpack("!Q", wire[2:10])[0] == size
        assert wire[10:] == payload


def test_close_reason_is_cut_to_123_bytes_on_a_character_boundary() -> None:
    reason = close_reason("é" * 100)
    assert len(reason.encode()) <= 123
    assert reason == "é" * 61
