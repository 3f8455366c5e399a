# ruff: noqa: E501  (one case per line)
"""Each version a fresh module under a versioned name; a broken one refused; the old freed."""

from __future__ import annotations

import gc
import sys
import weakref
from pathlib import Path

import pytest

from plugins._errors import PluginLoadError
from plugins._loader import PluginSource, load_plugin, module_prefix, unload
from plugins._manifest import parse_manifest

MANIFEST = """
id = "echo"
version = "0.1.0"
api_version = 1
[server]
entry = "server.py"
"""

V1 = """
from . import helper

async def on_message(ctx, message):
    await ctx.reply(helper.answer(1))

def self_check():
    assert helper.answer(1) == "v1"
"""

HELPER = 'def answer(n):\n    return f"v{n}"\n'


def _source(root: Path, text: str, digest: str, *, plugin_id: str = "echo") -> PluginSource:
    root.mkdir(parents=True, exist_ok=True)
    (root / "server.py").write_text(text)
    (root / "helper.py").write_text(HELPER)
    manifest = parse_manifest(MANIFEST.replace('"echo"', f'"{plugin_id}"'), "plugin.toml")
    return PluginSource(manifest, str(root), text, commit="abc+dirty", digest=digest)


def _names(plugin_id: str = "echo") -> list[str]:
    return [n for n in sys.modules if n.startswith(module_prefix(plugin_id))]


def test_a_version_loads_under_a_versioned_name_with_its_hooks(tmp_path: Path) -> None:
    loaded = load_plugin(_source(tmp_path / "v1", V1, "d1" * 10))
    try:
        assert loaded.package == "parley_plugin__echo__d1d1d1d1d1d1d1d1"
        assert loaded.module.__name__ == f"{loaded.package}.server"
        assert sorted(loaded.hooks) == ["on_message"]
        assert sys.modules[loaded.module.__name__] is loaded.module
        assert f"{loaded.package}.helper" in sys.modules
    finally:
        unload(loaded)
    assert _names() == []


def test_the_same_content_loaded_again_is_a_new_module(tmp_path: Path) -> None:
    source = _source(tmp_path / "v1", V1, "d2" * 10)
    first = load_plugin(source)
    second = load_plugin(source)
    try:
        assert first.package != second.package
        assert first.module is not second.module
        assert first.hooks["on_message"] is not second.hooks["on_message"]
    finally:
        unload(first)
        unload(second)


def test_an_unloaded_version_is_freed(tmp_path: Path) -> None:
    old = load_plugin(_source(tmp_path / "v1", V1, "d3" * 10))
    new = load_plugin(_source(tmp_path / "v2", V1.replace("reply(helper.answer(1))", "reply(helper.answer(2))"), "d4" * 10))
    module_ref = weakref.ref(old.module)
    hook_ref = weakref.ref(old.hooks["on_message"])
    unload(old)
    del old
    gc.collect()
    assert module_ref() is None
    assert hook_ref() is None
    assert {n.split(".")[0] for n in _names()} == {new.package}
    unload(new)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("def broken(:\n", r"SyntaxError: invalid syntax \(server\.py, line 1\)"),
        ("import no_such_module_xyz\n", r"ModuleNotFoundError: No module named 'no_such_module_xyz' \(server\.py, line 1\)"),
        ("raise RuntimeError('boom')\n", r"RuntimeError: boom \(server\.py, line 1\)"),
        ("def on_message(ctx, message):\n    pass\n", r"on_message must be an async def function"),
        ("def self_check():\n    raise ValueError('not ready')\n", r"self_check failed: ValueError: not ready \(server\.py, line 2\)"),
        ("async def self_check():\n    pass\n", r"self_check must be a plain function"),
    ],
    ids=["syntax", "import", "raises", "sync hook", "check fails", "async check"],
)
def test_a_broken_version_is_refused_and_leaves_no_module(
    tmp_path: Path, text: str, error: str
) -> None:
    with pytest.raises(PluginLoadError, match=rf"^echo: (server\.py: )?{error}$"):
        load_plugin(_source(tmp_path / "bad", text, "e1" * 10))
    assert _names() == []
