"""Kubernetes backend request hygiene that needs no server: what must never be sent."""

from __future__ import annotations

import dataclasses

import pytest
from kubernetes.client import ApiClient, Configuration

from controlplane.plans import Action, Change, Decision, ObjectRef, SpecKey
from reconciler.backends.base import BackendError
from reconciler.backends.deadline import DeadlineExceeded
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.impersonation import Impersonation
from reconciler.tenant_bindings import Person


class Unreachable(ApiClient):
    """A client whose transport fails the test if anything is sent."""

    def call_api(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("a request was sent")


def _backend() -> KubeClient:
    configuration = Configuration()
    configuration.host = "https://127.0.0.1:1"
    return KubeClient(Unreachable(configuration))


@pytest.mark.parametrize("identity", ["", "   "])
def test_empty_impersonation_is_refused_before_sending(identity: str) -> None:
    backend = _backend()
    with pytest.raises(BackendError, match="empty identity"):
        backend.request("GET", "/api/v1/namespaces", impersonate=identity)


def _change(spec: str, tenant: str, namespace: str, actors: tuple[str, ...]) -> Change:
    return Change(
        ref=ObjectRef("kubernetes", "argoproj.io/v1alpha1", "WorkflowTemplate", namespace, "p"),
        action=Action.update,
        reason="",
        spec=SpecKey.parse(spec),
        tenant=tenant,
        source=None,
        rank=50,
        decision=Decision(True, "r", "", actors),
    )


IMPERSONATION = Impersonation(
    namespaces={"a": "team-a", "b": "team-b"},
    people={"a": frozenset({Person("User", "alice@x", "admin")}), "b": frozenset({Person("User", "bob@x", "admin")})},
    home="ops",
)


def test_workloads_are_written_as_the_deployer_of_the_tenant_they_change_named_in_the_controller_namespace() -> None:
    own = _change("Pipeline/a/p", "a", "team-a", ("alice@x",))
    assert IMPERSONATION.identity_for(own) == "system:serviceaccount:ops:mlcp-deployer-team-a"
    admin = _change("Pipeline/b/p", "b", "team-b", ("admin@x",))
    assert IMPERSONATION.identity_for(admin) == "system:serviceaccount:ops:mlcp-deployer-team-b"


def test_an_allowed_change_by_someone_of_another_tenant_is_written_as_the_target_tenants_deployer() -> None:
    """A platform admin who also owns tenant a changes b's pipeline, allowed by her rule over every tenant: written
    as a's deployer, the API server refused it in b's namespace, so every allowed cross-tenant grant failed."""
    crossing = _change("Pipeline/b/p", "b", "team-b", ("alice@x",))
    assert IMPERSONATION.identity_for(crossing) == "system:serviceaccount:ops:mlcp-deployer-team-b"


def test_a_denied_change_that_reaches_apply_is_written_as_an_authors_own_tenant() -> None:
    """Enforcement bypassed (a bug): the API server still refuses alice's deployer in b's namespace."""
    denied = _change("Pipeline/b/p", "b", "team-b", ("alice@x",))
    denied = dataclasses.replace(denied, decision=Decision(False, "default-deny", "", ("alice@x",)))
    assert IMPERSONATION.identity_for(denied) == "system:serviceaccount:ops:mlcp-deployer-team-a"


def test_an_object_outside_its_tenants_namespace_is_written_as_its_own_tenants_deployer() -> None:
    """A renderer bug putting a's object into b's namespace: written as a's deployer, which b's namespace refuses."""
    misplaced = _change("Pipeline/a/p", "a", "team-b", ("alice@x",))
    assert IMPERSONATION.identity_for(misplaced) == "system:serviceaccount:ops:mlcp-deployer-team-a"


def test_platform_kinds_use_the_controllers_identity() -> None:
    quota = _change("Quota/a/q", "a", "team-a", ("admin@x",))
    assert IMPERSONATION.identity_for(quota) is None


def test_inside_a_fenced_write_no_request_starts_once_the_lease_has_no_time_left() -> None:
    backend = _backend()
    with (
        backend.bounded(lambda: 0.01),
        pytest.raises(DeadlineExceeded, match="PATCH /api/v1/namespaces/a was not sent"),
    ):
        backend.request("PATCH", "/api/v1/namespaces/a", body={})
    assert backend.requests == 0
    with backend.bounded(lambda: 2.5):
        assert backend.deadline.timeouts("GET /", 5.0, 60.0) == (2.5, 2.5), "timeouts cut to the lease's time"
    assert backend.deadline.timeouts("GET /", 5.0, 60.0) == (5.0, 60.0), "outside the block: the backend's own"


def test_the_query_and_resource_of_a_write_are_worked_out_once_and_stay_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Apply asks for the resource and the query string on every write: both are memoized, with equal results."""
    from controlplane.rendering import catalog
    from reconciler.backends import kubernetes_client
    from reconciler.backends.kubernetes import KubernetesBackend

    query = (("fieldManager", "mlcp"), ("force", "false"), ("dryRun", "All"))
    assert kubernetes_client._encoded(query) == "fieldManager=mlcp&force=false&dryRun=All"
    assert kubernetes_client._encoded(tuple(query)) is kubernetes_client._encoded(tuple(query)), "encoded once"
    assert kubernetes_client._timeout(5.0, 10.0) is kubernetes_client._timeout(5.0, 10.0)
    looked_up: list[str] = []
    real = catalog.find

    def find(api_version: str, kind: str) -> object:
        looked_up.append(kind)
        return real(api_version, kind)

    monkeypatch.setattr(catalog, "find", find)
    backend = KubernetesBackend(_backend())
    ref = ObjectRef("kubernetes", "v1", "ServiceAccount", "team-a", "x")
    first, again = backend._type(ref), backend._type(ref)
    assert first == again and first.plural == "serviceaccounts" and looked_up == ["ServiceAccount"]
    with pytest.raises(BackendError, match="does not manage"):
        backend._type(ObjectRef("kubernetes", "v1", "Secret", "team-a", "x"))
