"""The authorizer on a real git repo and the real planner, with fake backends for the live systems.

The template repo is committed by the platform admin and recorded as applied; then tenant members,
strangers and uncommitted edits change it. Each change gets the decision the trusted base's policy gives its
file's author, a denied change is blocked with its rule and reason, and apply (through `decided`) writes only
what was allowed while the rest of the revision still goes ahead.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import cast

import git
import pytest

from controlplane.plans import Action, Change, Decision, Plan
from controlplane.policy import approvals
from reconciler import engine, trust
from reconciler.applying import apply_plan
from reconciler.authorizing import HEAL_RULE, SIGNED_RULE, TRUSTED_BASE_RULE, PlanAuthorizer
from reconciler.backends.base import ApplyOptions, Status
from reconciler.backends.movers import MoveRight, Standing
from reconciler.governance_backend import GovernanceBackend
from reconciler.settling import decided
from tests.integration import configrepo
from tests.integration.attacks import gitattack
from tests.reconciler.fakes import FakeBackend

BOB = git.Actor("Bob", "bob@example.com")
"""A member (edit) of the vision tenant, no platform role."""
MALLORY = git.Actor("Mallory", "mallory@example.com")
"""Belongs to no tenant."""


@pytest.fixture
def repo(tmp_path: Path) -> configrepo.ConfigRepo:
    return configrepo.make(tmp_path, "t")


def _plan(
    repo: configrepo.ConfigRepo, *, named: bool = False, enforce: bool = True
) -> tuple[Plan, dict[str, FakeBackend]]:
    """Plan the work tree against empty fake systems whose inventory says the initial commit was applied."""
    fakes = {s: FakeBackend(system=s, order=o, applied=repo.initial) for s, o in (("mlflow", 10), ("kubernetes", 20))}
    backends = dict(fakes)
    planned, _ = engine.make_plan(
        engine.load_desired(repo.root),
        backends,  # type: ignore[arg-type]  # make_plan adds the governance backend to it
        enforce_policy=enforce,
        targets=repo.targets(None, trusted=named),
    )
    return planned, fakes


def _of(plan: Plan, source: str) -> list[Change]:
    found = [c for c in plan.changes if c.source == source and c.action is not Action.noop]
    assert found, f"no change from {source}"
    return found


def _pipeline(repo: configrepo.ConfigRepo) -> str:
    return f"tenants/{repo.vision}/pipelines/train-detector.yaml"


def _edit_pipeline(repo: configrepo.ConfigRepo) -> None:
    repo.edit(_pipeline(repo), "vision-data:1.3.0", "vision-data:1.4.0")


def test_a_tenant_member_may_change_their_pipeline(repo: configrepo.ConfigRepo) -> None:
    _edit_pipeline(repo)
    repo.commit("newer data image", BOB)
    planned, _ = _plan(repo)
    for change in _of(planned, _pipeline(repo)):
        assert change.decision is not None and change.decision.allowed and change.blocked is None
        assert change.decision.actors == ("bob@example.com",) and "tenant-developer" in change.decision.rule


def test_a_stranger_is_denied_and_apply_writes_everything_else(repo: configrepo.ConfigRepo) -> None:
    _edit_pipeline(repo)
    repo.commit("newer data image", MALLORY)
    planned, fakes = _plan(repo)
    denied = _of(planned, _pipeline(repo))
    for change in denied:
        assert change.decision is not None and not change.decision.allowed
        assert change.decision.actors == ("mallory@example.com",)
        assert change.blocked == decided(change), "the plan shows the denial apply will give"
        assert (change.blocked or "").startswith(f"denied ({change.decision.rule}): ")
    report = apply_plan(planned, fakes, ApplyOptions(), concurrency=1, authorize=decided)
    written = {c.split(" ", 1)[1] for f in fakes.values() for c in f.calls if c.startswith("apply ")}
    assert not {c.ref.name for c in denied} & written, "nothing of a denied spec is written"
    assert f"{repo.experiment}" in written and "compute" in written, "the allowed rest of the revision goes ahead"
    skipped = {o.change.ref for o in report.outcomes if o.status is Status.skipped}
    assert {c.ref for c in denied} <= skipped


def test_a_member_may_not_change_a_platform_kind(repo: configrepo.ConfigRepo) -> None:
    quota = f"tenants/{repo.vision}/quota.yaml"
    text = repo.path(quota).read_text(encoding="utf-8")
    repo.path(quota).write_text(text.replace('requests.cpu: "', 'requests.cpu: "1'), encoding="utf-8")
    repo.commit("more CPU for us", BOB)
    planned, _ = _plan(repo)
    for change in _of(planned, quota):
        assert change.decision is not None and not change.decision.allowed
        assert "Quota" in change.decision.reason and change.blocked


def test_an_uncommitted_edit_is_vouched_for_by_nobody(repo: configrepo.ConfigRepo) -> None:
    _edit_pipeline(repo)  # not committed
    planned, _ = _plan(repo)
    for change in _of(planned, _pipeline(repo)):
        assert change.decision is not None and change.decision.rule == "uncommitted"
        assert change.blocked and "no commit vouches for them" in change.blocked


def test_the_operators_base_vouches_for_what_it_holds_and_not_for_later_commits(repo: configrepo.ConfigRepo) -> None:
    _edit_pipeline(repo)
    repo.commit("newer data image", MALLORY)
    planned, _ = _plan(repo, named=True)
    experiment = _of(planned, f"tenants/{repo.vision}/experiments/detector.yaml")
    assert all(c.decision is not None and c.decision.rule == TRUSTED_BASE_RULE for c in experiment)
    assert all(c.decision is not None and c.decision.actors == () and c.blocked is None for c in experiment)
    for change in _of(planned, _pipeline(repo)):
        assert change.decision is not None and not change.decision.allowed, "changed since the base: judged"


def test_an_unsigned_commit_counts_for_nobody_when_signatures_are_required(tmp_path: Path) -> None:
    repo = configrepo.make(tmp_path, "t", signed=True)
    _edit_pipeline(repo)
    repo.commit("newer data image", BOB)
    planned, _ = _plan(repo, named=True)
    for change in _of(planned, _pipeline(repo)):
        assert change.decision is not None and change.decision.rule == SIGNED_RULE
        assert change.decision.actors == ("bob@example.com (unverified)",) and change.blocked


def test_a_signed_commit_is_judged_as_its_signer(tmp_path: Path) -> None:
    signed = gitattack.signed_repo(tmp_path, "t")  # everyone's key in the base's allowed_signers
    repo = signed.repo
    signed.edit(_pipeline(repo), "vision-data:1.3.0", "vision-data:1.4.0")
    signed.commit("newer data image", "bob")  # a member of vision
    signed.edit(f"tenants/{repo.vision}/experiments/detector.yaml", "maxTrials: ", "maxTrials: 1")
    signed.commit("more trials", "carol")  # owns nlp, nothing in vision
    planned, _ = _plan(repo)
    for change in _of(planned, _pipeline(repo)):
        assert change.decision is not None and change.decision.allowed
        assert change.decision.actors == ("bob@example.com",)
    for change in _of(planned, f"tenants/{repo.vision}/experiments/detector.yaml"):
        assert change.decision is not None and not change.decision.allowed and change.blocked
        assert change.decision.actors == ("carol@example.com",)


def test_without_enforcement_the_decision_is_shown_and_nothing_is_blocked(repo: configrepo.ConfigRepo) -> None:
    _edit_pipeline(repo)
    repo.commit("newer data image", MALLORY)
    planned, _ = _plan(repo, enforce=False)
    for change in _of(planned, _pipeline(repo)):
        assert change.decision is not None and not change.decision.allowed and change.blocked is None


def test_a_backends_own_denial_survives_an_allowing_policy(repo: configrepo.ConfigRepo) -> None:
    """A backend's review may deny under its own rule (namespace ownership); the policy cannot overrule it."""
    planned, _ = _plan(repo)
    [namespace] = [c for c in planned.changes if c.ref.kind == "Namespace" and c.ref.name == repo.vision]
    assert namespace.decision is not None and namespace.decision.allowed
    reviewed = replace(namespace, decision=Decision(False, "namespace-ownership", "not mlcp's namespace"))
    desired = engine.load_desired(repo.root)
    base = trust.load(repo.root, repo.initial, "applied")
    authorizer = PlanAuthorizer(desired.repo, desired.revision, base.revision, base)
    [judged] = authorizer.authorize(Plan((reviewed,), revision=desired.revision)).changes
    assert judged.decision is not None and judged.decision.rule == "namespace-ownership"
    assert judged.decision.actors == ("admin@example.com",) and judged.blocked


