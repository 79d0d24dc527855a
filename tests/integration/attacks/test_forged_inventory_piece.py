"""A forged inventory piece, driven through the reconcile loop's passes against the real API server.

The attacker can write ConfigMaps in mlcp's controller namespace but cannot write to the cluster as mlcp (a
namespace operator, a leaked narrow token). mlcp deletes only what its inventory records, so the attack is to
add a record to the piece that holds a tenant's objects: a namespace mlcp never created (a bystander team's,
labelled to look like mlcp's) recorded as that tenant's. Believed, the pass that removes the tenant would prune
the bystander with it. The backend's own tests (tests/integration/test_inventory_pieces.py) call the store
directly; these run the loop's passes, warm and after a restart.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from controlplane.audit import AuditRecord
from controlplane.inventory import InventoryRecord
from controlplane.plans import ObjectRef
from reconciler.backends import kubernetes_inventory as codec
from reconciler.backends import kubernetes_pieces as pieces
from reconciler.passes import Reconciler
from reconciler.verdicts import PassResult
from tests.integration import configrepo
from tests.integration.reconcile_support import reconciler

pytestmark = pytest.mark.integration


@dataclass
class Forged:
    repo: configrepo.ConfigRepo
    core: client.CoreV1Api
    rbac: client.RbacAuthorizationV1Api
    rec: Reconciler
    target: str
    other: str
    bystander: str
    piece: str
    blob: str

    def stored(self) -> str:
        return str((self.core.read_namespaced_config_map(self.piece, self.repo.system_ns).binary_data or {})[codec.KEY])

    def exists(self, name: str) -> bool:
        try:
            found = self.core.read_namespace(name)
        except client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return found.metadata is not None and found.metadata.deletion_timestamp is None

    def other_converged(self) -> bool:
        bindings = self.rbac.list_namespaced_role_binding(self.other).items
        return "bob@example.com" in {s.name for b in bindings for s in (b.subjects or [])}


def _two_in_other_pieces(repo: configrepo.ConfigRepo) -> tuple[str, str]:
    """Two minimal tenants whose objects live in different pieces (the names carry the test's random prefix)."""
    names = [repo.add_tenant(f"m{i}") for i in range(6)]
    for other in names[1:]:
        if pieces.piece_of(other) != pieces.piece_of(names[0]):
            return names[0], other
    raise AssertionError("six tenants in one piece of 64")


@pytest.fixture
def forged(tmp_path: Path, prefix: str, kubeconfig: Path, k8s_admin: client.ApiClient) -> Iterator[Forged]:
    """Converged; then the attacker records a bystander namespace as the target tenant's, keeping the piece's real
    records; then a commit removes the target tenant and changes the other (which must keep converging)."""
    core = client.CoreV1Api(k8s_admin)
    repo = configrepo.make(tmp_path, prefix)
    target, other = _two_in_other_pieces(repo)
    repo.commit("two minimal tenants")
    bystander = f"{prefix}-bystander"[:63]
    labels = {"app.kubernetes.io/managed-by": "mlcp", "mlcp.dev/tenant": target}
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=bystander, labels=labels)))
    try:
        rec = reconciler(repo, kubeconfig, tmp_path / "first")
        assert rec.run_pass().converged
        piece = pieces.piece_of(target)
        stored = core.read_namespaced_config_map(piece, repo.system_ns)
        refs, records = codec.decode(base64.b64decode((stored.binary_data or {})[codec.KEY]))
        victim = ObjectRef("kubernetes", "v1", "Namespace", None, bystander)
        some = next(iter(records.values()))
        records[victim] = InventoryRecord(some.spec, target, some.source)
        blob = base64.b64encode(codec.encode(refs | {victim}, records)).decode()
        core.patch_namespaced_config_map(piece, repo.system_ns, {"binaryData": {codec.KEY: blob}})

        for path in sorted(repo.path(f"tenants/{target}").rglob("*"), reverse=True):
            path.unlink()
        repo.path(f"tenants/{target}").rmdir()
        repo.edit(f"tenants/{other}/tenant.yaml", "owners: [alice@example.com]", "owners: [bob@example.com]")
        repo.commit("remove the target tenant, change the other")
        rbac = client.RbacAuthorizationV1Api(k8s_admin)
        yield Forged(repo, core, rbac, rec, target, other, bystander, piece, blob)
    finally:
        core.delete_namespace(bystander)


def _deleted(result: PassResult) -> set[str]:
    """The Kubernetes objects the pass deleted (the governance system's records of a removed tenant are not)."""
    return {
        o.change.ref.name
        for o in result.outcomes
        if o.status.value == "deleted" and o.change.ref.system == "kubernetes"
    }


def _audited(rec: Reconciler) -> list[AuditRecord]:
    """The records of problems in mlcp's own records (before: only a log line and a metric said so)."""
    return [r for r in rec.pass_audit.store.records() if r.rule == "record-store"]


@pytest.mark.parametrize("controller", ["warm", "restarted"])
def test_a_record_forged_into_a_piece_is_never_believed_and_the_loop_says_so(
    forged: Forged, controller: str, kubeconfig: Path, tmp_path: Path
) -> None:
    """Warm: the loop that wrote the piece reads it again (its pass reads the inventory) and finds bytes it never
    wrote. Restarted: a new process reads it cold. Either way nothing in the piece is believed."""
    rec = forged.rec if controller == "warm" else reconciler(forged.repo, kubeconfig, tmp_path / "restarted")
    result = rec.run_pass()
    deleted = _deleted(result)
    assert forged.bystander not in deleted and forged.exists(forged.bystander), "a forged record never prunes"
    assert forged.target not in deleted and forged.exists(forged.target), (
        "no record in a piece mlcp did not write is believed, so its own tenant's deletion waits for a repair"
    )
    assert forged.stored() == forged.blob, "the forged piece is never written over"
    assert forged.other_converged(), "the other tenant, in another piece, converged"
    problems = result.record_problems or ()
    assert any(forged.piece in p and "not a version mlcp wrote" in p for p in problems), problems
    assert rec.metrics.registry.get_sample_value("mlcp_reconcile_record_problems") == len(problems) >= 1
    audited = _audited(rec)
    assert {r.error for r in audited} == set(problems), "the audit log says what was not believed"
    rec.run_pass()
    assert len(_audited(rec)) == len(audited), "once per revision, not once per pass"
