"""Settings of the plugin host (environment `PARLEY_PLUGIN_*`), apart from the server's own.

Kept here rather than in the server's settings so the plugin role stays one package; the
README table of the server's settings does not list these yet (see docs in the report).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._priority import CpuPriority

__all__ = ["Mode", "PluginSettings", "load_plugin_settings"]


class Mode(StrEnum):
    DEV = "dev"  #: load the working tree (version = commit + dirty flag)
    COMMIT = "commit"  #: load committed HEAD only (what production runs)


class PluginSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_PLUGIN_", extra="ignore")

    workspace: Path | None = Field(
        default=None, description="Plugin workspace, a Git repository (default: <state>/plugins)."
    )
    mode: Mode = Field(default=Mode.DEV, description="dev: working tree; commit: HEAD only.")
    cache: Path | None = Field(
        default=None, description="Materialised commits (default: <state>/plugin-cache)."
    )
    config_dir: Path | None = Field(
        default=None,
        description="Operators' overrides of plugins' [config], <id>.toml each "
        "(default: <state>/plugin-config).",
    )
    group: str = Field(default="plugins", description="Consumer group of the plugin hosts.")
    versions_topic: str = Field(
        default="parley.plugin-versions",
        description="Compacted topic through which commit-mode hosts converge on versions.",
    )
    host: Literal["off", "child"] = Field(
        default="off",
        description="child: `--role all` also runs the plugin host as a child process.",
    )
    unresponsive_s: float = Field(
        default=10.0, description="A child host not answering /healthz this long is killed."
    )
    cpu_priority: CpuPriority = Field(
        default="low",
        description="The host's CPU priority: low (nice 19), idle (SCHED_IDLE) or normal; "
        "a busy plugin then takes CPU only when the chat path does not need it.",
    )
    poll_s: float = Field(default=0.5, description="How often commit mode asks git for HEAD.")
    routes_url: str = Field(
        default="",
        description=(
            "Where gateways reach this host's plugin routes (default: http://<PARLEY_HTTP_HOST>"
            ":<PARLEY_HTTP_PORT>; set it when the host listens on 0.0.0.0 or behind NAT)."
        ),
    )

    def workspace_path(self, state_dir: Path) -> Path:
        return self.workspace if self.workspace is not None else state_dir / "plugins"

    def config_path(self, state_dir: Path) -> Path:
        return self.config_dir if self.config_dir is not None else state_dir / "plugin-config"

    def cache_path(self, state_dir: Path) -> Path:
        return self.cache if self.cache is not None else state_dir / "plugin-cache"


def load_plugin_settings(**overrides: object) -> PluginSettings:
    return PluginSettings(**overrides)  # type: ignore[arg-type]
