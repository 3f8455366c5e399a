"""Operators' overrides of a plugin's [config] (`PARLEY_PLUGIN_CONFIG_DIR/<id>.toml`): read
from real files, validated against the plugin's schema, refused naming the file and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plugins._config import config_fingerprint, read_config
from plugins._errors import ManifestError
from plugins._manifest import parse_manifest

MANIFEST = parse_manifest(
    """\
id = "dice"
version = "1.0.0"
api_version = 1
[server]
entry = "server.py"
[config.sides]
type = "int"
default = 6
[config.greeting]
type = "string"
default = "hi"
""",
    "dice/plugin.toml",
)


async def test_without_a_file_the_defaults_apply(tmp_path: Path) -> None:
    assert await read_config(tmp_path, MANIFEST) == ({"sides": 6, "greeting": "hi"}, "")


async def test_the_operators_file_overrides_declared_settings(tmp_path: Path) -> None:
    (tmp_path / "dice.toml").write_text("sides = 20\n")
    config, digest = await read_config(tmp_path, MANIFEST)
    assert config == {"sides": 20, "greeting": "hi"}
    assert re.fullmatch(r"[0-9a-f]{12}", digest)
    before = await config_fingerprint(tmp_path)
    (tmp_path / "dice.toml").write_text("sides = 12\n")
    assert await config_fingerprint(tmp_path) != before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'sides = "twenty"\n',
            "field 'sides': must be int, got a string (the schema is [config] of dice/plugin.toml)",
        ),
        (
            "colour = 3\n",
            "field 'colour': not declared in plugin.toml "
            "(the schema is [config] of dice/plugin.toml)",
        ),
        ("sides = [1, 2]\n", "field 'sides': must be int, got a list"),
        ("sides = true\n", "field 'sides': must be int, got a boolean"),
        ("sides = \n", "not valid TOML: "),
    ],
)
async def test_a_bad_file_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "dice.toml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=rf"^{re.escape(f'{path}: {message}')}"):
        await read_config(tmp_path, MANIFEST)
