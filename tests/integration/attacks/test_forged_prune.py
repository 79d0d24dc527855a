"""Forged prune attribution: someone who can edit a live object relabels it to pick the rule judging its deletion.

A prune is authorized per spec, tenant and source file. mlcp used to read those
from the live object's labels (`mlcp.dev/spec`, `mlcp.dev/tenant`) and
annotation (`mlcp.dev/source`), which a namespace admin can edit. Two attacks,
through the real CLI against a real API server:

- Alice owns vision (namespace admin there, through mlcp's RoleBinding). Turning
  off her namespace's network isolation is a Tenant change, platform admins
  only. She relabels the live NetworkPolicy so it claims her Pipeline's spec and
  file, touches the pipeline, and commits `networkIsolation.enabled: false`:
  with the labels believed, the NetworkPolicy's deletion would be judged as a
  Pipeline delete in her own tenant (allowed), written as the controller.
- Someone with access to nlp's namespace relabels nlp's WorkflowTemplate to
  claim vision's pipeline, whose file an admin last wrote, and Alice (vision's
  owner) deletes nlp's pipeline file: the deletion would be charged to the
  admin's authorship of vision's file.

The deletions must carry mlcp's inventory record (vision's Tenant / Pipeline,
their files), be denied, leave the objects in place, and be audited as denied.
Label values that make no sense must not crash the plan either.
"""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest
from kubernetes import client
from typer.testing import CliRunner, Result

from controlplane.audit import JsonlStore
from controlplane.audit.records import Result as AuditResult
from controlplane.audit.records import Verdict
from controlplane.cli.app import app
from controlplane.plans import Action, Change, Plan
from devenv import testing
from tests.integration import configrepo

pytestmark = pytest.mark.integration
runner = CliRunner()

ALICE = git.Actor("Alice", "alice@example.com")  # owner of vision
CAROL = git.Actor("Carol", "carol@example.com")  # owner of nlp
PIPELINE = "pipelines/train-detector.yaml"
EMBED = "embed-corpus"


class Cli:
    """The real CLI for one test repo, with the operator's settings in the environment."""

    def __init__(self, repo: configrepo.ConfigRepo, kubeconfig: Path, tmp: Path) -> None:
        self.repo, self.tmp = repo, tmp
        self.env: dict[str, str | None] = {
            "KUBECONFIG": str(kubeconfig),
            "MLFLOW_TRACKING_URI": None,  # the cluster only
            "MLCP_TRUSTED_BASE": repo.initial or repo.git.head.commit.hexsha,
            "MLCP_CONTROLLER_NAMESPACE": repo.system_ns,
        }

    def run(self, *args: str) -> Result:
        return runner.invoke(app, list(args), env=self.env)

    def plan(self, *flags: str) -> Plan:
        out = self.tmp / "plan.json"
        result = self.run("plan", str(self.repo.root), "--out", str(out), *flags)
        assert result.exit_code in (0, 2), result.output
        assert "Traceback" not in result.output
        return Plan.from_dict(json.loads(out.read_text()))

    def apply(self, audit: str, *flags: str) -> Result:
        return self.run("apply", str(self.repo.root), "--yes", "--audit-log", str(self.tmp / audit), *flags)


@pytest.fixture
def cli(tmp_path: Path, prefix: str, kubeconfig: Path) -> Cli:
    repo = configrepo.make(tmp_path, prefix)
    target = Cli(repo, kubeconfig, tmp_path)
    applied = target.apply("initial.jsonl")
    assert applied.exit_code == 0, applied.output
    del target.env["MLCP_TRUSTED_BASE"]  # from now on the applied revision is the base
    return target


def relabel(api: client.ApiClient, kind: str, namespace: str, name: str, labels: dict[str, str], source: str) -> None:
    """What the attacker does with `kubectl label/annotate --overwrite`."""
    patch = {"metadata": {"labels": labels, "annotations": {"mlcp.dev/source": source}}}
    if kind == "NetworkPolicy":
        client.NetworkingV1Api(api).patch_namespaced_network_policy(name, namespace, patch)
    else:
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            "argoproj.io", "v1alpha1", namespace, "workflowtemplates", name, patch
        )


