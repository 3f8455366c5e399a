"""`LocalServices`: Kafka, FerretDB on PostgreSQL, the OIDC provider and the model server under
one state dir.

The model server (llama.cpp, `infra._llm`) is part of the operator's stack only while the
assistants' model is local (`PARLEY_LLM_BASE_URL` empty); tests and the bench ask for it
(`llm=True`) or use the `llm_server` fixture.

The state directory holds one folder per service (config, data, pidfile, log) and `ports.json`,
the ports the running services were started with, so `status` and a second `up` check the right
ports even when the environment changed in between. A lock file serialises `up`/`down` of the
same directory.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from config.settings import Settings, load_settings
from infra._build import build
from infra._errors import ConfigurationError, ServiceStartError
from infra._ferretdb import FerretDB
from infra._kafka import Kafka
from infra._llm import LlmServer
from infra._oidc import OidcProvider
from infra._ports import find_free_ports
from infra._postgres import Postgres
from infra._proc import terminate
from infra._service import Service, tcp_open

__all__ = ["Endpoints", "LocalServices", "Ports", "ServiceStatus"]


@dataclass(frozen=True)
class Ports:
    """The TCP ports of one stack, all on 127.0.0.1."""

    kafka: int
    kafka_controller: int
    mongo: int
    oidc: int
    llm: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Ports:
        return cls(
            kafka=settings.kafka_port,
            kafka_controller=settings.kafka_controller_port,
            mongo=settings.mongo_port,
            oidc=settings.oidc_port,
            llm=settings.llm_port,
        )

    @classmethod
    def free(cls) -> Ports:
        """Ports free right now: for tests next to a running `make run`."""
        kafka, controller, mongo, oidc, llm = find_free_ports(5)
        return cls(kafka=kafka, kafka_controller=controller, mongo=mongo, oidc=oidc, llm=llm)


@dataclass(frozen=True)
class Endpoints:
    """How clients reach a started stack."""

    kafka_bootstrap: str  # "127.0.0.1:PORT"
    mongo_uri: str  # "mongodb://127.0.0.1:PORT/parley"
    oidc_issuer: str  # "http://127.0.0.1:PORT/parley"
    state_dir: Path
    ports: Ports
    # The assistants' model API ("http://127.0.0.1:PORT/v1"); "" when the stack has no model.
    llm_base_url: str = ""


@dataclass(frozen=True)
class ServiceStatus:
    """One line of `parley infra status`."""

    name: str
    pid: int | None
    port: int
    ready: bool
    log: Path


class LocalServices:
    """Start, check and stop the local Kafka, FerretDB, OIDC provider (and model server) of one
    state directory.

    `config` is a `Settings` (ports, topics, audience, state_dir) or bare `Ports`; `state_dir`
    overrides the settings' one. `llm`: run the local model server too (default: with Settings
    when `PARLEY_LLM_BASE_URL` is empty; with bare Ports, not). With `die_with_parent` the
    services are killed by the kernel when the *thread* that started them exits: for test
    sessions, never from a worker thread.
    """

    def __init__(
        self,
        config: Settings | Ports | None = None,
        state_dir: Path | str | None = None,
        *,
        kafka_advertised_port: int | None = None,
        die_with_parent: bool = False,
        llm: bool | None = None,
    ) -> None:
        settings = config if isinstance(config, Settings) else load_settings()
        self.ports = config if isinstance(config, Ports) else Ports.from_settings(settings)
        self.state_dir = Path(state_dir if state_dir is not None else settings.state_dir).resolve()
        self.topics: tuple[str, ...] = (
            settings.commands_topic,
            settings.events_topic,
            settings.dlq_topic,
            settings.domain_changes_topic,
            settings.turns_topic,
        )
        self.topic_partitions = settings.topic_partitions
        self.kafka = Kafka(
            self.state_dir,
            self.ports.kafka,
            controller_port=self.ports.kafka_controller,
            partitions=settings.topic_partitions,
            advertised_port=kafka_advertised_port,
            die_with_parent=die_with_parent,
        )
        self.store_backend = settings.store_backend
        self.postgres: Postgres | None = None
        if settings.store_backend == "postgresql":
            # A stack that dies with its parent is a test session's, data deleted with it.
            self.postgres = Postgres(
                self.state_dir, die_with_parent=die_with_parent, ephemeral=die_with_parent
            )
        self.ferretdb = FerretDB(
            self.state_dir,
            self.ports.mongo,
            postgres=self.postgres,
            die_with_parent=die_with_parent,
        )
        self.oidc = OidcProvider(
            self.state_dir,
            self.ports.oidc,
            audience=settings.oidc_audience,
            admin_claim=settings.admin_claim,
            admin_value=settings.admin_value,
            die_with_parent=die_with_parent,
        )
        self.llm: LlmServer | None = None
        if llm is None:
            # The operator's stack (Settings: `make run`, `infra up`) has the model while it is
            # local; a bare-Ports stack (tests, bench) only when asked.
            llm = not isinstance(config, Ports) and not settings.llm_base_url
        if llm:
            self.llm = LlmServer(
                self.state_dir,
                self.ports.llm,
                threads=settings.llm_threads,
                ctx_per_slot=settings.llm_context_tokens,
                alias=settings.llm_model,
                die_with_parent=die_with_parent,
            )
        self.started: tuple[str, ...] = ()

    @property
    def services(self) -> tuple[Service, ...]:
        # The store, the provider and the model go first: they start while Kafka formats its
        # storage. PostgreSQL is waited for before FerretDB: its readiness step installs the
        # index trigger, which must exist before FerretDB creates the first collection.
        model = (self.llm,) if self.llm is not None else ()
        pg = (self.postgres,) if self.postgres is not None else ()
        return (*pg, self.ferretdb, self.oidc, *model, self.kafka)

    def endpoints(self) -> Endpoints:
        return Endpoints(
            kafka_bootstrap=self.kafka.bootstrap,
            mongo_uri=f"mongodb://127.0.0.1:{self.ports.mongo}/parley",
            oidc_issuer=self.oidc.issuer,
            state_dir=self.state_dir,
            ports=self.ports,
            llm_base_url=self.llm.base_url if self.llm is not None else "",
        )

    # --- lifecycle ---------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _recorded_ports(self) -> Ports | None:
        try:
            return Ports(**json.loads((self.state_dir / "ports.json").read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def start(self, *, build_first: bool = True) -> Endpoints:
        """Start what is not running yet and wait until all three answer; idempotent."""
        if build_first:
            build()
        with self._locked():
            self._check_running_ports()
            launch = [s for s in self.services if s.pid() is None]
            for svc in launch:
                for port, env_name in svc.listen_ports():
                    if tcp_open(port):
                        raise ServiceStartError(
                            f"port {port} for {svc.name} is in use by another process: "
                            f"stop it or set {env_name}"
                        )
            (self.state_dir / "ports.json").write_text(json.dumps(asdict(self.ports)) + "\n")
            launched: list[Service] = []
            try:
                for svc in launch:
                    svc.launch()
                    launched.append(svc)
                now = time.monotonic()
                for svc in self.services:
                    svc.wait_ready(now + svc.start_deadline_s)
                self.kafka.create_topics(self.topics, self.topic_partitions)
            except BaseException:
                # A half-started stack is worse than none: stop what this call started.
                self._terminate(launched)
                raise
            self.started = tuple(s.name for s in launched)
        return self.endpoints()

    def _check_running_ports(self) -> None:
        recorded = self._recorded_ports()
        if recorded is None or recorded == self.ports:
            return
        running = [s.name for s in self.services if s.pid() is not None]
        if running:
            raise ConfigurationError(
                f"{', '.join(running)} already running in {self.state_dir} with ports "
                f"{asdict(recorded)}, not {asdict(self.ports)}: run `parley infra down` first"
            )

    def _terminate(self, services: Sequence[Service], deadline_s: float = 20.0) -> list[str]:
        pids = {pid: s.marker for s in services if (pid := s.pid()) is not None}
        signals = {pid: s.stop_signal for s in services if (pid := s.pid()) is not None}
        terminate(pids, deadline_s, signals)
        for svc in services:
            if svc.proc is not None:
                svc.proc.wait()  # reap our own children; nothing is left as a zombie
                svc.proc = None
            svc.pidfile.unlink(missing_ok=True)
        return [s.name for s in services if s.pid() is None]

    def stop(self, *, only_started: bool = False, deadline_s: float = 20.0) -> list[str]:
        """SIGTERM, then SIGKILL after `deadline_s`; returns the names that were running."""
        with self._locked():
            targets = [s for s in self.services if not only_started or s.name in self.started]
            running = [s.name for s in targets if s.pid() is not None]
            self._terminate(targets, deadline_s)
            self.started = ()
        return running

    def reset(self) -> list[str]:
        """Stop everything, then delete data and logs of this state directory."""
        stopped = self.stop()
        with self._locked():
            for svc in self.services:
                shutil.rmtree(svc.dir, ignore_errors=True)
            (self.state_dir / "ports.json").unlink(missing_ok=True)
        return stopped

    def status(self) -> list[ServiceStatus]:
        ports = self._recorded_ports() or self.ports
        view = (
            LocalServices(ports, self.state_dir, llm=self.llm is not None)
            if ports != self.ports
            else self
        )
        result = []
        for svc in view.services:
            pid = svc.pid()
            ready = pid is not None and svc.probe()
            result.append(ServiceStatus(svc.name, pid, svc.port, ready, svc.log_path))
        return result

    def __enter__(self) -> Endpoints:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(only_started=True)
