# ruff: noqa: E501  (a table of cases reads best one case per line)
"""plugin.toml: the accepted shape, and a table of bad manifests each refused by name."""

from __future__ import annotations

import re

import pytest

from plugins._errors import ManifestError
from plugins._manifest import (
    Manifest,
    RuntimePolicy,
    check_unique_ids,
    parse_manifest,
    validate_config,
)

GOOD = """
id = "dice"
version = "1.2.0-rc.1+build.5"
api_version = 1
description = "Rolls dice"
[server]
entry = "server.py"
[browser]
entry = "ui/panel.js"
[config.sides]
type = "int"
default = 6
description = "faces of a die"
[config.ratio]
type = "float"
default = 1
[runtime]
hook_timeout_s = 2
max_failures = 4
restarts = 0
"""

MINIMAL = """
id = "echo"
version = "0.1.0"
api_version = 1
[server]
entry = "server.py"
"""


def test_a_full_manifest_is_read() -> None:
    manifest = parse_manifest(GOOD, "ws/dice/plugin.toml")
    assert manifest.id == "dice"
    assert manifest.version == "1.2.0-rc.1+build.5"
    assert manifest.api_version == 1
    assert manifest.server_entry == "server.py"
    assert manifest.browser_entry == "ui/panel.js"
    assert manifest.defaults() == {"sides": 6, "ratio": 1.0}
    assert manifest.runtime == RuntimePolicy(hook_timeout_s=2.0, max_failures=4, restarts=0)
    assert manifest.bot_user_id == "plugin:dice"


def test_a_minimal_manifest_gets_defaults() -> None:
    manifest = parse_manifest(MINIMAL, "p.toml")
    assert manifest.browser_entry is None
    assert manifest.config == ()
    assert manifest.description == ""
    assert manifest.runtime == RuntimePolicy()


def _without(text: str, line: str) -> str:
    assert line in text
    return text.replace(line, "")


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


