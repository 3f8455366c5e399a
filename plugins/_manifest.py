"""`plugin.toml`: what a plugin declares, validated before any of its code runs.

    id = "dice"                       # [a-z][a-z0-9-]{0,39}; bot user is "plugin:dice"
    version = "1.2.0"                 # semantic version (semver.org 2.0.0)
    api_version = 1                   # the plugin API it was written against
    description = "Rolls dice"
    [server]
    entry = "server.py"               # relative to the plugin folder, ends in .py
    [browser]                         # optional
    entry = "ui.js"                   # relative to the plugin folder, ends in .js
    [config.sides]                    # one table per setting: type and default
    type = "int"                      # string | int | float | bool
    default = 6
    description = "faces of a die"
    [assistant]                       # optional: the plugin is an assistant (issue 16)
    system_prompt = "You are ..."     # assistants.AssistantConfig: system_prompt, model,
    max_reply_tokens = 256            # context_budget_tokens, max_reply_tokens,
                                      # temperature, seed
    [runtime]                         # optional, every key has a default
    hook_timeout_s = 5.0              # deadline of one hook call
    max_failures = 3                  # failures in a row before the plugin is restarted
    restarts = 2                      # restarts before it stays `failed` (until reloaded)

Refusals follow Home Assistant's custom integrations: early, and naming the field. Unknown
keys are refused too (a typo such as `entyr` would otherwise silently load nothing). This
module does no I/O: the caller reads the file and passes its text and path.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from assistants import AssistantConfig, AssistantConfigError

from ._errors import ManifestError

__all__ = [
    "SUPPORTED_API_VERSIONS",
    "ConfigField",
    "Manifest",
    "RuntimePolicy",
    "bot_user_id",
    "check_unique_ids",
    "parse_manifest",
    "validate_config",
]

#: plugin API versions this host can run (see plugins.api.API_VERSION)
SUPPORTED_API_VERSIONS: frozenset[int] = frozenset({1})

_ID = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
# semver.org's recommended expression, anchored.
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_ENTRY_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_TOP_KEYS = frozenset(
    {
        "id",
        "version",
        "api_version",
        "description",
        "server",
        "browser",
        "config",
        "runtime",
        "assistant",
    }
)
# The manifest is checked without knowing the model: the host checks the assistant's config
# again against the model's real context (PARLEY_LLM_CONTEXT_TOKENS) when it loads it.
_ANY_CONTEXT = 1_000_000
_CONFIG_KEYS = frozenset({"type", "default", "description"})
_RUNTIME_KEYS = frozenset({"hook_timeout_s", "max_failures", "restarts"})
_MAX_DESCRIPTION = 500
_MAX_TIMEOUT_S = 300.0

ConfigType = Literal["string", "int", "float", "bool"]
_CONFIG_TYPES: tuple[ConfigType, ...] = ("string", "int", "float", "bool")


def bot_user_id(plugin_id: str) -> str:
    """The member id that adds a plugin to a thread (valid as a Parley user id)."""
    return f"plugin:{plugin_id}"


@dataclass(frozen=True, slots=True)
class ConfigField:
    name: str
    type: ConfigType
    default: str | int | float | bool
    description: str = ""


@dataclass(frozen=True, slots=True)
class RuntimePolicy:
    """How the host treats a plugin that fails (see plugins._runtime)."""

    hook_timeout_s: float = 5.0
    max_failures: int = 3
    restarts: int = 2


@dataclass(frozen=True, slots=True)
class Manifest:
    id: str
    version: str
    api_version: int
    description: str
    server_entry: str
    browser_entry: str | None = None
    config: tuple[ConfigField, ...] = ()
    runtime: RuntimePolicy = field(default_factory=RuntimePolicy)
    #: where it was read from (for messages); the plugin folder is its parent
    path: str = "plugin.toml"
    #: the `[assistant]` table: the plugin is an assistant member answering with the model
    assistant: Mapping[str, Any] | None = None

    @property
    def bot_user_id(self) -> str:
        return bot_user_id(self.id)

    def defaults(self) -> dict[str, Any]:
        return {f.name: f.default for f in self.config}


def parse_manifest(text: str, path: str) -> Manifest:
    """Validate the text of a plugin.toml read from `path`; raises ManifestError."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(path, None, f"not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ManifestError(path, unknown[0], "unknown key")
    plugin_id = _required(raw, "id", str, path)
    if not _ID.match(plugin_id):
        raise ManifestError(
            path, "id", f"{plugin_id[:60]!r} is not a plugin id (lowercase letters, digits, -)"
        )
    version = _required(raw, "version", str, path)
    if not _SEMVER.match(version):
        raise ManifestError(path, "version", f"{version[:60]!r} is not a semantic version")
    api_version = _required(raw, "api_version", int, path)
    if api_version not in SUPPORTED_API_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_API_VERSIONS))
        raise ManifestError(
            path, "api_version", f"{api_version} is not supported (this Parley runs {supported})"
        )
    description = _optional(raw, "description", str, path, "")
    if len(description) > _MAX_DESCRIPTION:
        raise ManifestError(path, "description", f"longer than {_MAX_DESCRIPTION} characters")
    server = _required(raw, "server", dict, path)
    server_entry = _entry(server, "server", ".py", path)
    browser_entry = None
    if "browser" in raw:
        browser = _required(raw, "browser", dict, path)
        browser_entry = _entry(browser, "browser", ".js", path)
    return Manifest(
        id=plugin_id,
        version=version,
        api_version=api_version,
        description=description,
        server_entry=server_entry,
        browser_entry=browser_entry,
        config=_config_schema(raw.get("config", {}), path),
        runtime=_runtime(raw.get("runtime", {}), path),
        path=path,
        assistant=_assistant(raw.get("assistant"), path),
    )


