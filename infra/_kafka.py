"""Apache Kafka 4.x, one node in KRaft combined mode (broker + controller), from Maven jars."""

from __future__ import annotations

import base64
import logging
import os
import secrets
import subprocess
from collections.abc import Sequence
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from infra._errors import ServiceStartError
from infra._paths import KAFKA_DIR
from infra._service import Service, tcp_open
from infra._tools import find_java

__all__ = ["Kafka"]

_log = logging.getLogger("parley.infra.kafka")

# A heap sized for a 2-core dev machine, collected by ZGC rather than the G1 of
# bin/kafka-run-class.sh: every message crosses the broker four times (the command produced
# and fetched, the event produced and fetched), so its pauses land in the end-to-end p99.
# Measured with the e2e job at 150 msg/s (3 runs of 10 s, -Xlog:safepoint): G1 stopped the
# broker 73 times for 807 ms in all, 33 pauses over 5 ms, the longest 100 ms; ZGC 72 times
# for 63 ms, 3 over 5 ms, the longest 11 ms, for the same broker CPU.
_JVM_FLAGS = [
    "-Xms768m",
    "-Xmx768m",
    "-XX:+UseZGC",
    "-Djava.awt.headless=true",
]


def _random_cluster_id() -> str:
    # Kafka's Uuid: 16 random bytes, URL-safe base64 without padding, never starting with "-".
    while True:
        cid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class Kafka(Service):
    name = "kafka"
    port_env = "PARLEY_KAFKA_PORT"
    start_deadline_s = 180.0

    def __init__(
        self,
        state_dir: Path,
        port: int,
        *,
        controller_port: int,
        partitions: int = 6,
        advertised_port: int | None = None,
        die_with_parent: bool = False,
    ) -> None:
        super().__init__(state_dir, port, die_with_parent=die_with_parent)
        self.controller_port = controller_port
        self.partitions = partitions
        self.advertised_port = advertised_port or port

    def listen_ports(self) -> list[tuple[int, str]]:
        return [*super().listen_ports(), (self.controller_port, "PARLEY_KAFKA_CONTROLLER_PORT")]

    @property
    def marker(self) -> str:
        return f"-Dparley.service={self.dir}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def properties(self) -> dict[str, str]:
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            # A fault proxy in front of the broker needs clients sent back through it.
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.advertised_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": str(self.partitions),
            # Parley creates its topics at `up`; auto-creation stays on for tests' own topics.
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            # One partition: the first consumer group joins in milliseconds, not after 50 creates.
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "share.coordinator.state.topic.num.partitions": "1",
            # Low latency for a single dev node: no rebalance delay, short session minimums so
            # failover tests can use short timeouts.
            "group.initial.rebalance.delay.ms": "0",
            "group.min.session.timeout.ms": "1000",
            "group.consumer.min.session.timeout.ms": "3000",
            "group.consumer.min.heartbeat.interval.ms": "500",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            "log.retention.hours": "168",
            "log.segment.bytes": str(64 * 1024 * 1024),
        }

    def prepare(self) -> None:
        super().prepare()
        text = "".join(f"{k}={v}\n" for k, v in self.properties().items())
        (self.dir / "server.properties").write_text(text)
        if not (self.data_dir / "meta.properties").exists():
            self._format()

    @property
    def cds_archive(self) -> Path:
        # Named after the collector: an archive recorded under G1 (compressed oops) is refused
        # by a ZGC JVM, so a checkout from before the switch records a new one at install.
        return KAFKA_DIR / "libs" / "kafka-zgc.jsa"

    def _jvm(self, *, storage_tool: bool = False) -> list[str]:
        # The storage tool never records the archive: the broker's classes are the ones wanted.
        cds = [] if storage_tool and self.dump_cds else self.cds_flags()
        return [
            find_java(),
            *_JVM_FLAGS,
            *cds,
            f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.dir}",
            self.marker,
            "-cp",
            str(KAFKA_DIR / "libs" / "*"),
        ]

    def _format(self) -> None:
        cluster_id_file = self.dir / "cluster.id"
        if not cluster_id_file.exists():
            cluster_id_file.write_text(_random_cluster_id() + "\n")
        cluster_id = cluster_id_file.read_text().strip()
        cmd = [
            *self._jvm(storage_tool=True),
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self.dir / "server.properties"),
            "--ignore-formatted",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self.dir)
        if proc.returncode != 0:
            tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-4:])
            raise ServiceStartError(f"kafka storage format failed: {tail}")

    def command(self) -> list[str]:
        return [*self._jvm(), "kafka.Kafka", str(self.dir / "server.properties")]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        # The JVM options Kafka's scripts read must not leak in from the operator's shell.
        for name in ("KAFKA_OPTS", "KAFKA_HEAP_OPTS", "JAVA_TOOL_OPTIONS"):
            env.pop(name, None)
        return env

    def admin(self) -> AdminClient:
        # librdkafka's connection-refused noise goes to logging, not to the operator's terminal.
        conf: dict[str, str | int | float | bool] = {
            "bootstrap.servers": f"127.0.0.1:{self.port}",
            "socket.timeout.ms": 5000,
        }
        return AdminClient(conf, logger=_log)

    def probe(self) -> bool:
        if not tcp_open(self.port):
            return False
        try:
            md = self.admin().list_topics(timeout=2)
        except KafkaException:
            return False
        return bool(md.brokers)

    def create_topics(self, topics: Sequence[str], partitions: int) -> None:
        """Create the topics that do not exist yet (an existing topic is left as it is)."""
        admin = self.admin()
        existing = set(admin.list_topics(timeout=10).topics)
        missing = [t for t in topics if t not in existing]
        if not missing:
            return
        futures = admin.create_topics(
            [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in missing],
            operation_timeout=30,
            request_timeout=30,
        )
        for topic, fut in futures.items():
            try:
                fut.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise ServiceStartError(f"cannot create topic {topic}: {exc}") from exc
