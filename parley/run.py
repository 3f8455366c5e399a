"""`parley run` (what `make run` calls): local services, then the server; Ctrl-C stops all.

Services that were already running (an earlier `make infra-up`) are left running; the ones
this command started are stopped on the way out, whatever ends the server (Ctrl-C, SIGTERM,
a crash), so nothing of ours is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType

from config.settings import load_settings
from infra import LocalServices

__all__ = ["run_main"]


def _say(line: str) -> None:
    print(f"parley run: {line}", flush=True)


def run_main() -> int:
    settings = load_settings()
    services = LocalServices(settings)
    model = " and the local model server" if services.llm is not None else ""
    store = "FerretDB on PostgreSQL" if services.postgres is not None else "FerretDB on SQLite"
    _say(f"starting Kafka, {store}, the OIDC provider{model} (first time: about a minute)")
    endpoints = services.start()
    env = dict(os.environ)
    env.update(
        PARLEY_KAFKA_BOOTSTRAP=endpoints.kafka_bootstrap,
        PARLEY_MONGO_URI=endpoints.mongo_uri,
        PARLEY_OIDC_ISSUER=endpoints.oidc_issuer,
    )
    # A person trying Parley gets the bundled bots: the plugin host runs as a watched child
    # of the server (off by default for `parley serve`, so tests and the bench pay for it only
    # where they ask; an operator runs `--role plugins` processes of their own).
    env.setdefault("PARLEY_PLUGIN_HOST", "child")
    if endpoints.llm_base_url:
        env["PARLEY_LLM_BASE_URL"] = endpoints.llm_base_url
    url = settings.http_base_url
    _say(f"open {url} and log in as alice, bob or carol (any name works, no password)")
    _say(f"for scripts: TOKEN=$(.venv/bin/parley token alice); curl {url}/api/threads ...")
    # The server runs as a child so that its SIGTERM drain is exactly `parley serve`'s. In a
    # session of its own: a terminal's Ctrl-C reaches it once, through us, not twice (which
    # would mean "stop at once").
    server = subprocess.Popen(
        [sys.executable, "-m", "parley.cli", "serve"], env=env, start_new_session=True
    )

    def forward(signum: int, _frame: FrameType | None) -> None:
        if server.poll() is None:
            server.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    try:
        code = server.wait()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if server.poll() is None:
            server.kill()
            server.wait()
        stopped = services.stop(only_started=True)
        if stopped:
            _say(f"stopped {', '.join(stopped)}")
    return 0 if code in (0, -signal.SIGINT, -signal.SIGTERM) else code
