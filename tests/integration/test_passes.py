"""One reconcile pass with fake backends for the systems it governs, and the real API server only for the loop's
own records (its per-tenant state and the audit anchor).

The fakes (tests/reconciler/fakes.py) keep what they are asked to write, so these tests see exactly what the
pass sent to each system and in what order: systems in their backends' order, nothing of a denied or set-aside
tenant while the other tenant converges, nothing at all without the lease, and the revision recorded as the next
trusted base only when every system was reached and no tenant was held back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import git
import pytest
from kubernetes import client

from controlplane.audit import JsonlStore, open_intents
from controlplane.audit.records import AuditRecord, Result, Verdict
from reconciler.backends import registry
from reconciler.fencing import Fence
from reconciler.gitsync import GitSource
from reconciler.passes import Reconciler, Settings
from reconciler.state import NAME as STATE_NAME
from reconciler.verdicts import INVALID_RULE
from tests.integration import configrepo
from tests.reconciler.fakes import FakeBackend, FakeType

pytestmark = pytest.mark.integration

MALLORY = git.Actor("Mallory", "mallory@example.com")
"""Belongs to no tenant."""


@pytest.fixture
def repo(tmp_path: Path, prefix: str) -> configrepo.ConfigRepo:
    return configrepo.make(tmp_path, prefix)


@pytest.fixture
def systems(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeBackend]:
    """The registry holds only fakes; they share one call log, so the order across systems shows."""
    log: list[str] = []
    fakes = {
        "mlflow": FakeBackend(system="mlflow", order=10, target="memory://registry", calls=log),
        "kubernetes": FakeBackend(system="kubernetes", order=20, target="memory://cluster", calls=log),
    }
    monkeypatch.setattr(registry, "available", lambda: [FakeType(f) for f in fakes.values()])
    return fakes


def _rec(repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path, **parts: Any) -> Reconciler:
    """The loop's pass for `repo` (`parts`: its fence, its clock), its audit log in `tmp_path`."""
    return Reconciler(
        GitSource(str(repo.root), "main", tmp_path / "work"),
        Settings(repo.targets(kubeconfig), events=False),
        JsonlStore(tmp_path / "audit.jsonl"),
        **parts,
    )


