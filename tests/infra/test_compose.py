"""compose.yaml (no Docker engine here): its services, ports and environment agree with Settings
and with the versions `parley infra` pins."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import Settings, env_names
from infra._oidc import OidcProvider

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = Settings()
PARLEY_SERVICES = ("gateway", "core")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def _pom_property(pom: str, name: str) -> str:
    match = re.search(rf"<{name}>([^<]+)</{name}>", (ROOT / pom).read_text())
    assert match is not None
    return match.group(1)


def _host_ports(service: dict[str, Any]) -> dict[int, int]:
    """host port -> container port of `127.0.0.1:HOST:CONTAINER` entries."""
    result = {}
    for entry in service.get("ports", []):
        host_ip, host, container = str(entry).split(":")
        assert host_ip == "127.0.0.1"  # nothing published beyond the machine
        result[int(host)] = int(container)
    return result


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in service.get("environment", {}).items()}


def test_the_stack_has_kafka_mongo_oidc_and_parley(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "mongo", "oidc", "gateway", "core"} <= set(services)
    kafka_version = _pom_property("infra/kafka/pom.xml", "kafka.version")
    oidc_version = _pom_property("infra/oidc/pom.xml", "mock-oauth2-server.version")
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version}"
    assert services["oidc"]["image"] == f"ghcr.io/navikt/mock-oauth2-server:{oidc_version}"
    assert services["mongo"]["image"].startswith("mongo:")


def test_published_ports_are_the_settings_defaults(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert DEFAULTS.kafka_port in _host_ports(services["kafka"])
    assert _host_ports(services["mongo"]) == {DEFAULTS.mongo_port: 27017}
    assert DEFAULTS.mongo_uri.startswith(f"mongodb://127.0.0.1:{DEFAULTS.mongo_port}/")
    assert _host_ports(services["oidc"]) == {DEFAULTS.oidc_port: DEFAULTS.oidc_port}
    gateway = _host_ports(services["gateway"])
    assert gateway[DEFAULTS.http_port] == int(_env(services["gateway"])["PARLEY_HTTP_PORT"])
    assert gateway[DEFAULTS.ws_port] == int(_env(services["gateway"])["PARLEY_WS_PORT"])


def test_kafka_advertises_the_host_port_and_the_internal_bootstrap(
    compose: dict[str, Any],
) -> None:
    env = _env(compose["services"]["kafka"])
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert f"HOST://{DEFAULTS.kafka_bootstrap}" in advertised
    for name in PARLEY_SERVICES:
        bootstrap = _env(compose["services"][name])["PARLEY_KAFKA_BOOTSTRAP"]
        assert any(a.endswith(f"://{bootstrap}") for a in advertised)


def test_topics_are_created_as_parley_infra_creates_them(compose: dict[str, Any]) -> None:
    script = compose["services"]["kafka-topics"]["command"][0]
    for topic in (
        DEFAULTS.commands_topic,
        DEFAULTS.events_topic,
        DEFAULTS.dlq_topic,
        DEFAULTS.domain_changes_topic,
    ):
        assert topic in script.replace(";", " ").split()
    assert f"--partitions {DEFAULTS.topic_partitions}" in script


@pytest.mark.parametrize("role", PARLEY_SERVICES)
def test_parley_services_run_their_role_with_known_settings(
    compose: dict[str, Any], role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = compose["services"][role]
    assert service["command"] == ["parley", "serve", "--role", role]
    env = _env(service)
    known = {n for field in Settings.model_fields for n in env_names(field)}
    assert sorted(set(env) - known) == []
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.role == role
    assert settings.oidc_issuer == DEFAULTS.oidc_issuer  # what browsers on the host see
    assert settings.oidc_audience == DEFAULTS.oidc_audience
    assert settings.mongo_uri == "mongodb://mongo:27017/parley"


def test_oidc_provider_is_configured_like_the_local_one(compose: dict[str, Any]) -> None:
    env = _env(compose["services"]["oidc"])
    assert int(env["SERVER_PORT"]) == DEFAULTS.oidc_port
    # `$$` is compose's escape for a literal `$`.
    config = json.loads(env["JSON_CONFIG"].replace("$$", "$"))
    local = OidcProvider(Path("/nonexistent"), DEFAULTS.oidc_port, audience=DEFAULTS.oidc_audience)
    assert config == local.config()


def test_the_tls_profile_puts_caddy_with_the_dev_certificate_before_a_gateway(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    proxy, gateway = services["tls-proxy"], services["gateway-tls"]
    assert proxy["profiles"] == gateway["profiles"] == ["tls"]
    assert proxy["image"].startswith("caddy:")
    assert _host_ports(proxy) == {8443: 8443}
    assert "./.parley/certs:/certs:ro" in proxy["volumes"]
    caddyfile = compose["configs"]["caddyfile"]["content"]
    assert "tls /certs/parley.pem /certs/parley-key.pem" in caddyfile
    assert "reverse_proxy gateway-tls:8080" in caddyfile
    for name, value in _env(gateway).items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.http_port == 8080
    assert settings.ws_port == -1  # browsers use wss://localhost:8443/ws through the proxy
    assert settings.http_base_url == "https://localhost:8443"
    assert settings.cors_origin_list == ["https://localhost:8443"]
    assert not settings.tls  # the proxy terminates TLS
