"""Per-user limits: token bucket on Trio's clock, connection counting."""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing

from config.settings import load_settings
from gateway.limits import UserRateLimiter
from protocol.refusals import RateLimited, Refusal


async def test_burst_then_steady_rate(autojump_clock: trio.testing.MockClock) -> None:
    limiter = UserRateLimiter(rate_per_s=5, burst=10)
    for _ in range(10):
        limiter.check("alice")
    with pytest.raises(
        RateLimited, match=r"^more than 5 messages per second \(burst 10\)$"
    ) as info:
        limiter.check("alice")
    assert info.value.retry_after_s == pytest.approx(0.2)
    await trio.sleep(info.value.retry_after_s or 0)
    limiter.check("alice")
    # Over 10 s at most rate * 10 more pass.
    passed = 0
    for _ in range(200):
        try:
            limiter.check("alice")
            passed += 1
        except RateLimited:
            pass
        await trio.sleep(0.05)
    assert 48 <= passed <= 51


async def test_users_have_separate_buckets(autojump_clock: trio.testing.MockClock) -> None:
    limiter = UserRateLimiter(rate_per_s=1, burst=1)
    limiter.check("alice")
    limiter.check("bob")
    with pytest.raises(RateLimited, match=r"^more than 1 messages per second \(burst 1\)$"):
        limiter.check("alice")


async def test_idle_buckets_are_swept(autojump_clock: trio.testing.MockClock) -> None:
    limiter = UserRateLimiter(rate_per_s=10, burst=20, sweep_every_s=60)
    for i in range(1000):
        limiter.check(f"user-{i}")
    assert len(limiter) == 1000
    await trio.sleep(61)
    limiter.check("active")
    assert len(limiter) == 1


async def test_from_settings_uses_trio_clock(autojump_clock: trio.testing.MockClock) -> None:
    settings = load_settings(user_rate_per_s=2.0, user_rate_burst=3)
    limiter = UserRateLimiter.from_settings(settings)
    for _ in range(3):
        limiter.check("alice")
    with pytest.raises(RateLimited, match=r"^more than 2 messages per second \(burst 3\)$"):
        limiter.check("alice")
    await trio.sleep(0.5)
    assert limiter.available("alice") == pytest.approx(1.0)


def test_rate_limited_answer_says_what_to_do() -> None:
    limiter = UserRateLimiter(rate_per_s=1, burst=1, clock=lambda: 100.0)
    limiter.check("alice")
    with pytest.raises(RateLimited, match=r"^more than 1 messages per second \(burst 1\)$") as info:
        limiter.check("alice")
    refusal = info.value
    assert isinstance(refusal, Refusal)
    assert (refusal.status, refusal.close_code) == (429, 1008)
    assert refusal.headers() == {"Retry-After": "1"}
    assert json.loads(refusal.to_json()) == {
        "error": {
            "code": "rate_limited",
            "message": "more than 1 messages per second (burst 1); "
            "wait retry_after_s seconds before sending again",
            "retry_after_s": 1.0,
        }
    }
    frame = json.loads(refusal.to_ws_frame())
    assert frame["type"] == "error" and frame["code"] == "rate_limited"


def test_invalid_limiter_arguments() -> None:
    with pytest.raises(ValueError, match=r"^rate_per_s must be > 0 and burst >= 1$"):
        UserRateLimiter(rate_per_s=0, burst=1, clock=lambda: 0.0)
    limiter = UserRateLimiter(rate_per_s=1, burst=2, clock=lambda: 0.0)
    with pytest.raises(ValueError, match=r"^cost must be > 0 and <= burst$"):
        limiter.check("alice", cost=3)
