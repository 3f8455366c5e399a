"""`parley certs dev`: a local certificate authority and a server certificate signed by it.

For HTTPS and WSS on a developer's machine without `mkcert`: the CA (`ca.pem`) is what a
browser or a client trusts; the server certificate names `localhost`, `*.parley.local`,
`parley.local`, 127.0.0.1 and ::1, and is what `PARLEY_TLS_CERT` / `PARLEY_TLS_KEY` point at.
Made with the `cryptography` library (ECDSA P-256). Files go to `<state dir>/certs/`; an
existing CA is reused, so a browser that trusts it keeps trusting new server certificates.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["DNS_NAMES", "DevCerts", "certs_main", "make_dev_certs"]

DNS_NAMES = ("localhost", "parley.local", "*.parley.local")
_IPS = ("127.0.0.1", "::1")
_CA_DAYS = 3650
# Browsers refuse server certificates valid for more than 398 days.
_SERVER_DAYS = 397


@dataclass(frozen=True, slots=True)
class DevCerts:
    ca: Path
    cert: Path
    key: Path


def make_dev_certs(directory: Path) -> DevCerts:
    """Write (or reuse) the CA and write a fresh server certificate under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, ca_key_path = directory / "ca.pem", directory / "ca-key.pem"
    if ca_path.is_file() and ca_key_path.is_file():
        ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{ca_key_path} is not an EC key")
        ca_key = loaded
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key)
        _write_key(ca_key_path, ca_key)
        ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _server_certificate(key, ca_cert, ca_key)
    cert_path, key_path = directory / "parley.pem", directory / "parley-key.pem"
    _write_key(key_path, key)
    # The chain: the server certificate, then the CA that signed it.
    cert_path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM)
    )
    return DevCerts(ca=ca_path, cert=cert_path, key=key_path)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Parley development"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Parley development CA"),
        ]
    )
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    now = _now()
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in DNS_NAMES]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in _IPS]
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(pem)


def certs_main(action: str, out_dir: str | None = None) -> int:
    from config.settings import load_settings

    if action != "dev":
        raise ValueError(f"unknown certs action {action!r}")
    directory = Path(out_dir) if out_dir else load_settings().state_dir / "certs"
    made = make_dev_certs(directory)
    print(f"parley certs: local CA {made.ca} (trust it in your browser or with SSL_CERT_FILE)")
    print(f"export PARLEY_TLS_CERT={made.cert}")
    print(f"export PARLEY_TLS_KEY={made.key}")
    return 0
