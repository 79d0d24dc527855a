"""Where the locally built Kubernetes and etcd binaries live, and building them.

No Kubernetes API server ships as a Python, npm or Debian package, so
`hack/testenv/build.sh` builds kube-apiserver, kube-controller-manager, kubectl
and etcd from the pinned upstream Go modules into the per-user cache. This
module finds them there and, from a source checkout, runs the build when they
are missing, so `make test` on a fresh machine needs no extra step.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Keep in step with hack/testenv/versions.env (a unit test checks it).
KUBERNETES_VERSION = "v1.35.4"
ETCD_VERSION = "v3.6.6"

_NAMES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")


class BinariesMissing(RuntimeError):
    """The binaries are not built and cannot be built from here."""


def cache_home() -> Path:
    """The per-user XDG cache directory (`$XDG_CACHE_HOME` or `~/.cache`)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def bin_dir() -> Path:
    """Where the binaries for the pinned version are (or will be) built."""
    override = os.environ.get("MLCP_TESTENV_BIN_DIR")
    if override:
        return Path(override)
    return cache_home() / "mlcp" / "testenv" / KUBERNETES_VERSION


def build_script() -> Path | None:
    """`hack/testenv/build.sh` of the source checkout this package runs from."""
    script = Path(__file__).resolve().parents[2] / "hack" / "testenv" / "build.sh"
    return script if script.is_file() else None


@dataclass(frozen=True, slots=True)
class Binaries:
    """Paths of the four executables."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path

    @classmethod
    def in_dir(cls, directory: Path) -> Binaries:
        return cls(*(directory / name for name in _NAMES))

    def missing(self) -> list[Path]:
        return [
            p
            for p in (self.etcd, self.kube_apiserver, self.kube_controller_manager, self.kubectl)
            if not os.access(p, os.X_OK)
        ]


def ensure_built(build: bool = True) -> Binaries:
    """The binaries, running the build script first when any is missing.

    The build script itself is quick when everything is up to date, but it is
    only run when a binary is missing so a warm start spends no time on it.
    """
    binaries = Binaries.in_dir(bin_dir())
    if not binaries.missing():
        return binaries
    script = build_script()
    if not build or script is None:
        raise BinariesMissing(
            f"missing {', '.join(str(p) for p in binaries.missing())}: run `make testenv` "
            "in an mlcp checkout (needs Go and the Go module proxy), or set "
            "MLCP_TESTENV_BIN_DIR to a directory holding etcd, kube-apiserver, "
            "kube-controller-manager and kubectl"
        )
    env = dict(os.environ, MLCP_TESTENV_BIN_DIR=str(bin_dir()))
    result = subprocess.run(["bash", str(script)], env=env, check=False)
    if result.returncode != 0:
        raise BinariesMissing(f"{script} failed with exit code {result.returncode}")
    binaries = Binaries.in_dir(bin_dir())
    if binaries.missing():
        raise BinariesMissing(f"{script} succeeded but did not produce {binaries.missing()}")
    return binaries
