"""Create a self-signed TLS certificate for nginx on first start (``tls-init`` in docker-compose.yml).

Usage: python self_signed.py CERT_DIR HOSTNAME. Does nothing when CERT_DIR already holds a
certificate, so an operator's real certificate (or the first self-signed one) is never replaced.
Uses ``cryptography``, which the provider image already has.

Every run also writes CERT_DIR/ca-bundle.pem: the usual public roots (``certifi``) plus this
certificate. The provider replicas and the relying parties point ``REQUESTS_CA_BUNDLE`` at it, so
they can call each other through nginx by the public host name (discovery, tokens, JWKS,
back-channel logout) while the certificate is self-signed, and still trust real certificates.
"""

import contextlib
import datetime
import ipaddress
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def main(folder: Path, host: str) -> None:
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    if cert_path.exists() and key_path.exists():
        print(f"{cert_path} exists; keeping it")
    else:
        create(cert_path, key_path, host)
    write_bundle(folder, cert_path)


def write_bundle(folder: Path, cert_path: Path) -> None:
    try:
        import certifi

        roots = Path(certifi.where()).read_bytes()
    except ImportError:  # outside the image: only this certificate
        roots = b""
    (folder / "ca-bundle.pem").write_bytes(roots.rstrip(b"\n") + b"\n" + cert_path.read_bytes())
    (folder / "ca-bundle.pem").chmod(0o644)


def create(cert_path: Path, key_path: Path, host: str) -> None:
    folder = cert_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    alt = [x509.DNSName(host)]
    with contextlib.suppress(ValueError):  # a host name, not an address
        alt.append(x509.IPAddress(ipaddress.ip_address(host)))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    print(f"self-signed certificate for {host} written to {cert_path}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: self_signed.py CERT_DIR HOSTNAME")
    main(Path(sys.argv[1]), sys.argv[2])
