"""Carol, owner of nlp and nothing in vision, goes after vision through spec files with odd names.

Tenant folders are DNS labels, but a spec's file name may hold spaces, quotes
and non-ASCII letters. git quotes such paths in its default output
(core.quotePath), so they never matched the spec's path: the commits in range
that touched the file were invisible, and the file was judged by its last
writer alone — here the admin, who touched the file after Carol. Carol's edit
and her new file must both be denied as hers. A name git stores in bytes that are not UTF-8 is the committer's
tenant's error, never a crashed pass for everyone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.attacks import gitattack

pytestmark = pytest.mark.integration

ODD = 'pipelines/label audit – été "v2".yaml'
NEW_ODD = "pipelines/ünïcode and spaces.yaml"
IMAGE = "ghcr.io/example/vision-audit:1.0.0"
EVIL = "ghcr.io/evil/miner:1"


def pipeline(name: str, image: str) -> str:
    return f"""apiVersion: mlcp.dev/v1alpha1
kind: Pipeline
metadata:
  name: {name}
spec:
  description: Audits the labels.
  steps:
    - name: audit
      image: {image}
      command: [python, -m, audit]
"""


@pytest.fixture
def op(tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str) -> gitattack.Operator:
    vision = f"{prefix}-vision"[:63]
    extra = {f"tenants/{vision}/{ODD}": pipeline("label-audit", IMAGE)}
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri, extra)
    assert op.repo.repo.vision == vision
    return op


def test_an_edit_to_an_oddly_named_spec_is_attributed_to_its_author_and_denied(
    op: gitattack.Operator, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    repo, vision = op.repo, op.repo.repo.vision
    assert gitattack.step_images(k8s_admin, vision, "label-audit") == [IMAGE], "the odd file was applied"
    repo.edit(f"tenants/{vision}/{ODD}", IMAGE, EVIL)
    repo.commit("vision: faster audits", "carol")
    repo.edit(f"tenants/{vision}/{ODD}", "  description: Audits the labels.", "  description: Audits labels.")
    repo.commit("vision: wording", "admin")  # the admin touches the file last, without noticing the image

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    said = gitattack.said(result)
    assert result.exception is None or isinstance(result.exception, SystemExit), gitattack.explain(result)
    assert "default-deny" in said and "carol@example.com" in said, result.output
    assert gitattack.step_images(k8s_admin, vision, "label-audit") == [IMAGE]

    [denied] = op.records(audit, "--decision", "deny", "--kind", "WorkflowTemplate")
    assert denied["specPath"] == f"tenants/{vision}/{ODD}"
    assert denied["rule"] == "default-deny" and "carol@example.com" in denied["reason"]
    assert set(denied["actors"]) == {"carol@example.com", "admin@example.com"}
    assert op.verified(audit)


def test_a_new_oddly_named_spec_by_a_non_member_is_denied(
    op: gitattack.Operator, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    repo, vision = op.repo, op.repo.repo.vision
    repo.write(f"tenants/{vision}/{NEW_ODD}", pipeline("miner", EVIL))
    repo.commit("vision: a helper pipeline", "carol")

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    said = gitattack.said(result)
    assert "default-deny" in said and "carol@example.com" in said, result.output
    assert gitattack.step_images(k8s_admin, vision, "miner") == [], "nothing of carol's reached vision"

    [denied] = op.records(audit, "--decision", "deny", "--kind", "WorkflowTemplate")
    assert denied["specPath"] == f"tenants/{vision}/{NEW_ODD}" and denied["action"] == "create"
    assert denied["actors"] == ["carol@example.com"] and "carol@example.com" in denied["reason"]


def test_a_spec_named_in_bytes_that_are_not_utf8_sets_aside_its_tenant_not_the_pass(
    op: gitattack.Operator, k8s_admin: client.ApiClient, tmp_path: Path
) -> None:
    """Carol commits, in her own tenant, a pipeline whose file name is not UTF-8 (git takes any bytes); Alice
    then edits vision. The name became the WorkflowTemplate's `mlcp.dev/source` annotation and mlcp's inventory
    record, which no JSON encoder writes: the loop's pass, and apply, ended in a traceback at the inventory
    write, so no tenant converged until someone found and renamed the file. Now nlp is set aside (invalid
    specs, the name shown with its bytes escaped) and vision converges."""
    repo, nlp, vision = op.repo, op.repo.repo.nlp, op.repo.repo.vision
    name = os.fsdecode(f"tenants/{nlp}/pipelines/miner".encode() + b"\xff.yaml")
    repo.write(name, pipeline("miner", EVIL))
    repo.commit("nlp: a helper", "carol")
    repo.edit(f"tenants/{vision}/{ODD}", "  description: Audits the labels.", "  description: Audits labels.")
    head = repo.commit("vision: wording", "alice")

    code, log = op.reconcile_once(tmp_path / "loop.jsonl")
    assert code == 1 and "Traceback" not in log, log
    lines = [json.loads(line) for line in log.splitlines()]
    [done] = [line for line in lines if line.get("msg") == "pass done"]
    assert done["revision"] == head and nlp in done["failedTenants"] and vision not in done["failedTenants"], log
    shown = f"tenants/{nlp}/pipelines/miner\\xff.yaml"
    [aside] = [line for line in lines if line.get("msg") == "tenant set aside; backing off"]
    assert aside["tenant"] == nlp and shown in aside["reason"] and "not UTF-8" in aside["reason"], aside
    assert gitattack.step_images(k8s_admin, nlp, "miner") == [], "nothing of the misnamed file was read"

    result = op.apply(tmp_path / "apply.jsonl")
    said = gitattack.said(result)
    assert isinstance(result.exception, SystemExit | None), gitattack.explain(result)
    assert result.exit_code == 1 and f"{shown}:1:1" in said and "rename it with a UTF-8 name" in said, said
