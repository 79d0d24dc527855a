"""The trusted base's rules about a promotion: which approval rules match it, and which alias a change moves."""

from __future__ import annotations

from controlplane.plans import Action, Change, ObjectRef, SpecKey
from controlplane.specs import AccessPolicy
from controlplane.specs.model_promotion import ModelPromotionSpec
from reconciler import promotion_rules
from reconciler.backends.movers import AliasRights, MoveRight, Standing


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


def _from_staging() -> ModelPromotionSpec:
    return ModelPromotionSpec.model_validate({"model": "vision-m", "alias": "production", "fromAlias": "staging"})


def test_an_approver_counts_only_when_the_registry_knows_a_user_of_theirs_and_none_may_move_the_alias() -> None:
    """The registry's answer only removes approvers: a user of theirs who may move `staging` (granted outside mlcp,
    an admin) bars them under any of their identities, and so does one it cannot say about, or none it knows."""
    rights = AliasRights(
        "vision-m",
        False,
        {
            "carol@x": MoveRight(Standing.may_move, "MLflow user carol@x has EDIT on registered model 'vision-m'"),
            "lead@x": MoveRight(Standing.cannot_move, ""),
            "lead-home@x": MoveRight(Standing.no_user, "MLflow knows no user named lead-home@x"),
            "dan@x": MoveRight(Standing.cannot_move, ""),
            "dan": MoveRight(Standing.may_move, "MLflow user dan is an admin (may move any alias)"),
            "erin@x": MoveRight(Standing.no_user, "MLflow knows no user named erin@x"),
        },
    )
    asked = {"carol@x": {"carol@x"}, "lead-home@x": {"lead@x", "lead-home@x"}, "dan@x": {"dan@x", "dan"}}
    verdicts = promotion_rules.registry_verdicts("staging", {**asked, "erin@x": {"erin@x"}}, rights)
    assert verdicts["lead-home@x"] is None, "her other identity is an MLflow user who cannot move staging"
    carol, dan, erin = verdicts["carol@x"], verdicts["dan@x"], verdicts["erin@x"]
    assert carol is not None and "has EDIT on registered model 'vision-m': may move `staging`" in carol
    assert dan is not None and "is an admin" in dan, "one identity that may move it bars the person"
    assert erin is not None and "knows no user of theirs (erin@x)" in erin

    unasked = promotion_rules.registry_verdicts("staging", asked, None)
    assert all(v is not None and "did not ask the registry" in v for v in unasked.values()), "no registry: fail safe"


def test_a_registry_without_auth_restricts_no_one_and_the_decision_says_so() -> None:
    movers = promotion_rules.alias_movers(
        _from_staging(), "vision", [], {"lead@x": {"lead@x"}}, AliasRights("vision-m", True, {})
    )
    assert movers is not None and movers.registry is None
    assert "runs without auth: anyone who reaches it may have moved `staging`" in movers.note
    pinned = ModelPromotionSpec.model_validate({"model": "vision-m", "alias": "production", "version": 3})
    assert promotion_rules.alias_movers(pinned, "vision", [], {"lead@x": {"lead@x"}}, None) is None
