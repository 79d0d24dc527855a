"""A refused change of a tenant's people or namespace reaches nothing through the objects other specs take from it.

The template repo is committed by the platform admin and applied to fake systems; then someone changes
vision's people or namespace. The Notebook's RoleBinding (it names the tenant's people) and every namespaced
object of the tenant are judged with the Tenant change (reconciler/tenantbound.py): denied while it is, under
`tenant-membership` / `tenant-namespace`, and written once it is allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import git
import pytest

from controlplane.plans import Action, Change, ObjectRef, Plan
from reconciler import engine, governance, governance_backend, nextbase, trust
from reconciler.applying import apply_plan
from reconciler.backends.base import ApplyOptions, Outcome
from reconciler.settling import decided
from tests.integration import configrepo
from tests.reconciler.fakes import FakeBackend

ALICE = git.Actor("Alice", "alice@example.com")
"""Owner of vision."""
BOB = git.Actor("Bob", "bob@example.com")
"""A member (edit) of vision."""
CAROL = git.Actor("Carol", "carol@example.com")
"""Owner of nlp, nothing in vision."""
NOTEBOOK_USERS = "  users:\n    - alice@example.com\n    - bob@example.com\n"


@dataclass
class RecordingBackend(FakeBackend):
    """A fake that, like the real backends, attributes a delete to the spec that wrote the object (its record)."""

    written: dict[ObjectRef, Change] = field(default_factory=dict)

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        if change.action is not Action.delete:
            self.written[change.ref] = change
        return super().apply(change, options)

    def review(self, changes: Sequence[Change]) -> list[Change]:
        return [self._attributed(c) if c.action is Action.delete else c for c in super().review(changes)]

    def _attributed(self, change: Change) -> Change:
        record = self.written[change.ref]
        return replace(change, spec=record.spec, tenant=record.tenant, source=record.source)


class Systems:
    """Fake systems holding what was applied, planned again after each commit."""

    def __init__(self, repo: configrepo.ConfigRepo) -> None:
        self.repo = repo
        pairs = (("mlflow", 10), ("kubernetes", 20))
        self.fakes = {s: RecordingBackend(system=s, order=o, applied=repo.initial) for s, o in pairs}

    def plan(self, prune: bool = False) -> Plan:
        planned, _ = engine.make_plan(
            engine.load_desired(self.repo.root),
            dict(self.fakes),  # type: ignore[arg-type]  # make_plan adds the governance backend to it
            prune=prune,
            targets=self.repo.targets(None, trusted=False),
        )
        return planned

    def apply(self, planned: Plan) -> None:
        """Write what may be written; the applied revision (the next trusted base) stays where it is."""
        apply_plan(planned, self.fakes, ApplyOptions(), concurrency=1, authorize=decided)

    def bound(self, namespace: str) -> set[str]:
        """Every subject a RoleBinding the systems hold in `namespace` names."""
        live = self.fakes["kubernetes"].objects.values()
        return {
            s["name"]
            for o in live
            if o.ref.kind == "RoleBinding" and o.ref.namespace == namespace
            for s in o.manifest.get("subjects", [])
        }

    def in_namespace(self, namespace: str) -> set[str]:
        return {f"{r.kind}/{r.name}" for r in self.fakes["kubernetes"].objects if r.namespace == namespace}


def _applied(tmp_path: Path, notebook_users: bool = True, owners_do_everything: bool = False) -> Systems:
    """The template (its notebook for all of vision's people unless `notebook_users`), applied by the admin."""
    repo = configrepo.make(tmp_path, "t")
    if not notebook_users:
        repo.edit(f"tenants/{repo.vision}/notebooks/explore.yaml", NOTEBOOK_USERS, "")
    if owners_do_everything:  # a policy letting owners and members change every kind of their own tenants
        repo.edit("policies/access.yaml", "kinds: [Pipeline, Experiment, ModelPromotion]", 'kinds: ["*"]')
    repo.initial = repo.commit("the admin's setup")
    systems = Systems(repo)
    planned = systems.plan()
    assert not [c for c in planned.changes if c.blocked], "the admin's setup is allowed"
    systems.apply(planned)
    return systems


def _pending(planned: Plan, kind: str, namespace: str | None = None) -> list[Change]:
    return [
        c
        for c in planned.changes
        if c.ref.kind == kind and c.action is not Action.noop and (namespace is None or c.ref.namespace == namespace)
    ]


def _join(systems: Systems, who: str, role: str = "view") -> None:
    tenant = f"tenants/{systems.repo.vision}/tenant.yaml"
    systems.repo.edit(tenant, "  members:\n", f"  members:\n    - name: {who}\n      role: {role}\n")


def test_a_stranger_who_adds_herself_is_not_bound_to_the_tenants_notebook(tmp_path: Path) -> None:
    systems = _applied(tmp_path, notebook_users=False)
    vision = systems.repo.vision
    _join(systems, "carol@example.com", "edit")  # a writer: notebooks are bound to writers only
    systems.repo.commit("vision: carol works along", CAROL)

    planned = systems.plan()
    [membership] = _pending(planned, "TenantMembership")
    assert membership.blocked
    [binding] = [c for c in _pending(planned, "RoleBinding", vision) if c.ref.name == "mlcp-notebook-explore"]
    assert binding.decision is not None and not binding.decision.allowed
    assert binding.decision.rule == "tenant-membership"
    assert "names the owners and members of tenant" in binding.decision.reason
    assert "carol@example.com" in binding.decision.actors, "the audit names who caused it, not only the admin"
    assert binding.blocked == decided(binding)
    systems.apply(planned)
    assert "carol@example.com" not in systems.bound(vision)


def test_an_owner_cannot_grant_her_notebook_to_a_member_she_may_not_add(tmp_path: Path) -> None:
    """Owners may change every kind of their tenant; adding people is still a membership change, refused, and
    naming the new member in the notebook's `users` in the same commit (valid against the revision's people)
    does not bind her either."""
    systems = _applied(tmp_path, owners_do_everything=True)
    vision = systems.repo.vision
    _join(systems, "mallory@example.com", "edit")
    notebook = f"tenants/{vision}/notebooks/explore.yaml"
    systems.repo.edit(notebook, "    - bob@example.com\n", "    - bob@example.com\n    - mallory@example.com\n")
    systems.repo.edit(f"tenants/{vision}/quota.yaml", 'requests.cpu: "', 'requests.cpu: "1')
    systems.repo.commit("vision: mallory joins, and may use the notebook", ALICE)

    planned = systems.plan()
    [binding] = [c for c in _pending(planned, "RoleBinding", vision) if c.ref.name == "mlcp-notebook-explore"]
    assert binding.decision is not None and binding.decision.rule == "tenant-membership" and binding.blocked
    systems.apply(planned)
    assert "mallory@example.com" not in systems.bound(vision)
    [quota] = _pending(planned, "ResourceQuota", vision)
    assert quota.blocked is None, "the owner's rights are real: her quota change, which names nobody, applies"


def test_an_allowed_membership_change_binds_the_new_member(tmp_path: Path) -> None:
    systems = _applied(tmp_path, notebook_users=False)
    vision = systems.repo.vision
    _join(systems, "mallory@example.com")
    systems.repo.commit("vision: mallory reads along")  # the admin

    planned = systems.plan()
    assert not [c for c in planned.changes if c.blocked], [c.blocked for c in planned.changes if c.blocked]
    systems.apply(planned)
    assert "mallory@example.com" in systems.bound(vision)


def test_a_refused_membership_change_holds_back_nothing_that_does_not_name_people(tmp_path: Path) -> None:
    systems = _applied(tmp_path)
    vision = systems.repo.vision
    _join(systems, "carol@example.com")
    systems.repo.commit("vision: carol reads along", CAROL)
    systems.repo.edit(f"tenants/{vision}/pipelines/train-detector.yaml", "vision-data:1.3.0", "vision-data:1.4.0")
    systems.repo.commit("newer data image", BOB)

    planned = systems.plan()
    [template] = _pending(planned, "WorkflowTemplate", vision)
    assert template.decision is not None and template.decision.allowed and template.blocked is None


@pytest.mark.parametrize("prune", [False, True])
def test_a_refused_namespace_move_moves_nothing(tmp_path: Path, prune: bool) -> None:
    systems = _applied(tmp_path)
    vision = systems.repo.vision
    before = systems.in_namespace(vision)
    systems.repo.edit(f"tenants/{vision}/tenant.yaml", "  owners:\n", "  namespace: moved-away\n  owners:\n")
    systems.repo.commit("vision lives elsewhere now", BOB)

    planned = systems.plan(prune=prune)
    followers = [c for c in planned.changes if c.action is not Action.noop and c.spec and c.spec.kind != "Tenant"]
    namespaced = [c for c in followers if c.ref.namespace is not None]
    assert {c.ref.namespace for c in namespaced} == {vision, "moved-away"}, "created there, deleted here"
    for change in namespaced:
        assert change.decision is not None and change.decision.rule == "tenant-namespace", change
        assert f"from {vision!r} to 'moved-away'" in change.decision.reason and change.blocked
    systems.apply(planned)
    assert systems.in_namespace("moved-away") == set()
    assert systems.in_namespace(vision) == before, "nothing of the old namespace is deleted or changed"


def test_a_refused_namespace_move_never_becomes_the_trusted_base(tmp_path: Path) -> None:
    """The base supplies the namespace the coupling compares with: had a refused move become the base, the next
    plan would see no move, and its deletes in the old namespace (a quota, with `--prune`) would go ahead."""
    systems = _applied(tmp_path)
    repo, vision = systems.repo, systems.repo.vision
    repo.edit(f"tenants/{vision}/tenant.yaml", "  owners:\n", "  namespace: moved-away\n  owners:\n")
    repo.commit("vision lives elsewhere now", BOB)

    planned = systems.plan(prune=True)
    [moved] = _pending(planned, governance.NAMESPACE)
    assert moved.ref.system == governance.SYSTEM and moved.diffs[0].new == "moved-away"
    assert moved.blocked and moved.decision is not None and "Tenant" in moved.decision.reason
    assert nextbase.next_base(planned, repo.initial) == repo.initial, "the base stays"
    keeper = governance_backend.GovernanceBackend.of(trust.load(repo.root, repo.initial, "applied"))
    desired = engine.load_desired(repo.root).repo
    assert nextbase.differing_tenants(desired, keeper) == {vision}, "a plan that leaves vision out keeps it too"


def test_an_allowed_namespace_move_moves_the_tenants_objects(tmp_path: Path) -> None:
    systems = _applied(tmp_path)
    vision = systems.repo.vision
    systems.repo.edit(f"tenants/{vision}/tenant.yaml", "  owners:\n", "  namespace: moved-away\n  owners:\n")
    head = systems.repo.commit("vision lives elsewhere now")  # the admin

    planned = systems.plan()
    moved = _pending(planned, "WorkflowTemplate", "moved-away")
    assert moved and all(c.blocked is None for c in moved)
    assert nextbase.next_base(planned, systems.repo.initial) == head, "an allowed move becomes the next base"
