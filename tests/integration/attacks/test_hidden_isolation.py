"""Bob, a member of vision, narrows the tenant's NetworkPolicy so that it selects no pod.

`mlcp-isolation` selects every pod of the namespace (`podSelector: {}`) and lets in only the tenant's own
namespaces. Narrowed to `matchLabels: {no-pod: has-this}`, it selects nothing and the namespace is open to
every other. The diff walked the desired (empty) selector, found no key to compare and planned a no-op, so
nothing ever healed it. Selectors are now compared whole (the API server replaces them whole), and the next
apply puts the selector back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from tests.integration import configrepo, kind_support

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("manager", ["kubectl-edit", "argo-controller"])
def test_a_narrowed_isolation_policy_is_put_back_whatever_field_manager_the_writer_named(
    tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient, manager: str
) -> None:
    """The edit is made with the admin's client, as anyone who may write the policy would (a member, while the
    built-in `edit` role let members write NetworkPolicies); its field manager is the writer's choice, so naming
    a controller must not turn the hand edit into a claim mlcp respects."""
    repo = configrepo.make(tmp_path, prefix)
    kind_support.apply(repo, kubeconfig, trusted=True)
    ns = repo.vision
    networking = client.NetworkingV1Api(k8s_admin)
    narrowed = {"spec": {"podSelector": {"matchLabels": {"no-pod": "has-this"}}}}
    networking.patch_namespaced_network_policy("mlcp-isolation", ns, narrowed, field_manager=manager)
    plan, report, _ = kind_support.apply(repo, kubeconfig, trusted=True)
    [isolation] = [c for c in plan.changes if c.ref.kind == "NetworkPolicy" and c.ref.namespace == ns]
    assert isolation.action.value == "update", "the narrowed selector is drift"
    live = networking.read_namespaced_network_policy("mlcp-isolation", ns)
    assert not live.spec.pod_selector.match_labels, "the selector is every pod again"
    [healed] = [o for o in report.outcomes if o.change.ref == isolation.ref]
    assert f"took fields back from {manager}" in healed.message
