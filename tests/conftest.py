"""Session fixtures shared by every test package.

`services` starts the REAL Kafka, FerretDB and OIDC provider once per session, lazily (only a
session that has a test asking for it pays the few seconds), on free ports in a temporary state
directory so a running `make run` on 9092/27017/9400 is never touched, and stops them at the end
of the session, on failure too. `settings` is a `Settings` pointing at them.

    def test_x(services: Endpoints, settings: Settings) -> None:
        services.kafka_bootstrap  # "127.0.0.1:PORT"
        services.mongo_uri        # "mongodb://127.0.0.1:PORT/parley" (pick your own database)
        services.oidc_issuer      # "http://127.0.0.1:PORT/parley"
        fetch_access_token(services.oidc_issuer, "alice")

`llm_server` starts the REAL local model server (llama.cpp serving SmolLM2-135M-Instruct, one
thread) the same way, once per session, on a free port; `llm_server.base_url` is the OpenAI
API root ("http://127.0.0.1:PORT/v1").

`browser` is Debian's chromium driven by Playwright, once per session: Playwright's sync API
allows one instance per thread, so every browser test (tests/browser, tests/assistants,
tests/plugins) shares this one and opens its own context or page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from config.settings import Settings, load_settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from infra import Endpoints, LlmServer


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    # Imported here: a unit-test session never loads the Kafka and Mongo clients for this.
    from config.errors import ServiceStartError
    from infra import LocalServices, Ports

    state_dir = tmp_path_factory.mktemp("parley-state")
    # A lost race for a "free" port (another run took it meanwhile) gets one more try; a failed
    # start has already stopped what it launched.
    for attempt in (1, 2):
        # die_with_parent: if the test run itself is killed, the kernel takes the services along.
        # The model server has a fixture of its own (`llm_server`): few tests need it.
        stack = LocalServices(Ports.free(), state_dir, die_with_parent=True, llm=False)
        try:
            endpoints = stack.start()
            break
        except ServiceStartError:
            if attempt == 2:
                raise
    try:
        yield endpoints
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def settings(services: Endpoints) -> Settings:
    """Settings aimed at the session's services; use `.model_copy(update=...)` to vary them."""
    return load_settings(
        kafka_bootstrap=services.kafka_bootstrap,
        mongo_uri=services.mongo_uri,
        oidc_issuer=services.oidc_issuer,
        state_dir=services.state_dir,
        kafka_port=services.ports.kafka,
        kafka_controller_port=services.ports.kafka_controller,
        mongo_port=services.ports.mongo,
        oidc_port=services.ports.oidc,
    )


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmServer]:
    from config.errors import ServiceStartError
    from infra import LlmServer, find_free_port

    state_dir = tmp_path_factory.mktemp("parley-llm")
    for attempt in (1, 2):  # a lost race for the free port gets one more try
        server = LlmServer(
            state_dir, find_free_port(), alias="SmolLM2-135M-Instruct", die_with_parent=True
        )
        try:
            server.start()
            break
        except ServiceStartError:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    from tests.browser._browser_support import CHROMIUM, CHROMIUM_FLAGS

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: `make install` installs Debian's chromium (as root)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
