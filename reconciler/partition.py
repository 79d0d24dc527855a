"""Failure isolation by tenant: one tenant's broken spec or held-back changes never stop the others.

`mlcp apply` refuses a repo with any error, which is right for a person at a
terminal. The loop instead sets aside the tenants whose files have problems
(their specs are left out of the desired state, and their live objects are
left exactly as they are — never pruned, never "fixed" from a half-read
folder) and converges everything else. A problem outside `tenants/` (mlcp.yaml,
the AccessPolicy) concerns every tenant, so it still stops the whole pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from controlplane.errors import Diagnostic, InvalidConfig
from controlplane.loading.listing import is_tenant_folder
from controlplane.loading.repo import ConfigRepo, load_repo
from controlplane.plans import Action, Change, Plan
from controlplane.rendering import RenderContext, render
from controlplane.validation import validate
from reconciler import gitsource, governance
from reconciler.desired import Desired

PLATFORM = ""
"""The key of objects that belong to no tenant (the deployer ClusterRole): failures there back off together."""
_ROUNDS = 3


def tenant_of_path(path: str) -> str | None:
    """`tenants/<t>/…` → t; anything else (mlcp.yaml, policies/) → None.

    So is a folder that cannot be a tenant's (loading refuses it: `listing.is_tenant_folder`): its problems stop
    the pass, and its name, the committer's text, never becomes a tenant's key."""
    parts = path.split("/")
    if len(parts) > 2 and parts[0] == "tenants" and is_tenant_folder(parts[1]):
        return parts[1]
    return None


def key_of(change: Change) -> str:
    return change.tenant or PLATFORM


@dataclass(frozen=True)
class Partitioned:
    desired: Desired
    broken: dict[str, list[Diagnostic]]
    """Tenants left out of this pass because their files have problems, with the problems."""


def _without(repo: ConfigRepo, tenants: set[str]) -> ConfigRepo:
    return replace(
        repo,
        specs=[s for s in repo.specs if s.tenant not in tenants],
        diagnostics=[d for d in repo.diagnostics if tenant_of_path(d.path) not in tenants],
        refused={k for k in repo.refused if k.tenant not in tenants},
    )


def load(path: Path) -> Partitioned:
    """Load, validate and render `path`, leaving out tenants with problems; InvalidConfig for global ones."""
    repo, broken = isolate(load_repo(path))
    info = gitsource.inspect(repo.root, (s.source.path for s in repo.specs))
    return Partitioned(Desired(repo, render(RenderContext(repo, info.commits)), info.revision), broken)


def isolate(repo: ConfigRepo) -> tuple[ConfigRepo, dict[str, list[Diagnostic]]]:
    """Validate the whole repo and leave out the tenants with problems; InvalidConfig for global ones."""
    broken: dict[str, list[Diagnostic]] = {}
    problems = validate(repo)
    for _ in range(_ROUNDS):  # leaving a tenant out can reveal more (rarely): look again
        if not problems:
            break
        general = [d for d in problems if tenant_of_path(d.path) is None]
        if general:
            raise InvalidConfig(general)
        for diagnostic in problems:
            broken.setdefault(tenant_of_path(diagnostic.path) or PLATFORM, []).append(diagnostic)
        repo = _without(repo, set(broken))
        problems = validate(repo)
    if problems:
        raise InvalidConfig(problems)
    return repo, broken


def set_aside(repo: ConfigRepo, problems: list[Diagnostic]) -> tuple[ConfigRepo, dict[str, list[Diagnostic]]]:
    """`isolate` for problems found part by part (`validation.validate_part`): the tenants with problems are
    left out; InvalidConfig for problems outside tenant folders.

    One round is enough: a part's findings depend on its own specs and the tenant names, which include every
    tenant folder, so leaving a tenant out changes no other part's findings (as `isolate`'s later rounds might).
    """
    general = [d for d in problems if tenant_of_path(d.path) is None]
    if general:
        raise InvalidConfig(general)
    broken: dict[str, list[Diagnostic]] = {}
    for diagnostic in problems:
        broken.setdefault(tenant_of_path(diagnostic.path) or PLATFORM, []).append(diagnostic)
    return (_without(repo, set(broken)) if broken else repo), broken


def hold(plan: Plan, held: Mapping[str, str]) -> Plan:
    """The plan with `held` tenants' changes neutralised: nothing is written, their inventory is kept.

    An existing object becomes a no-op (so apply still records it in mlcp's
    inventory and a later pass may prune it); an object to create is dropped.
    A change that carries a fallback (a model alias moved outside mlcp) is
    blocked instead, so the move back to the version mlcp last set still goes
    ahead (`settling.settled`): a tenant backing off after a denial would
    otherwise keep a hand move in place for as long as it waits.
    """
    if not held:
        return plan
    changes: list[Change] = []
    for change in plan.changes:
        why = held.get(key_of(change))
        if why is None or change.action is Action.noop:
            changes.append(change)
        elif change.fallback is not None:
            changes.append(replace(change, blocked=f"held: {why}"))
        elif change.live_version is not None:
            changes.append(replace(change, action=Action.noop, reason=f"held: {why}", diffs=(), decision=None))
    return replace(plan, changes=tuple(changes))


def narrow(plan: Plan, covers: Callable[[str], bool], platform: bool) -> Plan:
    """The plan of one shard's lane: its tenants' changes, and the governance objects only in the platform lane.

    Another lane's objects are not this pass's at all: not written, not audited, and their inventory entries
    are kept as the other writer left them (`ApplyOptions.scope`). Narrow an authorized plan, never one still
    to be judged: the authorizer learns from a tenant's governance changes (who joins it) how to judge its
    other changes, and those stay in the platform lane.
    """
    kept = tuple(c for c in plan.changes if (platform if c.ref.system == governance.SYSTEM else covers(key_of(c))))
    return replace(plan, changes=kept)


def keys(changes: Iterable[Change]) -> set[str]:
    return {key_of(c) for c in changes}
