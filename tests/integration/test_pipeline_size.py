"""A pipeline too large for its runs, as the real workflow-controller treats it: what validation refuses, and why.

Argo keeps a run's template spec twice (`storedWorkflowTemplateSpec` and `storedTemplates`) within its
MAX_WORKFLOW_SIZE (1 MiB): a template the API server and etcd accepted failed every run. The spec validation
refuses (tests/controlplane/test_pipeline_size.py), created as mlcp applied it before, makes a run that fails
at once; the largest spec validation accepts, applied by mlcp, runs.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from kubernetes import client

from controlplane import pipeline_size
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
    repo.commit("the largest pipeline validation accepts")
    argo.apply(repo, kubeconfig)  # validates, plans and applies
    (folder / "too-big.yaml").write_text(scripted("too-big", 525 * 1024), encoding="utf-8")
    loaded = load_repo(repo.root)
    refused = [d for d in validate(loaded) if d.code == "size"]
    assert [d.path for d in refused] == [f"tenants/{repo.vision}/pipelines/too-big.yaml"]
    manifest = next(
        o.manifest for o in render(RenderContext(loaded, commits={})) if o.ref.name == "too-big"
    )  # what mlcp applied before validation measured it: the API server and etcd take it
    assert pipeline_size.go_json_size(manifest["spec"]) > pipeline_size.SPEC_BUDGET
    argo.argo(k8s_admin).create_namespaced_custom_object(*argo.ARGO, repo.vision, "workflowtemplates", manifest)
    try:
        failed = argo.run(k8s_admin, k8s_admin, repo.vision, "too-big")
        assert failed["status"]["phase"] in ("Failed", "Error")
        assert "longer than maximum allowed size" in failed["status"].get("message", ""), failed["status"]
        ran = argo.run(k8s_admin, k8s_admin, repo.vision, "fits")
        assert ran["status"]["phase"] == "Succeeded", ran["status"].get("message")
    finally:
        for ns in (repo.vision, repo.nlp):
            client.CoreV1Api(k8s_admin).delete_namespace(ns)
