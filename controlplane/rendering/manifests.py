"""Builders for the core and RBAC Kubernetes objects mlcp renders, as plain manifests.

Core objects are written as the dicts apply sends rather than through the
`kubernetes` client's models. Those models are pydantic classes that silently
drop a misspelled field: `V1NetworkPolicyIngressRule(var_from=...)` rendered as
`{}`, a rule that admits all traffic. A dict is what the API server and the
golden files see, and it costs a fraction of building and dumping a model for
each of thousands of objects. The shapes are checked where it counts: by the
API server in the integration tests, and by the golden files.
"""

from __future__ import annotations

from typing import Any

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_V1 = f"{RBAC_GROUP}/v1"


def manifest(api_version: str, kind: str, meta: dict[str, Any], **body: Any) -> dict[str, Any]:
    """An object: apiVersion, kind, metadata, then its top-level fields (spec, rules, subjects, ...)."""
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}


def policy_rule(api_groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    """A Role/ClusterRole rule; the lists are copied, so no two manifests share (and later mutate) one."""
    return {"apiGroups": list(api_groups), "resources": list(resources), "verbs": list(verbs)}
