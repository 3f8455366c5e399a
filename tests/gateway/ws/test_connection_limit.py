"""ConnectionLimiter: open WebSockets per user, released however a connection ends."""

from __future__ import annotations

import pytest

from config.settings import load_settings
from gateway.ws._connection_limit import ConnectionLimiter
from protocol.refusals import TooManyConnections


def test_connections_per_user() -> None:
    limiter = ConnectionLimiter(max_per_user=2)
    limiter.acquire("alice")
    limiter.acquire("alice")
    limiter.acquire("bob")
    with pytest.raises(
        TooManyConnections, match=r"^this user already has 2 open connections$"
    ) as info:
        limiter.acquire("alice")
    assert (info.value.status, info.value.close_code) == (429, 1008)
    assert "close another tab" in info.value.to_json()
    limiter.release("alice")
    limiter.acquire("alice")
    assert limiter.count("alice") == 2


def test_connection_context_manager_releases_on_error() -> None:
    limiter = ConnectionLimiter(load_settings(max_connections_per_user=1).max_connections_per_user)
    with pytest.raises(RuntimeError, match=r"^socket died$"), limiter.connection("alice"):
        assert limiter.count("alice") == 1
        raise RuntimeError("socket died")
    assert limiter.count("alice") == 0
    with limiter.connection("alice"):
        with (
            pytest.raises(TooManyConnections, match=r"^this user already has 1 open connections$"),
            limiter.connection("alice"),
        ):
            pass
        assert limiter.count("alice") == 1
    assert limiter.count("alice") == 0


def test_release_never_goes_negative() -> None:
    limiter = ConnectionLimiter(max_per_user=1)
    limiter.release("ghost")
    assert limiter.count("ghost") == 0
