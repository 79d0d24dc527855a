"""Where the locally built binaries and upstream manifests live, and building them.

No Kubernetes API server ships as a Python, npm or Debian package, so
`hack/testenv/build.sh` builds kube-apiserver, kube-controller-manager,
kube-scheduler, kubectl and etcd from the pinned upstream Go modules into the
per-user cache, and `hack/testenv/build-addons.sh` builds Argo's
workflow-controller and KWOK and copies the upstream CRDs, RBAC and KWOK stages
from the same modules next to them. This module finds them there and, from a
source checkout, runs the builds when anything is missing, so `make test` on a
fresh machine needs no extra step, and a missing binary is an error, never a skip.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Keep in step with hack/testenv/versions.env (a unit test checks it).
KUBERNETES_VERSION = "v1.35.4"
ETCD_VERSION = "v3.6.6"
ARGO_WORKFLOWS_VERSION = "v4.0.5"
KWOK_VERSION = "v0.8.0"
KSERVE_VERSION = "v0.17.0"

_NAMES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")


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


def addons_root() -> Path:
    """Where build-addons.sh puts Argo, KWOK and KServe, one directory per pinned version."""
    override = os.environ.get("MLCP_TESTENV_ADDONS_DIR")
    return Path(override) if override else cache_home() / "mlcp" / "testenv"


def argo_dir() -> Path:
    """workflow-controller, `crds/` (Argo's full CRDs) and `rbac/` (the controller's upstream RBAC)."""
    return addons_root() / f"argo-workflows-{ARGO_WORKFLOWS_VERSION}"


def kwok_dir() -> Path:
    """kwok and `stages/` (KWOK's stock fast stages)."""
    return addons_root() / f"kwok-{KWOK_VERSION}"


def kserve_dir() -> Path:
    """`crds/serving.kserve.io_inferenceservices.yaml` (KServe's full CRD; KServe itself is not built)."""
    return addons_root() / f"kserve-{KSERVE_VERSION}"


def _script(name: str) -> Path | None:
    script = Path(__file__).resolve().parents[2] / "hack" / "testenv" / name
    return script if script.is_file() else None


def build_script() -> Path | None:
    """`hack/testenv/build.sh` of the source checkout this package runs from."""
    return _script("build.sh")


@dataclass(frozen=True, slots=True)
class Binaries:
    """Paths of the executables (Kubernetes and etcd, then the add-ons)."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    workflow_controller: Path
    kwok: Path

    @classmethod
    def in_dir(cls, directory: Path) -> Binaries:
        """Kubernetes and etcd from `directory`, the add-ons from their own versioned directories."""
        etcd, apiserver, controller_manager, scheduler, kubectl = (directory / name for name in _NAMES)
        return cls(
            etcd,
            apiserver,
            controller_manager,
            scheduler,
            kubectl,
            argo_dir() / "workflow-controller",
            kwok_dir() / "kwok",
        )

    def kubernetes_missing(self) -> list[Path]:
        paths = (self.etcd, self.kube_apiserver, self.kube_controller_manager, self.kube_scheduler, self.kubectl)
        return [p for p in paths if not os.access(p, os.X_OK)]

    def addons_missing(self) -> list[Path]:
        """The add-on executables, and the upstream manifests the environment installs, that are not there."""
        missing = [p for p in (self.workflow_controller, self.kwok) if not os.access(p, os.X_OK)]
        needed = (
            argo_dir() / "crds" / "argoproj.io_workflows.yaml",
            argo_dir() / "rbac" / "workflow-controller-clusterrole.yaml",
            kwok_dir() / "stages" / "pod-ready.yaml",
            kserve_dir() / "crds" / "serving.kserve.io_inferenceservices.yaml",
        )
        return missing + [p for p in needed if not p.is_file()]

    def missing(self) -> list[Path]:
        return self.kubernetes_missing() + self.addons_missing()


def ensure_built(build: bool = True) -> Binaries:
    """The binaries, running the build scripts first when anything is missing.

    The build scripts themselves are quick when everything is up to date, but
    they are only run when something is missing so a warm start spends no time on them.
    """
    binaries = Binaries.in_dir(bin_dir())
    if not binaries.missing():
        return binaries
    scripts = [
        script
        for script, missing in (
            (build_script(), binaries.kubernetes_missing()),
            (_script("build-addons.sh"), binaries.addons_missing()),
        )
        if missing
    ]
    if not build or None in scripts:
        raise BinariesMissing(
            f"missing {', '.join(str(p) for p in binaries.missing())}: run `make testenv` "
            "in an mlcp checkout (needs Go and the Go module proxy), or set "
            "MLCP_TESTENV_BIN_DIR to a directory holding etcd, kube-apiserver, "
            "kube-controller-manager, kube-scheduler and kubectl (and MLCP_TESTENV_ADDONS_DIR "
            "to one holding what hack/testenv/build-addons.sh makes)"
        )
    env = dict(os.environ, MLCP_TESTENV_BIN_DIR=str(bin_dir()), MLCP_TESTENV_ADDONS_DIR=str(addons_root()))
    for script in scripts:
        result = subprocess.run(["bash", str(script)], env=env, check=False)
        if result.returncode != 0:
            raise BinariesMissing(f"{script} failed with exit code {result.returncode}")
    binaries = Binaries.in_dir(bin_dir())
    if binaries.missing():
        raise BinariesMissing(f"{' and '.join(map(str, scripts))} succeeded but did not produce {binaries.missing()}")
    return binaries
