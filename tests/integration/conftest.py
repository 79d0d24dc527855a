"""Fixtures for integration tests: real servers, one set per test session.

The session starts etcd, kube-apiserver, kube-controller-manager and MLflow
once (about 7 s warm; the first run also builds them) and stops them at the
end, also on Ctrl-C or SIGTERM. If they cannot start, every test that uses
them errors: integration tests fail, they never skip. Each test gets its own
namespace and name prefix so tests cannot see each other's objects. Set
MLCP_TEST_KUBECONFIG / MLCP_TEST_MLFLOW_URI to use existing servers instead
(docs/testing.md).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from devenv import install_signal_handlers, testing
from tests.integration import tenant_roles

_KEPT_LOGS = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def devenv(request: pytest.FixtureRequest) -> Iterator[testing.TestTarget]:
    """The servers of this session (local, or existing ones named by env vars)."""
    install_signal_handlers()
    target = testing.start()
    yield target
    failed = request.session.testsfailed > 0
    target.stop(keep_files=failed)
    if failed and target.logs_dir is not None:
        request.config.stash[_KEPT_LOGS] = target.logs_dir


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    logs = terminalreporter.config.stash.get(_KEPT_LOGS, None)
    if logs is not None:
        terminalreporter.write_line(f"devenv: server logs of the failed session kept in {logs}")


@pytest.fixture(scope="session")
def installed(devenv: testing.TestTarget) -> testing.TestTarget:
    """The servers, with what an operator installs beside mlcp: its shipped tenant ClusterRoles."""
    tenant_roles.install(devenv.admin_client())
    return devenv


@pytest.fixture(scope="session")
def kubeconfig(installed: testing.TestTarget) -> Path:
    """Path of the admin kubeconfig (user mlcp-admin, group system:masters)."""
    return installed.kubeconfig


@pytest.fixture(scope="session")
def k8s_admin(installed: testing.TestTarget) -> client.ApiClient:
    """An official-client ApiClient authenticated as the admin."""
    return installed.admin_client()


UserClientFactory = Callable[..., client.ApiClient]


@pytest.fixture(scope="session")
def k8s_user(installed: testing.TestTarget) -> UserClientFactory:
    """`k8s_user("alice", ("team-a",))`: an ApiClient for an ordinary user.

    Locally the user has a client certificate of its own; `DEFAULT_USERS`
    (alice in team-a, bob in team-b) exist from the start, any other name is
    minted on demand. RBAC grants them nothing until a test binds a role.
    """
    return installed.user_client


@pytest.fixture(scope="session")
def mlflow_uri(devenv: testing.TestTarget) -> str:
    """Tracking URI of the MLflow server (talk REST to it: /api/2.0/mlflow/...)."""
    return devenv.mlflow_uri


def _slug(name: str, limit: int) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:limit].strip("-")


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A name prefix unique to this test, for MLflow models, experiments and the like."""
    return f"t-{_slug(request.node.name, 30)}-{secrets.token_hex(3)}"


@pytest.fixture
def namespace(prefix: str, k8s_admin: client.ApiClient) -> Iterator[str]:
    """A fresh namespace for this test, deleted (without waiting) afterwards."""
    name = prefix[:63].rstrip("-")
    core = client.CoreV1Api(k8s_admin)
    core.create_namespace({"metadata": {"name": name, "labels": {"mlcp.dev/test": "true"}}})
    yield name
    try:
        core.delete_namespace(name)
    except client.ApiException as err:
        if err.status != 404:
            raise
