"""The golden corpus judged by the real servers: mlcp says no exactly where Argo says no.

Every pipeline of tests/controlplane/pipeline_corpus is rendered by mlcp and put
to the gates a real cluster has, all cases in one batch:

- the API server with Argo's full CRDs: a server-side apply dry-run of each
  rendered WorkflowTemplate and CronWorkflow;
- Argo's workflow-controller, which validates a Workflow when it picks it up:
  one run is submitted per case (with the schedule's arguments, as a CronWorkflow
  would submit it) and fails before any node exists if the spec breaks a rule;
- the API server again, when the controller creates a step's pod: a pod it refuses
  fails the step's node with its answer ("... is invalid: ...");
- the controller's CronWorkflow validation (robfig/cron, name length, arguments),
  run when it picks up a CronWorkflow: one it refuses is never scheduled, and
  Argo v4.0.5 only logs why (the SpecError condition is written at a tick that
  never comes), so the verdict is read from the controller's log.

The servers' verdict must equal the corpus's, and the gate that refuses an
invalid case must be the one its header names; `none` cases are where mlcp is
stricter on purpose (an image no runtime can pull), and the servers must accept them.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from controlplane.loading.repo import load_repo
from controlplane.rendering import RenderContext, render
from devenv import testing
from reconciler import connecting, engine
from reconciler.applying import apply_plan, unchecked
from reconciler.backends.base import ApplyOptions
from tests.controlplane import corpus
from tests.integration import configrepo

pytestmark = pytest.mark.integration

ARGO = ("argoproj.io", "v1alpha1")
PLURALS = {"WorkflowTemplate": "workflowtemplates", "CronWorkflow": "cronworkflows"}
CASES = corpus.cases()
NOT_YET_SEEN = "not found"  # a template the controller's informer has not seen yet: submit again
POD_REFUSED = "is invalid"  # the API server's answer to a pod it refuses, which Argo writes on the step's node


def _artifact_repository(ns: str) -> dict[str, Any]:
    """The namespace's artifact repository, as a cluster operator configures it for Argo."""
    s3 = "s3:\n  bucket: pipelines\n  endpoint: minio.example.com:9000\n  insecure: true\n"
    return {
        "metadata": {
            "name": "artifact-repositories",
            "namespace": ns,
            "annotations": {"workflows.argoproj.io/default-artifact-repository": "default"},
        },
        "data": {"default": s3},
    }


@pytest.fixture(scope="module")
def rendered(
    tmp_path_factory: pytest.TempPathFactory, devenv: testing.TestTarget, kubeconfig: Path, k8s_admin: client.ApiClient
) -> Iterator[tuple[str, dict[str, list[dict[str, Any]]]]]:
    """The template's tenants applied by mlcp, then each corpus case rendered into vision's namespace."""
    if devenv.env is None or devenv.env.argo is None:
        pytest.skip("Argo's controller runs only in the local environment (docs/testing.md)")
    repo = configrepo.make(tmp_path_factory.mktemp("verdicts"), f"t-verdict-{secrets.token_hex(3)}")
    desired = engine.load_desired(repo.root)
    targets = repo.targets(kubeconfig)
    backends = connecting.connect(desired.repo, targets)
    plan, _ = engine.make_plan(desired, backends, targets=targets)
    report = apply_plan(plan, {"kubernetes": backends["kubernetes"]}, ApplyOptions(), authorize=unchecked)
    assert not report.failed, [(str(o.change.ref), o.message) for o in report.failed]
    client.CoreV1Api(k8s_admin).create_namespaced_config_map(repo.vision, _artifact_repository(repo.vision))
    for case in CASES:
        (repo.root / "tenants" / repo.vision / "pipelines" / f"{case.name}.yaml").write_text(case.text)
    names = {c.name for c in CASES}
    objects: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for obj in render(RenderContext(load_repo(repo.root), commits={})):
        if obj.ref.kind in PLURALS and obj.ref.name in names:
            objects[obj.ref.name].append(obj.manifest)
    yield repo.vision, objects
    client.CoreV1Api(k8s_admin).delete_namespace(repo.vision)
    client.CoreV1Api(k8s_admin).delete_namespace(repo.nlp)


