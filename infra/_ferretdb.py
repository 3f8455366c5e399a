"""FerretDB 1.24 (MongoDB wire protocol on SQLite), run by the Go launcher in `infra/ferretdb`."""

from __future__ import annotations

import pymongo
import pymongo.errors

from infra._paths import FERRETDB_BIN
from infra._service import Service, tcp_open

__all__ = ["FerretDB"]


class FerretDB(Service):
    name = "ferretdb"
    port_env = "PARLEY_MONGO_PORT"
    start_deadline_s = 60.0

    @property
    def data_dir(self) -> str:
        return str(self.dir / "data")

    @property
    def marker(self) -> str:
        return f"--data-dir={self.data_dir}"

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def command(self) -> list[str]:
        return [
            str(FERRETDB_BIN),
            f"--listen-addr=127.0.0.1:{self.port}",
            self.marker,
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
