"""Kubeconfig files, one per identity, with everything embedded.

Embedding the CA and the client certificate makes each file self-contained:
it can be copied, exported as KUBECONFIG, or handed to kubectl or the Python
client without the environment's certificate directory.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from devenv.pki import KeyPair


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def render(server: str, ca_pem: bytes, user: str, client: KeyPair | str) -> dict[str, Any]:
    """A kubeconfig document for `user` authenticating with `client` (a certificate, or a bearer token)."""
    if isinstance(client, str):
        credentials = {"token": client}
    else:
        credentials = {"client-certificate-data": _b64(client.cert_pem()), "client-key-data": _b64(client.key_pem())}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "mlcp-dev",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": credentials,
            }
        ],
        "contexts": [{"name": user, "context": {"cluster": "mlcp-dev", "user": user}}],
        "current-context": user,
        "preferences": {},
    }


def write(path: Path, server: str, ca_pem: bytes, user: str, client: KeyPair | str) -> Path:
    """Write the kubeconfig for `user` to `path` (mode 0600) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(render(server, ca_pem, user, client), sort_keys=False))
    path.chmod(0o600)
    return path
