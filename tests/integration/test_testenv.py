"""The local environment is real: RBAC, impersonation, controllers, CRDs and MLflow work.

Everything later in mlcp (plan, server-side apply, RBAC, prune, promotions) is
proven against these servers, so these tests pin down what they guarantee.
"""

from __future__ import annotations

import copy
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from devenv import binaries, crds, kubeapply, testing
from tests.integration.mlflow_rest import MlflowRest

pytestmark = pytest.mark.integration


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def _gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except client.ApiException as err:
        if err.status == 404:
            return True
        raise
    return False


def _forbidden(call: Callable[[], Any], user: str) -> None:
    with pytest.raises(client.ApiException) as info:
        call()
    assert info.value.status == 403, info.value.body
    assert f'User \\"{user}\\"' in info.value.body or f'User "{user}"' in info.value.body


# -- Kubernetes ----------------------------------------------------------------------


def test_version_is_the_pinned_release(devenv: testing.TestTarget, k8s_admin: client.ApiClient) -> None:
    info = client.VersionApi(k8s_admin).get_code()
    if devenv.expected_version is not None:
        assert info.git_version == binaries.KUBERNETES_VERSION
        assert (info.major, info.minor) == ("1", binaries.KUBERNETES_VERSION.split(".")[1])


def test_admin_creates_reads_and_fully_deletes_a_namespace(prefix: str, k8s_admin: client.ApiClient) -> None:
    core = client.CoreV1Api(k8s_admin)
    core.create_namespace({"metadata": {"name": prefix}})
    assert core.read_namespace(prefix).status.phase == "Active"
    # the controller manager's serviceaccount controller gives it a default ServiceAccount
    _wait_for(lambda: not _gone(lambda: core.read_namespaced_service_account("default", prefix)), 60, "default SA")
    core.create_namespaced_config_map(prefix, {"metadata": {"name": "content"}, "data": {"k": "v"}})

    core.delete_namespace(prefix)
    # only the namespace controller can finish this; without it the namespace stays Terminating
    _wait_for(lambda: _gone(lambda: core.read_namespace(prefix)), 60, f"namespace {prefix} to be deleted")


def test_plain_user_is_refused(namespace: str, k8s_user: Callable[..., client.ApiClient]) -> None:
    core = client.CoreV1Api(k8s_user("alice", ("team-a",)))
    _forbidden(lambda: core.create_namespace({"metadata": {"name": namespace + "-x"}}), "alice")
    _forbidden(lambda: core.read_namespace(namespace), "alice")
    _forbidden(lambda: core.delete_namespace(namespace), "alice")


def test_admin_impersonating_a_user_is_refused_and_granted_like_the_user(
    namespace: str, devenv: testing.TestTarget, k8s_admin: client.ApiClient
) -> None:
    as_alice = client.CoreV1Api(devenv.impersonating_client("alice", "team-a"))
    _forbidden(lambda: as_alice.create_namespace({"metadata": {"name": namespace + "-x"}}), "alice")
    _forbidden(lambda: as_alice.read_namespace(namespace), "alice")
    _forbidden(lambda: as_alice.list_namespaced_config_map(namespace), "alice")

    # a binding for alice's *group* is honoured: impersonation really carries the identity
    client.RbacAuthorizationV1Api(k8s_admin).create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "team-a-view"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team-a"}],
        },
    )
    _wait_for(lambda: _can_list_config_maps(as_alice, namespace), 10, "the RoleBinding to take effect")
    as_bob = client.CoreV1Api(devenv.impersonating_client("bob", "team-b"))
    _forbidden(lambda: as_bob.list_namespaced_config_map(namespace), "bob")


def _can_list_config_maps(core: client.CoreV1Api, namespace: str) -> bool:
    try:
        core.list_namespaced_config_map(namespace)
    except client.ApiException as err:
        if err.status == 403:
            return False
        raise
    return True


