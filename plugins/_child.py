"""`--role all` with PARLEY_PLUGIN_HOST=child: the plugin host as a supervised child process.

The child is `parley serve --role plugins` with the parent's settings, its own HTTP port
(for /healthz, which the parent probes: a child whose event loop a busy-looping plugin holds
stops answering and is killed and respawned), no WebSocket listener.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import TYPE_CHECKING

from adapters import SupervisedChild, free_port

from ._settings import PluginSettings, load_plugin_settings

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["plugin_host_child"]


def plugin_host_child(
    settings: Settings, plugin_settings: PluginSettings | None = None
) -> SupervisedChild | None:
    """The child's Service, or None when PARLEY_PLUGIN_HOST is off."""
    ps = plugin_settings or load_plugin_settings()
    if ps.host != "child":
        return None
    port = free_port(settings.http_host)
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"PARLEY_{name.upper()}"] = str(getattr(value, "value", value))
    parent = settings.gateway_id or f"{socket.gethostname()}-{os.getpid()}"
    env.update(
        PARLEY_ROLE="plugins",
        PARLEY_HTTP_PORT=str(port),
        PARLEY_WS_PORT="-1",
        PARLEY_GATEWAY_ID=f"{parent}-plugins",
        PARLEY_PLUGIN_WORKSPACE=str(ps.workspace_path(settings.state_dir)),
        PARLEY_PLUGIN_CACHE=str(ps.cache_path(settings.state_dir)),
        PARLEY_PLUGIN_MODE=ps.mode.value,
        PARLEY_PLUGIN_HOST="off",
    )
    return SupervisedChild(
        "plugin-host",
        [sys.executable, "-m", "parley.cli", "serve", "--role", "plugins"],
        env,
        health_url=f"http://{settings.http_host}:{port}/healthz",
        unresponsive_s=ps.unresponsive_s,
    )
