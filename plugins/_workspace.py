"""The plugin workspace: a Git repository, one folder per plugin, read in dev or commit mode.

    <workspace>/                 git repository, created on first start with the examples
        commands/plugin.toml     one folder per plugin
        commands/server.py
        .parley/bundled.toml     the bundled examples it was offered (plugins._bundled): a
                                 new one is added on start, a deleted one stays deleted

- dev: the working tree is what runs. A plugin's version is its plugin.toml version, its
  commit is `HEAD[:12]`, plus `+dirty` when the folder has uncommitted changes; its digest
  is a hash of the folder's files, so a saved file is a new version.
- commit: only committed HEAD runs. Each plugin folder's tree is materialised once with
  `git archive` into `<cache>/<tree sha>/` (immutable: a running version never sees a
  half-written tree); the tree sha is the digest.
- pin: `git config plugin.<id>.pin <sha>` (Git's own config, never `.git` parsed by hand)
  makes that plugin run from that commit, in either mode, until unpinned.

Refusals (a bad plugin.toml, a missing entry, a clashing id) are returned beside the good
versions, keyed by plugin id where the id is known, else by folder, so the host can keep the
old version serving and show the error.
"""

from __future__ import annotations

import hashlib
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from adapters import (
    GitError,
    extract_tar,
    git,
    git_bytes,
    list_dirs,
    path_exists,
    read_files,
    read_text,
    rename_path,
    write_files,
)

from ._bundled import (
    FIRST_COMMIT,
    RECORD_PATH,
    bundled_examples,
    legacy_record,
    parse_record,
    render_record,
)
from ._errors import ManifestError, PluginError, PluginNotFound, WorkspaceError
from ._examples import EXAMPLES, GITIGNORE
from ._loader import PluginSource
from ._manifest import Manifest, parse_manifest
from ._settings import Mode

__all__ = ["ScanResult", "Workspace"]


@dataclass(slots=True)
class ScanResult:
    head: str
    #: good versions by plugin id
    sources: dict[str, PluginSource] = field(default_factory=dict)
    #: refusals by plugin id (or by folder when no id could be read)
    errors: dict[str, str] = field(default_factory=dict)
    #: folder -> plugin id, for every folder whose manifest named an id
    folders: dict[str, str] = field(default_factory=dict)
    #: plugin id -> the full commit its version came from (commit mode and pins only: a
    #: working tree's version is not a commit another host could fetch)
    commits: dict[str, str] = field(default_factory=dict)