def isolation(api: client.ApiClient, namespace: str) -> bool:
    try:
        client.NetworkingV1Api(api).read_namespaced_network_policy("mlcp-isolation", namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def workflow_template_exists(api: client.ApiClient, namespace: str, name: str) -> bool:
    try:
        client.CustomObjectsApi(api).get_namespaced_custom_object(
            "argoproj.io", "v1alpha1", namespace, "workflowtemplates", name
        )
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def only_delete(plan: Plan, kind: str) -> Change:
    [change] = [c for c in plan.changes if c.action is Action.delete and c.ref.kind == kind]
    return change


def test_owner_relabels_her_isolation_as_her_pipeline_to_prune_it_and_is_denied(
    cli: Cli, k8s_admin: client.ApiClient, devenv: testing.TestTarget
) -> None:
    repo = cli.repo
    alice = devenv.user_client("alice@example.com")
    forged_source = f"tenants/{repo.vision}/{PIPELINE}"
    labels = {"mlcp.dev/spec": "Pipeline.train-detector", "mlcp.dev/tenant": repo.vision}
    with pytest.raises(client.ApiException) as refused:  # mlcp's owner role holds no write on the isolation
        relabel(alice, "NetworkPolicy", repo.vision, "mlcp-isolation", labels, forged_source)
    assert refused.value.status == 403, refused.value.body
    relabel(k8s_admin, "NetworkPolicy", repo.vision, "mlcp-isolation", labels, forged_source)  # say she got it
    repo.edit(f"tenants/{repo.vision}/tenant.yaml", "    enabled: true\n", "    enabled: false\n")
    repo.edit(f"tenants/{repo.vision}/{PIPELINE}", '"20"', '"21"')  # she may: her authorship of the forged file
    repo.commit("vision: fewer epochs, no isolation", author=ALICE)

    delete = only_delete(cli.plan("--prune"), "NetworkPolicy")
    assert (str(delete.spec), delete.tenant) == (f"Tenant/{repo.vision}/{repo.vision}", repo.vision)
    assert delete.source == f"tenants/{repo.vision}/tenant.yaml", "the record's file, not the forged annotation"
    assert delete.decision is not None and not delete.decision.allowed
    assert "alice@example.com" in delete.decision.actors and "delete Tenant" in delete.decision.reason

    applied = cli.apply("attack.jsonl", "--prune")
    assert applied.exit_code == 0, applied.output  # her allowed pipeline change went ahead; the delete was skipped
    assert isolation(k8s_admin, repo.vision), "the NetworkPolicy isolating vision is still there"
    records = list(JsonlStore(cli.tmp / "attack.jsonl").records())
    [denied] = [r for r in records if r.target["kind"] == "NetworkPolicy"]
    assert denied.decision is Verdict.deny and denied.result is AuditResult.denied
    assert denied.spec_path == f"tenants/{repo.vision}/tenant.yaml" and denied.tenant == repo.vision


def test_relabelling_another_tenants_object_as_visions_does_not_let_alice_prune_it(
    cli: Cli, k8s_admin: client.ApiClient
) -> None:
    repo = cli.repo
    vision_file = f"tenants/{repo.vision}/{PIPELINE}"  # last written by the admin
    labels = {"mlcp.dev/spec": "Pipeline.train-detector", "mlcp.dev/tenant": repo.vision}
    relabel(k8s_admin, "WorkflowTemplate", repo.nlp, EMBED, labels, vision_file)
    repo.path(f"tenants/{repo.nlp}/pipelines/{EMBED}.yaml").unlink()
    repo.commit("remove nlp's embedding pipeline", author=ALICE)

    delete = only_delete(cli.plan("--prune"), "WorkflowTemplate")
    assert (str(delete.spec), delete.tenant) == (f"Pipeline/{repo.nlp}/{EMBED}", repo.nlp)
    assert delete.source == f"tenants/{repo.nlp}/pipelines/{EMBED}.yaml"
    assert delete.decision is not None and not delete.decision.allowed
    assert delete.decision.actors == ("alice@example.com",), "Alice's deletion of nlp's file, not the admin's"

    applied = cli.apply("attack.jsonl", "--prune")
    assert applied.exit_code == 0, applied.output
    assert workflow_template_exists(k8s_admin, repo.nlp, EMBED)
    [denied] = [r for r in JsonlStore(cli.tmp / "attack.jsonl").records() if r.target["kind"] == "WorkflowTemplate"]
    assert denied.result is AuditResult.denied and denied.tenant == repo.nlp


@pytest.mark.parametrize(
    ("spec", "tenant", "source"),
    [
        ("", "", ""),  # label values Kubernetes accepts, annotations anything at all
        ("Pipeline", "x" * 63, "/etc/passwd"),
        ("Pipeline.a.b", "a_b", "../../../../outside"),
        ("Tenant.A", "Z", "tenants/a\nb.yaml"),
    ],
)
def test_nonsense_labels_on_a_pruned_object_neither_crash_the_plan_nor_attribute_it(
    cli: Cli, k8s_admin: client.ApiClient, spec: str, tenant: str, source: str
) -> None:
    repo = cli.repo
    labels = {"mlcp.dev/spec": spec, "mlcp.dev/tenant": tenant}
    relabel(k8s_admin, "WorkflowTemplate", repo.nlp, EMBED, labels, source)
    repo.path(f"tenants/{repo.nlp}/pipelines/{EMBED}.yaml").unlink()
    repo.commit("nlp: retire the embedding pipeline", author=CAROL)

    delete = only_delete(cli.plan("--prune"), "WorkflowTemplate")
    expected = (f"Pipeline/{repo.nlp}/{EMBED}", repo.nlp, f"tenants/{repo.nlp}/pipelines/{EMBED}.yaml")
    assert (str(delete.spec), delete.tenant, delete.source) == expected
    assert delete.decision is not None and delete.decision.allowed, "Carol may retire her own pipeline"
    applied = cli.apply("retire.jsonl", "--prune")
    assert applied.exit_code == 0, applied.output
    assert not workflow_template_exists(k8s_admin, repo.nlp, EMBED)