def _assistant(raw: Any, path: str) -> Mapping[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ManifestError(path, "assistant", f"must be a table, got {_kind(raw)}")
    try:
        AssistantConfig.load(raw, context_tokens=_ANY_CONTEXT)
    except AssistantConfigError as exc:
        raise ManifestError(path, f"assistant.{exc.key}", str(exc)) from None
    return dict(raw)


def check_unique_ids(manifests: Iterable[Manifest]) -> None:
    """Refuse a second plugin claiming an id already taken (naming both files)."""
    seen: dict[str, Manifest] = {}
    for manifest in manifests:
        first = seen.get(manifest.id)
        if first is not None:
            raise ManifestError(
                manifest.path, "id", f"{manifest.id!r} is already the id of {first.path}"
            )
        seen[manifest.id] = manifest


def validate_config(manifest: Manifest, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The plugin's config: its defaults with `overrides` applied, each checked by type."""
    values = manifest.defaults()
    declared = {f.name: f for f in manifest.config}
    for name, value in overrides.items():
        spec = declared.get(name)
        if spec is None:
            raise ManifestError(manifest.path, f"config.{name}", "not declared in plugin.toml")
        if not _is_type(value, spec.type):
            raise ManifestError(
                manifest.path, f"config.{name}", f"must be {spec.type}, got {_kind(value)}"
            )
        values[name] = float(value) if spec.type == "float" else value
    return values


# --- pieces ------------------------------------------------------------------------------
_KIND = {str: "a string", int: "an integer", dict: "a table", float: "a number", bool: "a boolean"}


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in _KIND.items():
        if isinstance(value, kind):
            return name
    return f"a {type(value).__name__}"


def _required(raw: Mapping[str, Any], key: str, kind: type, path: str, prefix: str = "") -> Any:
    name = prefix + key
    if key not in raw:
        raise ManifestError(path, name, "missing")
    return _typed(raw[key], key, kind, path, prefix)


def _optional(
    raw: Mapping[str, Any], key: str, kind: type, path: str, default: Any, prefix: str = ""
) -> Any:
    if key not in raw:
        return default
    return _typed(raw[key], key, kind, path, prefix)


def _typed(value: Any, key: str, kind: type, path: str, prefix: str) -> Any:
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok:
        raise ManifestError(path, prefix + key, f"must be {_KIND[kind]}, got {_kind(value)}")
    return float(value) if kind is float else value


def _entry(table: Mapping[str, Any], section: str, suffix: str, path: str) -> str:
    unknown = sorted(set(table) - {"entry"})
    if unknown:
        raise ManifestError(path, f"{section}.{unknown[0]}", "unknown key")
    entry: str = _required(table, "entry", str, path, f"{section}.")
    name = f"{section}.entry"
    # Only plain relative paths inside the plugin folder: no absolute path, no `..`, no
    # backslash or drive (a Windows checkout), no hidden or empty parts.
    parts = entry.split("/")
    if entry.startswith("/") or any(not _ENTRY_PART.match(p) for p in parts):
        raise ManifestError(path, name, f"{entry[:80]!r} is not a path inside the plugin folder")
    if any(p in (".", "..") for p in PurePosixPath(entry).parts):
        raise ManifestError(path, name, f"{entry[:80]!r} is not a path inside the plugin folder")
    if not entry.endswith(suffix):
        raise ManifestError(path, name, f"{entry[:80]!r} must end in {suffix}")
    return entry


def _config_schema(raw: Any, path: str) -> tuple[ConfigField, ...]:
    if not isinstance(raw, dict):
        raise ManifestError(path, "config", f"must be a table, got {_kind(raw)}")
    fields: list[ConfigField] = []
    for name, spec in raw.items():
        where = f"config.{name}"
        if not re.match(r"^[a-z][a-z0-9_]{0,39}$", name):
            raise ManifestError(path, where, "a setting name is lowercase letters, digits, _")
        if not isinstance(spec, dict):
            raise ManifestError(path, where, f"must be a table, got {_kind(spec)}")
        unknown = sorted(set(spec) - _CONFIG_KEYS)
        if unknown:
            raise ManifestError(path, f"{where}.{unknown[0]}", "unknown key")
        kind = _required(spec, "type", str, path, f"{where}.")
        if kind not in _CONFIG_TYPES:
            raise ManifestError(
                path, f"{where}.type", f"{kind[:40]!r} is not one of {', '.join(_CONFIG_TYPES)}"
            )
        if "default" not in spec:
            raise ManifestError(path, f"{where}.default", "missing")
        default = spec["default"]
        if not _is_type(default, kind):
            raise ManifestError(path, f"{where}.default", f"must be {kind}, got {_kind(default)}")
        description = _optional(spec, "description", str, path, "", f"{where}.")
        if kind == "float":
            default = float(default)
        fields.append(ConfigField(name, kind, default, description))
    return tuple(fields)


def _is_type(value: object, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "float":
        return isinstance(value, int | float)
    return isinstance(value, str)


def _runtime(raw: Any, path: str) -> RuntimePolicy:
    if not isinstance(raw, dict):
        raise ManifestError(path, "runtime", f"must be a table, got {_kind(raw)}")
    unknown = sorted(set(raw) - _RUNTIME_KEYS)
    if unknown:
        raise ManifestError(path, f"runtime.{unknown[0]}", "unknown key")
    default = RuntimePolicy()
    timeout = _optional(raw, "hook_timeout_s", float, path, default.hook_timeout_s, "runtime.")
    if not 0 < timeout <= _MAX_TIMEOUT_S:
        raise ManifestError(
            path, "runtime.hook_timeout_s", f"must be above 0 and at most {_MAX_TIMEOUT_S:g}"
        )
    failures = _optional(raw, "max_failures", int, path, default.max_failures, "runtime.")
    if failures < 1:
        raise ManifestError(path, "runtime.max_failures", "must be at least 1")
    restarts = _optional(raw, "restarts", int, path, default.restarts, "runtime.")
    if restarts < 0:
        raise ManifestError(path, "runtime.restarts", "must be 0 or more")
    return RuntimePolicy(hook_timeout_s=timeout, max_failures=failures, restarts=restarts)
