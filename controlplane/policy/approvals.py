"""Four-eyes approvals for model promotions, as git commits.

An approval is a commit whose `Mlcp-Approve` trailer names the promotion and
the digest of its spec content, so editing the spec voids every earlier
approval. Approvals count only from distinct holders of a role that may
`approve` the promotion, and never from its authors.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from controlplane.loading.sources import LoadedSpec

TRAILER = "Mlcp-Approve"


def digest(loaded: LoadedSpec) -> str:
    """sha256 of the spec's canonical content (comments and formatting do not count)."""
    body = json.dumps(loaded.spec.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def token(loaded: LoadedSpec) -> str:
    """The trailer value approving exactly this content of this spec."""
    return f"{loaded.key}@{digest(loaded)}"


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
    required: int,
    trailers: Iterable[tuple[str, str]],
    authors: Iterable[str],
    may_approve: Iterable[str],
) -> ApprovalCount:
    """Distinct eligible approvers of this exact spec content, excluding its authors."""
    wanted = token(loaded)
    authors_set, eligible = set(authors), set(may_approve)
    approvers: list[str] = []
    ignored: list[str] = []
    for who, value in trailers:
        if value != wanted:
            if value.startswith(f"{loaded.key}@"):
                ignored.append(f"{who}: approved an earlier version of the spec")
            continue
        if who in authors_set:
            ignored.append(f"{who}: authors cannot approve their own change")
        elif who not in eligible:
            ignored.append(f"{who}: holds no role that may approve {loaded.spec.kind}")
        elif who not in approvers:
            approvers.append(who)
    return ApprovalCount(required, tuple(approvers), tuple(dict.fromkeys(ignored)))
