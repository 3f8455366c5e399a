"""Errors of the plugin host, in one tree.

    PluginError                       base: something about a plugin or the workspace
    ├── ManifestError                 a plugin.toml is refused (names the file and the field)
    ├── PluginLoadError               a version's code could not be loaded or failed its check
    ├── WorkspaceError                the workspace (a Git repository) cannot do what was asked
    └── PluginNotFound                no plugin with that id in the workspace

A refused version never replaces the one that serves: the error is recorded on the plugin
(`last_error`) and shown by `parley plugin list` and the host's status.
"""

from __future__ import annotations

__all__ = [
    "ManifestError",
    "PluginError",
    "PluginLoadError",
    "PluginNotFound",
    "WorkspaceError",
]


class PluginError(Exception):
    """Base of every error the plugin host raises about a plugin or its workspace."""


class ManifestError(PluginError):
    """Raised when a plugin.toml is missing, unreadable or invalid; names file and field."""

    def __init__(self, path: str, field: str | None, reason: str) -> None:
        self.path = path
        self.field = field
        self.reason = reason
        where = f"{path}: field {field!r}" if field else path
        super().__init__(f"{where}: {reason}")


class PluginLoadError(PluginError):
    """Raised when a plugin version's server entry fails to import or its self-check fails."""


class WorkspaceError(PluginError):
    """Raised when a Git operation on the plugin workspace fails (the message says which)."""


class PluginNotFound(PluginError):
    """Raised when a command names a plugin id the workspace does not have."""
