"""ProcessBoard: the deployment's processes and the operators' commands, kept in the store.

Two small collections beside the chat data, each document addressed by `_id` (the only key
FerretDB's SQLite backend looks up without reading the whole collection):

    processes       one ProcessAnnouncement per process, replaced every heartbeat
    ops_commands    one OpsCommand per request, written by the gateway that took it and
                    updated by the process it names (taken, done or failed): the audit trail
                    of who asked what
    plugin_switches one PluginSwitch per plugin an operator stopped or started (`_id` =
                    plugin id): what every plugin host obeys, now and after a restart

Both stay small (a few documents per process), so listing them reads everything.
Every call is one single-document operation on the store's own thread limiter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocol.ops import CommandState, OpsCommand, PluginSwitch, ProcessAnnouncement

from ._documents import check_document

if TYPE_CHECKING:
    from ._store import MongoStore

__all__ = ["ProcessBoard"]

_PROCESSES = "processes"
_COMMANDS = "ops_commands"
_SWITCHES = "plugin_switches"


class ProcessBoard:
    """Announcements and commands of every process, through one MongoStore."""

    def __init__(self, store: MongoStore) -> None:
        self._store = store

    async def announce(self, announcement: ProcessAnnouncement) -> None:
        """Replace this process's document (created on the first heartbeat)."""
        doc = announcement.to_doc()
        check_document(doc)
        key = {"_id": announcement.process_id}
        await self._store._call(
            lambda: self._store._collection(_PROCESSES).replace_one(key, doc, upsert=True)
        )

    async def processes(self) -> list[ProcessAnnouncement]:
        """Every process that ever announced itself in this database, oldest first."""

        def run() -> list[dict[str, Any]]:
            return list(self._store._collection(_PROCESSES).find({}))

        docs = await self._store._call(run)
        found = [ProcessAnnouncement.from_doc(doc) for doc in docs]
        return sorted(found, key=lambda a: (a.started_at, a.process_id))

    async def process(self, process_id: str) -> ProcessAnnouncement | None:
        doc = await self._store._call(
            lambda: self._store._collection(_PROCESSES).find_one({"_id": process_id})
        )
        return None if doc is None else ProcessAnnouncement.from_doc(doc)

    async def forget(self, process_id: str) -> None:
        """Remove a process's document (tests, and operators cleaning up long-gone ones)."""
        await self._store._call(
            lambda: self._store._collection(_PROCESSES).delete_one({"_id": process_id})
        )

    async def post(self, command: OpsCommand) -> None:
        doc = command.to_doc()
        check_document(doc)
        await self._store._call(lambda: self._store._collection(_COMMANDS).insert_one(doc))

    async def command(self, command_id: str) -> OpsCommand | None:
        doc = await self._store._call(
            lambda: self._store._collection(_COMMANDS).find_one({"_id": command_id})
        )
        return None if doc is None else OpsCommand.from_doc(doc)

    async def pending(self, process_id: str) -> list[OpsCommand]:
        """Commands for `process_id` not taken yet, oldest first."""
        query = {"process_id": process_id, "state": CommandState.PENDING.value}

        def run() -> list[dict[str, Any]]:
            return list(self._store._collection(_COMMANDS).find(query))

        docs = await self._store._call(run)
        return sorted((OpsCommand.from_doc(d) for d in docs), key=lambda c: c.asked_at)

    async def finish(self, command: OpsCommand) -> None:
        """Write a command's outcome (DONE or FAILED) back into its document."""
        doc = command.to_doc()
        check_document(doc)
        key = {"_id": command.command_id}
        await self._store._call(lambda: self._store._collection(_COMMANDS).replace_one(key, doc))

    async def switch_plugin(self, switch: PluginSwitch) -> None:
        """Record an operator's stop or start of a plugin (replacing the previous one)."""
        doc = switch.to_doc()
        check_document(doc)
        key = {"_id": switch.plugin_id}
        await self._store._call(
            lambda: self._store._collection(_SWITCHES).replace_one(key, doc, upsert=True)
        )

    async def plugin_switches(self) -> dict[str, PluginSwitch]:
        """Every plugin an operator stopped or started, by plugin id."""

        def run() -> list[dict[str, Any]]:
            return list(self._store._collection(_SWITCHES).find({}))

        docs = await self._store._call(run)
        return {str(d["_id"]): PluginSwitch.from_doc(d) for d in docs}
