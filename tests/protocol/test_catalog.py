"""One definition per payload: the models' schemas, the hand-written parsers and the generated
browser module all agree, on the same fixtures (fixtures/frames.json, also read by
tests/browser/js/protocol.test.mjs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from gateway.ws import CommandInvalid
from gateway.ws.protocol import (
    PONG,
    ack_frame,
    encode_event,
    error_frame,
    parse_command,
    subscribed_frame,
    thread_frame,
)
from parley.protocol_cli import protocol_main
from protocol.browser import BROWSER_MODULE_PATH, browser_module
from protocol.catalog import PAYLOADS, payloads_on, schema_of, ws_schemas
from protocol.events import (
    EventDecodeError,
    MembershipEvent,
    MessageEvent,
    PostMessage,
    PresenceEvent,
    TypingEvent,
    decode_command,
    decode_event,
    encode,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "frames.json").read_text())
SCHEMAS = ws_schemas()


def _cases(side: str, kind: str) -> list[tuple[str, Any, str | None]]:
    out: list[tuple[str, Any, str | None]] = []
    for tag, case in FIXTURES[side].items():
        if kind == "good":
            out += [(tag, frame, None) for frame in case["good"]]
        else:
            out += [(tag, frame, field) for frame, field in case["bad"]]
    return out


def _validator(side: str, tag: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(SCHEMAS[side][tag])


def test_every_websocket_type_has_good_and_bad_fixtures() -> None:
    for side in ("client", "server"):
        assert set(FIXTURES[side]) == set(SCHEMAS[side])
        for tag, case in FIXTURES[side].items():
            assert case["good"], (side, tag)
            assert case["bad"], (side, tag)


def test_every_payload_has_a_type_and_a_version() -> None:
    for payload in PAYLOADS:
        schema = schema_of(payload)
        assert schema["properties"]["type"] == {"const": payload.tag}
        assert schema["required"][0] == "type"
        assert schema["properties"]["v"]["const"] == payload.version == 1
        assert schema["x-parley-version"] == payload.version
        jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(("tag", "frame", "field"), _cases("client", "good"))
def test_good_commands_parse_and_validate(tag: str, frame: dict[str, Any], field: None) -> None:
    command = parse_command(json.dumps(frame))
    assert command.type == tag
    _validator("client", tag).validate(frame)


@pytest.mark.parametrize(("tag", "frame", "field"), _cases("client", "bad"))
def test_bad_commands_are_refused_by_parser_and_schema_naming_one_field(
    tag: str, frame: dict[str, Any], field: str
) -> None:
    with pytest.raises(CommandInvalid, match=r"^.+$") as info:
        parse_command(json.dumps(frame))
    assert info.value.field == field
    errors = list(_validator("client", tag).iter_errors(frame))
    assert errors
    assert field in {_field_of(e) for e in errors}


@pytest.mark.parametrize(("tag", "frame", "field"), _cases("server", "good"))
def test_good_server_frames_validate(tag: str, frame: dict[str, Any], field: None) -> None:
    _validator("server", tag).validate(frame)


@pytest.mark.parametrize(("tag", "frame", "field"), _cases("server", "bad"))
def test_bad_server_frames_fail_naming_the_field(
    tag: str, frame: dict[str, Any], field: str
) -> None:
    errors = list(_validator("server", tag).iter_errors(frame))
    assert field in {_field_of(e) for e in errors}


def _field_of(error: jsonschema.ValidationError) -> str:
    if error.path:
        return str(error.path[0])
    if error.validator == "required":
        return str(error.message).split("'")[1]
    if error.validator == "additionalProperties":
        return str(error.message).split("'")[1]
    return ""


def test_what_the_server_encodes_matches_its_schemas() -> None:
    message = MessageEvent("t_1", 3, "m3", "bob", "hi", "2026-01-01T00:00:00.000Z")
    frames = [
        encode_event(message),
        encode_event(MessageEvent("t_1", 4, "m4", "bob", "hi", "2026-01-01T00:00:00.000Z", "c")),
        encode_event(TypingEvent("t_1", "bob")),
        encode_event(PresenceEvent("t_1", "bob", "offline")),
        ack_frame("c-1", "m1", "t_1"),
        subscribed_frame("t_1", 0),
        subscribed_frame("t_1", 9, ["bob"]),
        thread_frame("t_1", ["alice", "bob"]),
        error_frame("invalid", "no", field="text", thread_id="t_1", retry_after_s=0.25),
        PONG,
    ]
    for raw in frames:
        frame = orjson.loads(raw)
        _validator("server", frame["type"]).validate(frame)
    assert orjson.loads(subscribed_frame("t_1", 0)) == {
        "type": "subscribed",
        "thread_id": "t_1",
        "last_seq": 0,
    }
    assert orjson.loads(error_frame("invalid", "no")) == {
        "type": "error",
        "code": "invalid",
        "message": "no",
    }


def test_kafka_records_match_their_schemas() -> None:
    records = {
        "post": PostMessage("m1", "t_1", "bob", "hi", "2026-01-01T00:00:00.000Z"),
        "message": MessageEvent("t_1", 1, "m1", "bob", "hi", "2026-01-01T00:00:00.000Z"),
        "membership": MembershipEvent("t_1", ("alice", "bob")),
    }
    by_tag = {p.tag: p for p in (*payloads_on("chat.commands"), *payloads_on("chat.events"))}
    for tag, record in records.items():
        jsonschema.Draft202012Validator(schema_of(by_tag[tag])).validate(
            orjson.loads(encode(record))
        )


def test_records_of_an_unknown_version_are_skipped_or_refused() -> None:
    message = orjson.loads(encode(MessageEvent("t_1", 1, "m1", "bob", "hi", "x")))
    assert decode_event(orjson.dumps({**message, "v": 1})) is not None
    assert decode_event(orjson.dumps({**message, "v": 2})) is None
    post = orjson.loads(encode(PostMessage("m1", "t_1", "bob", "hi", "x")))
    assert decode_command(orjson.dumps({**post, "v": 1})).message_id == "m1"
    with pytest.raises(EventDecodeError, match=r"^field 'v': schema version 2 is not supported$"):
        decode_command(orjson.dumps({**post, "v": 2}))


def test_the_committed_browser_module_is_current() -> None:
    assert (ROOT / BROWSER_MODULE_PATH).read_text(encoding="utf-8") == browser_module()


def test_generate_check_fails_on_a_stale_module_and_generate_fixes_it(tmp_path: Path) -> None:
    target = tmp_path / BROWSER_MODULE_PATH
    target.parent.mkdir(parents=True)
    target.write_text("// an older model\n", encoding="utf-8")
    assert protocol_main("generate", check=True, root=tmp_path) == 1
    assert target.read_text(encoding="utf-8") == "// an older model\n"
    assert protocol_main("generate", root=tmp_path) == 0
    assert protocol_main("generate", check=True, root=tmp_path) == 0
    assert target.read_text(encoding="utf-8") == browser_module()
