"""The local OIDC provider: navikt's mock-oauth2-server with an interactive login page.

Issuer `http://127.0.0.1:PORT/parley`. Any user name typed on the login page (or sent as
`username` in a password grant) becomes the token's `sub`; alice, bob and carol are the
documented dev users but nothing restricts the name. Every grant gets `aud` = the audience.
The documented user `admin` gets the admin claim (`PARLEY_ADMIN_CLAIM`:
[`PARLEY_ADMIN_VALUE`]), which opens the operations API, both through the password grant and
when the name is typed on the login page (the code flow): a request mapping on `subject`,
which mock-oauth2-server matches against the login name since 5.0 (and the password grant's
username since 6.0), so nobody types the claim into the login form's claims box.
Signing keys are the ones bundled in the jar, so tokens stay valid across restarts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from infra._paths import OIDC_DIR
from infra._service import Service
from infra._tools import find_java

__all__ = ["ISSUER_ID", "OidcProvider"]

ISSUER_ID = "parley"
MAIN_CLASS = "no.nav.security.mock.oauth2.StandaloneMockOAuth2ServerKt"


class OidcProvider(Service):
    name = "oidc"
    port_env = "PARLEY_OIDC_PORT"
    start_deadline_s = 120.0

    def __init__(
        self,
        state_dir: Path,
        port: int,
        *,
        audience: str = "parley",
        admin_claim: str = "parley_roles",
        admin_value: str = "admin",
        die_with_parent: bool = False,
    ) -> None:
        super().__init__(state_dir, port, die_with_parent=die_with_parent)
        self.audience = audience
        self.admin_claim = admin_claim
        self.admin_value = admin_value

    @property
    def marker(self) -> str:
        return f"-Dparley.service={self.dir}"

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ISSUER_ID}"

    def config(self) -> dict[str, object]:
        # The first mapping that matches wins. A request naming an `audience` (tests asking for a
        # wrong one) gets it; every other request ("grant_type" is always present) gets ours.
        # `sub` is left to the grant: the login name, or the password grant's username.
        # The user `admin` (login page or password grant: `subject` is the name either way) is
        # matched first, so it gets the admin claim.
        admin = {"aud": [self.audience], self.admin_claim: [self.admin_value]}
        return {
            "interactiveLogin": True,
            "httpServer": "NettyWrapper",
            "tokenCallbacks": [
                {
                    "issuerId": ISSUER_ID,
                    "tokenExpiry": 3600,
                    "requestMappings": [
                        {"requestParam": "subject", "match": "admin", "claims": admin},
                        {
                            "requestParam": "audience",
                            "match": "*",
                            "claims": {"aud": ["${audience}"]},
                        },
                        {
                            "requestParam": "grant_type",
                            "match": "*",
                            "claims": {"aud": [self.audience]},
                        },
                    ],
                }
            ],
        }

    @property
    def cds_archive(self) -> Path:
        return OIDC_DIR / "libs" / "oidc.jsa"

    def prepare(self) -> None:
        super().prepare()
        (self.dir / "config.json").write_text(json.dumps(self.config(), indent=2) + "\n")

    def command(self) -> list[str]:
        return [
            find_java(),
            # A mock provider needs fast start and little memory, not peak throughput.
            "-Xms32m",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            *self.cds_flags(),
            self.marker,
            "-cp",
            str(OIDC_DIR / "libs" / "*"),
            MAIN_CLASS,
        ]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SERVER_HOSTNAME="127.0.0.1",
            SERVER_PORT=str(self.port),
            JSON_CONFIG_PATH=str(self.dir / "config.json"),
            LOG_LEVEL="INFO",
        )
        env.pop("JSON_CONFIG", None)  # it would take precedence over our file
        return env

    def probe(self) -> bool:
        try:
            alive = httpx.get(f"http://127.0.0.1:{self.port}/isalive", timeout=1.0)
            if alive.status_code != 200:
                return False
            disc = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2.0)
            return disc.status_code == 200 and disc.json().get("issuer") == self.issuer
        except (httpx.HTTPError, ValueError):
            return False
