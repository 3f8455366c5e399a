"""What the services are told at start, checked without starting them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from config.errors import ConfigurationError
from infra._ferretdb import FerretDB
from infra._kafka import Kafka, _random_cluster_id
from infra._oidc import OidcProvider
from infra._postgres import Postgres


def test_kafka_is_one_combined_node_on_loopback(tmp_path: Path) -> None:
    props = Kafka(tmp_path, 19092, controller_port=19093, partitions=3).properties()
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["num.partitions"] == "3"
    assert props["log.dirs"] == str(tmp_path / "kafka" / "data")
    replication = {k: v for k, v in props.items() if "replication.factor" in k or "min.isr" in k}
    assert replication and set(replication.values()) == {"1"}
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_kafka_advertises_a_fault_proxy_when_asked(tmp_path: Path) -> None:
    kafka = Kafka(tmp_path, 19092, controller_port=19093, advertised_port=29092)
    assert kafka.properties()["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"
    assert kafka.properties()["listeners"].startswith("PLAINTEXT://127.0.0.1:19092,")
    assert kafka.bootstrap == "127.0.0.1:29092"


def test_cluster_ids_are_kafka_uuids() -> None:
    for _ in range(200):
        cid = _random_cluster_id()
        assert len(cid) == 22 and not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_each_service_marks_its_command_line_with_its_state_folder(tmp_path: Path) -> None:
    kafka = Kafka(tmp_path, 1, controller_port=2)
    ferretdb = FerretDB(tmp_path, 3)
    oidc = OidcProvider(tmp_path, 4)
    for svc in (kafka, ferretdb, oidc):
        argv = svc.command()
        assert argv.count(svc.marker) == 1
        assert str(tmp_path / svc.name) in svc.marker
    assert f"--listen-addr=127.0.0.1:{ferretdb.port}" in ferretdb.command()


def test_ferretdb_on_postgresql_reaches_it_over_the_clusters_own_socket(tmp_path: Path) -> None:
    postgres = Postgres(tmp_path)
    ferretdb = FerretDB(tmp_path, 3, postgres=postgres)
    for svc in (postgres, ferretdb):
        assert svc.marker in svc.command()
        assert str(tmp_path / "postgres") in svc.marker
    argv = ferretdb.command()
    assert "--handler=postgresql" in argv
    assert f"--postgresql-url={postgres.url}" in argv
    assert postgres.url == (
        f"postgres://postgres@/postgres?host={tmp_path / 'postgres' / 'socket'}&port=5432"
    )
    # Nothing listens on TCP: no port of the stack can collide with it.
    assert postgres.listen_ports() == []
    assert "listen_addresses=" in postgres.command()
    # The operator's cluster keeps PostgreSQL's durability; a test session's skips the fsyncs.
    assert "fsync=off" not in postgres.command()
    assert "fsync=off" in Postgres(tmp_path, ephemeral=True).command()


def test_sqlite_data_of_an_earlier_store_is_named_not_silently_left_behind(
    tmp_path: Path,
) -> None:
    old = tmp_path / "ferretdb" / "data"
    old.mkdir(parents=True)
    (old / "parley.sqlite").write_bytes(b"")
    FerretDB(tmp_path, 3).prepare()  # on SQLite the files are its data: fine
    with pytest.raises(
        ConfigurationError,
        match=(
            rf"^ferretdb: {old} holds SQLite data \(parley\.sqlite\) from before the local "
            r"store moved to PostgreSQL, and it would not be read: set "
            r"PARLEY_STORE_BACKEND=sqlite to keep using it, or move the folder away "
            r"\(`parley infra reset` deletes all local data\) to start on PostgreSQL$"
        ),
    ):
        FerretDB(tmp_path, 3, postgres=Postgres(tmp_path)).prepare()


def test_oidc_config_gives_our_audience_unless_the_request_names_one(tmp_path: Path) -> None:
    oidc = OidcProvider(tmp_path, 9400, audience="parley-test")
    oidc.prepare()
    config = json.loads((tmp_path / "oidc" / "config.json").read_text())
    assert config["interactiveLogin"] is True
    (callback,) = config["tokenCallbacks"]
    assert callback["issuerId"] == "parley"
    params = [m["requestParam"] for m in callback["requestMappings"]]
    # `subject` is the login name on the page and the password grant's username (6.0+).
    assert params == ["subject", "audience", "grant_type"]
    assert callback["requestMappings"][0] == {
        "requestParam": "subject",
        "match": "admin",
        "claims": {"aud": ["parley-test"], "parley_roles": ["admin"]},
    }
    assert callback["requestMappings"][2]["claims"] == {"aud": ["parley-test"]}
    assert oidc.issuer == "http://127.0.0.1:9400/parley"
    assert oidc.env()["JSON_CONFIG_PATH"] == str(tmp_path / "oidc" / "config.json")
