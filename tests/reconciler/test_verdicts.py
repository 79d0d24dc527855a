"""The verdicts on a pass's outcomes (reconciler.verdicts)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import cast

from controlplane.plans import Action, Change, Decision, ObjectRef, Plan
from reconciler.authorizing import RESTORE_RULE
from reconciler.backends.base import Outcome, Status
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.backoff import Tracker
from reconciler.partition import Partitioned
from reconciler.verdicts import PassResult, Share, judge, unconverged


def test_a_move_back_in_place_of_a_denied_promotion_leaves_the_tenant_unconverged() -> None:
    ref = ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, "m@production")
    change = Change(
        ref, Action.update, "drift: …; moves it back to version 1 (denied (approvals))", None, "v", None, 65
    )
    allowed = Decision(True, "tenant-developer.rules[0]", "ok")
    assert unconverged(Outcome(replace(change, decision=allowed), Status.applied, "moved")) is None
    denied = replace(change, decision=Decision(False, "approvals", "0 of 1"))
    assert unconverged(Outcome(denied, Status.skipped, "0 of 1")) == "denied: 0 of 1"
    assert unconverged(Outcome(change, Status.failed, "conflict")) == f"{ref}: conflict"
    restored = replace(change, decision=Decision(True, RESTORE_RULE, "the version mlcp last set"))
    why = unconverged(Outcome(restored, Status.applied, "moved from version 2 to version 1"))
    assert why == f"{ref}: {change.reason}", "written, yet git's promotion is still denied"


def test_only_a_tenants_own_lane_ends_its_backoff() -> None:
    """The platform lane plans vision's people (a no-op) while vision backs off after its shard's lane failed it:
    that says nothing of vision's own changes, so vision keeps backing off; its shard's lane may end it."""
    people = ObjectRef("governance", "mlcp.dev/v1alpha1", "TenantMembership", None, "vision")
    noop = Change(people, Action.noop, "same as the trusted base", None, "vision", None, 0)
    tracker = Tracker()
    tracker.failed("vision", "denied: an image", "r1", 0.0)
    parts = cast(Partitioned, SimpleNamespace(desired=SimpleNamespace(repo=SimpleNamespace(specs=[])), broken={}))
    kube = cast(KubeClient, None)  # no failure to check the API server for
    platform = PassResult()
    judge(Plan((noop,), revision="r1"), platform, [], kube, tracker, 1.0, Share(lambda key: not key, True), parts)
    assert "vision" in tracker.entries and not platform.recovered
    shard = PassResult()
    judge(Plan((noop,), revision="r1"), shard, [], kube, tracker, 1.0, Share(lambda key: key == "vision", False), parts)
    assert "vision" not in tracker.entries and shard.recovered == {"vision"}