def _api(admin: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(admin)


def _crd_refusal(admin: client.ApiClient, ns: str, manifests: list[dict[str, Any]]) -> str | None:
    """Why the API server (Argo's full CRD) refuses a server-side apply of these objects, if it does."""
    for manifest in manifests:
        try:
            _api(admin).patch_namespaced_custom_object(
                *ARGO,
                ns,
                PLURALS[manifest["kind"]],
                manifest["metadata"]["name"],
                manifest,
                dry_run="All",
                field_manager="mlcp-verdicts",
                _content_type="application/apply-patch+yaml",
            )
        except client.ApiException as exc:
            if exc.status == 422:
                return str(exc.body)
            raise
    return None


def _submit(admin: client.ApiClient, ns: str, name: str, manifests: list[dict[str, Any]]) -> str:
    cron = next((m for m in manifests if m["kind"] == "CronWorkflow"), None)
    spec: dict[str, Any] = {"workflowTemplateRef": {"name": name}}
    if cron is not None:  # what the CronWorkflow would submit: its workflowSpec, with the schedule's arguments
        spec = dict(cron["spec"]["workflowSpec"])
    spec["ttlStrategy"] = {"secondsAfterCompletion": 600}  # keep the run to read its verdict (a case may set 0)
    body = {"apiVersion": "/".join(ARGO), "kind": "Workflow", "metadata": {"generateName": "v-"}, "spec": spec}
    created: dict[str, Any] = _api(admin).create_namespaced_custom_object(*ARGO, ns, "workflows", body)
    return str(created["metadata"]["name"])


def _run_verdict(wf: dict[str, Any]) -> tuple[str | None, str] | None:
    """(None, "valid") once a step's pod node exists or the run succeeded; (gate, message) if the API server refused
    a step's pod ("pod": Argo fails the node with the server's answer, in the pass that made it) or the run failed
    before any node ("controller"); None: not yet. A case's steps need a `command` for Argo to ask for their pods:
    without one it looks the image's entrypoint up in a registry, which the test environment cannot reach."""
    status = wf.get("status") or {}
    pods = [n for n in (status.get("nodes") or {}).values() if n.get("type") == "Pod"]
    refused = [n for n in pods if n.get("phase") in ("Error", "Failed") and POD_REFUSED in n.get("message", "")]
    if refused:
        return "pod", str(refused[0]["message"])
    if pods or status.get("phase") == "Succeeded":
        return None, "valid"
    if status.get("phase") in ("Failed", "Error"):
        return "controller", str(status.get("message", "refused"))
    return None


def _cron_verdicts(log: Path, ns: str) -> dict[str, str]:
    """For each CronWorkflow of `ns` the controller processed: "valid", or why it refused it."""
    verdicts: dict[str, str] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        found = re.search(rf"cronWorkflow={re.escape(ns)}/([-a-z0-9]+)", line)
        if found is None:
            continue
        name = found.group(1)
        if 'msg="Processing cron workflow"' in line:
            verdicts.setdefault(name, "valid")
        elif 'msg="invalid cron workflow"' in line:
            error = re.search(r'error="((?:[^"\\]|\\.)*)"', line)
            verdicts[name] = error.group(1) if error else "invalid"
    return verdicts


def test_the_real_servers_agree_with_mlcp_on_every_case(
    rendered: tuple[str, dict[str, list[dict[str, Any]]]], k8s_admin: client.ApiClient, devenv: testing.TestTarget
) -> None:
    ns, objects = rendered
    assert devenv.logs_dir is not None
    log = devenv.logs_dir / "workflow-controller.log"
    gates: dict[str, dict[str, str]] = {c.name: {} for c in CASES}
    for case in CASES:
        refusal = _crd_refusal(k8s_admin, ns, objects[case.name])
        if refusal is not None:
            gates[case.name]["crd"] = refusal
    admitted = [c for c in CASES if "crd" not in gates[c.name]]
    for case in admitted:
        for manifest in objects[case.name]:
            _api(k8s_admin).create_namespaced_custom_object(*ARGO, ns, PLURALS[manifest["kind"]], manifest)
    time.sleep(2)  # let the controller's template informer see them before runs reference them
    runs = {c.name: _submit(k8s_admin, ns, c.name, objects[c.name]) for c in admitted}
    pending = set(runs)
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            wf = _api(k8s_admin).get_namespaced_custom_object(*ARGO, ns, "workflows", runs[name])
            verdict = _run_verdict(wf)
            if verdict is not None and NOT_YET_SEEN in verdict[1] and "workflowtemplates" in verdict[1]:
                runs[name] = _submit(k8s_admin, ns, name, objects[name])
            elif verdict is not None:
                pending.discard(name)
                gate, message = verdict
                if gate is not None:
                    gates[name][gate] = message
        time.sleep(0.5)
    assert not pending, f"the controller decided nothing about {sorted(pending)} within 60 s"
    scheduled = {c.name for c in admitted if c.scheduled}
    while time.monotonic() < deadline and not scheduled <= set(crons := _cron_verdicts(log, ns)):
        time.sleep(0.5)
    assert scheduled <= set(crons), f"the controller processed no CronWorkflow {sorted(scheduled - set(crons))}"
    for name in scheduled:
        if crons[name] != "valid":
            gates[name]["cron"] = crons[name]
    disagreements = [
        f"{case.name}: the corpus says {case.gate or 'valid'}, the servers refused it at {gates[case.name] or 'none'}"
        for case in CASES
        if not _agrees(case, set(gates[case.name]))
    ]
    assert not disagreements, "\n".join(disagreements)


def _agrees(case: corpus.Case, refused_by: set[str]) -> bool:
    """Whether the servers' gates match the case: none for a valid one, and the named gate for an invalid one.

    A run of a scheduled case carries the schedule's arguments, so a case the CronWorkflow refuses for its
    arguments is refused by the run too; the CRD gate stops a case before the others see it.
    """
    if case.valid or case.gate == "none":
        return not refused_by
    if case.gate == "crd":
        return refused_by == {"crd"}
    if case.gate == "cron":
        return "cron" in refused_by and "crd" not in refused_by
    if case.gate == "pod":
        return refused_by == {"pod"}
    return refused_by == {"controller"}
