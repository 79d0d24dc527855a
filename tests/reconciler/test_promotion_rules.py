"""The trusted base's rules about a promotion: which approval rules match it, and which alias a change moves."""

from __future__ import annotations

from controlplane.plans import Action, Change, ObjectRef, SpecKey
from controlplane.specs import AccessPolicy
from reconciler import promotion_rules


def _policy(*approvals: dict[str, object]) -> AccessPolicy:
    return AccessPolicy.model_validate(
        {
            "apiVersion": "mlcp.dev/v1alpha1",
            "kind": "AccessPolicy",
            "metadata": {"name": "access"},
            "spec": {"roles": [{"name": "r", "rules": [{"actions": ["*"], "kinds": ["*"]}]}], "approvals": approvals},
        }
    )


def test_an_approval_rule_names_tenants_by_pattern_as_it_names_models() -> None:
    """`tenants: [vision-*]` was compared as a name: it matched no tenant, and the promotions it was written for
    needed no approval at all (the freeze windows' tenants, and every rule's models, are patterns)."""
    policy = _policy({"tenants": ["vision-*"], "required": 2}, {"tenants": ["nlp"], "required": 1})
    assert [r.required for r in promotion_rules.matching(policy, "vision-eu", "vision-eu-m", "production")] == [2]
    assert [r.required for r in promotion_rules.matching(policy, "nlp", "nlp-m", "production")] == [1]
    assert promotion_rules.matching(policy, "vision", "vision-m", "production") == []
    assert promotion_rules.matching(policy, None, "vision-m", "production") == []
    assert len(promotion_rules.matching(_policy({}), "anyone", "anyone-m", "production")) == 1, "default: `*`"


def test_an_alias_change_moves_its_own_alias_whatever_its_spec_now_promotes() -> None:
    ref = ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, "vision-m@production")
    gone = Change(ref, Action.delete, "", SpecKey("ModelPromotion", "vision", "p"), "vision", None, 65)
    assert promotion_rules.alias_of(gone, None) == ("vision-m", "production")
    service = ObjectRef("kubernetes", "serving.kserve.io/v1beta1", "InferenceService", "vision", "p")
    assert promotion_rules.alias_of(Change(service, Action.delete, "", None, "vision", None, 90), None) == (None, None)
