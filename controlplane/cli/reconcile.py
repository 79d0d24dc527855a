"""`mlcp reconcile`: run the reconcile loop (or one pass with --once) against a config repo branch.

Thin: parses flags, builds the loop from reconciler.* and wires signals.
The loop itself never exits on a bad input; this command exits 0 after
SIGTERM, and with --once 0 when everything converged, 1 when anything did
not, 3 when another replica holds the lease. With --shards N, the replica runs
reconciler.shardedloop instead of reconciler.loop.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from controlplane.cli import auditlog
from controlplane.cli.auditlog import AuditLog
from controlplane.cli.console import fail
from controlplane.cli.options import Context, Kubeconfig, LimitOption, Prune, TrackingUri, TrustedBase, use_limits

if TYPE_CHECKING:
    from reconciler.engine import Targets
    from reconciler.httpserver import Endpoints, HttpServer
    from reconciler.leader import LeaderElector
    from reconciler.loop import Loop, LoopConfig
    from reconciler.passes import Reconciler
    from reconciler.shardedloop import ShardedLoop

    Runner = Loop | ShardedLoop

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """'30s', '1m', '500ms', '2h' or plain seconds."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration (e.g. 30s, 1m, 500ms)")
    return float(match.group(1)) * _UNITS[match.group(2)]


Duration = Annotated[str, typer.Option(help="A duration: 30s, 1m, 500ms.")]
MAX_SHARDS = 256
"""The most shards `--shards` takes: each is a Lease every replica renews or watches every retry period (256 Leases
at 2 s is already 128 renewals a second), and a lane with its own audit chain."""
LEASE_SECONDS = (1.0, float(2**31 - 1))
"""The lease durations a Lease can say: whole seconds (one under a second was written as 0, which the API server
refuses), at most what its int32 `leaseDurationSeconds` holds."""


def _lease_duration(text: str) -> float:
    """`--lease-duration` in seconds; a usage error naming the flag when no Lease can say it."""
    seconds = parse_duration(text)
    low, high = LEASE_SECONDS
    if not low <= seconds <= high:
        raise typer.BadParameter(f"{text!r} is not between 1s and {high:.0f}s", param_hint="'--lease-duration'")
    return seconds


