"""The local environment's checked-in pieces agree with each other (no servers needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controlplane.devenv import binaries, crds, kubeconfig
from controlplane.devenv.pki import Pki

ROOT = Path(__file__).resolve().parents[2]
TESTENV = ROOT / "hack" / "testenv"


def _versions_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (TESTENV / "versions.env").read_text().splitlines())
    return {k.strip(): v.strip() for k, v in (p for p in pairs if len(p) == 2) if not k.startswith("#")}


def test_python_pins_match_versions_env() -> None:
    pins = _versions_env()
    assert pins["KUBERNETES_VERSION"] == binaries.KUBERNETES_VERSION
    assert pins["ETCD_VERSION"] == binaries.ETCD_VERSION


def test_go_mod_replaces_every_staging_module_at_the_matching_version() -> None:
    gomod = (TESTENV / "go.mod").read_text()
    staging = "v0." + binaries.KUBERNETES_VERSION.removeprefix("v1.")
    replaces = re.findall(r"^\t(k8s\.io/\S+) => (k8s\.io/\S+) (\S+)$", gomod, re.MULTILINE)
    assert len(replaces) == 31
    assert all(old == new and version == staging for old, new, version in replaces)
    assert f"k8s.io/kubernetes {binaries.KUBERNETES_VERSION}" in gomod
    assert f"go.etcd.io/etcd/server/v3 {binaries.ETCD_VERSION}" in gomod
    for tool in ("kube-apiserver", "kube-controller-manager", "kubectl"):
        assert f"\tk8s.io/kubernetes/cmd/{tool}\n" in gomod


def _check_structural(schema: dict[str, Any], path: str) -> None:
    """Every node says its type, or keeps unknown fields: what the API server demands."""
    assert "type" in schema or schema.get("x-kubernetes-preserve-unknown-fields"), path
    for name, sub in schema.get("properties", {}).items():
        _check_structural(sub, f"{path}.{name}")
    if "items" in schema:
        _check_structural(schema["items"], f"{path}[]")


@pytest.mark.parametrize("doc", crds.manifests(), ids=lambda d: d["metadata"]["name"])
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


def test_the_five_kinds_mlcp_writes_are_shipped() -> None:
    kinds = {(d["spec"]["group"], d["spec"]["names"]["kind"]) for d in crds.manifests()}
    assert kinds == {
        ("argoproj.io", "WorkflowTemplate"),
        ("argoproj.io", "CronWorkflow"),
        ("argoproj.io", "Workflow"),
        ("kubeflow.org", "Experiment"),
        ("serving.kserve.io", "InferenceService"),
    }


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