def _self_approved_promotion(tmp_path: Path) -> tuple[configrepo.ConfigRepo, str]:
    """Bob, a vision member the admin also made a model approver, writes the production promotion, then approves
    it himself in a later commit."""
    repo = configrepo.make(tmp_path, "t", approvals=True)
    approvers = "      - risk-officer@example.com\n"
    repo.edit("policies/access.yaml", approvers, approvers + "      - bob@example.com\n")
    repo.commit("bob approves models too")
    promotion = f"tenants/{repo.vision}/promotions/detector-production.yaml"
    repo.edit(promotion, "threshold: 0.6", "threshold: 0.65")
    base = repo.commit("stricter gate", BOB)
    loaded = next(s for s in engine.load_desired(repo.root).repo.specs if s.source.path == promotion)
    trailer = f"{approvals.TRAILER}: {approvals.token(loaded, None)}"
    repo.git.index.commit(f"approve\n\n{trailer}\n", author=BOB, committer=BOB)
    return repo, base


@pytest.mark.parametrize("named", [False, True], ids=["applied-base", "operator-named-base"])
def test_a_promotions_writer_never_approves_it_even_when_the_named_base_vouches_for_the_file(
    tmp_path: Path, named: bool
) -> None:
    """Under an operator-named base the file is as in the base, so it is vouched for; the approval rule still
    applies, and its writer's own approval must not count (it did, with nobody excluded)."""
    repo, base = _self_approved_promotion(tmp_path)
    repo.initial = base
    fakes = {s: FakeBackend(system=s, order=o, applied=base) for s, o in (("mlflow", 10), ("kubernetes", 20))}
    targets = repo.targets(None, trusted=named)
    plan, _ = engine.make_plan(engine.load_desired(repo.root), dict(fakes), enforce_policy=True, targets=targets)
    [alias] = [c for c in plan.changes if c.ref.kind == "ModelAlias" and c.action is not Action.noop]
    assert alias.decision is not None and not alias.decision.allowed, f"bob approved his own promotion: {alias}"
    assert "authors cannot approve" in alias.decision.reason