def _workdir(repo: str, branch: str, given: Path | None) -> Path:
    if given is not None:
        return given
    digest = hashlib.sha256(f"{repo}\0{branch}".encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "mlcp" / "reconcile" / digest


def command(
    repo: Annotated[str, typer.Option("--repo", help="Config repo: a git URL or a local path.")],
    branch: Annotated[str, typer.Option("--branch", help="Branch to follow.")] = "main",
    interval: Annotated[str, typer.Option("--interval", help="Time between passes (30s, 1m, 500ms).")] = "30s",
    resync_interval: Annotated[
        str,
        typer.Option(
            "--resync-interval",
            help="Time between full passes (every tenant planned, live state listed afresh); passes in between "
            "plan only the tenants whose specs or live objects changed.",
        ),
    ] = "5m",
    once: Annotated[bool, typer.Option("--once", help="Run one pass and exit (CI-driven setups).")] = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    tracking_uri: TrackingUri = None,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen", help="Serve /metrics, /healthz, /readyz (and /webhook, without --webhook-listen), e.g. :8080."
        ),
    ] = None,
    webhook_listen: Annotated[
        str | None, typer.Option("--webhook-listen", help="Serve /webhook on its own listener, e.g. :9443.")
    ] = None,
    http_max_body: Annotated[int, typer.Option("--http-max-body", min=1, help="Largest request body (bytes).")] = (
        1024 * 1024
    ),
    http_read_timeout: Annotated[
        str, typer.Option("--http-read-timeout", help="Longest a connection may take to send a request.")
    ] = "10s",
    http_idle_timeout: Annotated[
        str, typer.Option("--http-idle-timeout", help="Longest a connection may stay silent.")
    ] = "5s",
    http_threads: Annotated[int, typer.Option("--http-threads", min=1, help="Worker threads per listener.")] = 4,
    http_max_connections: Annotated[
        int, typer.Option("--http-max-connections", min=1, help="Open connections per listener; more wait.")
    ] = 64,
    webhook_replay_window: Annotated[
        str, typer.Option("--webhook-replay-window", help="How long a delivery is remembered (replays refused).")
    ] = "24h",
    limit: LimitOption = None,
    webhook_secret_env: Annotated[
        str | None, typer.Option("--webhook-secret-env", help="Environment variable holding the webhook secret.")
    ] = None,
    repo_token_env: Annotated[
        str | None, typer.Option("--repo-token-env", help="Environment variable holding an HTTPS token for git.")
    ] = None,
    registry_webhook_url: Annotated[
        str | None,
        typer.Option(
            "--registry-webhook-url",
            help="Where MLflow reaches this controller's /registry-webhook (e.g. https://mlcp.example/registry-webhook"
            "): mlcp registers an MLflow webhook there, so a hand-moved alias is healed within seconds. Unset, or "
            "refused by MLflow: every pass polls the aliases.",
        ),
    ] = None,
    registry_webhook_secret_env: Annotated[
        str | None,
        typer.Option(
            "--registry-webhook-secret-env",
            help="Environment variable holding the registry webhook's secret (needed with several replicas); "
            "default: one made up at start.",
        ),
    ] = None,
    audit_log: AuditLog = None,
    prune: Prune = False,
    workdir: Annotated[Path | None, typer.Option("--workdir", help="Where the repo is cloned.")] = None,
    leader_elect: Annotated[
        bool, typer.Option("--leader-elect/--no-leader-elect", help="Take a Lease before writing.")
    ] = True,
    namespace: Annotated[
        str, typer.Option("--namespace", envvar="POD_NAMESPACE", help="Namespace of the Lease.")
    ] = "mlcp-system",
    identity: Annotated[str | None, typer.Option("--identity", help="This replica's name in the Lease.")] = None,
    lease_duration: Annotated[str, typer.Option("--lease-duration", help="Lease duration.")] = "15s",
    shards: Annotated[
        int,
        typer.Option(
            "--shards",
            min=0,
            max=MAX_SHARDS,
            help="Divide the tenants into this many shards, one Lease each, among the replicas running with the same "
            "number (0: one replica converges everything; at most 256). See docs/operations.md.",
        ),
    ] = 0,
    max_backoff: Annotated[str, typer.Option("--max-backoff", help="Longest wait after failures.")] = "5m",
    watch: Annotated[
        bool, typer.Option("--watch/--no-watch", help="Keep live state from WATCH instead of listing every pass.")
    ] = True,
    trusted_base: TrustedBase = None,
    controller_namespace: Annotated[
        str | None,
        typer.Option(
            "--controller-namespace",
            envvar="MLCP_CONTROLLER_NAMESPACE",
            help="Namespace of mlcp's inventory and state (default: the Lease's --namespace).",
        ),
    ] = None,
) -> None:
    """Run the reconcile loop: converge the cluster and registry to a branch of the config repo, continuously."""
    # The loop's machinery loads only when a loop runs, keeping every other mlcp command's start-up short.
    from reconciler import engine, logs  # noqa: PLC0415
    from reconciler.backoff import Backoff, Tracker  # noqa: PLC0415
    from reconciler.fencing import Fence  # noqa: PLC0415
    from reconciler.gitsync import GitSource  # noqa: PLC0415
    from reconciler.httpserver import Endpoints, HttpSettings  # noqa: PLC0415
    from reconciler.loop import Loop as LoopRunner  # noqa: PLC0415
    from reconciler.loop import LoopConfig  # noqa: PLC0415
    from reconciler.metrics import Metrics  # noqa: PLC0415
    from reconciler.passes import Reconciler, Settings  # noqa: PLC0415

    logs.setup()
    use_limits(limit)
    _check_addresses(listen=listen, webhook_listen=webhook_listen)
    lease_seconds = _lease_duration(lease_duration)
    http = HttpSettings(
        http_max_body,
        parse_duration(http_read_timeout),
        parse_duration(http_idle_timeout),
        http_threads,
        http_max_connections,
        parse_duration(webhook_replay_window),
    )
    every = parse_duration(interval)
    cap = parse_duration(max_backoff)
    who = identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    token = os.environ.get(repo_token_env) if repo_token_env else None
    secret = os.environ.get(webhook_secret_env, "").encode() if webhook_secret_env else None
    if webhook_secret_env and not secret:
        raise fail(f"${webhook_secret_env} is empty or not set", "put the webhook secret in it, or drop the flag")
    where = _workdir(repo, branch, workdir)
    targets = engine.Targets(kubeconfig, context, tracking_uri, controller_namespace or namespace, trusted_base)
    _check_shared_log(audit_log, leader_elect, namespace, targets.controller_namespace)
    _check_shards(shards, once, audit_log)
    store = auditlog.open_store(audit_log, targets)
    metrics = Metrics()
    reconciler = Reconciler(
        GitSource(repo, branch, where / "repo", token),
        Settings(targets, prune=prune, identity=who, watch=watch and not once, resync=parse_duration(resync_interval)),
        store,
        metrics,
        Fence(),
    )
    reconciler.tracker = Tracker(Backoff(base=2.0, cap=cap))
    elector = _elector(kubeconfig, context, namespace, who, lease_seconds) if leader_elect else None
    config = LoopConfig(every, once, Backoff(base=1.0, cap=cap))
    loop: Runner = LoopRunner(reconciler, config, elector, shard_writers=_shard_writers(elector))
    if shards and elector is not None:
        loop = _sharded(reconciler, config, elector, shards, targets)
    endpoints = Endpoints(metrics, loop.healthy, loop.ready, loop.request_pass, secret, branch, http)
    servers = _listen(endpoints, listen, webhook_listen)
    if registry_webhook_url:
        _register_registry_hook(endpoints, targets, registry_webhook_url, registry_webhook_secret_env)
    logs.get().info("starting", extra={"repo": repo, "branch": branch, "identity": who, "auditLog": store.location})
    raise typer.Exit(_run(loop, servers))


