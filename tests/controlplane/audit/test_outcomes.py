"""Apply outcomes become one record each: result, decision, digests and diff as docs/audit.md describes."""

from __future__ import annotations

from dataclasses import replace

from controlplane.audit import NO_POLICY_RULE, Decision, Result, Verdict, digest
from controlplane.audit.outcomes import live_projection, records_for
from controlplane.plans import Action, Change, FieldDiff, ObjectRef, Plan
from reconciler.backends.base import Outcome, Status

DESIRED = {"apiVersion": "v1", "kind": "ResourceQuota", "spec": {"hard": {"cpu": "8", "memory": "16Gi"}}}


def _change(name: str, action: Action, **extra: object) -> Change:
    ref = ObjectRef("kubernetes", "v1", "ResourceQuota", "nlp", name)
    return Change(
        ref=ref,
        action=action,
        reason="test",
        spec=f"Quota/nlp/{name}",
        tenant="nlp",
        source="tenants/nlp/quota.yaml:1",
        rank=30,
        **extra,  # type: ignore[arg-type]
    )


UPDATE = _change("update", Action.update, desired=DESIRED, diffs=(FieldDiff(("spec", "hard", "cpu"), "4", "8"),))
CREATE = _change("create", Action.create, desired=DESIRED)
DELETE = _change("delete", Action.delete)
PLAN = Plan(changes=(UPDATE, CREATE, DELETE), revision="f" * 40)


def test_one_record_per_outcome_with_actor_commit_and_default_decision() -> None:
    outcomes = [Outcome(UPDATE, Status.applied), Outcome(CREATE, Status.failed, "quota exceeded")]
    records = records_for(PLAN, outcomes, actors=["alice@example.com"])
    assert [r.result for r in records] == [Result.applied, Result.failed]
    first, second = records
    assert first.actors == ("alice@example.com",) and first.commit == "f" * 40
    assert first.decision is Verdict.allow and first.rule == NO_POLICY_RULE
    assert first.spec == "Quota/nlp/update" and first.spec_path == "tenants/nlp/quota.yaml:1"
    assert first.target["name"] == "update" and first.tenant == "nlp" and first.kind == "ResourceQuota"
    assert second.error == "quota exceeded" and second.after is None
    assert not first.sealed


def test_digests_are_of_the_managed_fields_before_and_after() -> None:
    update, create, delete = records_for(
        PLAN,
        [Outcome(UPDATE, Status.applied), Outcome(CREATE, Status.applied), Outcome(DELETE, Status.deleted)],
        actors=["a@x"],
    )
    before = {"apiVersion": "v1", "kind": "ResourceQuota", "spec": {"hard": {"cpu": "4", "memory": "16Gi"}}}
    assert live_projection(DESIRED, UPDATE.diffs) == before
    assert update.before == digest(before) and update.after == digest(DESIRED)
    assert update.diff == ({"field": "spec.hard.cpu", "old": "4", "new": "8"},)
    assert create.before is None and create.after == digest(DESIRED)
    assert create.diff == ({"field": "", "old": None, "new": DESIRED},)
    assert delete.before is None and delete.after is None and delete.result is Result.deleted and delete.error is None


def test_a_denied_change_is_recorded_as_denied_with_its_rule() -> None:
    deny = Decision(allowed=False, rule="tenant-members-only", reason="bob is not a member of nlp")
    outcomes = [Outcome(UPDATE, Status.skipped, "denied by tenant-members-only"), Outcome(CREATE, Status.applied)]
    denied, allowed = records_for(PLAN, outcomes, actors=["bob@x"], decisions={UPDATE.ref: deny})
    assert denied.result is Result.denied and denied.decision is Verdict.deny
    assert denied.rule == "tenant-members-only" and denied.reason == "bob is not a member of nlp"
    assert denied.after is None and denied.error == "denied by tenant-members-only"
    assert allowed.decision is Verdict.allow


def test_the_authorizers_decision_on_the_change_is_recorded_with_its_actors() -> None:
    decided = replace(UPDATE, decision=Decision(True, "owners-edit", "alice owns nlp", ("alice@example.com",)))
    (record,) = records_for(PLAN, [Outcome(decided, Status.applied)], actors=["head-author@example.com"])
    assert record.actors == ("alice@example.com",) and record.rule == "owners-edit"
    assert record.reason == "alice owns nlp" and record.decision is Verdict.allow


def test_a_denied_change_applied_with_the_policy_not_enforced_says_so() -> None:
    denied = replace(UPDATE, decision=Decision(False, "default-deny", "no rule matches", ("eve@example.com",)))
    (record,) = records_for(PLAN, [Outcome(denied, Status.applied)], actors=["x@x"])
    assert record.decision is Verdict.deny and record.result is Result.applied and record.actors == ("eve@example.com",)


def test_a_blocked_change_is_recorded_as_skipped_with_why() -> None:
    blocked = _change("blocked", Action.delete, blocked="prune is off")
    (record,) = records_for(PLAN, [Outcome(blocked, Status.skipped, "prune is off")], actors=["a@x"])
    assert record.result is Result.skipped and record.error == "prune is off"


def _judged(actors: tuple[str, ...]) -> Change:
    return replace(UPDATE, decision=Decision(True, "team.rules[0]", "may update", actors))


def test_a_record_says_which_actors_a_verified_signature_backs_and_which_are_claims() -> None:
    """Under requireSignedCommits the authorizer's actors are signers' principals, but a record also names the
    author field of a commit (the fallback: a heal or a vouched file names no one) and, on a refusal, the authors
    beside the signers: Mallory commits as `alice@example.com`, and the log named alice like a signer."""
    signed = replace(PLAN, meta={"identities": "verified"})
    outcomes = [
        Outcome(_judged(("alice@example.com",)), Status.applied),
        Outcome(_judged(("bob@example.com", "alice@example.com (unverified)")), Status.skipped),
        Outcome(_judged(()), Status.applied),  # e.g. rule heal: no author counts, the commit's author is named
    ]
    verified, refused, healed = records_for(signed, outcomes, actors=["alice@example.com"])
    assert verified.verified == ("alice@example.com",) and verified.attributed() == ("alice@example.com",)
    assert refused.attributed() == ("bob@example.com", "alice@example.com (unverified)")
    assert healed.verified == () and healed.attributed() == ("alice@example.com (claimed)",)
    assert verified.content()["verified"] == ["alice@example.com"] and "verified" not in healed.content()


def test_without_signatures_every_actor_is_a_claim_and_the_record_keeps_its_form() -> None:
    claimed = replace(PLAN, meta={"identities": "claimed"})
    [record] = records_for(claimed, [Outcome(_judged(("alice@example.com",)), Status.applied)], actors=["x@y"])
    assert record.verified == () and record.attributed() == ("alice@example.com (claimed)",)
    assert "verified" not in record.content(), "records without a verified actor hash as they always did"
