"""The plugin host role: plugins from a Git workspace, run out of the chat path.

Plugin authors import only `plugins.api` (the versioned, documented API). Everything else in
this package is private to the host: `_manifest` (plugin.toml), `_loader` (one fresh module
per version), `_runtime` (one supervised actor per plugin), `_workspace` (the Git repository),
`_host` (consumes chat.events, posts through chat.commands), `_cli` (`parley plugin ...`).
"""

from __future__ import annotations

from ._child import plugin_host_child
from ._cli import plugin_main
from ._host import PluginHost, start_plugin_host
from ._http import plugins_blueprint

__all__ = [
    "PluginHost",
    "plugin_host_child",
    "plugin_main",
    "plugins_blueprint",
    "start_plugin_host",
]
