"""The verdicts on a pass's outcomes (reconciler.verdicts)."""

from __future__ import annotations

from dataclasses import replace

from controlplane.plans import Action, Change, Decision, ObjectRef
from reconciler.authorizing import RESTORE_RULE
from reconciler.backends.base import Outcome, Status
from reconciler.verdicts import unconverged


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
