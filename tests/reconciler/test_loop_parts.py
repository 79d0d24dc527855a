"""Pure parts of the reconcile loop: backoff, holding tenants, convergence, state encoding, webhooks, logs,
durations."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
from dataclasses import replace

import pytest
import typer

from controlplane.cli.reconcile import parse_duration
from controlplane.plans import Action, Change, ObjectRef, Plan
from reconciler import logs
from reconciler.backoff import Backoff, Tracker
from reconciler.partition import hold, tenant_of_path
from reconciler.state import TenantRevisions
from reconciler.webhook import pushed_branch, verify


def test_backoff_grows_exponentially_with_bounded_jitter_and_a_cap() -> None:
    policy = Backoff(base=2, factor=2, cap=60, jitter=0.2)
    assert [policy.delay(n, rand=lambda: 0.5) for n in range(0, 7)] == [0, 2, 4, 8, 16, 32, 60]
    assert policy.delay(3, rand=lambda: 0.0) == pytest.approx(6.4)
    assert policy.delay(3, rand=lambda: 1.0) == pytest.approx(9.6)
    assert policy.delay(100, rand=lambda: 1.0) == 60


def test_tracker_holds_a_failing_tenant_until_its_wait_ends_or_the_revision_changes() -> None:
    tracker = Tracker(Backoff(base=10, jitter=0))
    tracker.failed("vision", "bad quota", "r1", now=0)
    assert "vision" in tracker.held("r1", now=5)
    assert tracker.held("r1", now=11) == {}
    assert tracker.held("r2", now=5) == {}, "a new commit is retried at once"
    tracker.failed("vision", "bad quota", "r1", now=11)
    assert tracker.next_retry(now=11) == 31
    assert tracker.next_retry(now=31) is None, "a wait that is over is no reason to hurry"
    assert tracker.succeeded("vision") and not tracker.succeeded("vision")


def _change(tenant: str, action: Action, live: str | None) -> Change:
    ref = ObjectRef("kubernetes", "v1", "ConfigMap", tenant, f"{tenant}-{action.value}")
    return Change(ref, action, "why", f"Quota/{tenant}/x", tenant, "f.yaml", 50, live_version=live)


def test_holding_a_tenant_keeps_its_existing_objects_as_noops_and_drops_its_creates() -> None:
    plan = Plan(
        changes=(
            _change("a", Action.create, None),
            _change("a", Action.update, "1"),
            _change("a", Action.delete, "2"),
            _change("b", Action.create, None),
        )
    )
    held = hold(plan, {"a": "invalid spec"})
    assert [(c.tenant, c.action) for c in held.changes] == [
        ("a", Action.noop),
        ("a", Action.noop),
        ("b", Action.create),
    ]
    assert hold(plan, {}) is plan


def test_holding_a_tenant_blocks_an_alias_moved_outside_mlcp_so_that_it_still_goes_back() -> None:
    moved = _change("a", Action.update, "5")
    moved = replace(moved, fallback=replace(moved, reason="moves it back to version 3"))
    [held] = hold(Plan(changes=(moved,)), {"a": "backing off after 1 failure(s)"}).changes
    assert held.action is Action.update and held.blocked == "held: backing off after 1 failure(s)"
    assert held.fallback is not None and held.fallback.blocked is None


def test_tenant_of_a_path() -> None:
    assert tenant_of_path("tenants/vision/quota.yaml") == "vision"
    assert tenant_of_path("tenants/vision") is None
    assert tenant_of_path("policies/access.yaml") is None
    assert tenant_of_path("mlcp.yaml") is None


def test_state_is_grouped_by_revision_and_round_trips() -> None:
    state = TenantRevisions({"a": "r1", "b": "r1", "": "r1", "c": "r0"})
    assert json.loads(state.encode()) == {"r0": ["c"], "r1": ["", "a", "b"]}
    assert TenantRevisions.decode(state.encode()).by_tenant == state.by_tenant
    assert state.updated({"c": "r1"}).by_tenant["c"] == "r1"


PUSH = json.dumps({"ref": "refs/heads/main", "after": "abc"}).encode()


def test_github_signatures_are_verified_over_the_body() -> None:
    good = "sha256=" + hmac.new(b"s3cret", PUSH, hashlib.sha256).hexdigest()
    assert verify({"X-Hub-Signature-256": good}, PUSH, b"s3cret") == (True, "github")
    assert not verify({"X-Hub-Signature-256": good}, PUSH + b" ", b"s3cret")[0]
    assert not verify({"X-Hub-Signature-256": good}, PUSH, b"other")[0]
    assert not verify({"X-Hub-Signature-256": good}, PUSH, None)[0], "no secret configured: refuse"
    assert not verify({}, PUSH, b"s3cret")[0]


def test_gitlab_tokens_are_compared() -> None:
    assert verify({"X-Gitlab-Token": "s3cret"}, PUSH, b"s3cret") == (True, "gitlab")
    assert not verify({"X-Gitlab-Token": "guess"}, PUSH, b"s3cret")[0]


def test_only_pushes_to_a_branch_name_one() -> None:
    assert pushed_branch({"X-GitHub-Event": "push"}, PUSH) == ("main", "push")
    assert pushed_branch({"X-Gitlab-Event": "Push Hook"}, PUSH) == ("main", "Push Hook")
    assert pushed_branch({"X-GitHub-Event": "ping"}, PUSH)[0] is None
    tag = json.dumps({"ref": "refs/tags/v1"}).encode()
    assert pushed_branch({"X-GitHub-Event": "push"}, tag)[0] is None
    assert pushed_branch({"X-GitHub-Event": "push"}, b"not json")[0] is None


def test_every_log_line_is_json_with_revision_and_tenant() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("mlcp.reconcile.test")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("outside")
    with logs.context(revision="abc"), logs.context(tenant="vision"):
        logger.warning("inside", extra={"reason": "bad"})
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["revision"] is None and first["tenant"] is None
    assert second == {**second, "revision": "abc", "tenant": "vision", "reason": "bad", "msg": "inside"}


def test_durations() -> None:
    assert parse_duration("30s") == 30
    assert parse_duration("1m") == 60
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2") == 2
    with pytest.raises(typer.BadParameter):
        parse_duration("soon")
