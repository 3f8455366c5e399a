"""Turn records and the stop command (protocol.turns): encode, decode, bad input, resume."""

from __future__ import annotations

import pytest

from protocol.events import EventDecodeError
from protocol.turns import (
    StopTurn,
    TurnCommandError,
    TurnDelta,
    TurnFinished,
    TurnGapError,
    TurnStarted,
    TurnText,
    decode_stop,
    decode_turn,
    encode_turn,
    turn_frame,
)

STARTED = TurnStarted(
    thread_id="t_1",
    turn_id="turn_1",
    assistant_id="plugin:helper",
    reply_to="m_1",
    message_id="m_2",
    started_at="2026-12-02T14:00:00.000Z",
)


@pytest.mark.parametrize(
    "record",
    [
        STARTED,
        TurnDelta("t_1", "turn_1", 0, "Hel"),
        TurnFinished("t_1", "turn_1", "complete", deltas=3, message_id="m_2"),
        TurnFinished("t_1", "turn_1", "stopped", 2, reason="stopped by bob", message_id="m_2"),
        TurnFinished("t_1", "turn_1", "error", deltas=0, reason="the model server is down"),
    ],
)
def test_records_round_trip(record: TurnStarted | TurnDelta | TurnFinished) -> None:
    assert decode_turn(encode_turn(record)) == record


def test_frames_are_tagged_turn_with_a_phase_and_leave_absent_fields_out() -> None:
    assert turn_frame(TurnDelta("t_1", "turn_1", 4, "lo")) == {
        "type": "turn",
        "phase": "delta",
        "thread_id": "t_1",
        "turn_id": "turn_1",
        "index": 4,
        "text": "lo",
    }
    finished = turn_frame(TurnFinished("t_1", "turn_1", "error", deltas=0, reason="down"))
    assert "message_id" not in finished and finished["status"] == "error"


def test_an_unknown_phase_is_ignored_for_rolling_deploys() -> None:
    assert decode_turn(b'{"type":"turn","phase":"thinking","thread_id":"t","turn_id":"u"}') is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[", r"value is not JSON: .+"),
        (b"[1]", r"value must be a JSON object"),
        (b'{"type":"message"}', r"field 'type' must be 'turn', not 'message'"),
        (b'{"type":"turn","phase":"delta","turn_id":"u"}', r"field 'thread_id' must be .+"),
        (
            b'{"type":"turn","phase":"delta","thread_id":"t","turn_id":"u","index":-1,"text":"a"}',
            r"field 'index' must be an integer from 0 to 2147483647",
        ),
        (
            b'{"type":"turn","phase":"delta","thread_id":"t","turn_id":"u","index":true,"text":"a"}',
            r"field 'index' must be an integer from 0 to 2147483647",
        ),
        (
            b'{"type":"turn","phase":"delta","thread_id":"t","turn_id":"u","index":0,"text":""}',
            r"field 'text' must be a non-empty string of at most 4096 chars",
        ),
        (
            b'{"type":"turn","phase":"finished","thread_id":"t","turn_id":"u","status":"done",'
            b'"deltas":1}',
            r"field 'status' must be 'complete', 'stopped' or 'error'",
        ),
        (
            b'{"type":"turn","phase":"finished","thread_id":"t","turn_id":"u","status":"error",'
            b'"deltas":1}',
            r"field 'reason' is required when the status is 'error'",
        ),
        (
            b'{"type":"turn","phase":7,"thread_id":"t","turn_id":"u"}',
            r"field 'phase' must be a string",
        ),
    ],
)
def test_bad_records_name_the_field(raw: bytes, reason: str) -> None:
    with pytest.raises(EventDecodeError, match=rf"^{reason}$"):
        decode_turn(raw)


def test_a_finished_record_that_is_not_complete_needs_a_reason() -> None:
    with pytest.raises(ValueError, match=r"^a turn finished as 'stopped' needs a reason$"):
        TurnFinished("t_1", "turn_1", "stopped", deltas=1)


def test_stop_commands_decode_and_bad_ones_name_the_field() -> None:
    assert decode_stop({"type": "stop", "thread_id": "t_1", "turn_id": "turn_1"}) == StopTurn(
        "t_1", "turn_1"
    )
    bad_turn = r"^field 'turn_id' must be 1-128 characters .+$"
    with pytest.raises(TurnCommandError, match=bad_turn) as e:
        decode_stop({"type": "stop", "thread_id": "t_1"})
    assert e.value.field == "turn_id"
    with pytest.raises(TurnCommandError, match=r"^field 'thread_id' must be 1-128 characters .+$"):
        decode_stop({"type": "stop", "thread_id": "<script>", "turn_id": "u"})
    with pytest.raises(TurnCommandError, match=r"^field 'seq' is not part of 'stop'$"):
        decode_stop({"type": "stop", "thread_id": "t", "turn_id": "u", "seq": 3})


def test_a_late_subscriber_gets_the_text_so_far_then_the_rest_without_gap_or_duplicate() -> None:
    server = TurnText(STARTED)
    deltas = [TurnDelta("t_1", "turn_1", i, piece) for i, piece in enumerate(["Hel", "lo", " wo"])]
    for delta in deltas[:2]:
        assert server.apply(delta)
    snapshot = server.snapshot(STARTED)
    assert (snapshot.text, snapshot.next_index) == ("Hello", 2)

    late = TurnText(decode_turn(encode_turn(snapshot)))  # type: ignore[arg-type]
    # Deltas already in the snapshot may still arrive (they crossed): they are dropped.
    assert not late.apply(deltas[1])
    assert late.apply(deltas[2])
    assert late.text == "Hello wo" and late.next_index == 3
    with pytest.raises(TurnGapError, match=r"^turn turn_1 missed deltas 3..4$"):
        late.apply(TurnDelta("t_1", "turn_1", 5, "!"))