class Workspace:
    def __init__(self, path: Path, mode: Mode, cache: Path) -> None:
        self.path = path
        self.mode = mode
        self.cache = cache

    async def git(self, *args: str) -> str:
        try:
            return await git(self.path, *args)
        except GitError as exc:
            raise WorkspaceError(f"workspace {self.path}: {exc}") from None

    # --- creation -------------------------------------------------------------------------
    async def ensure(self) -> bool:
        """Create the repository with the bundled examples committed; False if it existed."""
        if await path_exists(self.path / ".git"):
            return False
        files: dict[str, str] = {".gitignore": GITIGNORE}
        examples = bundled_examples(EXAMPLES)
        for example in examples:
            if not await path_exists(self.path / example.folder):
                files.update({f"{example.folder}/{r}": t for r, t in example.files.items()})
        files[RECORD_PATH] = render_record({e.id: e.version for e in examples})
        await write_files(self.path, files)
        await self.git("init", "-q", "-b", "main")
        await self.git("add", "-A")
        try:
            await self.git("commit", "-q", "-m", FIRST_COMMIT)
        except WorkspaceError:
            # Another host created it at the same moment and committed first.
            await self.head()
            return False
        return True

    async def offer_examples(self) -> list[str]:
        """Add and commit (one commit) the bundled examples this workspace was never offered;
        returns their ids. See plugins._bundled for the record that decides."""
        if self.mode is Mode.COMMIT and (await self.git("remote")).strip():
            return []
        examples = bundled_examples(EXAMPLES)
        record = self.path / RECORD_PATH
        if await path_exists(record):
            offered = parse_record(await read_text(record))
            before: dict[str, str] | None = dict(offered)
        else:
            first = await self._first_folders()
            if first is None:
                return []  # a repository made by hand: never Parley's to commit into
            offered = legacy_record(examples, await list_dirs(self.path), await self._ids(), first)
            before = None
        added: list[str] = []
        files: dict[str, str] = {}
        for example in examples:
            if example.id in offered:
                continue
            offered[example.id] = example.version
            if await path_exists(self.path / example.folder):
                continue  # someone else's folder by that name: offered, never written over
            files.update({f"{example.folder}/{r}": t for r, t in example.files.items()})
            added.append(example.id)
        if offered == before:
            return []
        files[RECORD_PATH] = render_record(offered)
        await write_files(self.path, files)
        folders = [e.folder for e in examples if e.id in added]
        message = (
            "Parley: add the bundled example"
            + ("s " if len(added) > 1 else " ")
            + ", ".join(f"{e.id} {e.version}" for e in examples if e.id in added)
            if added
            else f"Parley: record the bundled examples offered ({', '.join(sorted(offered))})"
        )
        await self.commit_all(message, RECORD_PATH, *folders)
        return added

    async def _ids(self) -> list[str]:
        """The ids the working tree's plugin.toml files declare (unreadable ones left out)."""
        ids: list[str] = []
        for folder in await list_dirs(self.path):
            toml = self.path / folder / "plugin.toml"
            if not await path_exists(toml):
                continue
            try:
                declared = tomllib.loads(await read_text(toml)).get("id")
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            if isinstance(declared, str):
                ids.append(declared)
        return ids

    async def _first_folders(self) -> list[str] | None:
        """The top-level folders of the workspace's first commit, None when Parley did not
        make it (a repository made by hand)."""
        roots = (await self.git("rev-list", "--max-parents=0", "HEAD")).split()
        folders: list[str] = []
        for root in roots:
            if (await self.git("log", "-1", "--format=%s", root)).strip() != FIRST_COMMIT:
                return None
            folders += await self._trees(root)
        return folders

    async def commit_all(self, message: str, *paths: str) -> str:
        """Commit `paths` (everything when none); returns the new HEAD."""
        await self.git("add", "-A", "--", *(paths or (".",)))
        await self.git("commit", "-q", "-m", message, "--", *(paths or (".",)))
        return await self.head()

    async def head(self) -> str:
        return (await self.git("rev-parse", "--verify", "HEAD")).strip()

    # --- pins -------------------------------------------------------------------------------
    async def pins(self) -> dict[str, str]:
        try:
            out = await git(self.path, "config", "--get-regexp", r"^plugin\..*\.pin$")
        except GitError as exc:
            if exc.code == 1:  # no such key: nothing pinned
                return {}
            raise WorkspaceError(f"workspace {self.path}: {exc}") from None
        pins: dict[str, str] = {}
        for line in out.splitlines():
            key, _, value = line.partition(" ")
            pins[key[len("plugin.") : -len(".pin")]] = value.strip()
        return pins

    async def pin(self, plugin_id: str, commit: str) -> str:
        """Run `plugin_id` from `commit` (any revision git understands); returns the sha."""
        try:
            sha = (await git(self.path, "rev-parse", "--verify", f"{commit}^{{commit}}")).strip()
        except GitError:
            raise WorkspaceError(f"{commit!r} is not a commit of {self.path}") from None
        trees = await self._trees(sha)
        found = await self._find_id(sha, trees, plugin_id)
        if found is None:
            raise PluginNotFound(f"commit {sha[:12]} has no plugin {plugin_id!r}")
        await self.git("config", f"plugin.{plugin_id}.pin", sha)
        return sha

    async def unpin(self, plugin_id: str) -> bool:
        try:
            await git(self.path, "config", "--unset", f"plugin.{plugin_id}.pin")
        except GitError as exc:
            if exc.code == 5:  # not set
                return False
            raise WorkspaceError(f"workspace {self.path}: {exc}") from None
        return True

    # --- reading versions -----------------------------------------------------------------
    async def scan(self) -> ScanResult:
        """Every plugin's version as the mode and the pins say, with the refusals."""
        head = await self.head()
        result = ScanResult(head=head)
        if self.mode is Mode.DEV:
            await self._scan_tree(result)
        else:
            await self._scan_commit(result, head)
        for plugin_id, sha in (await self.pins()).items():
            result.sources.pop(plugin_id, None)
            result.errors.pop(plugin_id, None)
            try:
                trees = await self._trees(sha)
                found = await self._find_id(sha, trees, plugin_id)
                if found is None:
                    raise PluginNotFound(f"pinned commit {sha[:12]} has no plugin {plugin_id!r}")
                folder, tree = found
                root = await self._materialise(tree)
                result.sources[plugin_id] = await self._source(root, folder, sha[:12], tree)
                result.commits[plugin_id] = sha
            except PluginError as exc:
                result.errors[plugin_id] = str(exc)
        return result

    async def source_at(self, plugin_id: str, sha: str, *, fetch: bool = True) -> PluginSource:
        """`plugin_id` as committed in `sha`, fetched from the remote `origin` first when this
        clone does not have the commit (another host's workspace announced it)."""
        if not await self._has_commit(sha) and fetch:
            try:
                await git(self.path, "fetch", "-q", "origin")
            except GitError as exc:
                raise WorkspaceError(
                    f"commit {sha[:12]} is not in {self.path} and fetching origin failed: {exc}"
                ) from None
        if not await self._has_commit(sha):
            raise WorkspaceError(f"commit {sha[:12]} is not in {self.path} nor in its origin")
        trees = await self._trees(sha)
        found = await self._find_id(sha, trees, plugin_id)
        if found is None:
            raise PluginNotFound(f"commit {sha[:12]} has no plugin {plugin_id!r}")
        folder, tree = found
        root = await self._materialise(tree)
        return await self._source(root, folder, sha[:12], tree)

    async def _has_commit(self, sha: str) -> bool:
        try:
            await git(self.path, "cat-file", "-e", f"{sha}^{{commit}}")
        except GitError:
            return False
        return True

    async def _scan_tree(self, result: ScanResult) -> None:
        dirty = await self._dirty_folders()
        manifests: list[tuple[str, Manifest]] = []
        for folder in await list_dirs(self.path):
            toml = self.path / folder / "plugin.toml"
            if not await path_exists(toml):
                continue
            try:
                manifests.append((folder, parse_manifest(await read_text(toml), _rel(folder))))
            except ManifestError as exc:
                result.errors[folder] = str(exc)
            except (OSError, UnicodeDecodeError) as exc:
                result.errors[folder] = f"{_rel(folder)}: cannot be read: {exc}"
        commit = result.head[:12]
        for folder, manifest in self._unique(manifests, result):
            root = self.path / folder
            files = await read_files(root)
            digest = hashlib.sha256()
            for rel in sorted(files):
                digest.update(rel.encode() + b"\0" + files[rel] + b"\0")
            flag = "+dirty" if folder in dirty else ""
            try:
                result.sources[manifest.id] = _make_source(
                    manifest, root, files, commit + flag, digest.hexdigest()
                )
            except ManifestError as exc:
                result.errors[manifest.id] = str(exc)

    async def _scan_commit(self, result: ScanResult, sha: str) -> None:
        trees = await self._trees(sha)
        manifests: list[tuple[str, Manifest]] = []
        roots: dict[str, Path] = {}
        for folder, tree in sorted(trees.items()):
            root = await self._materialise(tree)
            toml = root / "plugin.toml"
            if not await path_exists(toml):
                continue
            roots[folder] = root
            try:
                manifests.append((folder, parse_manifest(await read_text(toml), _rel(folder))))
            except ManifestError as exc:
                result.errors[folder] = str(exc)
        for folder, manifest in self._unique(manifests, result):
            try:
                result.sources[manifest.id] = await self._source(
                    roots[folder], folder, sha[:12], trees[folder], manifest
                )
                result.commits[manifest.id] = sha
            except ManifestError as exc:
                result.errors[manifest.id] = str(exc)

    def _unique(
        self, manifests: list[tuple[str, Manifest]], result: ScanResult
    ) -> list[tuple[str, Manifest]]:
        seen: dict[str, Manifest] = {}
        unique: list[tuple[str, Manifest]] = []
        for folder, manifest in manifests:
            first = seen.get(manifest.id)
            if first is not None:
                # Keyed by folder: the id's owner keeps serving, the clash still shows.
                result.errors[folder] = str(
                    ManifestError(
                        manifest.path, "id", f"{manifest.id!r} is already the id of {first.path}"
                    )
                )
                continue
            seen[manifest.id] = manifest
            result.folders[folder] = manifest.id
            unique.append((folder, manifest))
        return unique

    async def _source(
        self,
        root: Path,
        folder: str,
        commit: str,
        tree: str,
        manifest: Manifest | None = None,
    ) -> PluginSource:
        if manifest is None:
            manifest = parse_manifest(await read_text(root / "plugin.toml"), _rel(folder))
        files = await read_files(root)
        return _make_source(manifest, root, files, commit, tree)

    async def _trees(self, sha: str) -> dict[str, str]:
        """Top-level folders of a commit -> their tree sha."""
        out = await self.git("ls-tree", "-z", sha)
        trees: dict[str, str] = {}
        for entry in out.split("\0"):
            if not entry:
                continue
            meta, _, name = entry.partition("\t")
            _mode, kind, obj = meta.split(" ")
            if kind == "tree" and not name.startswith("."):
                trees[name] = obj
        return trees

    async def _find_id(
        self, sha: str, trees: dict[str, str], plugin_id: str
    ) -> tuple[str, str] | None:
        for folder, tree in sorted(trees.items()):
            try:
                text = await git(self.path, "show", f"{sha}:{folder}/plugin.toml")
            except GitError:
                continue
            try:
                declared = tomllib.loads(text).get("id")
            except tomllib.TOMLDecodeError:
                continue
            if declared == plugin_id:
                return folder, tree
        return None

    async def _materialise(self, tree: str) -> Path:
        target = self.cache / tree
        if await path_exists(target):
            return target
        archive = await self._archive(tree)
        partial = self.cache / f".{tree}.{secrets.token_hex(4)}"
        await extract_tar(archive, partial)
        await _rename(partial, target)
        return target

    async def _archive(self, tree: str) -> bytes:
        try:
            return await git_bytes(self.path, "archive", "--format=tar", tree)
        except GitError as exc:
            raise WorkspaceError(f"workspace {self.path}: {exc}") from None

    async def _dirty_folders(self) -> set[str]:
        out = await self.git("status", "--porcelain=v1", "-z", "--untracked-files=all")
        dirty: set[str] = set()
        for entry in out.split("\0"):
            if len(entry) > 3 and entry[2] == " ":
                dirty.add(PurePosixPath(entry[3:]).parts[0])
        return dirty


def _rel(folder: str) -> str:
    return f"{folder}/plugin.toml"


def _make_source(
    manifest: Manifest, root: Path, files: dict[str, bytes], commit: str, digest: str
) -> PluginSource:
    entry = files.get(manifest.server_entry)
    if entry is None:
        raise ManifestError(manifest.path, "server.entry", f"{manifest.server_entry} not found")
    if manifest.browser_entry is not None and manifest.browser_entry not in files:
        raise ManifestError(manifest.path, "browser.entry", f"{manifest.browser_entry} not found")
    try:
        text = entry.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError(
            manifest.path, "server.entry", f"{manifest.server_entry} is not UTF-8"
        ) from None
    return PluginSource(manifest, str(root), text, commit=commit, digest=digest)


async def _rename(source: Path, target: Path) -> None:
    await rename_path(source, target)