def test_garbage_collector_deletes_dependents(namespace: str, k8s_admin: client.ApiClient) -> None:
    core = client.CoreV1Api(k8s_admin)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "dependent", "ownerReferences": [ref]}})
    core.delete_namespaced_config_map("owner", namespace)
    read = lambda: core.read_namespaced_config_map("dependent", namespace)  # noqa: E731
    _wait_for(lambda: _gone(read), 60, "the garbage collector to delete the dependent")


def test_kubeconfig_files_work_with_kubectl(devenv: testing.TestTarget) -> None:
    if devenv.env is None:
        pytest.skip("kubectl and per-user kubeconfig files exist only for the local environment")
    kubectl = str(binaries.bin_dir() / "kubectl")
    alice = devenv.env.user_kubeconfig("alice", ("team-a",))
    asks = {devenv.kubeconfig: "yes", alice: "no"}
    for path, expected in asks.items():
        argv = [kubectl, "--kubeconfig", str(path), "auth", "can-i", "create", "namespaces"]
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
        assert result.stdout.strip() == expected, (path, result.stdout, result.stderr)


# -- CRDs ---------------------------------------------------------------------------

_CRD_CASES: dict[str, tuple[dict[str, Any], tuple[str, Any]]] = {
    # plural.group: (valid spec, (checked field under spec, dotted; a value it refuses))
    "workflowtemplates.argoproj.io": (
        {
            "entrypoint": "main",
            "serviceAccountName": "pipeline-runner",
            "arguments": {"parameters": [{"name": "lr", "value": "0.1"}]},
            "templates": [{"name": "main", "container": {"image": "python:3.11", "command": ["true"]}}],
        },
        ("entrypoint", 42),
    ),
    "workflows.argoproj.io": (
        {"workflowTemplateRef": {"name": "train"}, "arguments": {"parameters": [{"name": "lr", "value": "1"}]}},
        ("templates", "not-a-list"),
    ),
    "cronworkflows.argoproj.io": (
        {
            "schedules": ["0 3 * * *"],
            "timezone": "Europe/Berlin",
            "concurrencyPolicy": "Forbid",
            "workflowSpec": {"workflowTemplateRef": {"name": "train"}},
        },
        ("concurrencyPolicy", 7),
    ),
    "experiments.kubeflow.org": (
        {
            "objective": {"type": "maximize", "goal": 0.99, "objectiveMetricName": "accuracy"},
            "algorithm": {"algorithmName": "random"},
            "parameters": [{"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.1"}}],
            "parallelTrialCount": 2,
            "maxTrialCount": 6,
            "maxFailedTrialCount": 1,
            "trialTemplate": {"primaryContainerName": "training", "trialSpec": {"kind": "Job"}},
        },
        ("maxTrialCount", "six"),
    ),
    "inferenceservices.serving.kserve.io": (
        {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://models/iris/1"}}},
        ("predictor", "not-an-object"),
    ),
    "notebooks.kubeflow.org": (
        {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "notebook",
                            "image": "kubeflownotebookswg/jupyter-scipy:v1.10.0",
                            "resources": {"limits": {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1"}},
                            "volumeMounts": [{"name": "workspace", "mountPath": "/home/jovyan"}],
                        }
                    ],
                    "volumes": [{"name": "workspace", "persistentVolumeClaim": {"claimName": "workspace"}}],
                }
            }
        },
        ("template.spec.containers", "not-a-list"),
    ),
    "trainjobs.trainer.kubeflow.org": (
        {
            "runtimeRef": {"name": "torch-distributed"},
            "trainer": {
                "numNodes": 2,
                "image": "pytorch/pytorch:2.5.1",
                "command": ["torchrun", "train.py"],
                "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "hub", "key": "token"}}}],
                "resourcesPerNode": {"limits": {"nvidia.com/gpu": "1"}},
            },
        },
        ("trainer.numNodes", "two"),
    ),
    "trainingruntimes.trainer.kubeflow.org": (
        {
            "mlPolicy": {"numNodes": 2, "torch": {"numProcPerNode": "auto"}},
            "template": {
                "spec": {
                    "replicatedJobs": [
                        {
                            "name": "node",
                            "template": {
                                "spec": {
                                    "template": {
                                        "spec": {"containers": [{"name": "node", "image": "pytorch/pytorch:2.5.1"}]}
                                    }
                                }
                            },
                        }
                    ]
                }
            },
        },
        ("mlPolicy.torch.numProcPerNode", "all"),
    ),
    "clustertrainingruntimes.trainer.kubeflow.org": (
        {
            "mlPolicy": {"numNodes": 2, "torch": {"numProcPerNode": "auto"}},
            "template": {
                "spec": {
                    "replicatedJobs": [
                        {
                            "name": "node",
                            "template": {
                                "spec": {
                                    "template": {
                                        "spec": {"containers": [{"name": "node", "image": "pytorch/pytorch:2.5.1"}]}
                                    }
                                }
                            },
                        }
                    ]
                }
            },
        },
        ("mlPolicy.numNodes", "two"),
    ),
}


