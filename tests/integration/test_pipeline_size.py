"""Pipelines too large for their runs, as the real workflow-controller treats them: what validation refuses, and why.

Argo keeps a run's template spec twice (`storedWorkflowTemplateSpec` and `storedTemplates`) within its
MAX_WORKFLOW_SIZE (1 MiB), and hands a step's template to its pod in ARGO_TEMPLATE, or above 128 KiB through a
ConfigMap its own ClusterRole does not let it create. Templates the API server and etcd accepted failed every
run. What validation refuses (tests/controlplane/test_pipeline_size.py), created as mlcp applied it before,
makes a run that fails; the largest validation accepts, applied by mlcp, runs.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controlplane.loading.repo import load_repo
from controlplane.rendering import RenderContext, render
from controlplane.validation import validate
from devenv import testing
from tests.controlplane.test_pipeline_size import scripted
from tests.integration import argo_support as argo
from tests.integration import configrepo

pytestmark = pytest.mark.integration


def test_validation_refuses_what_every_run_fails_on_and_passes_what_runs(
    tmp_path: Path, devenv: testing.TestTarget, kubeconfig: Path, k8s_admin: client.ApiClient
) -> None:
    argo.require_argo(devenv)
    repo = configrepo.make(tmp_path, f"t-size-{secrets.token_hex(3)}")
    folder = repo.root / "tenants" / repo.vision / "pipelines"
    (folder / "fits.yaml").write_text(scripted("fits", 490 * 1024), encoding="utf-8")
    (folder / "step-fits.yaml").write_text(scripted("step-fits", 120 * 1024, steps=1), encoding="utf-8")
    repo.commit("the largest pipeline and step validation accepts")
    argo.apply(repo, kubeconfig)  # validates, plans and applies
    (folder / "too-big.yaml").write_text(scripted("too-big", 525 * 1024), encoding="utf-8")
    (folder / "step-too-big.yaml").write_text(scripted("step-too-big", 140 * 1024, steps=1), encoding="utf-8")
    loaded = load_repo(repo.root)
    refused = sorted(d.path for d in validate(loaded) if d.code == "size")
    assert refused == [f"tenants/{repo.vision}/pipelines/{n}.yaml" for n in ("step-too-big", "too-big")]
    for manifest in render(RenderContext(loaded, commits={})):
        if manifest.ref.name in ("too-big", "step-too-big"):  # as mlcp applied them before: the servers take them
            body = manifest.manifest
            argo.argo(k8s_admin).create_namespaced_custom_object(*argo.ARGO, repo.vision, "workflowtemplates", body)
    try:
        failed = validated_run(k8s_admin, repo.vision, "too-big")
        assert failed["status"]["phase"] in ("Failed", "Error")
        assert "longer than maximum allowed size" in failed["status"].get("message", ""), failed["status"]
        failed = argo.run(k8s_admin, k8s_admin, repo.vision, "step-too-big")
        assert failed["status"]["phase"] in ("Failed", "Error")
        messages = [n.get("message", "") for n in failed["status"].get("nodes", {}).values()]
        assert any("configmaps is forbidden" in m for m in messages), failed["status"]
        for fits in ("fits", "step-fits"):
            ran = argo.run(k8s_admin, k8s_admin, repo.vision, fits)
            assert ran["status"]["phase"] == "Succeeded", ran["status"].get("message")
    finally:
        for ns in (repo.vision, repo.nlp):
            client.CoreV1Api(k8s_admin).delete_namespace(ns)


def validated_run(admin: client.ApiClient, ns: str, template: str) -> dict[str, Any]:
    """A run the controller validated on its first look, as it does every run it admits at once.

    The controller keeps a run's templates a second time (`storedTemplates`) while validating it on its first
    look. A run its throttler has not admitted yet (a race between the informer's add and the worker, seen under
    load with no parallelism set: "postponed due to max parallelism limit") is marked Pending, and later looks
    skip that validation, so such a run keeps the spec once and may fit. That is the rare path: the run is
    submitted again (three times at most) until the controller takes the usual one.
    """
    wf: dict[str, Any] = {}
    for _ in range(3):
        wf = argo.run(admin, admin, ns, template)
        if wf["status"].get("phase") != "Succeeded" or wf["status"].get("storedTemplates"):
            return wf
    return wf
