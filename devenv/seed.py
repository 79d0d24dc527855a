"""An etcd data directory with every CRD already installed, made once and copied into each environment.

Argo's full CRDs carry every field's schema and 32 CEL rules each (2.5 MB of
YAML apiece). Installing them costs the API server 30-40 CPU-seconds: each
CRD is validated, then updated by half a dozen controllers (names accepted,
established, ...), and every update converts, deep-copies and re-publishes
the whole schema. Doing that at every start would triple a warm start. An API
server that starts on a store already holding the established CRDs serves
them as soon as it is ready, for ~2 CPU-seconds. So the first start on a
machine installs the CRDs into a throwaway etcd + kube-apiserver and keeps
etcd's data directory (the *seed*) in the cache, keyed by the Kubernetes and
etcd versions and a digest of every CRD body; later starts copy it (0.1 s).

The seed holds only what a fresh API server writes at start-up (namespaces,
bootstrap RBAC, priority levels) plus the CRDs: no certificate, key or token,
so each environment's own PKI works with it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from devenv import crds
from devenv.binaries import ETCD_VERSION, KUBERNETES_VERSION, Binaries, cache_home
from devenv.clients import api_client
from devenv.kubeapi import KubeControlPlane
from devenv.pki import Pki

FORMAT = "1"  # bump when what a seed holds changes
_SERVED = "crds.json"


def key() -> str:
    """The seed's name: versions and a digest of every CRD body it holds."""
    digest = hashlib.sha256(f"{FORMAT} {KUBERNETES_VERSION} {ETCD_VERSION}".encode())
    for name, body in sorted(crds.bodies().items()):
        digest.update(name.encode() + b"\0" + (body if isinstance(body, bytes) else body.encode()) + b"\0")
    return f"{KUBERNETES_VERSION}-{digest.hexdigest()[:16]}"


def directory() -> Path:
    return cache_home() / "mlcp" / "testenv" / "seeds" / key()


def served(seed: Path) -> list[dict[str, Any]]:
    """What the seed's CRDs serve: name, group, version and plural of each (recorded when it was made)."""
    data: list[dict[str, Any]] = json.loads((seed / _SERVED).read_text())
    return data


def ensure(binaries: Binaries, timeout: float = 600.0) -> Path:
    """The seed directory (`etcd/` + `crds.json`), made first if missing. Call from the main thread."""
    seed = directory()
    if (seed / _SERVED).is_file():
        return seed
    seed.parent.mkdir(parents=True, exist_ok=True)
    print(f"devenv: installing the CRDs once into {seed} (a minute or two; later starts copy it)", flush=True)
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=".making-", dir=seed.parent))
    try:
        kube = KubeControlPlane(binaries, Pki(work / "pki"), work)
        try:
            kube.start()
            kube.wait_apiserver(timeout)
            with api_client(kube.admin_kubeconfig) as api:
                crds.install(api, timeout=timeout)
                records = crds.served(api)
        finally:
            kube.stop()  # API server first: etcd then stops at once, its data complete
        made = work / "seed"
        made.mkdir()
        (work / "etcd").rename(made / "etcd")
        (made / _SERVED).write_text(json.dumps(records, indent=1) + "\n")
        try:
            made.rename(seed)
        except OSError:  # another session made it meanwhile: theirs is as good
            if not (seed / _SERVED).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"devenv: CRDs installed in {time.monotonic() - began:.0f} s", flush=True)
    return seed


def plant(seed: Path, etcd_dir: Path) -> None:
    """Copy the seed's etcd data into a new environment's (empty) etcd directory."""
    shutil.copytree(seed / "etcd", etcd_dir)
