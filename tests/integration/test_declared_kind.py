"""A kind declared outside mlcp, in a test module, works end to end with no other edit.

The `Probe` kind (tests/probekind.py) is registered the way every kind module
registers itself. Nothing else names it: the loader finds it, the policy's rule
may name it, its renderer's declaration puts its resource in the tenant
deployer's ClusterRole (shipped in deploy/, installed again here as an
operator would after `make rbac`), among the kinds the Kubernetes backend lists and
writes, and in the apply order. Against the real API server it is authorized
for a tenant member, written as that tenant's confined deployer (so the
deployer's RBAC must really grant it), read back as live state, and pruned.
"""

from __future__ import annotations

from pathlib import Path

import git
import pytest
from kubernetes import client

from controlplane.plans import Action
from tests import probekind
from tests.integration import configrepo, kind_support, tenant_roles

pytestmark = pytest.mark.integration
BOB = git.Actor("Bob", "bob@example.com")  # member (edit) of vision
CAROL = git.Actor("Carol", "carol@example.com")  # owner of nlp


def _binding(k8s_admin: client.ApiClient, namespace: str) -> dict[str, object] | None:
    return kind_support.custom_object(
        k8s_admin, "argoproj.io", "v1alpha1", namespace, "workfloweventbindings", "deploys"
    )


def test_a_kind_declared_in_a_test_module_is_authorized_applied_as_the_deployer_and_pruned(
    tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    try:
        _declared_kind_end_to_end(tmp_path, prefix, kubeconfig, k8s_admin)
    finally:
        tenant_roles.install(k8s_admin)  # the shipped roles again, without the test's kind


def _declared_kind_end_to_end(tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient) -> None:
    with probekind.declared():
        tenant_roles.install(k8s_admin)  # `make rbac` and the operator's apply of deploy/: the deployer may write it
        repo = configrepo.make(tmp_path, prefix)
        developer_kinds = "kinds: [Pipeline, Experiment, ModelPromotion]"
        repo.edit("policies/access.yaml", developer_kinds, "kinds: [Pipeline, Experiment, ModelPromotion, Probe]")
        repo.initial = repo.commit("tenant developers may manage probes")
        _, report, _ = kind_support.apply(repo, kubeconfig, trusted=True, must_succeed=False)
        assert not report.failed, [(str(o.change.ref), o.message) for o in report.failed]

        probe = repo.path(f"tenants/{repo.vision}/probes/deploys.yaml")
        probe.parent.mkdir()
        probe.write_text(probekind.PROBE_YAML, encoding="utf-8")
        repo.commit("bob adds a probe to vision", author=BOB)
        plan, report, kube = kind_support.apply(repo, kubeconfig, must_succeed=False)
        [change] = plan.pending
        assert change.ref.kind == "WorkflowEventBinding" and change.action is Action.create
        assert change.decision is not None and change.decision.allowed, change.decision
        assert kube.impersonation is not None
        deployer = f"system:serviceaccount:{repo.system_ns}:mlcp-deployer-{repo.vision}"
        assert kube.impersonation.identity_for(change) == deployer
        assert not report.failed, [(str(o.change.ref), o.message) for o in report.failed]
        live = _binding(k8s_admin, repo.vision)
        assert live is not None and live["spec"] == {"event": {"selector": 'payload.message == "deploy"'}}

        again, _, _ = kind_support.apply(repo, kubeconfig, must_succeed=False)
        assert not again.has_changes, "read back as live state: nothing to do"

        probe.unlink()
        repo.commit("bob removes the probe", author=BOB)
        plan, report, _ = kind_support.apply(repo, kubeconfig, must_succeed=False)
        [prune] = plan.pending
        assert prune.action is Action.delete and prune.ref.kind == "WorkflowEventBinding"
        assert not report.failed, [(str(o.change.ref), o.message) for o in report.failed]
        assert _binding(k8s_admin, repo.vision) is None

        probe.write_text(probekind.PROBE_YAML, encoding="utf-8")
        repo.commit("carol, of another tenant, adds a probe to vision", author=CAROL)
        plan, _, _ = kind_support.apply(repo, kubeconfig, must_succeed=False)
        [denied] = plan.pending
        assert denied.decision is not None and not denied.decision.allowed, "the policy judges the new kind too"
        assert _binding(k8s_admin, repo.vision) is None
