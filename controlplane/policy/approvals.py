"""Four-eyes approvals for model promotions, as git commits.

An approval is a commit whose `Mlcp-Approve` trailer names the promotion, the
digest of its spec content AND the model version it resolves to, so editing
the spec, or `fromAlias` moving to another version, voids every earlier
approval. Only approvals committed after the spec's last change count (the
caller reads them from git that way), so restoring old content never revives
an old approval. Approvals count only from distinct eligible approvers, and
never from anyone who is, under any identity the policy maps to the same
person, an author of the change, or, for a promotion of what `fromAlias`
names, one of the people who may have moved that alias (the registry records
no one: whoever moved it chose the version, and must not also approve it):
neither the tenant's writers, to whom mlcp grants the right, nor anyone the
registry itself says may move it, or of whom it cannot say.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from controlplane.loading.sources import LoadedSpec

TRAILER = "Mlcp-Approve"
UNASKED = "the registry was not asked whether they may move the alias"


def digest(loaded: LoadedSpec) -> str:
    """sha256 of the spec's canonical content (comments and formatting do not count)."""
    body = json.dumps(loaded.spec.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def token(loaded: LoadedSpec, version: str | None) -> str:
    """The trailer value approving exactly this content of this spec, promoting exactly this model version."""
    return f"{loaded.key}@{digest(loaded)}@version={version or 'unresolved'}"


@dataclass(frozen=True)
class Movers:
    """The people who may have chosen what a promotion promotes outside git, and what to tell them."""

    people: frozenset[str]
    why: str
    """Why their approval does not count (names the alias and who may move it)."""
    registry: Mapping[str, str | None] | None = None
    """Per approver as their approval names them: why the registry says they may have moved the alias, or cannot
    say (an approver it was not asked about counts as one it cannot say about); None: they may not move it. None
    for the whole map: the registry restricts no one (it runs without auth: `note` says so)."""
    note: str = ""
    """What the decision says about the approvals that count (e.g. that the registry enforces no permissions)."""


@dataclass(frozen=True)
class ApprovalCount:
    required: int
    approvers: tuple[str, ...]
    ignored: tuple[str, ...]
    """Approvals that did not count, each with the reason."""

    @property
    def missing(self) -> int:
        return max(0, self.required - len(self.approvers))

    def summary(self) -> str:
        who = ", ".join(self.approvers) or "none"
        text = f"{len(self.approvers)} of {self.required} approval(s) ({who})"
        return text + (f"; {self.missing} missing" if self.missing else "")


def count(
    loaded: LoadedSpec,
    version: str | None,
    required: int,
    trailers: Iterable[tuple[str, str]],
    authors: Iterable[str],
    may_approve: Iterable[str],
    person: Callable[[str], str] = lambda identity: identity,
    movers: Movers | None = None,
) -> ApprovalCount:
    """Distinct eligible approvers of this exact spec content and version, excluding its authors.

    `person` maps an identity to the person behind it: one person counts once, and never approves a change
    any of their identities authored. `movers`: who may have chosen the version outside git (moved the alias
    `fromAlias` names), who never approve it either.
    """
    wanted = token(loaded, version)
    content = wanted.rsplit("@version=", 1)[0]
    authors_set = {person(a) for a in authors}
    movers_set = {person(m) for m in movers.people} if movers is not None else set()
    eligible = set(may_approve)
    approvers: list[str] = []
    people: set[str] = set()
    ignored: list[str] = []
    for who, value in trailers:
        if value != wanted:
            if value.startswith(f"{content}@"):
                ignored.append(f"{who}: approved model version {value.rsplit('=', 1)[-1]}, not {version}")
            elif value.startswith(f"{loaded.key}@"):
                ignored.append(f"{who}: approved other content of the spec")
            continue
        if person(who) in authors_set:
            ignored.append(f"{who}: authors cannot approve their own change")
        elif movers is not None and person(who) in movers_set:
            ignored.append(f"{who}: {movers.why}")
        elif who not in eligible:
            ignored.append(f"{who}: is not an eligible approver of {loaded.key}")
        elif movers is not None and movers.registry is not None and (barred := movers.registry.get(who, UNASKED)):
            ignored.append(f"{who}: {barred}")
        elif person(who) not in people:
            approvers.append(who)
            people.add(person(who))
    return ApprovalCount(required, tuple(approvers), tuple(dict.fromkeys(ignored)))
