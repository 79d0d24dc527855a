"""`tenantbound.couple` on hand-made changes: what follows a refused Tenant change, and what does not."""

from __future__ import annotations

from controlplane.plans import Action, Change, Decision, ObjectRef, SpecKey
from reconciler import governance, tenantbound

ALLOWED = Decision(True, "tenant-developer.rules[0]", "bob may", ("bob@example.com",))
REFUSED = Decision(False, "default-deny", "no rule lets carol update Tenant", ("carol@example.com",))
MOVE = ("vision", "elsewhere")


def _change(kind: str, spec: str, namespace: str | None = "vision", action: Action = Action.update) -> Change:
    system = "mlflow" if kind == "Experiment" and namespace is None else "kubernetes"
    ref = ObjectRef(system, "v1", kind, namespace, f"{spec.lower()}-{kind.lower()}")
    return Change(ref, action, "", SpecKey(spec, "vision", "x"), "vision", f"tenants/vision/{spec}.yaml", 10)


def _membership(action: Action = Action.update) -> Change:
    ref = ObjectRef(governance.SYSTEM, governance.API_VERSION, governance.MEMBERSHIP, None, "vision")
    spec = SpecKey(governance.MEMBERSHIP, "vision", "vision")
    return Change(ref, action, "", spec, "vision", "tenants/vision/tenant.yaml", 0)


def _couple(
    changes: list[Change], decisions: list[Decision | None], people: bool = True, moved: bool = False
) -> list[Decision | None]:
    return tenantbound.couple(
        changes,
        decisions,
        {"vision"} if people else set(),
        lambda tenant: MOVE if moved and tenant == "vision" else None,
    )


def test_a_refused_membership_change_refuses_what_names_people_and_nothing_else() -> None:
    binding = _change("RoleBinding", "Notebook")
    notebook = _change("Notebook", "Notebook")
    experiment = _change("Experiment", "Experiment", namespace=None)  # MLflow's, with its owners tag
    changes = [_membership(), binding, notebook, experiment]
    out = _couple(changes, [REFUSED, ALLOWED, ALLOWED, ALLOWED])
    assert out[0] == REFUSED and out[2] == ALLOWED, "the notebook itself names nobody"
    for coupled in (out[1], out[3]):
        assert coupled is not None and not coupled.allowed and coupled.rule == "tenant-membership"
        assert coupled.actors == ("bob@example.com", "carol@example.com")
        assert "(default-deny: no rule lets carol update Tenant)" in coupled.reason


def test_people_unchanged_since_the_base_couple_nothing() -> None:
    changes = [_change("RoleBinding", "Tenant"), _change("RoleBinding", "Notebook")]
    assert _couple(changes, [REFUSED, ALLOWED], people=False) == [REFUSED, ALLOWED]


def test_an_allowed_tenant_change_couples_nothing() -> None:
    changes = [_membership(), _change("Namespace", "Tenant", None, Action.create), _change("RoleBinding", "Notebook")]
    decisions: list[Decision | None] = [ALLOWED, ALLOWED, ALLOWED]
    assert _couple(changes, decisions, moved=True) == decisions


def test_a_refused_namespace_move_refuses_every_namespaced_change_of_the_tenant() -> None:
    changes = [
        _change("Namespace", "Tenant", None, Action.create),
        _change("WorkflowTemplate", "Pipeline", "elsewhere", Action.create),
        _change("WorkflowTemplate", "Pipeline", "vision", Action.delete),
        _change("ResourceQuota", "Quota", "elsewhere", Action.create),
        _change("Experiment", "Experiment", None),
        _change("Thing", "Pipeline", "elsewhere", Action.noop),
    ]
    out = _couple(changes, [REFUSED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, None], people=False, moved=True)
    assert out[0] == REFUSED and out[4] == ALLOWED and out[5] is None
    for coupled in out[1:4]:
        assert coupled is not None and coupled.rule == "tenant-namespace"
        assert "moving from 'vision' to 'elsewhere'" in coupled.reason


def test_a_refused_delete_of_the_tenants_own_objects_is_not_a_refused_move() -> None:
    """The Tenant moved (its creates allowed); cleaning its old namespace up is refused: the workloads follow."""
    changes = [
        _change("Namespace", "Tenant", None, Action.create),
        _change("RoleBinding", "Tenant", "vision", Action.delete),
        _change("WorkflowTemplate", "Pipeline", "elsewhere", Action.create),
    ]
    out = _couple(changes, [ALLOWED, REFUSED, ALLOWED], people=False, moved=True)
    assert out == [ALLOWED, REFUSED, ALLOWED]


def test_another_tenants_refusal_couples_nothing_here() -> None:
    other = _membership()
    other = Change(other.ref, other.action, "", SpecKey(governance.MEMBERSHIP, "nlp", "nlp"), "nlp", None, 0)
    changes = [other, _change("RoleBinding", "Notebook")]
    assert _couple(changes, [REFUSED, ALLOWED]) == [REFUSED, ALLOWED]
