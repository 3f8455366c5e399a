"""PostgreSQL (Debian's package) under the state directory: the storage FerretDB runs on.

Why PostgreSQL: FerretDB 1.24 on SQLite filters every document of a collection in Go (a history
page scanned all of `messages`: HTTP 500 at 100k messages). On PostgreSQL it pushes an equality
filter down as `_jsonb -> 'thread_id' @> '"ID"'`; its own btree indexes on
`((_jsonb -> 'thread_id'))` cannot serve `@>`, a GIN index on the same expression can
(`bench.history_scale`: Bitmap Index Scan instead of Seq Scan). `indexes.sql` installs an event
trigger that gives every table FerretDB creates those GIN indexes, in whatever database (schema)
a test or the operator picks, the moment the collection is created.

Postgres refuses to run as root: when we are root it runs as Debian's `postgres` user through
`setpriv`, with the one capability CAP_DAC_READ_SEARCH so that it can reach a data directory
under a root-only parent (pytest's temporary directories are 0700). It listens on a unix socket
in its own folder only (no TCP port to collide with), which only root and `postgres` can reach;
`trust` authentication is therefore enough.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
from pathlib import Path

from infra._errors import MissingToolError, ServiceStartError
from infra._paths import POSTGRES_SQL
from infra._service import Service

__all__ = ["Postgres", "postgres_bin_dir"]

_SOCKET_PORT = 5432  # names the socket file (.s.PGSQL.5432); nothing listens on TCP
_INSTALL_HINT = (
    "PostgreSQL is not installed: `make install` (as root) or apt-get install postgresql"
)


def postgres_bin_dir() -> Path:
    """Debian's newest installed PostgreSQL server binaries (/usr/lib/postgresql/N/bin)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if not found:
        raise MissingToolError(_INSTALL_HINT)
    return Path(found[-1]).parent


class Postgres(Service):
    name = "postgres"
    port_env = "PARLEY_STATE_DIR"  # a unix socket in the state directory: no port to move
    start_deadline_s = 60.0
    # SIGTERM is PostgreSQL's "smart" shutdown, which waits for every client to disconnect;
    # SIGINT ("fast") rolls back open transactions and stops at once, cleanly.
    stop_signal = signal.SIGINT

    def __init__(
        self, state_dir: Path, *, die_with_parent: bool = False, ephemeral: bool = False
    ) -> None:
        super().__init__(state_dir, _SOCKET_PORT, die_with_parent=die_with_parent)
        # A test session's cluster, deleted with its temporary directory: nothing to keep through
        # an OS crash, so no fsync. initdb's own final sync took 10 of its 11.5 s on the shared
        # test machine (load 25), and every commit of the suite would wait for the disk too.
        self.ephemeral = ephemeral

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.dir / "socket"

    @property
    def marker(self) -> str:
        return str(self.data_dir)

    @property
    def url(self) -> str:
        """What FerretDB connects to: the `postgres` database over the unix socket."""
        return f"postgres://postgres@/postgres?host={self.socket_dir}&port={_SOCKET_PORT}"

    def listen_ports(self) -> list[tuple[int, str]]:
        return []

    def _as_postgres(self, cmd: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return cmd
        keep = ["--pdeathsig=keep"] if self.die_with_parent else []
        return [
            "setpriv",
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--inh-caps=+dac_read_search",
            "--ambient-caps=+dac_read_search",
            *keep,
            "--",
            *cmd,
        ]

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def prepare(self) -> None:
        super().prepare()
        postgres_bin_dir()  # a missing PostgreSQL is one line here, not a dead process later
        for folder, mode in ((self.socket_dir, 0o700), (self.data_dir, 0o700)):
            folder.mkdir(exist_ok=True)
            folder.chmod(mode)
            self._chown(folder)

    def command(self) -> list[str]:
        # initdb runs inside the service's own process, not in `prepare`: `up` launches every
        # service before it waits for any, and a synchronous initdb (1.2 s of CPU, 9-13 s of
        # wall time at load 20-30 on the test machine) held back the launch of all the others.
        # `initdb.done` marks a finished cluster: a killed initdb is started over.
        script = (
            'set -e; if [ ! -f "$1/initdb.done" ]; then find "$1" -mindepth 1 -delete; '
            '"$2/initdb" -D "$1" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 '
            '$3 >/dev/null; touch "$1/initdb.done"; fi; shift 3; exec "$@"'
        )
        bin_dir = str(postgres_bin_dir())
        server = [
            f"{bin_dir}/postgres",
            "-D",
            self.marker,
            "-k",
            str(self.socket_dir),
            "-p",
            str(_SOCKET_PORT),
            "-c",
            "listen_addresses=",
            "-c",
            "unix_socket_permissions=0700",
            # The log goes to our log file (stderr), not into the data directory.
            "-c",
            "logging_collector=off",
            *(["-c", "fsync=off", "-c", "synchronous_commit=off"] if self.ephemeral else []),
        ]
        no_sync = "--no-sync" if self.ephemeral else ""  # unquoted $3: empty is no argument
        return self._as_postgres(
            ["/bin/sh", "-c", script, "parley-postgres", self.marker, bin_dir, no_sync, *server]
        )

    def psql(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(postgres_bin_dir() / "psql"),
                "-h",
                str(self.socket_dir),
                "-p",
                str(_SOCKET_PORT),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-qAtX",
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def probe(self) -> bool:
        if not (self.socket_dir / f".s.PGSQL.{_SOCKET_PORT}").exists():
            return False
        return self.psql("-c", "SELECT 1").returncode == 0

    def wait_ready(self, deadline: float) -> None:
        super().wait_ready(deadline)
        # Idempotent, on every start: a cluster made by an older Parley gets the trigger too.
        done = self.psql("-f", str(POSTGRES_SQL))
        if done.returncode != 0:
            raise ServiceStartError(
                f"postgres: installing the FerretDB index trigger ({POSTGRES_SQL}) failed: "
                f"{done.stderr.strip()[-500:]}"
            )