ALICE = git.Actor("Alice", "alice@example.com")
"""Owner of vision: holds MANAGE on its models in MLflow, so she may move `staging` by hand."""
LEAD = git.Actor("ML Lead", "ml-lead@example.com")
"""A model approver in no tenant."""


def _promotion_alias(repo: configrepo.ConfigRepo, base: str, rights: dict[str, MoveRight] | None = None) -> Change:
    """The promotion's alias change as planned and judged; `rights`: who the registry lets move the model's aliases
    (None: it runs without auth)."""
    repo.initial = base
    fakes = {s: FakeBackend(system=s, order=o, applied=base) for s, o in (("mlflow", 10), ("kubernetes", 20))}
    fakes["mlflow"].rights = rights
    targets = repo.targets(None, trusted=False)
    plan, _ = engine.make_plan(engine.load_desired(repo.root), dict(fakes), enforce_policy=True, targets=targets)
    [alias] = [c for c in plan.changes if c.ref.kind == "ModelAlias" and c.action is not Action.noop]
    assert alias.decision is not None
    return alias


def _approve(repo: configrepo.ConfigRepo, rel: str, who: git.Actor, version: str | None = None) -> None:
    loaded = next(s for s in engine.load_desired(repo.root).repo.specs if s.source.path == rel)
    trailer = f"{approvals.TRAILER}: {approvals.token(loaded, version)}"
    repo.git.index.commit(f"approve\n\n{trailer}\n", author=who, committer=who)


