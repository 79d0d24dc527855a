"""Every object another spec takes from its tenant's Tenant is one the authorizer judges with the Tenant change.

A refused edit of a tenant's people or namespace must not reach the cluster or the registry through the objects
other specs render from them (reconciler/tenantbound.py): an object naming the tenant's people must be declared
so (`renders(..., people=...)`), and one placed by the tenant's namespace must be namespaced (every namespaced
object of the tenant follows a namespace move). This walks every registered kind, through the template repo,
which holds a spec of each: a new kind that renders the tenant's people or namespace anywhere else fails here.
"""

from __future__ import annotations

from pathlib import Path

from controlplane.loading.repo import ConfigRepo, load_repo
from controlplane.plans import DesiredObject, ObjectRef
from controlplane.rendering import RenderContext, catalog, render
from controlplane.rendering.registry import RENDERERS
from controlplane.specs import KINDS
from tests.controlplane.helpers import copy_template

TENANT = "tenants/vision/tenant.yaml"
NOTEBOOK = "tenants/vision/notebooks/explore.yaml"


def _rendered(root: Path) -> dict[ObjectRef, DesiredObject]:
    repo = load_repo(root)
    assert not repo.diagnostics, repo.diagnostics
    return {o.ref: o for o in render(RenderContext(repo))}


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _baseline(tmp_path: Path) -> Path:
    """The template, its notebook for every one of vision's people (empty `users`: all of them)."""
    root = copy_template(tmp_path / "repo")
    _edit(root, NOTEBOOK, "  users:\n    - alice@example.com\n    - bob@example.com\n", "")
    return root


def _changed(before: dict[ObjectRef, DesiredObject], after: dict[ObjectRef, DesiredObject]) -> list[DesiredObject]:
    """The objects of specs other than the Tenant that differ, appear or go (the Tenant's own are judged as it)."""
    found = [after[ref] for ref in after if ref not in before or before[ref].manifest != after[ref].manifest]
    found += [before[ref] for ref in before if ref not in after]
    return [o for o in found if o.spec.kind != "Tenant"]


def test_the_template_holds_a_spec_of_every_kind_that_renders() -> None:
    repo: ConfigRepo = load_repo(Path(__file__).resolve().parents[3] / "repo_template")
    present = {loaded.spec.kind for loaded in repo.specs}
    assert set(RENDERERS) <= present, f"add a spec of {sorted(set(RENDERERS) - present)} to repo_template"
    assert set(RENDERERS) <= set(KINDS)


def test_every_object_naming_the_tenants_people_is_declared_so(tmp_path: Path) -> None:
    root = _baseline(tmp_path)
    before = _rendered(root)
    _edit(
        root,
        TENANT,
        "    - alice@example.com\n",
        "    - alice@example.com\n    - olivia@example.com\n",
    )
    _edit(
        root,
        TENANT,
        "  members:\n",
        "  members:\n    - name: mallory@example.com\n      role: admin\n"
        "    - name: victor@example.com\n      role: view\n    - name: eve@example.com\n",
    )
    changed = _changed(before, _rendered(root))
    assert changed, "the notebook's RoleBinding at least names the tenant's people"
    undeclared = [
        f"{o.spec.kind} renders {o.ref.kind} {o.ref.name}"
        for o in changed
        if not catalog.names_people(o.spec.kind, o.ref.kind)
    ]
    assert undeclared == [], (
        "these objects name the tenant's people but their kind does not declare it (renders(..., people=...)), "
        f"so a refused membership change would reach them: {undeclared}"
    )


def test_every_object_placed_by_the_tenants_namespace_is_namespaced(tmp_path: Path) -> None:
    root = _baseline(tmp_path)
    before = _rendered(root)
    _edit(root, TENANT, "  displayName: Computer Vision\n", "  displayName: Computer Vision\n  namespace: cv-moved\n")
    changed = _changed(before, _rendered(root))
    assert {o.ref.namespace for o in changed} == {"vision", "cv-moved"}, "the tenant's workloads move with it"
    elsewhere = [f"{o.spec.kind} renders {o.ref.kind} {o.ref.name}" for o in changed if o.ref.namespace is None]
    assert elsewhere == [], (
        "these objects outside any namespace change with the tenant's namespace, so a refused namespace move "
        f"would reach them: {elsewhere}"
    )
