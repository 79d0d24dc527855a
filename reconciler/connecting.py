"""The systems a plan reaches: a backend for each the operator configured, and their live state read.

Only the operator's settings say where mlcp connects (`Targets`); a config repo only states what it expects
of them (`mlcp.yaml`), and a disagreement refuses the revision rather than moving mlcp to another endpoint.
A system that cannot be read is reported in the plan, not raised, so the reachable ones are still planned.
Kept apart from the engine, which plans: `mlcp plan`, `mlcp apply` and the loop connect through here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from controlplane.errors import Refused
from controlplane.loading.repo import CONFIG_FILE, ConfigRepo
from controlplane.plans import SystemStatus
from controlplane.specs.repo_config import RepoConfig
from reconciler.backends import registry
from reconciler.backends.base import Backend, BackendError, BackendType, LiveState
from reconciler.impersonation import Allowed
from reconciler.redaction import redact
from reconciler.targets import Targets

OPERATOR_TARGETS = "operator-targets"
"""The rule refusing a repo whose mlcp.yaml expects other targets than the operator's settings."""


def check_expectations(
    config: RepoConfig, targets: Targets, whose: str, backends: Sequence[BackendType] | None = None
) -> None:
    """Stop when mlcp.yaml expects another target (cluster, registry, namespace) than the operator's settings.

    The repo is data: it never decides where mlcp connects, so a disagreement is an error, not an override.
    Each backend states what mlcp.yaml may expect of it (`BackendType.expectations`).
    """
    for backend in registry.available() if backends is None else backends:
        for name, expected, actual, setting in backend.expectations(config, targets):
            if expected is not None and expected != actual:
                raise Refused(
                    f"{whose} mlcp.yaml expects {name} {redact(repr(expected))}, but the operator's setting "
                    f"({setting}) is {redact(repr(actual))}; mlcp never follows a config repo to another endpoint",
                    f"fix or remove `{name}` in mlcp.yaml, or run mlcp with the intended {setting}",
                    OPERATOR_TARGETS,
                    CONFIG_FILE,
                )


def connect(repo: ConfigRepo, targets: Targets) -> dict[str, Backend]:
    """A backend for each registered system the operator's settings configure, in apply order.

    Only the operator's settings are used; `repo` only states expectations, checked here.
    """
    check_expectations(repo.config, targets, "the revision under review's")
    backends: dict[str, Backend] = {}
    for kind in registry.available():
        backend = kind.connect(targets)
        if backend is not None:
            backends[backend.system] = backend
    confine(backends, repo)
    return backends


def confine(backends: Mapping[str, Backend], repo: ConfigRepo) -> None:
    """Tell each backend the tenants of this revision (e.g. which namespaces a sharded replica's live state keeps);
    never who writes their workloads: that follows the trusted base (`judge_by`) and `entrust`."""
    for backend in backends.values():
        backend.confine(repo)


def entrust(backends: Mapping[str, Backend], allowed: Allowed) -> None:
    """Tell each backend what the authorized plan's allowed Tenant changes give their tenants (governance
    .allowed_tenants): with the trusted base, whose deployer writes each tenant's workloads."""
    for backend in backends.values():
        backend.entrust(allowed)


def read_live(backends: Mapping[str, Backend]) -> tuple[dict[str, LiveState], list[SystemStatus]]:
    """Live state per system; a system that cannot be read is reported, not raised."""
    states: dict[str, LiveState] = {}
    statuses: list[SystemStatus] = []
    for name, backend in backends.items():
        try:
            states[name] = backend.read()
        except BackendError as exc:
            statuses.append(SystemStatus(name, redact(backend.target), reachable=False, error=redact(str(exc))))
            continue
        statuses.append(SystemStatus(name, redact(backend.target), reachable=True, notes=tuple(backend.notes)))
    return states, statuses
