"""Every setting Parley reads, in one place, with the environment name that sets it.

The README's configuration table is generated from this model's fields (see
`tests/test_readme.py`), so a new variable is documented the moment it exists.
Names from the two original systems (``CORS_ORIGINS``, ``KAFKA_GROUP_INSTANCE_ID``,
``CLERK_JWT_ISSUER``...) are accepted as aliases where they mean the same thing.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Role", "Settings", "StoreBackend", "load_settings"]

REPO_ROOT = Path(__file__).resolve().parent.parent


StoreBackend = Literal["postgresql", "sqlite"]


class Role(StrEnum):
    ALL = "all"
    GATEWAY = "gateway"
    CORE = "core"
    PLUGINS = "plugins"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_", extra="ignore", populate_by_name=True)

    # --- server -------------------------------------------------------------------------
    role: Role = Field(default=Role.ALL, description="Which parts this process runs.")
    http_host: str = Field(default="127.0.0.1", description="Gateway bind address.")
    http_port: int = Field(default=8080, description="Gateway HTTP (REST, /ws, /config.js).")
    ws_port: int = Field(
        default=8081,
        description=(
            "Fast listener: the WebSocket URL /config.js advertises, and the REST posting "
            "routes at less CPU per post than the HTTP port (0: any free port; -1: off, "
            "clients use /ws and the posting routes on the HTTP port, which always work)."
        ),
    )
    public_url: str = Field(
        default="", description="URL browsers use to reach the gateway (default: from host/port)."
    )
    cors_origins: str = Field(
        default="",
        validation_alias=AliasChoices("PARLEY_CORS_ORIGINS", "CORS_ORIGINS"),
        description="Comma-separated browser origins allowed for REST and WebSocket.",
    )
    gateway_id: str = Field(default="", description="Name of this gateway (default: hostname-pid).")
    shutdown_grace_s: float = Field(default=20.0, description="Drain deadline after SIGTERM.")
    log_level: str = Field(default="INFO", description="Root log level (JSON lines on stderr).")
    tls_cert: str = Field(
        default="",
        description="PEM certificate chain: HTTPS and WSS on both listeners (`parley certs dev`).",
    )
    tls_key: str = Field(default="", description="PEM private key of `PARLEY_TLS_CERT`.")

    # --- kafka --------------------------------------------------------------------------
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("PARLEY_KAFKA_BOOTSTRAP", "KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers.",
    )
    commands_topic: str = Field(default="chat.commands", description="Accepted messages.")
    events_topic: str = Field(default="chat.events", description="Persisted, sequenced events.")
    dlq_topic: str = Field(default="chat.dlq", description="Records that can never be processed.")
    turns_topic: str = Field(
        default="chat.turns",
        validation_alias=AliasChoices("PARLEY_TURNS_TOPIC", "KAFKA_TURNS_TOPIC"),
        description="Assistant turns as they stream (started, deltas, finished); not durable.",
    )
    domain_changes_topic: str = Field(
        default="parley.domain-changes",
        validation_alias=AliasChoices("PARLEY_DOMAIN_CHANGES_TOPIC", "KAFKA_DOMAIN_CHANGES_TOPIC"),
        description="Domain events (threads, members).",
    )
    outbox_relay: bool = Field(
        default=True,
        description=(
            "Run the outbox relay in this core (publishes pending domain events); off only "
            "to hold the window between a change and its publish (tests)."
        ),
    )
    topic_partitions: int = Field(default=6, description="Partitions when Parley creates topics.")
    core_group: str = Field(default="core", description="Consumer group of the cores.")
    group_instance_id: str = Field(
        default="",
        validation_alias=AliasChoices(
            "PARLEY_GROUP_INSTANCE_ID",
            "KAFKA_COMMANDS_GROUP_INSTANCE_ID",
            "KAFKA_GROUP_INSTANCE_ID",
        ),
        description="Static membership id of this core (empty: dynamic membership).",
    )
    outbox_group_instance_id: str = Field(
        default="",
        validation_alias=AliasChoices(
            "PARLEY_OUTBOX_GROUP_INSTANCE_ID", "KAFKA_OUTBOX_GROUP_INSTANCE_ID"
        ),
        description="Static membership id of this gateway's events consumer.",
    )
    kafka_session_timeout_ms: int = Field(default=10_000, description="Consumer session timeout.")

    # --- store --------------------------------------------------------------------------
    mongo_uri: str = Field(
        default="mongodb://127.0.0.1:27017/parley", description="MongoDB (or FerretDB) URI."
    )
    mongo_write_majority: bool = Field(
        default=True, description="w=majority, j=true on writes (production setting)."
    )

    # --- identity -----------------------------------------------------------------------
    oidc_issuer: str = Field(
        default="http://127.0.0.1:9400/parley",
        validation_alias=AliasChoices("PARLEY_OIDC_ISSUER", "CLERK_JWT_ISSUER", "OIDC_ISSUER"),
        description="OIDC issuer; discovery is fetched from it.",
    )
    oidc_jwks_url: str = Field(
        default="",
        validation_alias=AliasChoices("PARLEY_OIDC_JWKS_URL", "CLERK_JWKS_URL"),
        description="JWKS URL override (default: from discovery).",
    )
    oidc_ca_bundle: str = Field(default="", description="CA bundle for the provider's TLS.")
    oidc_audience: str = Field(default="parley", description="Required `aud` of access tokens.")
    oidc_client_id: str = Field(default="parley-web", description="Browser client id.")
    oidc_algorithms: str = Field(default="RS256,ES256", description="Allowed JWT algorithms.")
    admin_claim: str = Field(
        default="parley_roles",
        description="Token claim that marks an operator (a string, or a list of strings).",
    )
    admin_value: str = Field(
        default="admin", description="Value of the admin claim that grants the operations API."
    )

    # --- operations ---------------------------------------------------------------------
    heartbeat_s: float = Field(
        default=2.0, description="How often each process announces itself in the store."
    )
    heartbeat_timeout_s: float = Field(
        default=10.0, description="A process silent this long is shown as gone."
    )

    # --- limits -------------------------------------------------------------------------
    max_text_bytes: int = Field(default=16_384, description="Largest message text (UTF-8).")
    max_body_bytes: int = Field(default=65_536, description="Largest REST body.")
    max_ws_frame_bytes: int = Field(default=65_536, description="Largest WebSocket frame.")
    user_rate_per_s: float = Field(default=20.0, description="Messages per user per second.")
    user_rate_burst: int = Field(default=40, description="Token bucket burst per user.")
    max_connections_per_user: int = Field(default=20, description="Open WebSockets per user.")
    ws_mailbox_frames: int = Field(
        default=1024, description="Frames queued per connection before it is closed as slow."
    )

    # --- assistants' model --------------------------------------------------------------
    llm_base_url: str = Field(
        default="",
        description=(
            "OpenAI-compatible API of the assistants' model, e.g. `https://api.openai.com/v1` "
            "(empty: the local llama.cpp server that `make run` starts on PARLEY_LLM_PORT)."
        ),
    )
    llm_api_key: SecretStr = Field(
        default=SecretStr(""), description="Bearer key for PARLEY_LLM_BASE_URL (empty: none)."
    )
    llm_model: str = Field(
        default="SmolLM2-135M-Instruct", description="Model name sent with each request."
    )
    llm_context_tokens: int = Field(
        default=2048,
        description="Context window per request (prompt + reply) the model server allows.",
    )

    # --- assistants' turns ---------------------------------------------------------------
    turns_per_user_per_minute: int = Field(
        default=20,
        ge=1,
        description="Assistant turns one user's messages may start per minute (more: refused).",
    )
    turn_concurrency: int = Field(
        default=2,
        ge=1,
        description=(
            "Assistant turns one core runs at once (more wait their turn, queued); size it to "
            "the model server's parallel slots."
        ),
    )
    # At most 55 s: a thread's actor is passivated after 60-120 s without a message, and a
    # passivation stops the turn it runs.
    turn_deadline_s: float = Field(
        default=45.0,
        gt=0,
        le=55.0,
        description=(
            "Longest an assistant's turn may run: then it is stopped, its partial reply stored, "
            "and it finishes as `error` (at most 55)."
        ),
    )

    # --- local services -----------------------------------------------------------------
    state_dir: Path = Field(
        default=REPO_ROOT / ".parley", description="Logs and data of the local services."
    )
    kafka_port: int = Field(default=9092, description="Local Kafka broker port.")
    kafka_controller_port: int = Field(default=9093, description="Local KRaft controller port.")
    mongo_port: int = Field(default=27017, description="Local FerretDB port.")
    store_backend: StoreBackend = Field(
        default="postgresql",
        description=(
            "Storage of the local FerretDB: postgresql (Debian's PostgreSQL under the state "
            "directory, indexed history) or sqlite (the earlier store; scans per query)."
        ),
    )
    oidc_port: int = Field(default=9400, description="Local OIDC provider port.")
    llm_port: int = Field(default=8090, description="Local model server (llama.cpp) port.")
    llm_threads: int = Field(
        default=1,
        description="CPU threads of the local model server (2 spin-wait on 2 cores: slower).",
    )

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def tls(self) -> bool:
        """HTTPS and WSS on both listeners (plain HTTP is then refused)."""
        return bool(self.tls_cert)

    @property
    def llm_url(self) -> str:
        """The model API the assistants call: PARLEY_LLM_BASE_URL, or the local server's."""
        return self.llm_base_url.rstrip("/") or f"http://127.0.0.1:{self.llm_port}/v1"

    @property
    def http_base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return self.public_url or f"{scheme}://{self.http_host}:{self.http_port}"


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]


def env_names(name: str) -> list[str]:
    """Every environment name that sets the field `name`, the canonical one first."""
    info = Settings.model_fields[name]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [f"PARLEY_{name.upper()}"]


def markdown_env_table() -> str:
    """The README's configuration table, generated so it cannot drift from the code."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, info in Settings.model_fields.items():
        names = env_names(name)
        shown = f"`{names[0]}`" + "".join(f" (or `{n}`)" for n in names[1:])
        default = info.default
        if isinstance(default, Path):
            default = "<repo>/.parley"
        elif isinstance(default, SecretStr):
            default = default.get_secret_value()
        elif isinstance(default, StrEnum):
            default = default.value
        rows.append(f"| {shown} | `{default}` | {info.description or ''} |")
    return "\n".join(rows)
