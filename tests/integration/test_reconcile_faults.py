"""The reconcile loop under faults: the API server dies mid-apply, two replicas race, SIGTERM mid-pass."""

from __future__ import annotations

import collections
import json
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controlplane.audit import JsonlStore
from devenv import testing
from reconciler.backends.base import Outcome, Status
from reconciler.passes import Reconciler
from reconciler.verdicts import PassResult
from tests.integration import configrepo
from tests.integration.attacks import gitattack
from tests.integration.mlflow_rest import MlflowRest
from tests.integration.reconcile_support import mlcp, reconciler, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path, prefix: str) -> configrepo.ConfigRepo:
    return configrepo.make(tmp_path, prefix)


def _add_tenants(repo: configrepo.ConfigRepo, count: int) -> list[str]:
    return [repo.add_tenant(f"t{i:02d}") for i in range(count)]


def _holder(k8s_admin: client.ApiClient, namespace: str) -> str | None:
    try:
        lease = client.CoordinationV1Api(k8s_admin).read_namespaced_lease("mlcp-reconciler", namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return lease.spec.holder_identity  # type: ignore[no-any-return]


def _applied(path: Path) -> collections.Counter[str]:
    """How many successful writes the audit log records per object.

    Governance objects are left out: accepting a change to the rules writes nothing, and an interrupted pass
    accepts it again until its revision is recorded as the trusted base.
    """
    store = JsonlStore(path)
    if not path.exists():
        return collections.Counter()
    assert store.verify().ok
    return collections.Counter(
        f"{r.target['kind']}/{r.target['namespace']}/{r.target['name']}"
        for r in store.records()
        if r.result.value in ("applied", "deleted") and r.target["system"] != "governance"
    )


def _pass_with_outage(rec: Reconciler, env: Any, observer: Callable[[Outcome], None]) -> PassResult:
    """One pass during which `observer` may stop the API server; it is running again afterwards, whatever happened
    (and what depends on it: Argo's controller is restarted, as it does not recover from an outage)."""
    rec.observers.append(observer)
    try:
        return rec.run_pass()
    finally:
        rec.observers.clear()
        env.revive_api_server(90)


def test_api_server_killed_mid_apply_converges_next_pass_without_lost_or_duplicate_records(
    repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path, devenv: testing.TestTarget
) -> None:
    if devenv.env is None or devenv.env.kube is None:
        pytest.skip("needs the local control plane: an existing cluster's API server cannot be stopped")
    kube = devenv.env.kube
    _add_tenants(repo, 6)
    repo.commit("six more tenants")
    rec = reconciler(repo, kubeconfig, tmp_path)
    seen: list[Outcome] = []

    def kill_after_a_few(outcome: Outcome) -> None:
        seen.append(outcome)
        if len(seen) == 12:
            kube.apiserver.stop()

    first = _pass_with_outage(rec, devenv.env, kill_after_a_few)
    assert first.error and first.stage == "apply" and not first.failed, "an outage is the loop's, not a tenant's"
    attempted = [o for o in first.outcomes if o.status in (Status.applied, Status.failed)]
    records = list(JsonlStore(tmp_path / "audit.jsonl").records())
    intents = [r for r in records if r.is_intent]
    assert {r.intent for r in records if r.intent} <= {r.seq for r in intents}, "outcomes name their intents"
    closed = [r for r in records if r.intent and r.result.value in ("applied", "failed")]
    assert len(closed) == len(attempted), "every attempted write has exactly one outcome record"

    second = rec.run_pass()
    if second.error:  # a connection the restart broke is retried once, as the loop would
        second = rec.run_pass()
    assert second.converged, (second.error, second.failed)
    applied = _applied(tmp_path / "audit.jsonl")
    assert applied and max(applied.values()) == 1, "no write is recorded twice"
    third = rec.run_pass()
    assert third.converged and third.outcomes == [], "nothing was left half-applied"
    expected = {
        f"{o.change.ref.kind}/{o.change.ref.namespace}/{o.change.ref.name}"
        for o in first.outcomes
        if o.change.ref.system != "governance"
    }
    assert expected <= set(applied), "every object of the interrupted pass was written and recorded once"


def _reconcile(repo: configrepo.ConfigRepo, kubeconfig: Path, tmp: Path, who: str, *extra: str) -> object:
    return mlcp(
        "reconcile", "--repo", str(repo.root), "--kubeconfig", str(kubeconfig), "--namespace", repo.system_ns,
        "--trusted-base", repo.initial, "--identity", who, "--lease-duration", "3s", "--interval", "1s",
        "--workdir", str(tmp / who),
        "--audit-log", str(tmp / f"{who}.jsonl"), *extra,
    )  # fmt: skip


def test_two_replicas_only_the_leader_writes_and_a_killed_leader_hands_over_within_the_lease(
    repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path, k8s_admin: client.ApiClient
) -> None:
    procs = {who: _reconcile(repo, kubeconfig, tmp_path, who) for who in ("r1", "r2")}
    try:
        wait_for(lambda: _holder(k8s_admin, repo.system_ns) in procs, 30, "a leader")
        leader = str(_holder(k8s_admin, repo.system_ns))
        follower = "r2" if leader == "r1" else "r1"
        wait_for(lambda: bool(_applied(tmp_path / f"{leader}.jsonl")), 30, "the first pass")
        assert not (tmp_path / f"{follower}.jsonl").exists(), "the follower wrote nothing"

        procs[leader].send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
        procs[leader].wait(10)  # type: ignore[attr-defined]
        killed = time.monotonic()
        wait_for(lambda: _holder(k8s_admin, repo.system_ns) == follower, 15, "the follower to take over")
        assert time.monotonic() - killed < 3 + 2, "leadership moves within the lease duration (+ a retry)"
        repo.edit(f"tenants/{repo.vision}/quota.yaml", 'requests.cpu: "32"', 'requests.cpu: "52"')
        repo.commit("after the failover")
        wait_for(lambda: any("ResourceQuota" in k for k in _applied(tmp_path / f"{follower}.jsonl")), 20, "new leader")
        before = _applied(tmp_path / f"{leader}.jsonl")
        assert all(n == 1 for n in before.values())
    finally:
        for proc in procs.values():
            if proc.poll() is None:  # type: ignore[attr-defined]
                proc.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
        for proc in procs.values():
            proc.wait(30)  # type: ignore[attr-defined]


def test_sigterm_mid_pass_exits_0_records_what_was_done_and_releases_the_lease(
    repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path, k8s_admin: client.ApiClient
) -> None:
    names = _add_tenants(repo, 40)
    repo.commit("forty tenants")
    core = client.CoreV1Api(k8s_admin)
    proc = _reconcile(repo, kubeconfig, tmp_path, "solo", "--lease-duration", "15s")

    def started() -> bool:
        return any(core.list_namespace(field_selector=f"metadata.name={n}").items for n in (names[0], repo.vision))

    wait_for(started, 60, "the first namespaces", step=0.05)
    proc.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
    _, stderr = proc.communicate(timeout=60)  # type: ignore[attr-defined]
    assert proc.returncode == 0, stderr.decode()[-3000:]  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    [interrupted] = [e for e in lines if e["msg"] == "pass done"]
    assert not interrupted["converged"], "the signal arrived during the first pass"
    assert JsonlStore(tmp_path / "solo.jsonl").verify().ok
    assert _holder(k8s_admin, repo.system_ns) is None, "the lease was released"
    applied = _applied(tmp_path / "solo.jsonl")
    live = {
        f"Namespace/None/{ns.metadata.name}"
        for ns in core.list_namespace(label_selector=f"mlcp.dev/tenant in ({','.join(names)})").items
    }
    assert live <= set(applied), "every namespace that was created has its record"
    rest = _reconcile(repo, kubeconfig, tmp_path, "solo", "--once")
    rest.communicate(timeout=120)  # type: ignore[attr-defined]
    assert rest.returncode == 0  # type: ignore[attr-defined]
    assert max(_applied(tmp_path / "solo.jsonl").values()) == 1


TRAINING = """apiVersion: mlcp.dev/v1alpha1
kind: Experiment
metadata:
  name: training
spec:
  tracking:
    description: vision's training runs
"""


def test_api_server_killed_between_registry_and_cluster_leaves_no_half_applied_promotion(
    repo: configrepo.ConfigRepo, kubeconfig: Path, tmp_path: Path, devenv: testing.TestTarget, mlflow_uri: str
) -> None:
    """The alias moves in the registry (first), the API server dies before the InferenceService is written:
    the next pass writes the InferenceService and does not move the alias again."""
    if devenv.env is None or devenv.env.kube is None:
        pytest.skip("needs the local control plane: an existing cluster's API server cannot be stopped")
    kube = devenv.env.kube
    rest = MlflowRest(mlflow_uri)
    model = repo.model  # the template's promotion, renamed to vision's own model
    for tenant in (repo.vision, repo.nlp):  # keep this test to its model, its runs and cluster objects
        shutil.rmtree(repo.path(f"tenants/{tenant}/experiments"))
        shutil.rmtree(repo.path(f"tenants/{tenant}/training"), ignore_errors=True)  # its jobs log to experiments
    training = repo.path(f"tenants/{repo.vision}/experiments/training.yaml")
    training.parent.mkdir()
    training.write_text(TRAINING, encoding="utf-8")
    repo.commit("promote the detector, from runs of vision's tracking-only experiment")

    experiment = gitattack.made_experiment(repo, rest, f"{repo.vision}/training")
    rest.post("registered-models/create", name=model)
    run = rest.post("runs/create", experiment_id=experiment)["run"]["info"]
    for key, value in {"val_map": 0.7, "latency_p95_ms": 90.0}.items():
        rest.post("runs/log-metric", run_id=run["run_id"], key=key, value=value, timestamp=0, step=0)
    source = f"s3://{repo.prefix}-models/{repo.vision}/detector/1/model"  # vision's root: KServe loads it
    rest.post("model-versions/create", name=model, source=source, run_id=run["run_id"])
    rest.post("registered-models/alias", name=model, alias="staging", version="1")
    rec = reconciler(repo, kubeconfig, tmp_path)
    rec.settings = replace(rec.settings, targets=repo.targets(kubeconfig, mlflow_uri))

    def kill_after_the_alias(outcome: Outcome) -> None:
        if outcome.change.ref.kind == "ModelAlias" and outcome.status is Status.applied:
            kube.apiserver.stop()

    first = _pass_with_outage(rec, devenv.env, kill_after_the_alias)

    def ours(outcomes: list[Outcome]) -> list[Outcome]:
        """Outcomes of this test's objects (the session's MLflow server also holds other tests' aliases)."""
        return [o for o in outcomes if o.change.ref.system == "kubernetes" or o.change.ref.name.startswith(model)]

    moved = [o for o in ours(first.outcomes) if o.change.ref.kind == "ModelAlias"]
    assert [o.status for o in moved] == [Status.applied]
    served = [o for o in first.outcomes if o.change.ref.kind == "InferenceService" and o.status is Status.applied]
    assert first.error and not served, "the API server died after the registry moved, before serving was written"
    assert rest.get("registered-models/alias", name=model, alias="production")["model_version"]["version"] == "1"

    second = rec.run_pass()
    if second.error:  # a connection the restart broke is retried once, as the loop would
        second = rec.run_pass()
    mine = {repo.vision, repo.nlp}  # the session's MLflow server also holds other tests' tenants' objects
    assert second.error is None and not mine & set(second.failed), (second.error, second.failed)
    assert not [o for o in ours(second.outcomes) if o.change.ref.kind == "ModelAlias"], "the alias is not moved twice"
    custom = client.CustomObjectsApi(devenv.admin_client())
    service = custom.get_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", repo.vision, "inferenceservices", "detector-production"
    )
    assert service["spec"]["predictor"]["model"]["storageUri"] == source, "the version the alias was moved to"
    third = rec.run_pass()
    assert third.error is None and not mine & set(third.failed) and ours(third.outcomes) == [], "nothing half-applied"
