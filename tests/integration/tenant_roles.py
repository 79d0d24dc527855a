"""mlcp's shipped tenant ClusterRoles and admission policies (deploy/kustomize/base/) in the test cluster.

An operator installs them with the deployment (`kubectl apply -k deploy/kustomize/base`). Tests apply them as
the declarations generate them now, so a kind a test module declares (tests/probekind.py) is in the deployer's
role once the test installs them again inside its `declared()` block, as `make rbac` and a new apply would.
"""

from __future__ import annotations

from kubernetes import client

from controlplane.rendering import admission, roles
from devenv import kubeapply


def install(api: client.ApiClient) -> None:
    """The tenant roles and the admission policies shipped beside them (`rendering.admission`)."""
    for obj in (*roles.cluster_roles(), *admission.policies()):
        kubeapply.apply(api, obj)