# plural.group -> the resource it serves: the kinds mlcp writes (the environment installs more: Argo's others)
_KINDS = {f"{r.plural}.{r.group}": r for r in crds.RESOURCES}


def _contains(actual: Any, expected: Any) -> bool:
    """Everything in `expected` is in `actual` (which may hold more: defaults the schema adds)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(_contains, actual, expected))
    return bool(actual == expected)


def _with(spec: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of `spec` with the field at `dotted` set to `value`."""
    changed = copy.deepcopy(spec)
    *parents, leaf = dotted.split(".")
    node = changed
    for key in parents:
        node = node[key]
    node[leaf] = value
    return changed


def test_every_kind_mlcp_writes_has_a_case_and_is_installed() -> None:
    assert sorted(_CRD_CASES) == sorted(_KINDS)
    assert set(_KINDS) <= set(crds.names())
    assert crds.groups() == ["argoproj.io", "kubeflow.org", "serving.kserve.io", "trainer.kubeflow.org"]


@pytest.mark.parametrize("group_version", sorted({r.api_version for r in crds.RESOURCES}))
def test_discovery_lists_each_resource_with_its_kind_and_scope(group_version: str, k8s_admin: client.ApiClient) -> None:
    listed = {r["name"]: r for r in kubeapply.request(k8s_admin, "GET", f"/apis/{group_version}")["resources"]}
    for resource in (r for r in crds.RESOURCES if r.api_version == group_version):
        assert resource.plural in listed, (group_version, sorted(listed))
        assert listed[resource.plural]["kind"] == resource.kind
        assert listed[resource.plural]["namespaced"] is resource.namespaced


