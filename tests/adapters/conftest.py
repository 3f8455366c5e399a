"""Fixtures for the adapter tests (helpers live in `_helpers.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters import MongoStore
from config.settings import Settings
from parley._options import store_options
from tests.adapters._helpers import unique


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[MongoStore]:
    s = MongoStore(store_options(settings, database=unique("db").replace("-", "_")))
    await s.start()
    try:
        yield s
    finally:
        await s.close()
