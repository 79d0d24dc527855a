"""Plan and apply against the real API server: idempotence, drift, prune, conflicts, saved plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client
from typer.testing import CliRunner

from controlplane.cli.app import app
from controlplane.plans import Action, Plan
from reconciler import connecting, engine
from reconciler.applying import apply_plan, stale_changes, unchecked
from reconciler.backends.base import ApplyOptions, Status
from reconciler.backends.kubernetes import KubernetesBackend
from tests.integration import configrepo

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def repo(tmp_path: Path, prefix: str) -> configrepo.ConfigRepo:
    return configrepo.make(tmp_path, prefix)


def _plan(repo: configrepo.ConfigRepo, kubeconfig: Path, prune: bool = False) -> tuple[Plan, KubernetesBackend]:
    desired = engine.load_desired(repo.root)
    targets = repo.targets(kubeconfig)
    backends = connecting.connect(desired.repo, targets)
    plan, _ = engine.make_plan(desired, backends, prune=prune, targets=targets)
    kube = backends["kubernetes"]
    assert isinstance(kube, KubernetesBackend)
    return plan, kube


def _apply(repo: configrepo.ConfigRepo, kubeconfig: Path, prune: bool = False, **opts: bool) -> Plan:
    plan, kube = _plan(repo, kubeconfig, prune)
    report = apply_plan(plan, {"kubernetes": kube}, ApplyOptions(**opts), authorize=unchecked)
    assert not report.failed, [(str(o.change.ref), o.message) for o in report.failed]
    return plan


def test_template_applies_then_second_run_is_all_noops_without_writes(
    repo: configrepo.ConfigRepo, kubeconfig: Path
) -> None:
    first = _apply(repo, kubeconfig)
    kinds = {c.ref.kind for c in first.changes if c.action is Action.create}
    assert {"Namespace", "RoleBinding", "ResourceQuota", "WorkflowTemplate", "CronWorkflow", "Experiment"} <= kinds
    second, kube = _plan(repo, kubeconfig)
    assert not second.has_changes, [(str(c.ref), c.reason) for c in second.pending]
    before = kube.requests
    report = apply_plan(second, {"kubernetes": kube}, ApplyOptions(), authorize=unchecked)
    assert report.outcomes == []
    assert kube.requests == before, "a no-op apply must send no request at all"


def test_isolation_admits_ingress_only_from_the_tenants_own_namespace(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    _apply(repo, kubeconfig)
    ns = repo.vision
    response = client.NetworkingV1Api(k8s_admin).read_namespaced_network_policy(
        "mlcp-isolation", ns, _preload_content=False
    )
    spec = json.loads(response.data)["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    assert spec["podSelector"] == {}, "the policy covers every pod of the tenant"
    assert spec["ingress"] == [
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}]}
    ], "an empty rule would admit all traffic"
    again, _ = _plan(repo, kubeconfig)
    assert not again.has_changes, [(str(c.ref), c.reason) for c in again.pending]


def test_plan_reads_with_one_list_per_kind(repo: configrepo.ConfigRepo, kubeconfig: Path) -> None:
    _apply(repo, kubeconfig)
    _, kube = _plan(repo, kubeconfig)
    from reconciler.backends.kubernetes import RESOURCES

    assert kube.requests == len(RESOURCES) + 1  # one LIST per kind, plus the inventory ConfigMap


def test_editing_a_quota_plans_exactly_one_update(repo: configrepo.ConfigRepo, kubeconfig: Path) -> None:
    _apply(repo, kubeconfig)
    repo.edit(f"tenants/{repo.vision}/quota.yaml", 'requests.cpu: "32"', 'requests.cpu: "48"')
    repo.commit("raise cpu quota")
    plan, _ = _plan(repo, kubeconfig)
    [change] = plan.pending
    assert change.action is Action.update and change.ref.kind == "ResourceQuota"
    fields = [(d.dotted, d.old, d.new) for d in change.diffs if d.path[0] == "spec"]
    assert fields == [('spec.hard["requests.cpu"]', "32", "48")]
    provenance = [d.new for d in change.diffs if d.path[0] == "metadata"]
    assert provenance == [repo.git.head.commit.hexsha], "the object records the commit that changed it"


def test_removed_pipeline_is_pruned_and_nothing_else(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    _apply(repo, kubeconfig)
    core = client.CoreV1Api(k8s_admin)
    ns = repo.vision
    core.create_namespaced_config_map(ns, {"metadata": {"name": "unlabelled"}, "data": {"a": "b"}})
    copied = {"metadata": {"name": "copied", "labels": {"app.kubernetes.io/managed-by": "mlcp"}}}
    core.create_namespaced_service_account(ns, copied)
    repo.path(f"tenants/{ns}/pipelines/train-detector.yaml").unlink()
    repo.edit(f"tenants/{ns}/experiments/detector.yaml", "trialPipeline: train-detector", "trialPipeline: gone")
    repo.path(f"tenants/{ns}/experiments/detector.yaml").unlink()
    repo.path(f"tenants/{ns}/training/finetune-detector.yaml").unlink()  # it logs to the detector experiment
    repo.commit("retire the detector pipeline")

    plan, _ = _plan(repo, kubeconfig)
    deletes = sorted(str(c.ref) for c in plan.pending)
    assert deletes == sorted(
        [
            f"CronWorkflow/{ns}/train-detector",
            f"Experiment/{ns}/detector",
            f"TrainJob/{ns}/finetune-detector",
            f"WorkflowTemplate/{ns}/train-detector",
        ]
    )
    assert all(c.blocked for c in plan.pending), "without --prune nothing is deleted"

    _apply(repo, kubeconfig, prune=True)
    after, _ = _plan(repo, kubeconfig, prune=True)
    assert not after.has_changes
    custom = client.CustomObjectsApi(k8s_admin)
    names = [
        o["metadata"]["name"]
        for o in custom.list_namespaced_custom_object("argoproj.io", "v1alpha1", ns, "workflowtemplates")["items"]
    ]
    assert "train-detector" not in names
    assert core.read_namespaced_config_map("unlabelled", ns).data == {"a": "b"}
    assert core.read_namespaced_service_account("copied", ns).metadata.name == "copied"


def test_manual_edit_is_drift_and_is_healed(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    _apply(repo, kubeconfig)
    core = client.CoreV1Api(k8s_admin)
    body = {"spec": {"hard": {"requests.cpu": "999"}}, "metadata": {"labels": {"added-by-hand": "yes"}}}
    core.patch_namespaced_resource_quota("compute", repo.vision, body, field_manager="kubectl-edit")
    plan, kube = _plan(repo, kubeconfig)
    [change] = plan.pending
    assert [(d.dotted, d.old, d.new) for d in change.diffs] == [('spec.hard["requests.cpu"]', "999", "32")]
    report = apply_plan(plan, {"kubernetes": kube}, ApplyOptions(), authorize=unchecked)
    [outcome] = report.outcomes
    assert outcome.status is Status.applied and "drift healed" in outcome.message
    quota = core.read_namespaced_resource_quota("compute", repo.vision)
    assert quota.spec.hard["requests.cpu"] == "32"
    assert quota.metadata.labels["added-by-hand"] == "yes", "fields mlcp does not manage are left alone"
    again, _ = _plan(repo, kubeconfig)
    assert not again.has_changes


def test_conflict_with_another_controller_needs_force(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    _apply(repo, kubeconfig)
    plan, _ = _plan(repo, kubeconfig)
    [template] = [c.ref for c in plan.changes if c.ref.kind == "WorkflowTemplate" and c.ref.namespace == repo.vision]
    custom = client.CustomObjectsApi(k8s_admin)
    edit = {"spec": {"entrypoint": "by-the-ui"}}
    custom.patch_namespaced_custom_object(
        "argoproj.io", "v1alpha1", template.namespace, "workflowtemplates", template.name, edit, field_manager="argo-ui"
    )
    plan, kube = _plan(repo, kubeconfig)
    [outcome] = apply_plan(plan, {"kubernetes": kube}, ApplyOptions(), authorize=unchecked).outcomes
    assert outcome.status is Status.failed
    assert "argo-ui" in outcome.message and "--force-conflicts" in outcome.message
    [outcome] = apply_plan(plan, {"kubernetes": kube}, ApplyOptions(force_conflicts=True), authorize=unchecked).outcomes
    assert outcome.status is Status.applied


def test_a_conflict_on_an_object_that_bounds_a_tenant_is_drift_whatever_the_managers_name(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    """A field manager's name is the writer's choice: on a quota (or RBAC, a NetworkPolicy...) no controller has a
    claim, so `quota-autoscaler` is a hand edit, taken back without --force-conflicts."""
    _apply(repo, kubeconfig)
    core = client.CoreV1Api(k8s_admin)
    core.patch_namespaced_resource_quota(
        "compute", repo.vision, {"spec": {"hard": {"requests.cpu": "7"}}}, field_manager="quota-autoscaler"
    )
    plan, kube = _plan(repo, kubeconfig)
    [outcome] = apply_plan(plan, {"kubernetes": kube}, ApplyOptions(), authorize=unchecked).outcomes
    assert outcome.status is Status.applied and "took fields back from quota-autoscaler" in outcome.message
    assert core.read_namespaced_resource_quota("compute", repo.vision).spec.hard["requests.cpu"] != "7"


def test_saved_plan_is_refused_when_live_state_moved(
    repo: configrepo.ConfigRepo, kubeconfig: Path, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    _apply(repo, kubeconfig)
    repo.edit(f"tenants/{repo.vision}/quota.yaml", 'requests.cpu: "32"', 'requests.cpu: "40"')
    repo.commit("vision: 40 cpus")  # a saved plan names a commit: apply plans it again and compares
    saved = tmp_path / "plan.json"
    result = runner.invoke(
        app, ["plan", str(repo.root), "--kubeconfig", str(kubeconfig), *repo.operator_args(), "--out", str(saved)]
    )
    assert result.exit_code == 0, result.output
    plan = Plan.from_dict(__import__("json").loads(saved.read_text()))
    _, kube = _plan(repo, kubeconfig)
    assert stale_changes(plan, {"kubernetes": kube.read()}) == []

    core = client.CoreV1Api(k8s_admin)
    core.patch_namespaced_limit_range("compute", repo.vision, {"metadata": {"annotations": {"touched": "yes"}}})
    moved = {"spec": {"hard": {"requests.cpu": "36"}}}  # the field the plan changes, edited by hand since
    core.patch_namespaced_resource_quota("compute", repo.vision, moved, field_manager="kubectl-edit")
    args = [
        "apply",
        str(saved),
        "--repo",
        str(repo.root),
        "--kubeconfig",
        str(kubeconfig),
        *repo.operator_args(),
        "--yes",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "changed since this plan" in result.output
    assert "LimitRange" not in result.output, "an object that moved only where mlcp does not look plans the same"


def test_cli_plan_exit_codes_and_formats(repo: configrepo.ConfigRepo, kubeconfig: Path) -> None:
    args = ["plan", str(repo.root), "--kubeconfig", str(kubeconfig), *repo.operator_args()]
    result = runner.invoke(app, [*args, "--detailed-exitcode", "-o", "json"])
    assert result.exit_code == 2
    data = __import__("json").loads(result.stdout)
    assert data["summary"]["create"] > 0 and data["format"] == 1
    result = runner.invoke(
        app, ["apply", str(repo.root), "--kubeconfig", str(kubeconfig), *repo.operator_args(), "--yes"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, [*args, "--detailed-exitcode"])
    assert result.exit_code == 0, result.output
    repo.edit(f"tenants/{repo.nlp}/quota.yaml", 'count/pods: "100"', 'count/pods: "120"')
    result = runner.invoke(
        app, ["diff", str(repo.root), "--kubeconfig", str(kubeconfig), *repo.operator_args(), "-o", "markdown"]
    )
    assert result.exit_code == 0
    assert "### mlcp plan" in result.stdout and "-    count/pods: '100'" in result.stdout


def test_plan_of_a_branch_head_lists_changed_files(repo: configrepo.ConfigRepo, kubeconfig: Path) -> None:
    repo.git.git.checkout("-b", "feature")
    repo.edit(f"tenants/{repo.nlp}/quota.yaml", 'count/pods: "100"', 'count/pods: "150"')
    repo.commit("more pods")
    repo.git.git.checkout("main")
    args = [
        "plan",
        str(repo.root),
        "--kubeconfig",
        str(kubeconfig),
        *repo.operator_args(),
        "--base",
        "main",
        "--head",
        "feature",
        "-o",
        "json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = __import__("json").loads(result.stdout)
    assert data["meta"]["changedFiles"] == [f"tenants/{repo.nlp}/quota.yaml"]
    quota = next(
        c for c in data["changes"] if c["ref"]["kind"] == "ResourceQuota" and c["ref"]["namespace"] == repo.nlp
    )
    assert quota["desired"]["spec"]["hard"]["count/pods"] == "150"


def test_apply_refuses_without_confirmation_on_non_tty(repo: configrepo.ConfigRepo, kubeconfig: Path) -> None:
    result = runner.invoke(app, ["apply", str(repo.root), "--kubeconfig", str(kubeconfig), *repo.operator_args()])
    assert result.exit_code == 1
    assert "--yes" in result.output


def test_a_first_apply_sends_one_write_per_object_and_the_inventory_nothing_else(
    repo: configrepo.ConfigRepo, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every request mlcp sends that kubectl does not costs the API server: no GET, dry run or retry per object,
    only one server-side apply each, and the inventory's (its namespace once, then its index and the pieces that
    changed, a few times as creates are recorded ahead of their writes)."""
    plan, kube = _plan(repo, kubeconfig)
    creates = {c.ref for c in plan.changes if c.action is Action.create}
    sent: list[tuple[str, str]] = []
    request = kube.client.request

    def counted(method: str, path: str, *args: object, **kwargs: object) -> dict[str, object]:
        sent.append((method, path))
        return request(method, path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(kube.client, "request", counted)
    report = apply_plan(plan, {"kubernetes": kube}, ApplyOptions(), authorize=unchecked)
    assert not report.failed, [(str(o.change.ref), o.message) for o in report.failed]

    home = f"/api/v1/namespaces/{kube.controller_namespace}"  # made once, before the inventory's first write
    assert sent.count(("PATCH", home)) == 1
    inventory = [p for m, p in sent if m == "PATCH" and p.startswith(f"{home}/configmaps/")]
    objects = [(m, p) for m, p in sent if p != home and not p.startswith(f"{home}/configmaps/")]
    assert {m for m, _ in objects} == {"PATCH"}, "no GET, LIST, POST or DELETE while applying creates"
    assert len(objects) == len(creates) == len({p for _, p in objects}), "one write per object, none twice"
    pieces = len(set(inventory))
    assert 0 < len(inventory) <= 4 * pieces, f"{len(inventory)} inventory writes of {pieces} ConfigMaps"


def test_a_tuning_change_katib_refuses_is_blocked_and_its_counts_still_apply(
    repo: configrepo.ConfigRepo, kubeconfig: Path
) -> None:
    """Katib's webhook (not running here) refuses every update of an Experiment but its trial counts: the plan
    blocks a new goal, saying how to run another search, and a new maxTrials applies as before."""
    _apply(repo, kubeconfig)
    detector = f"tenants/{repo.vision}/experiments/detector.yaml"
    repo.edit(detector, "goal: 0.65", "goal: 0.7")
    repo.commit("aim higher")
    plan, _ = _plan(repo, kubeconfig)
    [change] = [c for c in plan.pending if c.ref.kind == "Experiment" and c.ref.system == "kubernetes"]
    assert change.blocked is not None and change.blocked.startswith("spec.objective.goal cannot change in place")
    repo.edit(detector, "goal: 0.7", "goal: 0.65")
    repo.edit(detector, "maxTrials: 12", "maxTrials: 16")
    repo.commit("more trials instead")
    applied = _apply(repo, kubeconfig)
    [change] = [c for c in applied.pending if c.ref.kind == "Experiment" and c.ref.system == "kubernetes"]
    assert change.blocked is None and [d.dotted for d in change.diffs if d.path[0] == "spec"] == ["spec.maxTrialCount"]
