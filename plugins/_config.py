"""Operator overrides of a plugin's `[config]`, kept outside the plugin.

    $PARLEY_PLUGIN_CONFIG_DIR/<plugin id>.toml      (default <state>/plugin-config)
        sides = 20                                   # one top-level key per setting

A plugin's `plugin.toml` declares its settings with types and defaults; the operator's file
changes values without touching the plugin's repository (secrets, per-deployment numbers),
the way Home Assistant keeps an integration's options apart from its code. Every key must be
declared by the plugin and have its type: a file that is not valid TOML, names an unknown
setting or gives a wrong type refuses the plugin's next version with an error naming the
file and the field, and the version already serving keeps its config.

A changed file counts as a new version of the running plugin: the host loads the same code
again as a fresh module, with the new config, and swaps it in (`on_stop` then `on_start`),
so a plugin that reads its config in `on_start` sees the change too.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

from adapters import path_exists, read_files, read_text

from ._errors import ManifestError
from ._manifest import Manifest, validate_config

__all__ = ["config_fingerprint", "read_config"]


async def read_config(directory: Path, manifest: Manifest) -> tuple[dict[str, Any], str]:
    """The plugin's validated config (defaults with the operator's file applied) and a
    digest of that file ("" without one); raises ManifestError naming the file."""
    path = directory / f"{manifest.id}.toml"
    if not await path_exists(path):
        return validate_config(manifest, {}), ""
    try:
        text = await read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(str(path), None, f"cannot be read: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(str(path), None, f"not valid TOML: {exc}") from None
    try:
        config = validate_config(manifest, raw)
    except ManifestError as exc:
        # Named as the operator wrote it: the file, and the key without the `config.` prefix.
        name = (exc.field or "").removeprefix("config.")
        reason = f"{exc.reason} (the schema is [config] of {manifest.path})"
        raise ManifestError(str(path), name or None, reason) from None
    return config, hashlib.sha256(text.encode()).hexdigest()[:12]


async def config_fingerprint(directory: Path) -> str:
    """Changes whenever a file in the config folder does (polled with the workspace's HEAD)."""
    if not await path_exists(directory):
        return ""
    digest = hashlib.sha256()
    for rel, content in sorted((await read_files(directory)).items()):
        digest.update(rel.encode() + b"\0" + content + b"\0")
    return digest.hexdigest()[:12]
