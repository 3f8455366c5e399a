"""Plugin browser modules in Debian's chromium, against `parley serve` with its plugin host
as a child process, a real Git workspace (dev mode), Kafka, FerretDB and the OIDC provider.

The bundled `activity` panel loads from its versioned URL through the import map and shows
what its own HTTP route answers; a message in a thread with its bot changes the number; an
edit of its ui.js in the workspace replaces the module in the open page without a reload
(a variable set on the page before survives); a module that throws on import and one that
throws in mount each show an error box naming the plugin, while the chat goes on.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio
from playwright.sync_api import expect

from plugins._settings import Mode
from plugins._workspace import Workspace
from tests.browser._browser_support import (
    PageLog,
    ParleyServer,
    free_port,
    login,
    screenshot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from infra import Endpoints

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# A fresh child plugin host joins its consumer group, loads and publishes its status.
PLUGIN_MS = 60_000

BROKEN_TOML = """\
id = "{id}"
version = "0.1.0"
api_version = 1
[server]
entry = "server.py"
[browser]
entry = "ui.js"
"""
BROKEN_IMPORT_UI = 'throw new Error("broken on purpose at import");\n'
BROKEN_MOUNT_UI = (
    'export function mount(element) {\n  throw new RangeError("mount refused on purpose");\n}\n'
)


def _workspace(root: Path) -> Path:
    async def make() -> Path:
        ws = Workspace(root / "plugins", Mode.DEV, root / "plugin-cache")
        await ws.ensure()  # the bundled examples, `activity` among them
        broken = {"broken-import": BROKEN_IMPORT_UI, "broken-mount": BROKEN_MOUNT_UI}
        for plugin_id, ui in broken.items():
            folder = ws.path / plugin_id
            folder.mkdir()
            (folder / "plugin.toml").write_text(BROKEN_TOML.format(id=plugin_id))
            (folder / "server.py").write_text('"""Only a browser module."""\n')
            (folder / "ui.js").write_text(ui)
        await ws.commit_all("two browser modules that throw")
        return ws.path

    return trio.run(make)


@pytest.fixture
def plugin_server(services: Endpoints, tmp_path: Path) -> Iterator[ParleyServer]:
    run_id = uuid.uuid4().hex[:10]
    state = tmp_path / "state"
    state.mkdir()
    workspace = _workspace(state)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")},
        "PARLEY_HTTP_HOST": "127.0.0.1",
        "PARLEY_HTTP_PORT": str(free_port()),
        "PARLEY_WS_PORT": str(free_port()),
        "PARLEY_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "PARLEY_MONGO_URI": services.mongo_uri.rsplit("/", 1)[0] + f"/parley_pluginui_{run_id}",
        "PARLEY_OIDC_ISSUER": services.oidc_issuer,
        "PARLEY_STATE_DIR": str(state),
        "PARLEY_COMMANDS_TOPIC": f"pluginui-{run_id}.commands",
        "PARLEY_EVENTS_TOPIC": f"pluginui-{run_id}.events",
        "PARLEY_DLQ_TOPIC": f"pluginui-{run_id}.dlq",
        "PARLEY_DOMAIN_CHANGES_TOPIC": f"pluginui-{run_id}.domain-changes",
        "PARLEY_CORE_GROUP": f"pluginui-{run_id}-core",
        "PARLEY_TOPIC_PARTITIONS": "2",
        "PARLEY_SHUTDOWN_GRACE_S": "5",
        "PARLEY_PLUGIN_HOST": "child",
        "PARLEY_PLUGIN_MODE": "dev",
        "PARLEY_PLUGIN_WORKSPACE": str(workspace),
        "PARLEY_PLUGIN_GROUP": f"pluginui-{run_id}-plugins",
    }
    server = ParleyServer(
        env=env, http_port=int(env["PARLEY_HTTP_PORT"]), log_path=state / "server.log"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        print(server.log_tail(60))


def _new_thread_with_the_bot(page: Page, title: str) -> None:
    page.get_by_role("button", name="New thread").click()
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Members", exact=True).fill("plugin:activity")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#chat-title")).to_have_text(title, timeout=20_000)


def test_the_activity_panel_loads_updates_and_contains_broken_modules(
    browser: Browser, plugin_server: ParleyServer, page_logs: list[PageLog], tmp_path: Path
) -> None:
    page = login(browser, plugin_server, "alice", page_logs)
    stats = page.locator("[data-plugin=activity] [data-testid=activity-stats]")
    # Loaded from its immutable versioned URL, by its bare name through an import map.
    expect(stats).to_have_text("Messages seen: 0 in 0 threads", timeout=PLUGIN_MS)
    panel = page.locator("[data-plugin=activity]")
    expect(panel).to_have_attribute("data-loaded-via", "importmap")
    first_url = panel.get_attribute("data-plugin-url")
    assert first_url is not None and first_url.startswith("/plugins/activity/"), first_url

    # The modules that throw: an error box each, naming the plugin and the error.
    broken_import = page.locator("[data-plugin=broken-import] [data-testid=plugin-error]")
    expect(broken_import).to_contain_text("broken-import", timeout=PLUGIN_MS)
    expect(broken_import).to_contain_text("broken on purpose at import")
    broken_mount = page.locator("[data-plugin=broken-mount] [data-testid=plugin-error]")
    expect(broken_mount).to_contain_text("broken-mount", timeout=PLUGIN_MS)
    expect(broken_mount).to_contain_text("RangeError: mount refused on purpose")

    # ...and the chat works on: a message in a thread with the bot, which the panel counts
    # through its own route.
    page.evaluate("window.__beforeNewVersion = 'still here'")
    _new_thread_with_the_bot(page, f"Activity {uuid.uuid4().hex[:6]}")
    box = page.get_by_label("Message to")
    box.fill("hello, activity")
    box.press("Enter")
    expect(page.locator("[data-testid=message] .text")).to_have_text(
        ["hello, activity"], timeout=45_000
    )
    expect(stats).to_have_text("Messages seen: 1 in 1 threads", timeout=PLUGIN_MS)
    screenshot(page, "10-plugin-panels")

    # A saved edit (dev mode): the new version replaces the old in the open page.
    ui = Path(plugin_server.env["PARLEY_PLUGIN_WORKSPACE"]) / "activity" / "ui.js"
    ui.write_text(ui.read_text().replace('"Messages seen"', '"Seen by the new version"'))
    expect(stats).to_have_text("Seen by the new version: 1 in 1 threads", timeout=PLUGIN_MS)
    assert page.evaluate("window.__beforeNewVersion") == "still here"  # no reload
    second_url = panel.get_attribute("data-plugin-url")
    assert second_url is not None and second_url != first_url
    expect(panel).to_have_attribute("data-loaded-via", "importmap")
    expect(page.locator("[data-testid=activity-stats]")).to_have_count(1)  # the old unmounted
    maps = page.locator("script[type=importmap]").evaluate_all(
        "els => els.flatMap(e => Object.keys(JSON.parse(e.textContent).imports))"
    )
    assert {m for m in maps if m.startswith("parley-plugin/activity/")} == {
        "parley-plugin/" + first_url.removeprefix("/plugins/"),
        "parley-plugin/" + second_url.removeprefix("/plugins/"),
    }
    # The broken ones are still contained, the chat still answers.
    expect(broken_import).to_contain_text("broken on purpose at import")
    box.fill("after the new version")
    box.press("Enter")
    expect(page.locator("[data-testid=message] .text")).to_have_text(
        ["hello, activity", "after the new version"], timeout=45_000
    )
    expect(stats).to_have_text("Seen by the new version: 2 in 1 threads", timeout=PLUGIN_MS)
    screenshot(page, "11-plugin-new-version")
    page.context.close()


@pytest.fixture
def page_logs() -> Iterator[list[PageLog]]:
    logs: list[PageLog] = []
    yield logs
    for log in logs:
        for line in log.lines:
            print(line)
