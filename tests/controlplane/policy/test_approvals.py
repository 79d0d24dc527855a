"""Counting approvals: exact content, distinct eligible approvers, never the author."""

from __future__ import annotations

from pathlib import Path

from controlplane.loading.repo import load_repo
from controlplane.loading.sources import LoadedSpec
from controlplane.policy import approvals

TEMPLATE = Path(__file__).resolve().parents[3] / "repo_template"


def _promotion() -> LoadedSpec:
    return load_repo(TEMPLATE).of_kind("ModelPromotion")[0]


def test_digest_ignores_formatting_but_not_content(tmp_path: Path) -> None:
    loaded = _promotion()
    same = loaded.spec.model_copy()
    assert approvals.digest(loaded) == approvals.digest(LoadedSpec(same, loaded.tenant, loaded.source, {}))
    changed = loaded.spec.model_copy(update={"spec": loaded.spec.spec.model_copy(update={"alias": "prod"})})  # type: ignore[attr-defined]
    assert approvals.digest(loaded) != approvals.digest(LoadedSpec(changed, loaded.tenant, loaded.source, {}))


def test_count_rules() -> None:
    loaded = _promotion()
    token = approvals.token(loaded, "7")
    stale = f"{loaded.key}@sha256:{'0' * 64}@version=7"
    other_version = approvals.token(loaded, "6")
    trailers = [
        ("lead@x", token),
        ("lead@x", token),  # twice: one approval
        ("author@x", token),  # the author
        ("intern@x", token),  # not an approver
        ("risk@x", stale),  # approved other content
        ("risk3@x", other_version),  # approved the same content resolving to another model version
        ("risk2@x", token),
    ]
    result = approvals.count(
        loaded,
        "7",
        3,
        trailers,
        authors=["author@x"],
        may_approve=["lead@x", "risk@x", "risk2@x", "risk3@x", "author@x"],
    )
    assert result.approvers == ("lead@x", "risk2@x")
    assert result.missing == 1
    assert any("author@x" in i for i in result.ignored)
    assert any("intern@x" in i for i in result.ignored)
    assert any("risk@x: approved other content" in i for i in result.ignored)
    assert any("risk3@x: approved model version 6, not 7" in i for i in result.ignored)
    assert "2 of 3" in result.summary()


def test_one_person_never_approves_their_own_change_under_another_identity() -> None:
    loaded = _promotion()
    token = approvals.token(loaded, "3")
    people = {"alice@corp.example": "alice", "alice@home.example": "alice", "lead@x": "lead", "lead2@x": "lead"}
    trailers = [("alice@home.example", token), ("lead@x", token), ("lead2@x", token)]
    result = approvals.count(
        loaded,
        "3",
        2,
        trailers,
        authors=["alice@corp.example"],
        may_approve=["alice@home.example", "lead@x", "lead2@x"],
        person=lambda identity: people.get(identity, identity),
    )
    assert result.approvers == ("lead@x",)  # lead2@x is the same person as lead@x: one approval
    assert result.missing == 1
    assert any("alice@home.example: authors cannot approve" in i for i in result.ignored)


def test_whoever_may_have_moved_the_from_alias_never_approves_under_another_identity() -> None:
    """Alice (a tenant owner, so she may move `staging`) approves as her home address, which the policy's
    `people` maps to her: still one of the people who may have chosen the version."""
    loaded = _promotion()
    token = approvals.token(loaded, "3")
    people = {"alice@corp.example": "alice", "alice@home.example": "alice"}
    movers = approvals.Movers(frozenset({"alice@corp.example"}), "may move `staging`")
    result = approvals.count(
        loaded,
        "3",
        1,
        [("alice@home.example", token), ("lead@x", token)],
        authors=["admin@x"],
        may_approve=["alice@home.example", "lead@x"],
        person=lambda identity: people.get(identity, identity),
        movers=movers,
    )
    assert result.approvers == ("lead@x",) and not result.missing
    assert "alice@home.example: may move `staging`" in result.ignored


def test_an_approver_the_registry_bars_or_was_not_asked_about_never_counts() -> None:
    """The registry's verdicts (per approver as the trailer names them) only remove approvers; one it was not
    asked about is barred too (fail safe), and an approver who is not eligible is told that first."""
    loaded = _promotion()
    token = approvals.token(loaded, "3")
    registry = {"carol@x": "MLflow user carol@x has EDIT on registered model 'm': may move `staging`", "lead@x": None}
    movers = approvals.Movers(frozenset(), "may move `staging`", registry)
    trailers = [("carol@x", token), ("lead@x", token), ("erin@x", token), ("mallory@x", token)]
    result = approvals.count(
        loaded, "3", 2, trailers, authors=[], may_approve=["carol@x", "lead@x", "erin@x"], movers=movers
    )
    assert result.approvers == ("lead@x",) and result.missing == 1
    assert "carol@x: MLflow user carol@x has EDIT on registered model 'm': may move `staging`" in result.ignored
    assert f"erin@x: {approvals.UNASKED}" in result.ignored
    assert any(i.startswith("mallory@x: is not an eligible approver") for i in result.ignored)