@pytest.mark.parametrize("pinned", [False, True], ids=["fromAlias", "version"])
def test_whoever_may_move_the_from_alias_never_approves_the_version_it_chose(tmp_path: Path, pinned: bool) -> None:
    """Alice owns vision, so MLflow lets her move `staging` (it records no one): she moves it to the version she
    wants and approves the promotion of "whatever staging holds", which the admin wrote. One person chose and
    approved. A tenant's owners and editors may have moved the alias, so none of them approves what it names;
    with `version` pinned, its writer chose (git says who), and Alice's approval counts."""
    repo = configrepo.make(tmp_path, "t", approvals=True)
    approvers = "      - risk-officer@example.com\n"
    repo.edit("policies/access.yaml", approvers, approvers + "      - alice@example.com\n")
    repo.commit("alice approves models too")
    rel = f"tenants/{repo.vision}/promotions/detector-production.yaml"
    if pinned:
        repo.edit(rel, "fromAlias: staging", "version: 3")
    repo.edit(rel, "threshold: 0.6", "threshold: 0.65")
    base = repo.commit("stricter gate")  # the admin's: no tenant's
    _approve(repo, rel, ALICE, "3" if pinned else None)
    alias = _promotion_alias(repo, base)
    assert alias.decision is not None
    if pinned:
        assert alias.decision.allowed and alias.decision.approvers == ("alice@example.com",), alias.decision
        return
    assert not alias.decision.allowed and alias.decision.rule == "approvals", alias.decision
    assert "alice@example.com: may move `staging` in the registry" in alias.decision.reason
    _approve(repo, rel, LEAD)
    alias = _promotion_alias(repo, base)
    assert alias.decision is not None and alias.decision.allowed, alias.decision
    assert alias.decision.approvers == ("ml-lead@example.com",)


CAROL = git.Actor("Carol", "carol@example.com")
"""Owner of nlp, nothing in vision; an MLflow admin granted her EDIT on vision's model outside mlcp."""


def test_an_approver_the_registry_lets_move_the_from_alias_never_approves_what_it_names(tmp_path: Path) -> None:
    """Carol is in no tenant of the model, but MLflow lets her move `staging` (a grant made outside mlcp): her
    approval does not count, whoever mlcp's Tenant specs name; the lead, whom it lets read only, counts."""
    repo = configrepo.make(tmp_path, "t", approvals=True)
    approvers = "      - risk-officer@example.com\n"
    repo.edit("policies/access.yaml", approvers, approvers + "      - carol@example.com\n")
    repo.commit("carol approves models too")
    rel = f"tenants/{repo.vision}/promotions/detector-production.yaml"
    repo.edit(rel, "threshold: 0.6", "threshold: 0.65")
    base = repo.commit("stricter gate")
    _approve(repo, rel, CAROL)
    rights = {
        "carol@example.com": MoveRight(Standing.may_move, "MLflow user carol@example.com has EDIT on registered model"),
        "ml-lead@example.com": MoveRight(Standing.cannot_move, ""),
    }
    alias = _promotion_alias(repo, base, rights)
    assert alias.decision is not None and not alias.decision.allowed and alias.decision.rule == "approvals"
    assert "carol@example.com: MLflow user carol@example.com has EDIT on registered model" in alias.decision.reason
    assert alias.blocked
    _approve(repo, rel, LEAD)
    alias = _promotion_alias(repo, base, rights)
    assert alias.decision is not None and alias.decision.allowed, alias.decision
    assert alias.decision.approvers == ("ml-lead@example.com",)
    assert "without auth" not in alias.decision.reason
    alias = _promotion_alias(repo, base)  # the registry runs without auth: it restricts no one, and it is said
    assert alias.decision is not None and alias.decision.allowed
    assert "the registry runs without auth: anyone who reaches it may have moved `staging`" in alias.decision.reason