# (case, manifest text, field named in the error, reason) — each must be refused.
BAD: list[tuple[str, str, str | None, str]] = [
    ("not toml", "id = ", None, r"not valid TOML: .*"),
    ("missing id", _without(MINIMAL, 'id = "echo"'), "id", "missing"),
    ("missing version", _without(MINIMAL, 'version = "0.1.0"'), "version", "missing"),
    ("missing api_version", _without(MINIMAL, "api_version = 1"), "api_version", "missing"),
    ("missing server", _without(MINIMAL, '[server]\nentry = "server.py"'), "server", "missing"),
    ("missing entry", _without(MINIMAL, 'entry = "server.py"'), "server.entry", "missing"),
    ("id a number", _replace(MINIMAL, '"echo"', "7"), "id", "must be a string, got an integer"),
    ("id upper", _replace(MINIMAL, '"echo"', '"Echo"'), "id", r"'Echo' is not a plugin id .*"),
    ("id slash", _replace(MINIMAL, '"echo"', '"../x"'), "id", r"'\.\./x' is not a plugin id .*"),
    ("id empty", _replace(MINIMAL, '"echo"', '""'), "id", r"'' is not a plugin id .*"),
    ("version int", _replace(MINIMAL, '"0.1.0"', "1"), "version", "must be a string, got an integer"),
    ("version short", _replace(MINIMAL, '"0.1.0"', '"1.0"'), "version", "'1.0' is not a semantic version"),
    ("version zero", _replace(MINIMAL, '"0.1.0"', '"01.0.0"'), "version", "'01.0.0' is not a semantic version"),
    ("api string", _replace(MINIMAL, "api_version = 1", 'api_version = "1"'), "api_version", "must be an integer, got a string"),
    ("api bool", _replace(MINIMAL, "api_version = 1", "api_version = true"), "api_version", "must be an integer, got a boolean"),
    ("api unknown", _replace(MINIMAL, "api_version = 1", "api_version = 2"), "api_version", r"2 is not supported \(this Parley runs 1\)"),
    ("api zero", _replace(MINIMAL, "api_version = 1", "api_version = 0"), "api_version", r"0 is not supported \(this Parley runs 1\)"),
    ("description list", MINIMAL.replace("[server]", 'description = ["x"]\n[server]'), "description", "must be a string, got a list"),
    ("unknown key", MINIMAL.replace("[server]", "entyr = 1\n[server]"), "entyr", "unknown key"),
    ("server a string", _replace(MINIMAL, '[server]\nentry = "server.py"', 'server = "server.py"'), "server", "must be a table, got a string"),
    ("entry absolute", _replace(MINIMAL, '"server.py"', '"/etc/passwd.py"'), "server.entry", r"'/etc/passwd\.py' is not a path inside the plugin folder"),
    ("entry dotdot", _replace(MINIMAL, '"server.py"', '"../other/server.py"'), "server.entry", r"'\.\./other/server\.py' is not a path inside the plugin folder"),
    ("entry inner dotdot", _replace(MINIMAL, '"server.py"', '"a/../../x.py"'), "server.entry", r"'a/\.\./\.\./x\.py' is not a path inside the plugin folder"),
    ("entry backslash", _replace(MINIMAL, '"server.py"', r"'..\x.py'"), "server.entry", r"'\.\.\\\\x\.py' is not a path inside the plugin folder"),
    ("entry drive", _replace(MINIMAL, '"server.py"', '"C:/x.py"'), "server.entry", r"'C:/x\.py' is not a path inside the plugin folder"),
    ("entry empty part", _replace(MINIMAL, '"server.py"', '"a//x.py"'), "server.entry", r"'a//x\.py' is not a path inside the plugin folder"),
    ("entry hidden", _replace(MINIMAL, '"server.py"', '".x.py"'), "server.entry", r"'\.x\.py' is not a path inside the plugin folder"),
    ("entry not py", _replace(MINIMAL, '"server.py"', '"server.sh"'), "server.entry", r"'server\.sh' must end in \.py"),
    ("entry number", _replace(MINIMAL, '"server.py"', "3"), "server.entry", "must be a string, got an integer"),
    ("server extra", MINIMAL + "module = 1\n", "server.module", "unknown key"),
    ("browser traversal", MINIMAL + '[browser]\nentry = "../../x.js"\n', "browser.entry", r"'\.\./\.\./x\.js' is not a path inside the plugin folder"),
    ("browser not js", MINIMAL + '[browser]\nentry = "ui.py"\n', "browser.entry", r"'ui\.py' must end in \.js"),
    ("config not table", MINIMAL.replace("[server]", "config = 1\n[server]"), "config", "must be a table, got an integer"),
    ("config no type", MINIMAL + "[config.x]\ndefault = 1\n", "config.x.type", "missing"),
    ("config bad type", MINIMAL + '[config.x]\ntype = "list"\ndefault = 1\n', "config.x.type", "'list' is not one of string, int, float, bool"),
    ("config no default", MINIMAL + '[config.x]\ntype = "int"\n', "config.x.default", "missing"),
    ("config default type", MINIMAL + '[config.x]\ntype = "int"\ndefault = "6"\n', "config.x.default", "must be int, got a string"),
    ("config bool as int", MINIMAL + '[config.x]\ntype = "int"\ndefault = true\n', "config.x.default", "must be int, got a boolean"),
    ("config extra", MINIMAL + '[config.x]\ntype = "int"\ndefault = 1\nmin = 0\n', "config.x.min", "unknown key"),
    ("config name", MINIMAL + '[config.X]\ntype = "int"\ndefault = 1\n', "config.X", "a setting name is lowercase letters, digits, _"),
    ("runtime timeout", MINIMAL + "[runtime]\nhook_timeout_s = 0\n", "runtime.hook_timeout_s", "must be above 0 and at most 300"),
    ("runtime timeout type", MINIMAL + '[runtime]\nhook_timeout_s = "1"\n', "runtime.hook_timeout_s", "must be a number, got a string"),
    ("runtime failures", MINIMAL + "[runtime]\nmax_failures = 0\n", "runtime.max_failures", "must be at least 1"),
    ("runtime restarts", MINIMAL + "[runtime]\nrestarts = -1\n", "runtime.restarts", "must be 0 or more"),
    ("runtime extra", MINIMAL + "[runtime]\nretries = 1\n", "runtime.retries", "unknown key"),
]


@pytest.mark.parametrize(("text", "field", "reason"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_manifest_is_refused_naming_file_and_field(
    text: str, field: str | None, reason: str
) -> None:
    path = "ws/echo/plugin.toml"
    where = re.escape(f"{path}: field {field!r}") if field else re.escape(path)
    with pytest.raises(ManifestError, match=rf"^{where}: {reason}$") as caught:
        parse_manifest(text, path)
    assert caught.value.field == field
    assert caught.value.path == path


def test_a_clashing_id_is_refused_naming_both_files() -> None:
    first = parse_manifest(MINIMAL, "ws/echo/plugin.toml")
    second = parse_manifest(MINIMAL, "ws/echo2/plugin.toml")
    other = parse_manifest(_replace(MINIMAL, '"echo"', '"other"'), "ws/other/plugin.toml")
    check_unique_ids([first, other])
    with pytest.raises(
        ManifestError,
        match=r"^ws/echo2/plugin\.toml: field 'id': 'echo' is already the id of ws/echo/plugin\.toml$",
    ):
        check_unique_ids([first, other, second])


def test_config_overrides_are_checked_against_the_schema() -> None:
    manifest: Manifest = parse_manifest(GOOD, "d/plugin.toml")
    assert validate_config(manifest, {"sides": 20, "ratio": 2}) == {"sides": 20, "ratio": 2.0}
    with pytest.raises(ManifestError, match=r"^d/plugin\.toml: field 'config\.sides': must be int, got a string$"):
        validate_config(manifest, {"sides": "20"})
    with pytest.raises(ManifestError, match=r"^d/plugin\.toml: field 'config\.colour': not declared in plugin\.toml$"):
        validate_config(manifest, {"colour": "red"})
