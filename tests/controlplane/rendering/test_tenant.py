"""The Tenant renderer's namespace: adoption is marked on it only when the spec asks for it."""

from __future__ import annotations

from pathlib import Path

from controlplane.labels import ADOPTED_ANNOTATION, PROTECTION_ANNOTATION
from controlplane.loading.repo import load_repo
from controlplane.rendering import RenderContext, render
from tests.controlplane.helpers import copy_template, edit


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