def test_without_a_registry_to_ask_no_approval_of_a_from_alias_promotion_counts(tmp_path: Path) -> None:
    repo = configrepo.make(tmp_path, "t", approvals=True)
    rel = f"tenants/{repo.vision}/promotions/detector-production.yaml"
    repo.edit(rel, "threshold: 0.6", "threshold: 0.65")
    base = repo.commit("stricter gate")
    _approve(repo, rel, LEAD)
    planned = _judged_from(repo, base, frozenset())  # no registry handed to the authorizer
    [alias] = [c for c in planned.changes if c.ref.kind == "ModelAlias" and c.action is not Action.noop]
    assert alias.decision is not None and not alias.decision.allowed, alias.decision
    assert "did not ask the registry who may move `staging`" in alias.decision.reason


def _judged_from(repo: configrepo.ConfigRepo, base: str, converged: frozenset[str]) -> Plan:
    """The work tree planned, then judged as the loop judges a tenant from its own applied revision `base`."""
    fakes = {s: FakeBackend(system=s, order=o, applied=repo.initial) for s, o in (("mlflow", 10), ("kubernetes", 20))}
    backends = dict(fakes)
    desired = engine.load_desired(repo.root)
    planned, _ = engine.make_plan(desired, backends, authorize=False, targets=repo.targets(None, trusted=False))  # type: ignore[arg-type]
    trusted = cast(GovernanceBackend, backends["governance"]).base
    return PlanAuthorizer(desired.repo, desired.revision, base, trusted, converged=converged).authorize(planned)


def test_a_change_no_commit_asked_for_since_its_tenant_converged_heals_whoever_wrote_it(
    repo: configrepo.ConfigRepo,
) -> None:
    """Live state differs from what vision converged to at `applied` (here: nothing is live), and no commit since
    touched vision, policies/ or mlcp.yaml: what is written is what was authorized then, so the file's last
    writer (a stranger by today's rules) is not asked again; vision's promotion, which follows the registry, is."""
    _edit_pipeline(repo)
    applied = repo.commit("newer data image", MALLORY)
    planned = _judged_from(repo, applied, frozenset({repo.vision}))
    for change in _of(planned, _pipeline(repo)):
        assert change.decision is not None and change.decision.allowed and change.decision.rule == HEAL_RULE
        assert change.drift is not None and applied[:12] in change.drift and change.blocked is None
    promotions = [c for c in planned.changes if c.spec and c.spec.kind == "ModelPromotion" and c.decision]
    assert promotions and all(c.decision and c.decision.rule != HEAL_RULE for c in promotions)

    elsewhere = _judged_from(repo, applied, frozenset({repo.nlp}))  # vision did not converge there
    assert all(c.decision and not c.decision.allowed for c in _of(elsewhere, _pipeline(repo)))


@pytest.mark.parametrize("touched", ["tenants/{vision}/quota.yaml", "policies/access.yaml", "mlcp.yaml"])
def test_a_commit_since_to_what_the_tenant_renders_from_makes_it_a_new_change(
    repo: configrepo.ConfigRepo, touched: str
) -> None:
    _edit_pipeline(repo)
    applied = repo.commit("newer data image", MALLORY)
    path = repo.path(touched.format(vision=repo.vision))
    path.write_text(path.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")
    repo.commit("a comment")  # the admin's
    for change in _of(_judged_from(repo, applied, frozenset({repo.vision})), _pipeline(repo)):
        assert change.decision is not None and not change.decision.allowed, change.decision
        assert change.decision.actors == ("mallory@example.com",)
