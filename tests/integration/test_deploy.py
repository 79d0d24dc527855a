"""The shipped deployment manifests: accepted by the real API server, and their RBAC is enough to do the job.

The controller runs here as the manifests' ServiceAccount (a token from the
TokenRequest API in a kubeconfig of its own), writing the shared audit log in
its namespace, so any permission the ClusterRole or Role lacks fails this
test — and any the test needed beyond them would have to be added there,
visibly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from devenv import binaries
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.httpserver import address
from tests.integration import configrepo
from tests.integration.reconcile_support import ROOT, mlcp

pytestmark = pytest.mark.integration
BASE = ROOT / "deploy" / "kustomize" / "base"
APPLY = "application/apply-patch+yaml"
NAMESPACE = "mlcp-system"
SA = "mlcp-reconciler"


def _render() -> list[dict[str, Any]]:
    """`kubectl kustomize` when the devenv built kubectl, else the base's resources as listed."""
    kubectl = binaries.ensure_built(build=False).kubectl
    if kubectl.exists() or shutil.which("kubectl"):
        out = subprocess.run(
            [str(kubectl) if kubectl.exists() else "kubectl", "kustomize", str(BASE)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [d for d in yaml.safe_load_all(out) if d]
    listed = yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    return [d for name in listed for d in yaml.safe_load_all((BASE / name).read_text()) if d]


CLUSTER_SCOPED = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
"""Kinds kustomize does not know are cluster-scoped (it gives them the base's namespace; kubectl drops it)."""


def _path(kube: KubeClient, obj: dict[str, Any]) -> str:
    api, kind = obj["apiVersion"], obj["kind"]
    plural = {
        "Deployment": "deployments",
        "PersistentVolumeClaim": "persistentvolumeclaims",
        "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
    }.get(kind, kind.lower() + "s")
    base = "/api/v1" if api == "v1" else f"/apis/{api}"
    ns = None if kind in CLUSTER_SCOPED else obj["metadata"].get("namespace")
    scope = f"/namespaces/{ns}" if ns else ""
    return f"{base}{scope}/{plural}/{obj['metadata']['name']}"


def test_every_file_of_the_base_is_listed() -> None:
    listed = set(yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}


def test_the_sharded_overlay_runs_three_replicas_with_one_number_of_shards_and_may_list_leases() -> None:
    kubectl = binaries.ensure_built(build=False).kubectl
    assert kubectl.exists(), "the devenv builds kubectl (make testenv)"
    out = subprocess.run(
        [str(kubectl), "kustomize", str(BASE.parent / "sharded")], check=True, capture_output=True, text=True
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 3
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert [a for a in container["args"] if a.startswith("--shards=")] == ["--shards=8"]
    assert "--audit-log=cluster" in container["args"], "shard chains live in the cluster"
    [role] = [d for d in docs if d["kind"] == "Role"]
    [leases] = [r for r in role["rules"] if r["resources"] == ["leases"]]
    assert "list" in leases["verbs"], "replicas see each other by listing the Leases"
    bindings = [d for d in docs if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == role["metadata"]["name"]]
    assert bindings and bindings[0]["subjects"][0]["name"] == SA
    assert {d["kind"] for d in docs} >= {"ClusterRole", "Role", "Service", "ServiceAccount"}, "the base is included"


def _kustomized(folder: Path) -> list[dict[str, Any]]:
    kubectl = binaries.ensure_built(build=False).kubectl
    assert kubectl.exists(), "the devenv builds kubectl (make testenv)"
    out = subprocess.run([str(kubectl), "kustomize", str(folder)], check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _flag(args: list[str], name: str) -> int:
    [value] = [a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")]
    return address(value)[1]


@pytest.mark.parametrize("overlay", ["base", "sharded"])
def test_the_probes_and_metrics_are_on_a_port_the_service_does_not_expose(overlay: str) -> None:
    """Anyone who reaches the Service reaches the webhooks. On one listener, connections held open there (up to
    --http-read-timeout each, the rest queued in the backlog) delayed /healthz past kubelet's 1 s timeout, and
    three failed probes restarted the replica; the probes must be answered by a listener nobody else reaches."""
    docs = _kustomized(BASE.parent / overlay)
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    [service] = [d for d in docs if d["kind"] == "Service"]
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    webhooks, probes = _flag(container["args"], "webhook-listen"), _flag(container["args"], "listen")
    assert webhooks != probes and set(ports.values()) == {webhooks, probes}
    exposed = {ports.get(p["targetPort"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert exposed == {webhooks}, "the Service exposes the probes' listener"
    for probe in ("livenessProbe", "readinessProbe"):
        target = container[probe]["httpGet"]["port"]
        assert ports.get(target, target) == probes, f"{probe} shares the webhooks' listener"
    assert int(pod["metadata"]["annotations"]["prometheus.io/port"]) == probes


def _token_kubeconfig(kubeconfig: Path, token: str, out: Path) -> Path:
    admin = yaml.safe_load(kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": SA, "user": {"token": token}}],
        "contexts": [{"name": SA, "context": {"cluster": cluster["name"], "user": SA}}],
        "current-context": SA,
    }
    out.write_text(yaml.safe_dump(config))
    out.chmod(0o600)
    return out


def test_manifests_apply_and_the_controller_converges_with_exactly_their_rbac(
    kubeconfig: Path, tmp_path: Path, prefix: str, k8s_admin: client.ApiClient
) -> None:
    docs = _render()
    kinds = sorted(d["kind"] for d in docs)
    assert kinds.count("Deployment") == 1 and "Service" in kinds and "ClusterRole" in kinds
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    admin = KubeClient.from_kubeconfig(str(kubeconfig), None, NAMESPACE)
    # as the operator's kubectl: under mlcp's own manager name, the controller's apply of its namespace (name only)
    # took the labels off, which is a change the admission policy refuses in a namespace mlcp does not manage
    query = [("fieldManager", "kubectl"), ("force", "true")]
    workloads = {"Deployment", "Service", "PersistentVolumeClaim"}
    for doc in sorted(docs, key=lambda d: d["kind"] != "Namespace"):  # namespace first, then the rest
        dry = [("dryRun", "All")] if doc["kind"] in workloads else []
        if doc["kind"] in CLUSTER_SCOPED:
            doc["metadata"].pop("namespace", None)  # as kubectl does
        admin.request("PATCH", _path(admin, doc), query + dry, doc, APPLY)  # raises on any rejection

    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}}
    token = admin.request("POST", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{SA}/token", body=request)
    as_sa = _token_kubeconfig(kubeconfig, token["status"]["token"], tmp_path / "sa.kubeconfig")

    repo = configrepo.make(tmp_path, prefix)
    repo.edit("mlcp.yaml", f"controllerNamespace: {repo.system_ns}", f"controllerNamespace: {NAMESPACE}")
    trusted = repo.commit("the controller's own namespace")
    proc = mlcp(
        "reconcile", "--once", "--repo", str(repo.root), "--kubeconfig", str(as_sa), "--namespace", NAMESPACE,
        "--trusted-base", trusted,
        "--identity", prefix, "--workdir", str(tmp_path / "work"), "--audit-log", "cluster",
    )  # fmt: skip
    _, stderr = proc.communicate(timeout=120)
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    problems = [e for e in lines if e["level"] in ("warning", "error")]
    assert proc.returncode == 0, problems or stderr.decode()[-3000:]
    assert not problems
    templates = client.CustomObjectsApi(k8s_admin).list_namespaced_custom_object(
        "argoproj.io", "v1alpha1", repo.vision, "workflowtemplates"
    )["items"]
    assert [t["metadata"]["name"] for t in templates] == ["train-detector"], "written as the tenant's deployer"
    events = client.CoreV1Api(k8s_admin).list_namespaced_event(repo.vision).items
    assert any(e.reason == "Applied" and e.source.component == "mlcp-reconciler" for e in events)
    verified = mlcp("audit", "verify", "--anchor", "cluster", "--kubeconfig", str(as_sa), "--controller-namespace",
                    NAMESPACE)  # fmt: skip
    _, problem = verified.communicate(timeout=60)
    assert verified.returncode == 0, problem.decode()  # the shared log and its anchor, written and read as the SA
