"""What the Kubernetes backend would refuse before sending anything is blocked in the plan, in apply's words.

Alice moves vision into nlp's namespace; the plan carried vision's RoleBinding and quota there as denied by the
authorizer (or, were they allowed, as nothing at all), and only apply said that mlcp's own identity would not write
them there and why. The plan now says it, text and JSON, with the very text apply fails the change with.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from controlplane.cli import plan_view
from controlplane.loading.repo import ConfigRepo
from controlplane.plans import Action, Change, ObjectRef, Plan, SpecKey
from reconciler import governance
from reconciler.backends.base import ApplyOptions, Backend, Status
from reconciler.backends.kubernetes import KubernetesBackend
from reconciler.confinement import confined
from reconciler.trust import TrustedBase
from tests.reconciler.test_impersonation import ALLOWED, BASE, DENIED, _backend, _governance, _platform, _tenant

MISPLACED = (
    "is in namespace 'team-nlp', but the trusted base and the plan's allowed Tenant changes give tenant 'vision'"
)
DENIAL = "denied (tenant-namespace): vision's namespace is the Tenant's to change"


def _kube() -> KubernetesBackend:
    kube = _backend()
    kube.judge_by(TrustedBase("b" * 40, "applied", ConfigRepo(Path()), derived_tenants=BASE))
    kube.entrust(governance.allowed_tenants(_governance(_tenant("vision", "team-nlp", "alice@x"), DENIED)))
    return kube


def _plan() -> Plan:
    quota = _platform("vision", "team-nlp", "ResourceQuota", spec="Quota")
    pipeline = ObjectRef("kubernetes", "argoproj.io/v1alpha1", "WorkflowTemplate", "team-vision", "p")
    return Plan(
        changes=(
            _platform("vision", "team-nlp"),  # allowed (a bug let it through), and nothing said why apply fails it
            replace(quota, decision=DENIED, blocked=DENIAL),  # denied: why the layer beneath refuses it too
            _platform("vision", "team-vision"),  # vision's own: written
            replace(_platform("vision", "team-nlp"), action=Action.noop),  # writes nothing
            Change(
                pipeline, Action.update, "", SpecKey("Pipeline", "vision", "p"), "vision", None, 50, decision=ALLOWED
            ),
        )
    )


def test_the_plan_blocks_what_apply_would_refuse_saying_where_and_why() -> None:
    kube = _kube()
    backends: dict[str, Backend] = {"kubernetes": kube}
    misplaced, denied, own, noop, workload = confined(_plan(), backends).changes
    assert misplaced.blocked is not None and MISPLACED in misplaced.blocked
    assert "the namespace 'team-vision'" in misplaced.blocked and "Tenant change its policy allows" in misplaced.blocked
    assert denied.blocked is not None and denied.blocked.startswith(DENIAL + "; not written:"), denied.blocked
    assert MISPLACED in denied.blocked
    assert own.blocked is None and noop.blocked is None and workload.blocked is None

    applied = kube.apply(_plan().changes[0], ApplyOptions())
    assert applied.status is Status.failed and applied.message == misplaced.blocked, "the same words, one place"


def test_the_reason_is_in_the_plans_text_and_json_and_said_once() -> None:
    backends: dict[str, Backend] = {"kubernetes": _kube()}
    once = confined(_plan(), backends)
    twice = confined(once, backends)
    assert twice.changes == once.changes
    text = "\n".join(line for line, _ in plan_view.text_lines(once))
    assert f"    blocked: not written: RoleBinding/team-nlp/mlcp-admin of tenant 'vision' {MISPLACED}" in text, text
    shown = json.loads(b"".join(plan_view.json_chunks(once)))
    blocks = [c["blocked"] for c in shown["changes"]]
    assert sum(1 for b in blocks if b and MISPLACED in b) == 2 and blocks[2] is None


def test_a_plan_nothing_refuses_is_the_same_plan() -> None:
    plan = Plan(changes=(_platform("vision", "team-vision"),))
    backends: dict[str, Backend] = {"kubernetes": _kube()}
    assert confined(plan, backends) is plan
    assert confined(plan, {}) is plan, "a system without a backend here is left to apply"
