"""A pass that plans one tenant does work for that tenant, not for every tenant (issue 16: 10,000 tenants).

Whole loop passes (the real Kubernetes backend, its inventory, the loop's state and audit) run on an
in-memory client (tests/reconciler/memkube.py) at two sizes, and count the per-object work that used to grow
with N: inventory entries serialized, inventory ConfigMaps written, desired objects the scope walks, inventory
records indexed, objects put in order. After a commit to one tenant, and in a no-op pass, each count is the same
at both sizes. Counts, not timings: the machine's load never makes this flaky, and a regression names what grew.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controlplane import inventory, validation
from controlplane.audit import JsonlStore
from controlplane.inventory import Inventory
from controlplane.loading.sources import LoadedSpec
from controlplane.plans import Action, LiveObject
from devenv import tenantrepo
from reconciler import (
    baselisting,
    engine,
    governance,
    governance_backend,
    identity,
    incremental,
    partition,
    planscope,
    refindex,
    selection,
)
from reconciler.backends import kubernetes_inventory, kubernetes_pieces
from reconciler.backends.kubernetes import KubernetesBackend
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.gitsync import GitSource
from reconciler.passes import Reconciler, Settings
from reconciler.verdicts import PassResult
from tests.reconciler.memkube import MemoryCache, MemoryKube

NAMESPACE = "mlcp-cost"


def _count(monkeypatch: pytest.MonkeyPatch, counts: Counter[str]) -> None:
    """Count calls of the functions that run once per object (or per record) they handle."""

    def wrap(owner: Any, name: str, size: Callable[..., int] | None = None) -> None:
        original = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            counts[name] += size(*args, **kwargs) if size else 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)

    wrap(kubernetes_inventory, "_entry")  # inventory entries serialized
    wrap(kubernetes_pieces.PieceStore, "_put")  # inventory ConfigMaps written (the index and changed pieces)
    wrap(kubernetes_pieces, "_piece_of_record")  # inventory objects placed in a piece
    wrap(inventory, "_tenant_key")  # inventory records indexed by tenant
    wrap(incremental, "_order")  # desired objects put in order
    wrap(selection, "scope", lambda _sel, desired, *_a, **_k: len(desired))  # desired objects the scope walks
    wrap(baselisting, "is_governance")  # governance paths of a trusted base listed
    wrap(baselisting, "changed_tenant_files", lambda before, after: len(before) + len(after))  # listings compared
    wrap(governance, "tenant_objects")  # tenants' people and namespaces rendered as governance objects
    wrap(governance_backend, "InventoryRecord")  # the trusted base's records made
    wrap(validation, "validate_part", lambda part, _names: len(part.specs))  # specs validated, by slice
    wrap(partition, "validate", lambda repo: len(repo.specs))  # specs validated, the whole repo at once
    wrap(refindex.RefIndex, "_add", lambda _index, objects: len(objects))  # desired objects indexed by ref
    wrap(Inventory, "updated", _walked)  # inventoried objects an inventory update is handed or walks
    wrap(selection.Unplanned, "__getitem__")  # a system's unplanned objects copied out of its inventory
    wrap(Inventory, "merged")  # every system's inventory merged into one (a whole plan's)
    wrap(planscope, "_following", len)  # desired objects asked whether they follow the registry
    key = LoadedSpec.key  # specs keyed (an index by key of every spec made a key for each)
    monkeypatch.setattr(LoadedSpec, "key", property(lambda s: counts.update(["key"]) or key.fget(s)))  # type: ignore[attr-defined]
    wrap(identity.History, "uncommitted")  # `git status` of the work tree (every folder: O(N) for git)


def _walked(inventory: Inventory, refs: Any, _claims: Any, only: Any = None) -> int:
    """The objects `Inventory.updated` is handed, with those it compares them with (all of them, or `only`)."""
    return len(refs) + (len(inventory.refs) if only is None else len(only))


def _reconciler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tenants: int) -> tuple[Reconciler, Path, MemoryKube]:
    root = tmp_path / f"repo-{tenants}"
    tenantrepo.make_repo(root, "t", tenants, NAMESPACE)
    kube = MemoryKube(NAMESPACE)
    monkeypatch.setattr(KubeClient, "connect", classmethod(lambda _cls, _targets: kube))

    def watch(backend: KubernetesBackend) -> MemoryCache:
        backend.cache = kube.cache()
        return backend.cache

    monkeypatch.setattr(KubernetesBackend, "watch", watch)
    targets = engine.Targets(
        "/nowhere", controller_namespace=NAMESPACE, trusted_base=tenantrepo.git(root, "rev-parse", "HEAD")
    )
    rec = Reconciler(
        GitSource(str(root), "main", tmp_path / f"clone-{tenants}"),
        Settings(targets, events=False, watch=True, resync=1e9, prune=True),
        JsonlStore(tmp_path / f"audit-{tenants}.jsonl"),
    )
    return rec, root, kube


def _passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tenants: int) -> dict[str, Counter[str]]:
    """First pass, a no-op pass, a commit to one tenant, and the pass after it (judged by the commit just
    applied: the next trusted base); what each of the last three counted."""
    rec, root, _ = _reconciler(tmp_path, monkeypatch, tenants)
    counts: dict[str, Counter[str]] = {"noop": Counter(), "commit": Counter(), "next": Counter()}

    def run(counter: Counter[str] | None) -> PassResult:
        with monkeypatch.context() as patch:
            if counter is not None:
                _count(patch, counter)
            result = rec.run_pass()
        assert result.error is None and not result.failed, (result.error, result.failed)
        return result

    assert len(run(None).outcomes) > 5 * tenants, "the first pass writes every tenant's objects"
    run(None)  # the first partial pass (indexes built once per inventory read)
    assert not run(counts["noop"]).outcomes
    changed = tenantrepo.tenant_name("t", 1)
    tenant = root / "tenants" / changed / "tenant.yaml"
    text = tenant.read_text().replace("role: edit", "role: view")  # its `mlcp-edit` binding goes: declared by whom?
    tenant.write_text(text + "    - name: new@example.com\n      role: view\n")
    tenantrepo.git(root, "commit", "-qam", f"{changed}: a new member, and a member's role")
    written = run(counts["commit"]).outcomes
    assert written and {o.change.tenant for o in written} == {changed}
    assert not run(counts["next"]).outcomes
    rec.close()
    return counts


def test_a_one_tenant_pass_does_the_same_work_at_four_times_the_tenants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = _passes(tmp_path, monkeypatch, 8)
    large = _passes(tmp_path, monkeypatch, 32)
    assert large["noop"] == small["noop"], "a no-op pass"
    assert large["next"] == small["next"], "the pass after a commit: its next trusted base derived, not reloaded"
    assert small["next"]["tenant_objects"] > 0, "the next base's work was counted"
    assert small["commit"]["_entry"] > 0 and small["commit"]["scope"] > 0, "the commit's work was counted"
    assert small["commit"]["validate_part"] > 0, "the commit's specs were validated (its tenant's slice)"
    assert not small["commit"]["uncommitted"], "the loop's own clean checkout needs no `git status`"
    assert small["commit"]["_add"] > 0, "a deleted binding was looked up by ref (the index derived, not rebuilt)"
    assert small["commit"]["_put"] == 4, "the inventory: the index and the tenant's piece, before the create and after"
    assert small["commit"]["updated"] > 0, "the inventory's updates were counted"
    assert not small["commit"]["__getitem__"], "no unplanned objects copied: the backends keep what they are not shown"
    assert not small["commit"]["merged"], "the plan merged the records of the objects it planned, not every one"
    assert small["commit"]["_following"] > 0, "the changed tenant's objects were asked whether they follow the registry"
    for work, count in small["commit"].items():  # one tenant changed (a create: the inventory written twice)
        assert large["commit"][work] == count or (work == "_order" and large["commit"][work] < 2 * count), (
            f"{work}: {count} at 8 tenants, {large['commit'][work]} at 32 (objects put in order take a binary "
            "search each: log N)"
        )


def test_a_live_change_to_a_tenant_not_selected_is_planned_with_its_desired_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass plans the selected tenants' objects from an index; an object the watch saw change, of any tenant,
    is planned too, against its desired state: healed, never taken for a stranger to delete."""
    rec, _, _ = _reconciler(tmp_path, monkeypatch, 4)
    assert rec.run_pass().converged and rec.run_pass().converged
    cache = rec.backends["kubernetes"].cache  # type: ignore[attr-defined]
    ref = next(r for r in cache.objects if r.kind == "NetworkPolicy" and r.namespace == tenantrepo.tenant_name("t", 2))
    edited = cache.objects[ref].manifest | {"spec": {"podSelector": {}, "policyTypes": ["Egress"]}}
    cache.event(LiveObject(ref, edited, "999"))
    result = rec.run_pass()
    assert result.converged and result.selection is not None and not result.selection.full
    assert [(o.change.ref, o.change.action) for o in result.outcomes] == [(ref, Action.update)]
    rec.close()