def _register_registry_hook(endpoints: Endpoints, targets: Targets, url: str, secret_env: str | None) -> None:
    """Give MLflow a webhook for alias events, signed with the operator's secret (or one made up now)."""
    from reconciler import logs, registryhook  # noqa: PLC0415 - see command
    from reconciler.backends.mlflow_rest import MlflowRest  # noqa: PLC0415

    tracking_uri = targets.resolved_tracking_uri()
    if not tracking_uri:
        raise fail("--registry-webhook-url needs the registry: --tracking-uri or $MLFLOW_TRACKING_URI")
    if secret_env:
        endpoints.registry_hook.secret = os.environ.get(secret_env, "").encode()
        if not endpoints.registry_hook.secret:
            raise fail(f"${secret_env} is empty or not set", "put the registry webhook secret in it, or drop the flag")
    name = f"mlcp-{targets.controller_namespace}"
    done, message = registryhook.register(
        MlflowRest(tracking_uri, attempts=2), name, url, endpoints.registry_hook.secret
    )
    (logs.get().info if done else logs.get().warning)(message)


def _check_shared_log(audit_log: str | None, leader_elect: bool, namespace: str, controller_namespace: str) -> None:
    """The shared log's writers take turns by the Lease in the controller namespace: the loop must hold it."""
    if not auditlog.is_cluster(audit_log):
        return
    if not leader_elect:
        raise fail(
            "the shared audit log (--audit-log cluster, the default) is written in turns under the Lease",
            "drop --no-leader-elect, or keep the log in a file: --audit-log PATH",
        )
    if namespace != controller_namespace:
        raise fail(
            f"the Lease is in {namespace} but the shared audit log in {controller_namespace}: every `mlcp apply` "
            "takes its turn by the Lease in the controller namespace",
            "use one namespace for both (--namespace and --controller-namespace), or --audit-log PATH",
        )


