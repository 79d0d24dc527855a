"""Certificates and keys for the local control plane.

The API server authenticates people by client certificate: the certificate's
common name is the user and its organizations are the groups. One throwaway CA
per environment signs the serving certificate and every identity, so a test can
mint a new user (`Pki.client`) at any time and the server believes it. The
service-account key pair signs the tokens that the API server issues and the
controller manager's token controller needs.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=30)
_PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A PEM certificate and its PEM private key, written side by side."""

    cert_file: Path
    key_file: Path

    def cert_pem(self) -> bytes:
        return self.cert_file.read_bytes()

    def key_pem(self) -> bytes:
        return self.key_file.read_bytes()


def _new_key() -> _PrivateKey:
    # P-256 keys are generated in microseconds, RSA-2048 takes ~100 ms each;
    # startup time matters and the API server accepts both.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: _PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


class Pki:
    """A CA in `directory` that issues serving and client certificates."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._ca_key = _new_key()
        now = datetime.datetime.now(datetime.UTC)
        subject = _name("mlcp-devenv-ca")
        self._ca_cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
            .sign(self._ca_key, hashes.SHA256())
        )
        self.ca = KeyPair(directory / "ca.crt", directory / "ca.key")
        _write(self.ca.cert_file, self._ca_cert.public_bytes(serialization.Encoding.PEM))
        _write(self.ca.key_file, _key_pem(self._ca_key))

    def _issue(
        self,
        stem: str,
        name: x509.Name,
        usage: x509.ObjectIdentifier,
        sans: list[x509.GeneralName] | None = None,
    ) -> KeyPair:
        key = _new_key()
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(self._ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._ca_key, hashes.SHA256())
        pair = KeyPair(self.directory / f"{stem}.crt", self.directory / f"{stem}.key")
        _write(pair.cert_file, cert.public_bytes(serialization.Encoding.PEM))
        _write(pair.key_file, _key_pem(key))
        return pair

    def serving(self, stem: str = "apiserver") -> KeyPair:
        """A serving certificate valid for the loopback names the servers use."""
        sans: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default.svc"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
            x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        ]
        return self._issue(stem, _name(stem), ExtendedKeyUsageOID.SERVER_AUTH, sans)

    def client(self, user: str, groups: tuple[str, ...] = ()) -> KeyPair:
        """A client certificate: CN is the user name, O the groups."""
        stem = "user-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in user)
        return self._issue(stem, _name(user, groups), ExtendedKeyUsageOID.CLIENT_AUTH)

    def service_account_keys(self) -> KeyPair:
        """The key pair that signs service-account tokens (public key as `.pub`)."""
        key = _new_key()
        pair = KeyPair(self.directory / "sa.pub", self.directory / "sa.key")
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write(pair.cert_file, public)
        _write(pair.key_file, _key_pem(key))
        return pair
