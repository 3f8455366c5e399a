"""FerretDB 1.24 (MongoDB wire protocol), run by the Go launcher in `infra/ferretdb`, on the
local PostgreSQL (`infra._postgres`, the default) or on SQLite files (`PARLEY_STORE_BACKEND=sqlite`,
the earlier store, whose every query but an `_id` equality scans the whole collection)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pymongo
import pymongo.errors

from infra._errors import ConfigurationError
from infra._paths import FERRETDB_BIN
from infra._service import Service, tcp_open

if TYPE_CHECKING:
    from pathlib import Path

    from infra._postgres import Postgres

__all__ = ["FerretDB"]


class FerretDB(Service):
    name = "ferretdb"
    port_env = "PARLEY_MONGO_PORT"
    start_deadline_s = 60.0

    def __init__(
        self,
        state_dir: Path,
        port: int,
        *,
        postgres: Postgres | None = None,
        die_with_parent: bool = False,
    ) -> None:
        super().__init__(state_dir, port, die_with_parent=die_with_parent)
        self.postgres = postgres

    @property
    def data_dir(self) -> str:
        """The SQLite files (also where an earlier Parley left them)."""
        return str(self.dir / "data")

    @property
    def marker(self) -> str:
        if self.postgres is not None:
            return f"--postgresql-url={self.postgres.url}"
        return f"--data-dir={self.data_dir}"

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def sqlite_files(self) -> list[str]:
        return sorted(p.name for p in (self.dir / "data").glob("*.sqlite"))

    def prepare(self) -> None:
        super().prepare()
        if self.postgres is None:
            return
        left = self.sqlite_files()
        if left:
            raise ConfigurationError(
                f"ferretdb: {self.data_dir} holds SQLite data ({', '.join(left)}) from before "
                "the local store moved to PostgreSQL, and it would not be read: set "
                "PARLEY_STORE_BACKEND=sqlite to keep using it, or move the folder away "
                "(`parley infra reset` deletes all local data) to start on PostgreSQL"
            )

    def command(self) -> list[str]:
        storage = (
            ["--handler=postgresql", self.marker] if self.postgres is not None else [self.marker]
        )
        return [
            str(FERRETDB_BIN),
            f"--listen-addr=127.0.0.1:{self.port}",
            *storage,
            "--log-level=warn",
        ]

    def probe(self) -> bool:
        if not tcp_open(self.port):
            return False
        client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
            self.uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
        )
        try:
            client.admin.command("ping")
            return True
        except pymongo.errors.PyMongoError:
            return False
        finally:
            client.close()
