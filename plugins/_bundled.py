"""Which bundled examples a workspace was offered: the record that keeps a deleted one deleted.

A new Parley release may bundle a new example. An existing workspace gets it on the next
start of a plugin host (`Workspace.offer_examples`), but an example the user deleted must not
come back, and one they changed is theirs. So the workspace keeps, committed beside the
plugins, the ids and versions of every example it was ever offered:

    <workspace>/.parley/bundled.toml
        [offered]
        commands = "1.0.0"
        activity = "1.0.0"

Only an example whose id is missing from `[offered]` is added (and then recorded); files
already at its folder are never written over. A workspace from before the record counts as
offered every example present in it, by folder or by id, and every example its first commit
held (Parley wrote the examples there: one absent now was deleted by its user). One whose
first commit is not Parley's (a repository made by hand, which never had examples) is left
alone: Parley does not commit into a repository it did not make (a record written by hand
opts it in). Nor into a commit-mode clone with a remote: each host would commit its own, and the
clones would diverge from the repository they are clones of.

No I/O here: the workspace reads and writes the file, this module says what it means.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._errors import WorkspaceError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "FIRST_COMMIT",
    "RECORD_PATH",
    "BundledExample",
    "bundled_examples",
    "legacy_record",
    "parse_record",
    "render_record",
]

#: the message of the first commit of a workspace Parley created
FIRST_COMMIT = "Parley plugin workspace with the bundled examples"
#: relative to the workspace; a dot folder, so never scanned as a plugin
RECORD_PATH = ".parley/bundled.toml"

_HEADER = """\
# The bundled example plugins Parley offered this workspace: plugin id = version offered.
# On start Parley adds a bundled example only when its id is not listed here, so an example
# you delete stays deleted, and it never writes over a folder that exists. Keep it committed.
"""


@dataclass(frozen=True, slots=True)
class BundledExample:
    id: str
    version: str
    folder: str
    files: Mapping[str, str]


def bundled_examples(examples: Mapping[str, Mapping[str, str]]) -> list[BundledExample]:
    """The examples (folder -> relative path -> text) with the id and version they declare."""
    out: list[BundledExample] = []
    for folder, files in examples.items():
        manifest = tomllib.loads(files["plugin.toml"])
        out.append(BundledExample(manifest["id"], manifest["version"], folder, files))
    return out


def parse_record(text: str) -> dict[str, str]:
    """`[offered]` of a record: plugin id -> version; WorkspaceError naming what is wrong."""
    try:
        offered = tomllib.loads(text).get("offered", {})
    except tomllib.TOMLDecodeError as exc:
        raise WorkspaceError(f"{RECORD_PATH}: not TOML: {exc}") from None
    if not isinstance(offered, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in offered.items()
    ):
        raise WorkspaceError(f"{RECORD_PATH}: [offered] must map plugin ids to version strings")
    return dict(offered)


def render_record(offered: Mapping[str, str]) -> str:
    lines = [f"{json.dumps(key)} = {json.dumps(offered[key])}" for key in sorted(offered)]
    return _HEADER + "\n[offered]\n" + "".join(f"{line}\n" for line in lines)


def legacy_record(
    examples: Iterable[BundledExample],
    folders: Iterable[str],
    ids: Iterable[str],
    first_commit_folders: Iterable[str],
) -> dict[str, str]:
    """What a workspace without a record counts as offered: every example present now (by
    folder or by id) or in its first commit, at the version bundled today."""
    seen_folders = set(folders) | set(first_commit_folders)
    seen_ids = set(ids)
    return {
        example.id: example.version
        for example in examples
        if example.folder in seen_folders or example.id in seen_ids
    }