def _state(k8s_admin: client.ApiClient, namespace: str) -> str | None:
    try:
        found = client.CoreV1Api(k8s_admin).read_namespaced_config_map(STATE_NAME, namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return str((found.data or {}).get("revisions.json"))


def _records(tmp_path: Path) -> list[AuditRecord]:
    store = JsonlStore(tmp_path / "audit.jsonl")
    assert store.verify().ok
    return list(store.records())


def test_a_pass_writes_each_system_in_its_order_and_records_the_revision(
    repo: configrepo.ConfigRepo,
    systems: dict[str, FakeBackend],
    kubeconfig: Path,
    tmp_path: Path,
    k8s_admin: client.ApiClient,
) -> None:
    result = _rec(repo, kubeconfig, tmp_path).run_pass()
    assert result.error is None and result.converged, result.failed
    log = systems["kubernetes"].calls
    writes = [i for i, call in enumerate(log) if call.startswith("apply ")]
    registry_writes = [i for i in writes if log[i].split(" ", 1)[1] in {r.name for r in systems["mlflow"].objects}]
    assert registry_writes and max(registry_writes) < min(set(writes) - set(registry_writes)), "registry first"
    assert {f.applied for f in systems.values()} == {repo.initial}, "a complete pass is the next trusted base"
    state = _state(k8s_admin, repo.system_ns)
    assert state is not None and repo.initial in state and repo.vision in state and repo.nlp in state
    records = _records(tmp_path)
    outcomes = [r for r in records if r.intent is not None]
    assert len(outcomes) == len(result.outcomes) == len(writes)
    assert all(r.result is Result.applied for r in outcomes)


def test_a_strangers_change_is_not_written_and_only_that_tenant_backs_off(
    repo: configrepo.ConfigRepo,
    systems: dict[str, FakeBackend],
    kubeconfig: Path,
    tmp_path: Path,
    k8s_admin: client.ApiClient,
) -> None:
    rec = _rec(repo, kubeconfig, tmp_path, clock=lambda: 1000.0)  # time stands still: backoff never ends
    assert rec.run_pass().converged
    cluster = systems["kubernetes"]
    before = {ref: obj.manifest for ref, obj in cluster.objects.items()}
    repo.edit(f"tenants/{repo.vision}/pipelines/train-detector.yaml", "vision-data:1.3.0", "vision-data:6.6.6")
    repo.commit("a better image", MALLORY)
    repo.edit(f"tenants/{repo.nlp}/quota.yaml", 'requests.cpu: "', 'requests.cpu: "1')
    revision = repo.commit("nlp: more CPU")
    cluster.calls.clear()

    result = rec.run_pass()
    assert set(result.failed) == {repo.vision} and "denied" in result.failed[repo.vision]
    pipeline = [ref for ref in cluster.objects if ref.kind == "WorkflowTemplate" and ref.namespace == repo.vision]
    assert pipeline and all(cluster.objects[ref].manifest == before[ref] for ref in pipeline), "not written"
    assert any(c.startswith("apply compute") for c in cluster.calls), "the other tenant's change goes ahead"
    # the rules (policy, tenants, mlcp.yaml) did not change, so they are trusted at the new revision; the
    # denied tenant's changes are judged from its own last converged revision, which stays behind
    assert {f.applied for f in systems.values()} == {revision}
    state = _state(k8s_admin, repo.system_ns)
    assert state is not None and revision in state and repo.initial in state, "nlp moves on, vision stays behind"
    denied = [r for r in _records(tmp_path) if r.result is Result.denied]
    assert denied and all(r.decision is Verdict.deny and r.tenant == repo.vision for r in denied)
    assert all(r.actors == ("mallory@example.com",) for r in denied)

    again = rec.run_pass()
    assert repo.vision in again.held and not again.failed, "backing off: not judged again at once"


def test_a_denied_change_to_the_rules_never_becomes_the_next_base(
    repo: configrepo.ConfigRepo, systems: dict[str, FakeBackend], kubeconfig: Path, tmp_path: Path
) -> None:
    rec = _rec(repo, kubeconfig, tmp_path)
    assert rec.run_pass().converged
    repo.edit(
        "policies/access.yaml",
        "      - admin@example.com\n",
        "      - admin@example.com\n      - mallory@example.com\n",
    )
    repo.commit("make me an admin", MALLORY)
    result = rec.run_pass()
    assert result.failed and not result.converged
    assert {f.applied for f in systems.values()} == {repo.initial}, "the base that judged the change stays"
    denied = [o for o in result.outcomes if o.change.ref.system == "governance"]
    assert denied and all(o.change.blocked and "mallory@example.com" in o.change.blocked for o in denied)


def test_without_the_lease_nothing_is_written_and_nothing_is_recorded(
    repo: configrepo.ConfigRepo,
    systems: dict[str, FakeBackend],
    kubeconfig: Path,
    tmp_path: Path,
    k8s_admin: client.ApiClient,
) -> None:
    result = _rec(repo, kubeconfig, tmp_path, fence=Fence(leading=lambda: False)).run_pass()
    assert not result.converged and result.stage == "audit" and "no longer holds the Lease" in (result.error or "")
    assert JsonlStore(tmp_path / "audit.jsonl").head() is None, "no record without the Lease (fencing.FencedStore)"
    assert all(f.objects == {} and f.applied is None for f in systems.values())
    assert not [c for c in systems["kubernetes"].calls if c.startswith(("apply", "record"))]
    assert _state(k8s_admin, repo.system_ns) is None, "only the leader writes the loop's state"


def test_leadership_lost_in_the_middle_stops_the_writes_that_follow(
    repo: configrepo.ConfigRepo,
    systems: dict[str, FakeBackend],
    kubeconfig: Path,
    tmp_path: Path,
    k8s_admin: client.ApiClient,
) -> None:
    registry_store = systems["mlflow"]
    result = _rec(repo, kubeconfig, tmp_path, fence=Fence(leading=lambda: len(registry_store.objects) < 3)).run_pass()
    assert registry_store.objects and result.stage == "audit" and "Lease" in (result.error or "")
    # the turn stopped at its first append after the loss: the writes made keep open intents, which the next
    # holder closes as interrupted from what the live state shows (reconciler.fencing, "An audit append ...")
    assert open_intents(JsonlStore(tmp_path / "audit.jsonl").tail()), "no outcome appended without the Lease"
    assert systems["kubernetes"].objects == {}, "nothing after the lease was lost"
    assert {f.applied for f in systems.values()} == {None} and not result.converged
    assert repo.initial not in (_state(k8s_admin, repo.system_ns) or ""), "a lost lease records nothing"


def test_an_unreachable_system_fails_the_pass_and_moves_no_base(
    repo: configrepo.ConfigRepo,
    systems: dict[str, FakeBackend],
    kubeconfig: Path,
    tmp_path: Path,
    k8s_admin: client.ApiClient,
) -> None:
    systems["mlflow"].unreachable = True
    result = _rec(repo, kubeconfig, tmp_path).run_pass()
    assert result.error is not None and result.error.startswith("unreachable: mlflow: memory://registry is down")
    assert systems["mlflow"].objects == {} and systems["kubernetes"].objects, "the reachable system is converged"
    assert systems["kubernetes"].applied is None, "an incomplete pass is no trusted base"
    assert repo.initial not in (_state(k8s_admin, repo.system_ns) or ""), "no tenant counts as converged"


def test_a_tenant_with_broken_specs_is_set_aside_and_audited(
    repo: configrepo.ConfigRepo,
    systems: dict[str, FakeBackend],
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    repo.edit(f"tenants/{repo.vision}/pipelines/train-detector.yaml", "  steps:\n", "  steps: [\n")
    repo.commit("a broken pipeline")
    result = _rec(repo, kubeconfig, tmp_path).run_pass()
    assert set(result.failed) == {repo.vision}
    namespaces = {ref.namespace for ref in systems["kubernetes"].objects}
    assert repo.nlp in namespaces and repo.vision not in namespaces, "nothing of a set-aside tenant is rendered"
    refusals = [r for r in _records(tmp_path) if r.rule == INVALID_RULE]
    assert [r.tenant for r in refusals] == [repo.vision]
