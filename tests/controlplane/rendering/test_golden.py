"""Golden files for rendering: the template repo's objects, exactly as apply would send them.

Regenerate after an intended change with `MLCP_UPDATE_GOLDEN=1 pytest tests/controlplane/rendering`,
then review the diff like any other code change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from controlplane.loading.repo import load_repo
from controlplane.rendering import RenderContext, render

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MLCP_UPDATE_GOLDEN") == "1"


def _rendered() -> dict[str, str]:
    repo = load_repo(ROOT / "repo_template")
    assert not repo.diagnostics
    files = {}
    for obj in render(RenderContext(repo, commits={})):
        scope = obj.ref.namespace or ("cluster" if obj.ref.system == "kubernetes" else obj.ref.system)
        name = f"{obj.ref.kind.lower()}-{scope}-{obj.ref.name.replace('/', '_')}.yaml"
        files[name] = yaml.safe_dump(obj.manifest, sort_keys=True)
    return files


def test_golden_files_match_rendering() -> None:
    rendered = _rendered()
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        for old in GOLDEN.glob("*.yaml"):
            old.unlink()
        for name, text in rendered.items():
            (GOLDEN / name).write_text(text, encoding="utf-8")
    expected = {p.name: p.read_text(encoding="utf-8") for p in GOLDEN.glob("*.yaml")}
    assert sorted(rendered) == sorted(expected), "objects added or removed; rerun with MLCP_UPDATE_GOLDEN=1"
    for name, text in rendered.items():
        assert text == expected[name], f"{name} changed; rerun with MLCP_UPDATE_GOLDEN=1 and review"


@pytest.mark.parametrize("kind", ["Namespace", "ResourceQuota", "WorkflowTemplate", "CronWorkflow", "Experiment"])
def test_every_object_carries_ownership_labels(kind: str) -> None:
    repo = load_repo(ROOT / "repo_template")
    objects = [
        o
        for o in render(RenderContext(repo, commits={"tenants/vision/tenant.yaml": "abc123"}))
        if o.ref.kind == kind and o.ref.system == "kubernetes"
    ]
    assert objects
    for obj in objects:
        labels = obj.manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "mlcp"
        assert labels["mlcp.dev/tenant"] in {"vision", "nlp"}
        assert labels["mlcp.dev/spec"].startswith(("Tenant.", "Quota.", "Pipeline.", "Experiment."))
        assert obj.manifest["metadata"]["annotations"]["mlcp.dev/source"].startswith("tenants/")


def test_source_commit_annotation_is_the_spec_files_commit() -> None:
    repo = load_repo(ROOT / "repo_template")
    objects = render(RenderContext(repo, commits={"tenants/vision/quota.yaml": "c0ffee"}))
    quota = next(o for o in objects if o.ref.kind == "ResourceQuota" and o.ref.namespace == "vision")
    other = next(o for o in objects if o.ref.kind == "ResourceQuota" and o.ref.namespace == "nlp-team")
    assert quota.manifest["metadata"]["annotations"]["mlcp.dev/source-commit"] == "c0ffee"
    assert "mlcp.dev/source-commit" not in other.manifest["metadata"]["annotations"]


def test_pipeline_dag_follows_depends_on() -> None:
    repo = load_repo(ROOT / "repo_template")
    template = next(
        o for o in render(RenderContext(repo)) if o.ref.kind == "WorkflowTemplate" and o.ref.name == "train-detector"
    )
    dag = template.manifest["spec"]["templates"][0]["dag"]["tasks"]
    assert [(t["name"], t.get("dependencies", [])) for t in dag] == [
        ("fetch-data", []),
        ("train", ["fetch-data"]),
        ("evaluate", ["train"]),
    ]
    assert template.manifest["spec"]["serviceAccountName"] == "mlcp-workload"