def _check_shards(shards: int, once: bool, audit_log: str | None) -> None:
    if not shards:
        return
    if once:
        raise fail("--once runs one pass of every tenant; shards divide a running loop", "drop --shards or --once")
    if not auditlog.is_cluster(audit_log):
        raise fail(
            "with --shards each shard keeps its own audit chain in the cluster",
            "drop --audit-log PATH (the default, `cluster`, is the shared log)",
        )


def _sharded(
    reconciler: Reconciler, config: LoopConfig, elector: LeaderElector, shards: int, targets: Targets
) -> Runner:
    """The loop of one replica among several: its shard Leases beside the leader's (see reconciler.shardedloop)."""
    from dataclasses import replace  # noqa: PLC0415 - see command

    from reconciler.auditstore import ClusterStore  # noqa: PLC0415
    from reconciler.shardedloop import ShardedLoop  # noqa: PLC0415
    from reconciler.shardleases import ShardConfig, ShardSet  # noqa: PLC0415

    lease = replace(elector.config, name="")
    shard_set = ShardSet(elector.kube, ShardConfig(shards, lease))
    kube = auditlog.cluster_client(targets)
    return ShardedLoop(reconciler, config, shard_set, elector, lambda chain: ClusterStore(kube, chain))


def _elector(kubeconfig: str | None, context: str | None, namespace: str, who: str, seconds: float) -> LeaderElector:
    from reconciler.connect import lease_client  # noqa: PLC0415 - see command
    from reconciler.leader import LeaderElector  # noqa: PLC0415 - see command
    from reconciler.leases import LeaseConfig  # noqa: PLC0415 - see command

    lease = LeaseConfig(namespace, who, duration=seconds, renew_deadline=seconds * 2 / 3, retry_period=seconds / 7)
    return LeaderElector(lease_client(kubeconfig, context, namespace), lease)


def _shard_writers(elector: LeaderElector | None) -> Callable[[], list[tuple[str, str]]] | None:
    """The live shard Leases beside the leader's (an unsharded controller's term waits for them to go)."""
    if elector is None:
        return None
    from reconciler.applyturn import ShardWriters  # noqa: PLC0415 - see command

    return ShardWriters(elector.kube, elector.config.namespace).live


def _check_addresses(**flags: str | None) -> None:
    """A listener's address, checked before anything starts: a usage error naming the flag. Port 0 (a free port
    the system picks) is refused too: nobody would be told where the probes are."""
    from reconciler import httpserver  # noqa: PLC0415 - see command

    for name, given in flags.items():
        if given is None:
            continue
        try:
            _, port = httpserver.address(given)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint=f"'--{name.replace('_', '-')}'") from None
        if port == 0:
            message = f"{given!r}: port 0 is not between 1 and {httpserver.MAX_PORT}"
            raise typer.BadParameter(message, param_hint=f"'--{name.replace('_', '-')}'")


def _listen(endpoints: Endpoints, listen: str | None, webhook_listen: str | None) -> list[HttpServer]:
    """Start the listeners the flags ask for; a clear error when an address cannot be used."""
    from reconciler import httpserver  # noqa: PLC0415 - see command

    try:
        return [server.start() for server in httpserver.listeners(endpoints, listen, webhook_listen)]
    except (OSError, ValueError) as exc:
        where = " or ".join(repr(a) for a in (listen, webhook_listen) if a)
        raise fail(f"cannot listen on {where}: {exc}", "use host:port or :port, free") from None


def _run(loop: Runner, servers: list[HttpServer]) -> int:
    """Run the loop with SIGTERM/SIGINT asking it to stop cleanly; the exit code."""
    from reconciler import logs  # noqa: PLC0415 - see command

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logs.get().info("signal received; finishing the object in flight", extra={"signal": signum})
        loop.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        return loop.run()
    finally:
        for server in servers:
            server.stop()
