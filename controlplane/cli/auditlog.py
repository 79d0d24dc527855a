"""Where the audit log is — the operator's choice, never the config repo's — and a CLI apply's turn in it.

`--audit-log` / `MLCP_AUDIT_LOG` name it: `cluster` (the default) is the one
log in the controller namespace that the controller and every `mlcp apply`
write and `mlcp audit` reads, wherever they run; a path is a local file, for
development. A turn in the shared log holds the leader's Lease (the
controller hands it over between passes), so nobody's records land between
this apply's intents and its outcomes, and its writes are fenced by it; so
does recording a refusal. A log that cannot be written stops apply before
the first write, with exit 1.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from controlplane.audit import Anchor, AuditError, AuditStore, Journal, JsonlStore, chains, records_for
from controlplane.audit.identity import commit_identity
from controlplane.audit.records import utc_now
from controlplane.cli.console import err, fail, markup_safe
from controlplane.errors import Refused
from controlplane.plans import Plan
from reconciler.targets import Targets

if TYPE_CHECKING:
    from reconciler.auditstore import ClusterStore
    from reconciler.backends.base import Backend, Outcome
    from reconciler.backends.kubernetes_client import KubeClient
    from reconciler.fencing import Fence

CLUSTER = "cluster"

AuditLog = Annotated[
    str | None,
    typer.Option(
        "--audit-log",
        envvar="MLCP_AUDIT_LOG",
        help="Where the audit log is: `cluster` (default: the shared log in the controller namespace) or a file "
        "path (development).",
    ),
]


Context = Annotated[str | None, typer.Option("--context", help="Kubeconfig context (for the log in the cluster).")]


@contextmanager
def clear_errors() -> Iterator[None]:
    """A log that cannot be read (missing, damaged, unreachable) as a clear message and exit 1."""
    try:
        yield
    except AuditError as exc:
        raise fail(str(exc), exc.hint) from None


def is_cluster(audit_log: str | None) -> bool:
    return audit_log is None or audit_log == CLUSTER


def cluster_client(
    targets: Targets, hint: str = "the audit log is in the cluster: pass --kubeconfig, or --audit-log PATH"
) -> KubeClient:
    """The operator's client for the controller namespace (kubeconfig flag or env, or the pod's account)."""
    from reconciler.backends.base import BackendError  # noqa: PLC0415 - cluster clients load only when used
    from reconciler.connect import lease_client  # noqa: PLC0415

    try:
        return lease_client(targets.kubeconfig, targets.context, targets.controller_namespace)
    except BackendError as exc:
        raise fail(str(exc), hint) from None


def open_store(audit_log: str | None, targets: Targets | None = None) -> AuditStore:
    """The log the operator named; `cluster` (or nothing) connects with the operator's settings."""
    if not is_cluster(audit_log):
        return JsonlStore(Path(str(audit_log)))
    from reconciler.auditstore import ClusterStore  # noqa: PLC0415 - see cluster_client

    return ClusterStore(cluster_client(targets or Targets()))


def chain_stores(store: AuditStore) -> dict[str, AuditStore]:
    """Every chain of the log whose main chain is `store`, by name (`chains.MAIN` first): with a sharded
    controller the cluster log holds one chain per shard beside the main one (reconciler.auditstore); a file log
    has only its own."""
    if isinstance(store, JsonlStore):
        return {chains.MAIN: store}
    from reconciler.auditstore import ClusterStore  # noqa: PLC0415 - see cluster_client

    if not isinstance(store, ClusterStore) or store.chain:
        return {chains.MAIN: store}
    return {chains.MAIN: store, **{name: ClusterStore(store.kube, name) for name in shard_chains(store.kube)}}


def shard_chains(kube: KubeClient) -> list[str]:
    """The shard chains of the cluster log: those whose pointer carries the chain label, and those with an anchor
    published, so that deleting or relabelling a chain's pointer does not take the chain out of sight."""
    from reconciler import anchors, auditstore  # noqa: PLC0415 - see cluster_client

    return sorted({*filter(chains.is_chain_name, auditstore.chains(kube)), *anchors.chains(kube)})


def published_anchor(store: AuditStore) -> Anchor | None:
    """The anchor the leader published for `store`, if it is the cluster store and one was published."""
    from reconciler import anchors  # noqa: PLC0415 - see cluster_client
    from reconciler.auditstore import ClusterStore  # noqa: PLC0415

    if not isinstance(store, ClusterStore):
        return None
    found = anchors.read(store.kube)
    return found if found is not None and found.log == store.location else None


@dataclass
class Turn:
    journal: Journal
    backends: dict[str, Backend]
    """The backends to write through: fenced by the Lease for the shared log."""


@contextmanager
def turn(
    audit_log: str | None, targets: Targets, plan: Plan, repo_root: Path, backends: dict[str, Backend]
) -> Iterator[Turn]:
    """Apply's turn: the Lease (shared log) or the file's lock, the log checked and reconciled, then intents,
    writes (fenced by the Lease) and outcomes; the new head published as the anchor. Exit 1 on an audit error."""
    store = open_store(audit_log, targets)
    identity = commit_identity(repo_root, plan.revision or "HEAD")  # a saved plan's commit, not the clone's HEAD
    journal: Journal | None = None
    try:
        with _lease(store) as fence, store.exclusive():
            log = store if fence is None else _fenced_log(store, fence)
            journal = Journal(log, plan, actors=identity.actors, signer=identity.signer)
            anchor = published_anchor(store) if fence is not None else None
            journal.reconcile(anchor.head if anchor is not None else None)
            journal.note(_untrusted_records(backends))
            yield Turn(journal, backends if fence is None else _fence(backends, fence))
            if fence is not None and not fence.leading():
                raise fail("the Lease was lost during apply: the writes after that were not attempted", "apply again")
            if fence is not None and journal.head is not None:
                _publish(store, journal, identity.actors)
    except AuditError as exc:
        writing = journal is not None and journal.writing
        done = "writes were stopped after the last recorded one" if writing else "nothing was applied"
        raise fail(f"the audit log {store.location} cannot be written ({exc}): {done}", exc.hint) from None