@pytest.mark.parametrize("crd_name", sorted(_CRD_CASES))
def test_crd_accepts_valid_and_rejects_wrong_type(
    crd_name: str, namespace: str, k8s_admin: client.ApiClient, devenv: testing.TestTarget
) -> None:
    if not devenv.local_cluster and not crds.is_ours(k8s_admin, crd_name):
        pytest.skip(f"{crd_name} on this cluster is not mlcp's manifest; its schema may be looser")
    resource = _KINDS[crd_name]
    valid_spec, (field, wrong) = _CRD_CASES[crd_name]
    api = client.CustomObjectsApi(k8s_admin)
    # cluster-scoped objects (ClusterTrainingRuntime) outlive the namespace: name them after it, delete them
    name = f"{namespace}-ok" if not resource.namespaced else "ok"

    def body(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": {"name": name}, "spec": spec}

    def create(name: str, spec: dict[str, Any]) -> Any:
        args = (resource.group, resource.version)
        if resource.namespaced:
            return api.create_namespaced_custom_object(*args, namespace, resource.plural, body(name, spec))
        return api.create_cluster_custom_object(*args, resource.plural, body(name, spec))

    created = create(name, valid_spec)
    try:
        assert _contains(created["spec"], valid_spec), created["spec"]  # nothing pruned, only defaults added
        with pytest.raises(client.ApiException) as info:
            create(f"{name[:-3]}-bad", _with(valid_spec, field, wrong))
        assert info.value.status == 422, info.value.body
        assert f"spec.{field}" in info.value.body
    finally:
        if not resource.namespaced:
            api.delete_cluster_custom_object(resource.group, resource.version, resource.plural, name)


def test_trainer_crds_enforce_upstream_cel_rules(namespace: str, k8s_admin: client.ApiClient) -> None:
    """Kubeflow Trainer's own CEL rules run: one ML policy only, and a TrainJob's runtime cannot be swapped."""
    api = client.CustomObjectsApi(k8s_admin)
    group, version = "trainer.kubeflow.org", "v1alpha1"
    runtime = copy.deepcopy(_CRD_CASES["trainingruntimes.trainer.kubeflow.org"][0])
    runtime["mlPolicy"]["mpi"] = {"numProcPerNode": 1}
    body = {"apiVersion": f"{group}/{version}", "kind": "TrainingRuntime", "metadata": {"name": "two-policies"}}
    with pytest.raises(client.ApiException) as info:
        api.create_namespaced_custom_object(group, version, namespace, "trainingruntimes", {**body, "spec": runtime})
    assert info.value.status == 422, info.value.body
    assert "Only one of the policy can be configured" in info.value.body

    job = {"apiVersion": f"{group}/{version}", "kind": "TrainJob", "metadata": {"name": "fixed-runtime"}}
    spec = _CRD_CASES["trainjobs.trainer.kubeflow.org"][0]
    api.create_namespaced_custom_object(group, version, namespace, "trainjobs", {**job, "spec": spec})
    swap = {"spec": {"runtimeRef": {"name": "another-runtime"}}}
    with pytest.raises(client.ApiException) as info:
        api.patch_namespaced_custom_object(group, version, namespace, "trainjobs", "fixed-runtime", swap)
    assert info.value.status == 422, info.value.body
    assert "runtimeRef is immutable" in info.value.body


# -- MLflow -------------------------------------------------------------------------


def test_mlflow_registers_a_model_version_and_moves_an_alias(mlflow_uri: str, prefix: str) -> None:
    rest = MlflowRest(mlflow_uri)
    experiment_id = rest.post("experiments/create", name=prefix)["experiment_id"]
    versions = []
    for accuracy in (0.91, 0.95):
        run = rest.post("runs/create", experiment_id=experiment_id, start_time=int(time.time() * 1000))["run"]
        run_id = run["info"]["run_id"]
        rest.post("runs/log-metric", run_id=run_id, key="accuracy", value=accuracy, timestamp=0, step=0)
        if not versions:
            rest.post("registered-models/create", name=prefix, description="made by test_testenv")
        created = rest.post("model-versions/create", name=prefix, source=f"runs:/{run_id}/model", run_id=run_id)
        versions.append(created["model_version"]["version"])
    assert versions == ["1", "2"]

    rest.post("registered-models/alias", name=prefix, alias="champion", version="1")
    assert rest.get("registered-models/alias", name=prefix, alias="champion")["model_version"]["version"] == "1"
    rest.post("registered-models/alias", name=prefix, alias="champion", version="2")  # move it
    moved = rest.get("registered-models/alias", name=prefix, alias="champion")["model_version"]
    assert moved["version"] == "2"
    assert moved["run_id"] == run_id
    model = rest.get("registered-models/get", name=prefix)["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "2"}]


def test_logs_are_kept_in_the_environment(devenv: testing.TestTarget) -> None:
    logs = devenv.logs_dir
    if devenv.env is None or logs is None:
        pytest.skip("no local environment")
    names = {p.name for p in Path(logs).iterdir()}
    assert {"etcd.log", "kube-apiserver.log", "kube-controller-manager.log"} <= names
