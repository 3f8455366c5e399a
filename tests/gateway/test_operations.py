"""The operations API without sockets: the admin check, and a store that fails or hangs
answering 503 rather than 500 or never (the integration tests in tests/ops/ use real
processes)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import trio
from quart_trio import QuartTrio

from adapters import StoreUnavailableError
from config.settings import load_settings
from gateway.app import create_app
from gateway.auth import Principal
from gateway.context import GatewayContext
from protocol.ops import ProcessAnnouncement
from protocol.refusals import MalformedToken
from telemetry import ProcessStatus

TOKENS = {"admin-token": ("admin", ["admin"]), "user-token": ("alice", [])}


class StubVerifier:
    async def verify(self, token: object) -> Principal:
        if not isinstance(token, str) or token not in TOKENS:
            raise MalformedToken("token is not three non-empty base64url segments")
        user, roles = TOKENS[token]
        return Principal(user_id=user, expires_at=2e9, claims={"parley_roles": roles})


class StubBoard:
    def __init__(self, *, fail: bool = False, hang: bool = False) -> None:
        self.fail = fail
        self.hang = hang

    async def processes(self) -> list[ProcessAnnouncement]:
        if self.hang:
            await trio.sleep_forever()
        if self.fail:
            raise StoreUnavailableError("store at mongodb://x unavailable: refused")
        now = time.time()
        return [
            ProcessAnnouncement("p1", "core", "0.1.0", now - 100, now - 30),
            ProcessAnnouncement("old", "core", "0.1.0", now - 90_000, now - 86_401),
        ]


def _app(board: StubBoard) -> QuartTrio:
    ctx = GatewayContext(
        settings=load_settings(),
        status=ProcessStatus(role="gateway", process_id="gw"),
        verifier=StubVerifier(),  # type: ignore[arg-type]
        ingest=None,  # type: ignore[arg-type]
        threads=None,  # type: ignore[arg-type]
        ws=None,  # type: ignore[arg-type]
        board=board,  # type: ignore[arg-type]
        ws_url="",
    )
    return create_app(ctx)


async def _get(app: QuartTrio, token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await app.test_client().get("/api/v1/ops/processes", headers=headers)
    return response.status_code, await response.get_json()


async def test_admin_check_before_anything_is_read() -> None:
    app = _app(StubBoard(fail=True))
    assert (await _get(app, None))[0] == 401
    status, body = await _get(app, "user-token")
    assert status == 403
    assert body["error"]["code"] == "admin_required"


async def test_an_admin_gets_the_processes_seen_in_the_last_day() -> None:
    status, body = await _get(_app(StubBoard()), "admin-token")
    assert status == 200
    assert [p["id"] for p in body["processes"]] == ["p1"]
    assert body["processes"][0]["state"] == "gone"
    assert body["answered_by"] == "gw"


@pytest.mark.parametrize(
    ("board", "message"),
    [
        (
            StubBoard(fail=True),
            "the store is unavailable: store at mongodb://x unavailable: refused",
        ),
        (StubBoard(hang=True), "the store did not answer within 5s"),
    ],
)
async def test_a_failing_or_silent_store_answers_503(
    board: StubBoard, message: str, autojump_clock: trio.abc.Clock
) -> None:
    status, body = await _get(_app(board), "admin-token")
    assert status == 503
    assert body["error"]["code"] == "unavailable"
    assert body["error"]["message"] == message
