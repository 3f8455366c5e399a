"""Process announcements and operator commands: liveness from the heartbeat, documents that
survive a round trip and tolerate what a newer or older version wrote."""

from __future__ import annotations

from protocol.ops import CommandKind, CommandState, Liveness, OpsCommand, ProcessAnnouncement


def _announcement(**changes: object) -> ProcessAnnouncement:
    fields: dict[str, object] = {
        "process_id": "core-1",
        "role": "core",
        "version": "0.1.0",
        "started_at": 1000.0,
        "heartbeat_at": 1100.0,
        "partitions": {"commands": ["chat.commands[0]"]},
        "actors": [{"path": "/parley", "kind": "supervisor"}],
    }
    fields.update(changes)
    return ProcessAnnouncement(**fields)  # type: ignore[arg-type]


def test_liveness_from_the_last_heartbeat() -> None:
    running = _announcement()
    assert running.liveness(now=1105.0, timeout_s=10.0) is Liveness.RUNNING
    assert running.liveness(now=1110.5, timeout_s=10.0) is Liveness.GONE
    draining = _announcement(state=Liveness.DRAINING)
    assert draining.liveness(now=1101.0, timeout_s=10.0) is Liveness.DRAINING
    # A goodbye stays a goodbye however old it gets.
    stopped = _announcement(state=Liveness.STOPPED)
    assert stopped.liveness(now=9999.0, timeout_s=10.0) is Liveness.STOPPED


def test_announcement_round_trip_and_summary() -> None:
    original = _announcement()
    doc = original.to_doc()
    assert doc["_id"] == "core-1"
    assert doc["state"] == "running"
    assert ProcessAnnouncement.from_doc(doc) == original
    row = original.summary(now=1102.0, timeout_s=10.0)
    assert row["id"] == "core-1"
    assert row["heartbeat_age_s"] == 2.0
    assert "actors" not in row


def test_an_announcement_from_another_version_is_read_with_defaults() -> None:
    doc = {"_id": "gw-1", "role": "gateway", "state": "hibernating", "future_field": 1}
    read = ProcessAnnouncement.from_doc(doc)
    assert read.state is Liveness.RUNNING
    assert read.partitions == {}
    assert read.actors == []


def test_command_lifecycle() -> None:
    command = OpsCommand.new("core-1", CommandKind.RESTART, "admin", 5.0, "/parley/threads")
    assert command.command_id.startswith("cmd_")
    assert command.state is CommandState.PENDING
    assert OpsCommand.from_doc(command.to_doc()) == command
    failed = command.finished(False, "no actor at /parley/threads", 6.0, "not_found")
    assert failed.state is CommandState.FAILED
    assert failed.to_json()["state"] == "failed"
    assert OpsCommand.from_doc(failed.to_doc()) == failed


def test_stats_survive_the_round_trip() -> None:
    original = _announcement(stats={"persisted": 12.0, "e2e_p99_s": 0.004})
    assert ProcessAnnouncement.from_doc(original.to_doc()).stats == original.stats
    assert original.summary(now=1100.0, timeout_s=10.0)["stats"]["persisted"] == 12.0
