"""The Tenant renderer's namespace: adoption is marked only when the spec asks; Pod Security labels are mlcp's."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.labels import ADOPTED_ANNOTATION, KATIB_INJECTION_LABEL, POD_SECURITY_PREFIX, PROTECTION_ANNOTATION
from controlplane.loading.repo import load_repo
from controlplane.plans import DesiredObject
from controlplane.rendering import RenderContext, render
from controlplane.rendering.tenant import with_pod_security
from controlplane.specs.access_policy import PodSecurity
from controlplane.validation import validate
from tests.controlplane.helpers import assert_problem, copy_template, edit, line_of

TENANT = "tenants/vision/tenant.yaml"


def _namespace_annotations(root: Path, name: str) -> dict[str, str]:
    objects = render(RenderContext(load_repo(root)))
    [namespace] = [o for o in objects if o.ref.kind == "Namespace" and o.ref.name == name]
    return dict(namespace.manifest["metadata"]["annotations"])


def test_adoption_is_marked_only_when_the_spec_asks(tmp_path: Path) -> None:
    root = copy_template(tmp_path / "repo")
    assert ADOPTED_ANNOTATION not in _namespace_annotations(root, "vision")
    edit(root, "tenants/vision/tenant.yaml", "  deletionProtection: true\n", "  adoptNamespace: true\n")
    annotations = _namespace_annotations(root, "vision")
    assert annotations[ADOPTED_ANNOTATION] == "true" and annotations[PROTECTION_ANNOTATION] == "true"


def _namespace_labels(objects: list[DesiredObject], name: str) -> dict[str, str]:
    [namespace] = [o for o in objects if o.ref.kind == "Namespace" and o.ref.name == name]
    return dict(namespace.manifest["metadata"]["labels"])


def _pod_security(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k.startswith(POD_SECURITY_PREFIX)}


def test_tenant_namespaces_enforce_warn_and_audit_the_policys_level(tmp_path: Path) -> None:
    root = copy_template(tmp_path / "repo")
    edit(
        root,
        "policies/access.yaml",
        "    level: baseline\n",
        "    level: baseline\n    tenants: {vision: restricted}\n",
    )
    objects = render(RenderContext(load_repo(root)))
    vision, nlp = _namespace_labels(objects, "vision"), _namespace_labels(objects, "nlp-team")
    assert _pod_security(vision) == {
        **{f"{POD_SECURITY_PREFIX}{mode}": "restricted" for mode in ("enforce", "warn", "audit")},
        **{f"{POD_SECURITY_PREFIX}{mode}-version": "latest" for mode in ("enforce", "warn", "audit")},
    }
    assert set(_pod_security(nlp).values()) == {"baseline", "latest"} and vision["cost-center"] == "cv-001"


def test_mlcps_pod_security_labels_win_over_the_tenants_own(tmp_path: Path) -> None:
    """Validation refuses such a label; rendering still puts mlcp's last, so a bypass would lose anyway."""
    root = copy_template(tmp_path / "repo")
    edit(root, "tenants/vision/tenant.yaml", "    cost-center: cv-001\n", "    pod-security.kubernetes.io/enforce: x\n")
    repo = load_repo(root)
    assert validate(repo)  # refused offline ...
    labels = _namespace_labels(render(RenderContext(repo)), "vision")
    assert labels[f"{POD_SECURITY_PREFIX}enforce"] == "baseline"  # ... and overridden if it got this far


def test_the_trusted_bases_level_replaces_the_one_the_revision_asks_for(tmp_path: Path) -> None:
    """A revision lowering its own level renders so, but the engine stamps the base's rules over it."""
    root = copy_template(tmp_path / "repo")
    edit(root, "policies/access.yaml", "    level: baseline\n", "    level: restricted\n")
    objects = render(RenderContext(load_repo(root)))
    base = PodSecurity(level="baseline", tenants={"nlp": "restricted"})
    stamped = with_pod_security(objects, base)
    assert _namespace_labels(stamped, "vision")[f"{POD_SECURITY_PREFIX}enforce"] == "baseline"
    assert _namespace_labels(stamped, "nlp-team")[f"{POD_SECURITY_PREFIX}audit"] == "restricted"
    assert _namespace_labels(objects, "vision")[f"{POD_SECURITY_PREFIX}enforce"] == "restricted"  # not mutated
    untouched = [o for o in stamped if o.ref.kind != "Namespace"]
    assert untouched == [o for o in objects if o.ref.kind != "Namespace"]


def test_every_tenant_namespace_lets_katib_inject_its_metrics_collector(tmp_path: Path) -> None:
    """Katib's pod webhook selects namespaces labelled so (kubeflow/katib
    manifests/v1beta1/components/webhook/webhooks.yaml, `mutator.pod.katib.kubeflow.org`'s namespaceSelector):
    without it no trial pod gets the collector and no trial reports its objective. Every tenant's namespace, tuning
    or not: an experiment change must not become a change of the namespace (authorized as the Tenant)."""
    root = copy_template(tmp_path / "repo")
    objects = render(RenderContext(load_repo(root)))
    for name in ("vision", "nlp-team"):
        assert _namespace_labels(objects, name)[KATIB_INJECTION_LABEL] == "enabled"
    assert KATIB_INJECTION_LABEL == "katib.kubeflow.org/metrics-collector-injection"


@pytest.mark.parametrize(
    "key",
    [
        "katib.kubeflow.org/metrics-collector-injection",  # Katib v0.13 and later
        "katib-metricscollector-injection",  # the key before (kubeflow/kubeflow#6225)
        "katib.kubeflow.org/trial",  # Katib labels a trial's pods with it (pod webhook, mutatePodMetadata)
    ],
)
def test_a_tenant_cannot_turn_katibs_collector_off_in_its_namespace(tmp_path: Path, key: str) -> None:
    """Bob labels vision's namespace `disabled`: every trial of every experiment would run without the collector
    and report nothing, each failing as metrics unavailable. Refused at its line, as every controller's label."""
    root = copy_template(tmp_path / "repo")
    path = edit(root, TENANT, "    cost-center: cv-001\n", f"    {key}: disabled\n")
    found = assert_problem(root, TENANT, line_of(path, key), f"label key {key!r} is Katib's")
    assert "a spec sets none" in found.message
