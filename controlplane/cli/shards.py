"""`mlcp shards`: which replica of a sharded controller holds which shard, and which shard holds a tenant.

Read-only: one LIST of the Leases in the controller namespace (the operator needs `list` on Leases there). What
it shows is the Leases' word judged by this machine's clock, for people in an incident; the replicas never act on
it (reconciler.shardstatus).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from controlplane.cli.console import Format, OutputOption, echo, fail, print_json
from controlplane.cli.options import Context, ControllerNamespace, Kubeconfig
from reconciler.targets import DEFAULT_CONTROLLER_NAMESPACE, Targets


def _age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = max(0, round((now - moment).total_seconds()))
    return f"{seconds}s ago" if seconds < 120 else f"{seconds // 60}m ago"


def command(
    tenant: Annotated[
        list[str] | None,
        typer.Option("--tenant", "-t", help="Also say which shard holds this tenant, and who holds that (repeatable)."),
    ] = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    controller_namespace: ControllerNamespace = DEFAULT_CONTROLLER_NAMESPACE,
    output: OutputOption = Format.text,
) -> None:
    """Show a sharded controller's shards: the leader, the members, each shard's holder, and tenants' shards."""
    from controlplane.cli.auditlog import cluster_client  # noqa: PLC0415 - cluster clients load only when used
    from reconciler import shardstatus  # noqa: PLC0415
    from reconciler.backends.base import BackendError  # noqa: PLC0415

    targets = Targets(kubeconfig, context, controller_namespace=controller_namespace)
    kube = cluster_client(targets, "the Leases are in the cluster: pass --kubeconfig (or set $KUBECONFIG), --context")
    now = datetime.now(UTC)
    try:
        found = shardstatus.read(kube, controller_namespace, tenant or (), now)
    except BackendError as exc:
        raise fail(
            f"cannot read the Leases in {controller_namespace}: {exc}",
            f"mlcp shards needs `list` on leases in {controller_namespace} (--controller-namespace names another)",
        ) from None
    if output is Format.json:
        print_json(found.to_dict())
        return
    if not found.sharded:
        leader = f", leader {found.leader.holder}" if found.leader and found.leader.holder else ""
        # plain text (echo shows control characters as escapes): a Lease's holder is whatever its writer put there
        echo(f"{controller_namespace}: no sharded controller (no member or shard Leases){leader}", stderr=True)
        return
    if found.shards is None:
        agreed = (
            f"members disagree on the number of shards ({', '.join(map(str, sorted(found.numbers)))}): "
            "no shard is written until they agree"
            if len(found.numbers) > 1
            else "no live member states its number of shards"
        )
    else:
        agreed = f"{found.shards} shards"
    leader = found.leader.holder if found.leader and found.leader.holder and not found.leader.expired else "none"
    echo(f"{controller_namespace}: {agreed}; leader {leader}")
    echo("members:")
    for member in found.members:
        state = "run out" if member.lease.expired else f"renewed {_age(member.lease.renewed, now)}"
        echo(f"  {member.identity}  ({member.shards or '?'} shards, {state})")
    echo(f"{'shard':>5}  holder")
    for shard, held in sorted(found.leases.items()):
        who = "-" if held.holder is None or held.expired else held.holder
        note = f"  (run out, last {held.holder})" if held.expired and held.holder else ""
        echo(f"{shard:>5}  {who}  renewed {_age(held.renewed, now)}{note}")
    for entry in found.tenants:
        echo(f"tenant {entry.tenant}: shard {entry.shard}, held by {entry.holder or 'nobody now'}")
    if tenant and not found.tenants:
        echo("the tenants' shards cannot be told until the members agree on one number of shards", stderr=True)
