"""Fixtures of the WebSocket tests (helpers live in _ws_stack, a uniquely named module)."""

from __future__ import annotations

import pytest
import trio
from _ws_stack import Stack, start_stack


@pytest.fixture
async def stack(nursery: trio.Nursery) -> Stack:
    return await start_stack(nursery)
