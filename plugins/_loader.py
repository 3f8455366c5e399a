"""Load one version of a plugin as a fresh module under a versioned name; never reload.

`importlib.reload` leaves stale references behind (classes, closures, module globals held
elsewhere keep the old code running). Instead each version becomes a new package

    parley_plugin__<id>__<digest>          (a package whose __path__ is the version's folder)
    parley_plugin__<id>__<digest>.<entry>  (the server entry, executed from the source given)

registered in `sys.modules` before it is executed (so the plugin's own relative imports see
it), checked (hooks are coroutine functions; an optional `self_check()` passes), and only
then handed out. `unload()` drops every `sys.modules` entry under the package: once the host
lets go of the LoadedPlugin, the module is freed (tests prove it with a weak reference).

The entry's text is passed in (read by the workspace adapter), and compiled here without a
bytecode cache: a `.pyc` keyed by mtime and size could hand back the previous edit when a
file is saved twice within a second with the same length. Sibling modules the entry imports
(`from . import helpers`) go through Python's normal path finder from the version's folder.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import inspect
import re
import sys
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ._errors import PluginLoadError
from ._manifest import Manifest
from .api import HOOK_NAMES, Routes

__all__ = [
    "LoadedPlugin",
    "PluginSource",
    "load_plugin",
    "module_prefix",
    "ui_version",
    "unload",
]


@dataclass(frozen=True, slots=True)
class PluginSource:
    """One version of a plugin, read and ready to load."""

    manifest: Manifest
    #: the folder holding this version's files (working tree, or a materialised commit)
    root: str
    #: text of the server entry
    entry_source: str
    #: workspace commit it came from: "<sha>", or "<sha>+dirty" for an edited working tree
    commit: str
    #: digest of the plugin folder's content: same content, same digest
    digest: str


@dataclass(slots=True, eq=False)
class LoadedPlugin:
    source: PluginSource
    package: str
    module: types.ModuleType
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)
    #: the validated config this instance runs with (None: the manifest's defaults)
    config: dict[str, Any] | None = None
    #: the module's `routes` (plugins.api.Routes), None when it declares none
    routes: Routes | None = None

    @property
    def manifest(self) -> Manifest:
        return self.source.manifest

    @property
    def key(self) -> str:
        """What tells two versions apart (content and where it came from)."""
        return f"{self.source.commit}/{self.source.digest}"


def ui_version(loaded: LoadedPlugin) -> str:
    """The path part that makes a version's browser files immutable: its content digest."""
    return loaded.source.digest[:12]


def module_prefix(plugin_id: str) -> str:
    return "parley_plugin__" + re.sub(r"[^a-z0-9]", "_", plugin_id)


class _TextLoader(importlib.abc.Loader):
    """Executes source text it was given, compiled with the file's path for tracebacks."""

    def __init__(self, source: str, path: str) -> None:
        self._source = source
        self._path = path

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        code = compile(self._source, self._path, "exec", dont_inherit=True)
        exec(code, module.__dict__)


def load_plugin(source: PluginSource) -> LoadedPlugin:
    """Execute the version's server entry and check it; raises PluginLoadError."""
    manifest = source.manifest
    package = f"{module_prefix(manifest.id)}__{source.digest[:16]}"
    # The same content loaded twice (a reload, a restart): a fresh name all the same.
    serial = 0
    while any(name == package or name.startswith(package + ".") for name in sys.modules):
        serial += 1
        package = f"{module_prefix(manifest.id)}__{source.digest[:16]}_{serial}"
    entry = PurePosixPath(manifest.server_entry)
    entry_path = str(PurePosixPath(source.root) / entry)
    name = f"{package}.{entry.stem}"
    pkg = types.ModuleType(package)
    pkg.__path__ = [source.root]
    pkg.__package__ = package
    sys.modules[package] = pkg
    try:
        spec = importlib.util.spec_from_file_location(
            name, entry_path, loader=_TextLoader(source.entry_source, entry_path)
        )
        if spec is None:  # pragma: no cover - a loader was given
            raise PluginLoadError(f"{manifest.id}: cannot make a module spec for {entry_path}")
        module = importlib.util.module_from_spec(spec)
        module.__package__ = package
        sys.modules[name] = module
        try:
            assert spec.loader is not None
            spec.loader.exec_module(module)
        except Exception as exc:
            raise PluginLoadError(
                f"{manifest.id}: {manifest.server_entry}: {_describe(exc)}"
            ) from None
        hooks = _hooks(manifest, module)
        routes = getattr(module, "routes", None)
        if routes is not None and not isinstance(routes, Routes):
            raise PluginLoadError(
                f"{manifest.id}: routes must be a plugins.api.Routes, not {type(routes).__name__}"
            )
        check = getattr(module, "self_check", None)
        if check is not None:
            if not callable(check) or inspect.iscoroutinefunction(check):
                raise PluginLoadError(f"{manifest.id}: self_check must be a plain function")
            try:
                check()
            except Exception as exc:
                raise PluginLoadError(
                    f"{manifest.id}: self_check failed: {_describe(exc)}"
                ) from None
    except BaseException:
        _drop(package)
        raise
    return LoadedPlugin(source=source, package=package, module=module, hooks=hooks, routes=routes)


def unload(loaded: LoadedPlugin) -> None:
    """Forget the version's modules; the objects go once nothing else refers to them."""
    _drop(loaded.package)
    loaded.hooks.clear()
    loaded.routes = None


def _drop(package: str) -> None:
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]


def _hooks(manifest: Manifest, module: types.ModuleType) -> dict[str, Callable[..., Any]]:
    hooks: dict[str, Callable[..., Any]] = {}
    for hook in HOOK_NAMES:
        fn = getattr(module, hook, None)
        if fn is None:
            continue
        if not inspect.iscoroutinefunction(fn):
            raise PluginLoadError(f"{manifest.id}: {hook} must be an async def function")
        hooks[hook] = fn
    return hooks


def _describe(exc: BaseException) -> str:
    """One line: the exception, and where in the plugin's code it was raised."""
    if isinstance(exc, SyntaxError):
        where = f" ({PurePosixPath(exc.filename or '?').name}, line {exc.lineno})"
        return f"SyntaxError: {exc.msg}{where}"
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" ({PurePosixPath(last.filename).name}, line {last.lineno})"
    text = str(exc) or "(no message)"
    return f"{type(exc).__name__}: {text}{where}"
