"""Browser-test helpers: a real `parley serve` subprocess, login through the real provider.

The server runs as a subprocess (Playwright's sync API owns the test thread's event loop, and a
subprocess is also what a restart needs) against the session's real Kafka, FerretDB and OIDC
provider, with topics, consumer group and database of its own so other tests never see its
records. Its HTTP and WebSocket ports are fixed for the module, so a restarted server is found
again by the pages that were open.

`require_endpoints` skips (naming the endpoint) only when the running server lacks something
the browser calls; everything else that goes wrong is a failure.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from infra.token import fetch_access_token

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


REPO = Path(__file__).resolve().parents[2]
PARLEY = REPO / ".venv" / "bin" / "parley"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "tests" / "artifacts" / "screenshots"
# No outside network on the machines: keep chromium from phoning home or waiting on it.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_DEADLINE_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ParleyServer:
    """One `parley serve` process; `restart()` brings it back on the same ports."""

    env: dict[str, str]
    http_port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    config: dict[str, str] = field(default_factory=dict)
    ws_checked: str | None = None  # None: not probed yet; "": fine; else why chat tests skip

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(PARLEY), "serve", "--role", "all"],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"parley serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):  # not listening yet: poll again
                if httpx.get(f"{self.base_url}/readyz", timeout=2.0).status_code == 200:
                    return
            time.sleep(0.25)
        self.stop()
        pytest.fail(f"parley serve not ready within {START_DEADLINE_S:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def require_endpoints(server: ParleyServer, issuer: str) -> None:
    """Skip (with the precise reason) when the running server lacks what the browser calls."""
    base = server.base_url
    page = httpx.get(f"{base}/", timeout=5.0)
    if page.status_code == 404:
        pytest.skip("server lacks GET / (gateway.static blueprint not registered)")
    cfg = httpx.get(f"{base}/config.js", timeout=5.0)
    if cfg.status_code == 404:
        pytest.skip("server lacks GET /config.js")
    match = re.search(r"window\.PARLEY_CONFIG\s*=\s*(\{.*\})\s*;?\s*$", cfg.text, re.S)
    if match is None:
        pytest.fail(f"/config.js does not assign window.PARLEY_CONFIG: {cfg.text[:200]!r}")
    server.config = json.loads(match.group(1))
    token = fetch_access_token(issuer, "probe")
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/api/threads", "/api/ui-modules"):
        answer = httpx.get(f"{base}{path}", headers=headers, timeout=10.0)
        if answer.status_code in (404, 405):
            pytest.skip(f"server lacks GET {path} (HTTP {answer.status_code})")


def require_websocket(server: ParleyServer, issuer: str) -> None:
    """Skip when the server has no WebSocket endpoint at the advertised wsUrl."""
    token = fetch_access_token(issuer, "probe")
    _probe_websocket(server.config["wsUrl"], server.base_url, token)


def _probe_websocket(ws_url: str, origin: str, token: str) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        ws = connect(ws_url, origin=origin, open_timeout=10)  # type: ignore[arg-type]
    except InvalidStatus as exc:
        pytest.skip(
            f"server lacks the WebSocket endpoint {ws_url} (HTTP {exc.response.status_code})"
        )
    except OSError as exc:
        pytest.skip(f"server lacks the WebSocket endpoint {ws_url} ({exc})")
    with ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        ws.send(json.dumps({"type": "ping"}))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            raw = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            parsed = json.loads(raw)
            frames = parsed if isinstance(parsed, list) else [parsed]
            if any(f.get("type") == "pong" for f in frames):
                return
            if any(f.get("type") == "error" for f in frames):
                pytest.fail(f"WebSocket refused auth + ping: {raw!r}")
    pytest.fail(f"WebSocket at {ws_url} gave no pong within 10 s")


@dataclass
class PageLog:
    """What a page said on its console; printed when a test fails, to say why."""

    name: str
    lines: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", lambda m: self.lines.append(f"[{self.name}] {m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.lines.append(f"[{self.name}] pageerror: {e}"))
        # The console says only "404"; the URL says what is missing.
        page.on(
            "response",
            lambda r: (
                self.lines.append(f"[{self.name}] HTTP {r.status}: {r.url}")
                if r.status >= 400
                else None
            ),
        )


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def login(
    browser: Browser,
    server: ParleyServer,
    user: str,
    logs: list[PageLog],
    *,
    wait_online: bool = True,
) -> Page:
    """A fresh browser context signed in as `user` through the provider's own login page."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1100, "height": 720})
    page = context.new_page()
    log = PageLog(user)
    log.attach(page)
    logs.append(log)
    page.goto(f"{server.base_url}/")
    page.get_by_role("button", name="Sign in").click()
    # The provider's page: mock-oauth2-server asks for any user name.
    username = page.locator("input[name=username]")
    username.wait_for(timeout=20_000)
    if not (SCREENSHOTS / "01-provider-login.png").exists():
        screenshot(page, "01-provider-login")
    username.fill(user)
    page.locator("form [type=submit]").first.click()
    page.wait_for_url(f"{server.base_url}/", timeout=20_000)
    expect(page.get_by_test_id("current-user")).to_have_text(user, timeout=20_000)
    if wait_online:
        expect(page.get_by_test_id("connection")).to_have_attribute(
            "data-state", "online", timeout=30_000
        )
    return page