def _untrusted_records(backends: Mapping[str, Backend]) -> list[Outcome]:
    """The problems the plan found in mlcp's own records (a record store others may write, refused), recorded as
    the loop records them."""
    from reconciler.verdicts import untrusted_records  # noqa: PLC0415 - see cluster_client

    return untrusted_records([p for backend in backends.values() for p in backend.record_problems])


def _lease(store: AuditStore) -> AbstractContextManager[Fence | None]:
    """The Lease for the shared log (yields the fence it sets every write); nothing for a file log (None)."""
    from reconciler.auditstore import ClusterStore  # noqa: PLC0415 - see cluster_client

    if not isinstance(store, ClusterStore):
        return nullcontext(None)
    return _held(store)


@contextmanager
def _held(store: ClusterStore) -> Iterator[Fence | None]:
    from reconciler.applyturn import hold  # noqa: PLC0415
    from reconciler.backends.base import BackendError  # noqa: PLC0415 - see cluster_client
    from reconciler.fencing import Fence  # noqa: PLC0415

    who = f"mlcp-apply_{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    namespace = markup_safe(store.namespace)
    err.print(f"taking the Lease in {namespace} for this apply (the controller hands it over between passes)")
    with ExitStack() as held:
        try:  # only taking the Lease: an error of the apply inside the turn is not "nothing was applied"
            elector = held.enter_context(hold(store.kube, store.namespace, who))
        except BackendError as exc:
            denied = "forbidden" in str(exc).lower() or "unauthorized" in str(exc).lower()
            hint = (
                f"with the shared log, mlcp apply needs get, create, update and patch on Leases and ConfigMaps in "
                f"{store.namespace}, and list on Leases where a sharded controller ran (docs/operations.md, RBAC); "
                "or keep a log of your own: --audit-log PATH"
                if denied
                else "wait for the controller's pass to end, or check `kubectl get lease -A`"
            )
            raise fail(f"{exc}; nothing was applied", hint) from None
        yield Fence(leading=elector.may_write, remaining=elector.remaining)  # each request within the lease


def _fenced_log(store: AuditStore, fence: Fence) -> AuditStore:
    """The shared log appended only while this apply holds the Lease, each append within its time: a late append
    lands among the next holder's records (reconciler.fencing, "An audit append is a write too")."""
    from reconciler.fencing import FencedStore  # noqa: PLC0415 - see cluster_client

    return FencedStore(store, fence)


def _fence(backends: Mapping[str, Backend], fence: Fence) -> dict[str, Backend]:
    from reconciler.fencing import FencedBackend  # noqa: PLC0415 - see cluster_client

    return {name: FencedBackend(backend, fence) for name, backend in backends.items()}


def _publish(store: AuditStore, journal: Journal, actors: tuple[str, ...]) -> None:
    from reconciler import anchors  # noqa: PLC0415 - see cluster_client
    from reconciler.auditstore import ClusterStore  # noqa: PLC0415
    from reconciler.backends.base import BackendError  # noqa: PLC0415

    if not isinstance(store, ClusterStore) or journal.head is None:
        return
    anchor = Anchor(journal.head, store.location, utc_now(), "mlcp apply by " + ", ".join(actors))
    try:
        anchors.publish(store.kube, anchor)
    except BackendError as exc:
        err.print(f"[yellow]![/] the audit anchor was not published: {markup_safe(exc)}")


def record_refusal(exc: Refused, commit: str | None, audit_log: str | None, targets: Targets) -> None:
    """Record a revision that a security rule refused as a whole (nothing of it was planned or applied), under
    its commit and naming no actor, as the loop does: the refusal is no author's doing (a saved plan's file names
    no one who made it; the clone's HEAD and its author were recorded for it before, an admin's for a tampered file).

    A turn of its own, under the Lease (the shared log) or the file's lock, like apply's: the chain cannot fork
    without it (every append is a compare-and-set), but a record landing between the loop's appends of intents
    would split its run of intents, and the next writer, reading back only to the start of that run, would leave
    the earlier ones open."""
    from reconciler import governance  # noqa: PLC0415 - only apply records refusals

    store = open_store(audit_log, targets)
    outcome = governance.refusal(exc.rule, exc.message, exc.source)
    try:
        with _lease(store) as fence, store.exclusive():
            log = store if fence is None else _fenced_log(store, fence)
            log.append_many(records_for(Plan((), revision=commit), [outcome], actors=()))
    except (AuditError, OSError) as error:
        _not_recorded(store, markup_safe(error))
    except typer.Exit:  # the Lease was not handed over (said above)
        _not_recorded(store, "the Lease was not taken")


def _not_recorded(store: AuditStore, why: str) -> None:
    err.print(f"[red]error[/red]: the refusal was not recorded in {markup_safe(store.location)}: {why}")
