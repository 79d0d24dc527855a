"""The local environment's checked-in pieces agree with each other (no servers needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devenv import argo, binaries, crds, kubeapply, kubeconfig, kwok
from devenv.pki import Pki

ROOT = Path(__file__).resolve().parents[2]
TESTENV = ROOT / "hack" / "testenv"


def _versions_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (TESTENV / "versions.env").read_text().splitlines())
    return {k.strip(): v.strip() for k, v in (p for p in pairs if len(p) == 2) if not k.startswith("#")}


def test_python_pins_match_versions_env() -> None:
    pins = _versions_env()
    assert pins["KUBERNETES_VERSION"] == binaries.KUBERNETES_VERSION
    assert pins["ETCD_VERSION"] == binaries.ETCD_VERSION
    assert pins["ARGO_WORKFLOWS_VERSION"] == binaries.ARGO_WORKFLOWS_VERSION
    assert pins["KWOK_VERSION"] == binaries.KWOK_VERSION
    assert pins["KSERVE_VERSION"] == binaries.KSERVE_VERSION
    assert pins["KUBEFLOW_TRAINER_VERSION"] == binaries.KUBEFLOW_TRAINER_VERSION
    assert pins["CONTROLLER_TOOLS_VERSION"] == binaries.CONTROLLER_TOOLS_VERSION


def test_go_mod_replaces_every_staging_module_at_the_matching_version() -> None:
    gomod = (TESTENV / "go.mod").read_text()
    staging = "v0." + binaries.KUBERNETES_VERSION.removeprefix("v1.")
    replaces = re.findall(r"^\t(k8s\.io/\S+) => (k8s\.io/\S+) (\S+)$", gomod, re.MULTILINE)
    assert len(replaces) == 31
    assert all(old == new and version == staging for old, new, version in replaces)
    assert f"k8s.io/kubernetes {binaries.KUBERNETES_VERSION}" in gomod
    assert f"go.etcd.io/etcd/server/v3 {binaries.ETCD_VERSION}" in gomod
    for tool in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"):
        assert f"\tk8s.io/kubernetes/cmd/{tool}\n" in gomod


def _check_structural(schema: dict[str, Any], path: str) -> None:
    """Every node says its type, or keeps unknown fields: what the API server demands."""
    assert "type" in schema or schema.get("x-kubernetes-preserve-unknown-fields"), path
    for name, sub in schema.get("properties", {}).items():
        _check_structural(sub, f"{path}.{name}")
    if "items" in schema:
        _check_structural(schema["items"], f"{path}[]")


@pytest.mark.parametrize("doc", crds.shipped(), ids=lambda d: d["metadata"]["name"])
def test_crd_manifests_are_structural_and_labelled(doc: dict[str, Any]) -> None:
    assert doc["kind"] == "CustomResourceDefinition"
    names = doc["spec"]["names"]
    assert doc["metadata"]["name"] == f"{names['plural']}.{doc['spec']['group']}"
    key, value = crds.MANAGED_BY_LABEL
    assert doc["metadata"]["labels"][key] == value
    for version in doc["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        _check_structural(schema, names["kind"])
        assert schema["properties"]["spec"]["type"] == "object"


def test_the_kinds_mlcp_writes_are_installed_and_only_katib_is_hand_written() -> None:
    assert {
        "workflowtemplates.argoproj.io",
        "cronworkflows.argoproj.io",
        "workflows.argoproj.io",
        "experiments.kubeflow.org",
        "inferenceservices.serving.kserve.io",
        "notebooks.kubeflow.org",
        "trainjobs.trainer.kubeflow.org",
        "trainingruntimes.trainer.kubeflow.org",
        "clustertrainingruntimes.trainer.kubeflow.org",
    } == {f"{r.plural}.{r.group}" for r in crds.RESOURCES}
    assert {f"{r.plural}.{r.group}" for r in crds.RESOURCES} <= set(crds.names())
    assert [doc["metadata"]["name"] for doc in crds.shipped()] == ["experiments.kubeflow.org"]
    assert crds.name_of("serving.kserve.io_inferenceservices.yaml") == "inferenceservices.serving.kserve.io"
    assert crds.groups() == ["argoproj.io", "kubeflow.org", "serving.kserve.io", "trainer.kubeflow.org"]


def test_notebook_crd_is_generated_from_go_types_on_upstream_k8s_api() -> None:
    """The Notebook CRD's Go source holds only the Notebook shape; the pod template is k8s.io/api's PodSpec."""
    source = TESTENV / "notebook"
    types = (source / "v1" / "notebook_types.go").read_text()
    assert 'Spec corev1.PodSpec `json:"spec,omitempty"`' in types
    assert "+groupName=kubeflow.org" in (source / "v1" / "doc.go").read_text()
    gomod = (source / "go.mod").read_text()
    staging = "v0." + binaries.KUBERNETES_VERSION.removeprefix("v1.")
    assert f"k8s.io/api {staging}" in gomod  # the pod schema of the Kubernetes the environment runs
    script = (TESTENV / "build-addons.sh").read_text()
    assert "sigs.k8s.io/controller-tools/cmd/controller-gen@${CONTROLLER_TOOLS_VERSION}" in script


def test_build_addons_copies_exactly_what_the_environment_reads() -> None:
    """The file names in build-addons.sh and in the Python that installs them cannot drift apart."""
    script = (TESTENV / "build-addons.sh").read_text()
    copied = set(re.findall(r"([\w./-]+\.yaml)\b", script))
    names = {Path(f).name for f in copied}
    assert set(crds.ARGO_CRDS) | set(crds.KSERVE_CRDS) | set(crds.TRAINER_CRDS) | set(crds.NOTEBOOK_CRDS) <= names
    assert set(argo.RBAC_FILES) <= names
    assert {f"{stage}.yaml" for stage in kwok.STOCK_STAGES} <= names


def test_kwok_stage_reads_the_annotations_kwok_py_documents() -> None:
    stage = (ROOT / "devenv" / "kwok-argo-stage.yaml").read_text()
    doc = yaml.safe_load(stage)
    assert doc["kind"] == "Stage" and doc["spec"]["resourceRef"] == {"apiGroup": "v1", "kind": "Pod"}
    template = doc["spec"]["next"]["statusTemplate"]
    assert f'"{kwok.EXIT_CODE_ANNOTATION}"' in template
    assert f'"{kwok.EXIT_CODE_ANNOTATION}.%s"' in template
    assert (
        doc["spec"]["delay"]["durationFrom"]["expressionFrom"] == f'.metadata.annotations["{kwok.DURATION_ANNOTATION}"]'
    )
    selectors = {e["key"] for e in doc["spec"]["selector"]["matchExpressions"]}
    assert '.metadata.labels["workflows.argoproj.io/workflow"]' in selectors


def test_kwok_nodes_are_taken_over_by_kwok_and_offer_gpus() -> None:
    nodes = {n["metadata"]["name"]: n for n in kwok.node_manifests()}
    assert set(nodes) == set(kwok.NODES)
    for node in nodes.values():
        assert node["metadata"]["annotations"] == dict([kwok.NODE_ANNOTATION])
        assert node["status"]["allocatable"] == node["status"]["capacity"]
    assert any("nvidia.com/gpu" in n["status"]["capacity"] for n in nodes.values())


def test_client_certificates_carry_user_and_groups(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    pair = pki.client("carol", ("team-c", "ml-approvers"))
    cert = x509.load_pem_x509_certificate(pair.cert_pem())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "carol"
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["team-c", "ml-approvers"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    ca = x509.load_pem_x509_certificate(pki.ca.cert_pem())
    cert.verify_directly_issued_by(ca)


def test_kubeconfig_embeds_everything(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    path = kubeconfig.write(tmp_path / "k", "https://127.0.0.1:1", pki.ca.cert_pem(), "dave", pki.client("dave"))
    text = path.read_text()
    assert "certificate-authority-data" in text and "client-key-data" in text
    assert str(tmp_path) not in text  # self-contained: no paths into the environment
    assert path.stat().st_mode & 0o777 == 0o600


def test_token_kubeconfig_carries_the_token_and_no_certificate(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    path = kubeconfig.write(
        tmp_path / "t", "https://127.0.0.1:1", pki.ca.cert_pem(), "system:serviceaccount:argo:argo", "tok"
    )
    user = yaml.safe_load(path.read_text())["users"][0]["user"]
    assert user == {"token": "tok"}
    assert path.stat().st_mode & 0o777 == 0o600


def test_apply_paths_refuse_unknown_kinds_and_wrong_scopes() -> None:
    assert kubeapply.path("v1", "ConfigMap", "c", "argo") == "/api/v1/namespaces/argo/configmaps/c"
    assert kubeapply.path("rbac.authorization.k8s.io/v1", "ClusterRole", "r") == (
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/r"
    )
    with pytest.raises(ValueError, match="does not install Deployment"):
        kubeapply.path("apps/v1", "Deployment", "d", "argo")
    with pytest.raises(ValueError, match="namespace missing"):
        kubeapply.path("v1", "ConfigMap", "c")
    with pytest.raises(ValueError, match="namespace not allowed"):
        kubeapply.path("v1", "Node", "n", "argo")
