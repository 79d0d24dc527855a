"""Notebook: refused when it alone exceeds its quota or names people outside its tenant; rendered for Kubeflow."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.loading.repo import load_repo
from controlplane.rendering import RenderContext, render
from tests.controlplane.helpers import assert_problem, copy_template, edit, line_of, problems

NOTEBOOK = "tenants/vision/notebooks/explore.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_template(tmp_path / "repo")


def test_the_template_notebook_is_valid(repo: Path) -> None:
    assert problems(repo) == []


def test_a_notebook_wanting_more_gpus_than_the_quota_is_refused_at_the_field(repo: Path) -> None:
    edit(repo, NOTEBOOK, "gpu: 1", "gpu: 5")
    found = assert_problem(repo, NOTEBOOK, 13, "needs gpu 5, more than the tenant's quota 'compute'")
    assert "requests.nvidia.com/gpu" in found.message and "raise requests.nvidia.com/gpu" in found.hint


def test_memory_is_compared_as_a_quantity(repo: Path) -> None:
    edit(repo, NOTEBOOK, "memory: 8Gi", "memory: 0.2Ti")  # 204.8Gi > requests.memory 128Gi
    assert_problem(repo, NOTEBOOK, 12, "needs memory 0.2Ti")
    edit(repo, NOTEBOOK, "memory: 0.2Ti", "memory: 131072Mi")  # exactly 128Gi: fits
    assert problems(repo) == []


def test_only_the_tenants_own_people_may_use_it(repo: Path) -> None:
    edit(repo, NOTEBOOK, "- bob@example.com", "- carol@example.com")
    assert_problem(repo, NOTEBOOK, 18, "'carol@example.com' is not an owner or member of tenant 'vision'")


def test_a_view_member_never_gets_a_notebook(repo: Path) -> None:
    """A notebook runs code as the tenant: a `view` member (read-only in the cluster) listed in `users`, or left
    to the default of "everyone", would execute what her role does not allow."""
    tenant = "tenants/vision/tenant.yaml"
    edit(repo, tenant, "  members:\n", "  members:\n    - name: victor@example.com\n      role: view\n")
    edit(repo, NOTEBOOK, "- bob@example.com", "- victor@example.com")
    found = assert_problem(repo, NOTEBOOK, 18, "'victor@example.com' is a `view` member of tenant 'vision'")
    assert "role edit" in found.hint
    edit(repo, NOTEBOOK, "  users:\n    - alice@example.com\n    - victor@example.com\n", "")
    objects = {(o.ref.kind, o.ref.name): o for o in render(RenderContext(load_repo(repo)))}
    binding = objects[("RoleBinding", "mlcp-notebook-explore")].manifest
    assert {s["name"] for s in binding["subjects"]} == {"alice@example.com", "bob@example.com"}, "writers only"


def test_a_bad_image_reference_is_refused(repo: Path) -> None:
    edit(repo, NOTEBOOK, "kubeflownotebookswg/jupyter-pytorch-cuda:v1.9.0", "Kubeflow/Jupyter")
    assert_problem(repo, NOTEBOOK, 9, "lowercase")


def test_an_image_with_braces_is_checked_as_written(repo: Path) -> None:
    edit(repo, NOTEBOOK, "kubeflownotebookswg/jupyter-pytorch-cuda:v1.9.0", '"NOT AN IMAGE {{x}}"')
    assert_problem(repo, NOTEBOOK, 9, "`{{...}}` is substituted only in a pipeline's container")  # not here


def test_rendered_as_a_kubeflow_notebook_with_its_workspace_and_its_users_role(repo: Path) -> None:
    edit(repo, NOTEBOOK, "  users:\n    - alice@example.com\n    - bob@example.com\n", "  stopped: true\n")
    objects = {(o.ref.kind, o.ref.name): o for o in render(RenderContext(load_repo(repo)))}
    notebook = objects[("Notebook", "explore")].manifest
    [container] = notebook["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert container["volumeMounts"] == [{"name": "workspace", "mountPath": "/home/jovyan"}]
    assert notebook["metadata"]["annotations"]["kubeflow-resource-stopped"] == "mlcp"
    pvc = objects[("PersistentVolumeClaim", "explore-workspace")].manifest
    assert pvc["spec"]["resources"] == {"requests": {"storage": "20Gi"}}
    binding = objects[("RoleBinding", "mlcp-notebook-explore")].manifest
    assert {s["name"] for s in binding["subjects"]} == {"alice@example.com", "bob@example.com"}, "all of vision"
    role = objects[("Role", "mlcp-notebook-explore")].manifest
    assert {
        "apiGroups": [""],
        "resources": ["pods/portforward"],
        "resourceNames": ["explore-0"],
        "verbs": ["create"],
    } in (role["rules"])


def test_a_storage_class_the_api_server_refuses_is_refused_at_its_line(repo: Path) -> None:
    """The PVC is written before the Notebook: a class name that is no DNS subdomain left the Notebook without
    its workspace (a partial apply)."""
    edit(repo, NOTEBOOK, "    size: 20Gi\n", "    size: 20Gi\n    storageClass: Fast SSD\n")
    assert_problem(repo, NOTEBOOK, 16, "'Fast SSD' is not a DNS-1123 subdomain")
    edit(repo, NOTEBOOK, "storageClass: Fast SSD", "storageClass: ssd.example.com")
    assert problems(repo) == []


def _rename(repo: Path, name: str) -> str:
    edit(repo, NOTEBOOK, "  name: explore\n", f"  name: {name}\n")
    path = f"tenants/vision/notebooks/{name}.yaml"
    (repo / NOTEBOOK).rename(repo / path)
    return path


def test_a_name_the_notebook_controllers_service_cannot_have_is_refused(repo: Path) -> None:
    """The controller names the notebook's Service after it; `1explore` is no DNS-1035 label: never served."""
    path = _rename(repo, "1explore")
    assert_problem(repo, path, 7, "Notebook '1explore' must start with a letter: the notebook-controller's Service")


def test_a_name_too_long_for_the_statefulsets_revision_label_is_refused(repo: Path) -> None:
    """`controller-revision-hash: <name>-<hash>` overflows 63 characters past 52: the pod is never created."""
    path = _rename(repo, "n" * 53)
    assert_problem(repo, path, 7, "has 53 characters, more than 52")
    (repo / path).rename(repo / NOTEBOOK)
    edit(repo, NOTEBOOK, "n" * 53, "n" * 52)
    assert problems(repo) == []


def test_a_notebook_above_the_limit_range_max_is_refused_at_the_field(repo: Path) -> None:
    """The API server refuses the notebook's pod: the Notebook is written and never runs."""
    edit(repo, "tenants/vision/quota.yaml", "  limitRange:\n", "  limitRange:\n    max: {memory: 50Gi}\n")
    assert problems(repo) == []
    edit(repo, NOTEBOOK, "memory: 8Gi", "memory: 56Gi")
    found = assert_problem(repo, NOTEBOOK, 12, "the notebook server asks for memory 56Gi, above the most")
    assert "limitRange.max memory: 50Gi" in found.message


@pytest.mark.parametrize(
    "key",
    [
        "kubeflow-resource-stopped",
        "Kubeflow-Resource-Stopped",
        "notebooks.kubeflow.org/http-rewrite-uri",
        "notebooks.kubeflow.org/last-activity",
        "sidecar.istio.io/inject",
    ],
)
def test_annotations_the_notebook_controller_obeys_are_refused_at_their_line(repo: Path, key: str) -> None:
    """Spec annotations are copied onto the Notebook: `kubeflow-resource-stopped` stopped a colleague's server
    without `stopped`, `notebooks.kubeflow.org/*` changed its routing, outside anything mlcp checks."""
    path = edit(repo, NOTEBOOK, "  name: explore\n", f"  name: explore\n  annotations:\n    {key}: mlcp\n")
    found = assert_problem(repo, NOTEBOOK, line_of(path, key), f"annotation key {key!r} is ")
    assert "a spec sets none" in found.message


def test_other_annotations_still_reach_the_notebook(repo: Path) -> None:
    edit(repo, NOTEBOOK, "  name: explore\n", "  name: explore\n  annotations:\n    example.com/owner: vision\n")
    assert problems(repo) == []
    objects = {(o.ref.kind, o.ref.name): o for o in render(RenderContext(load_repo(repo)))}
    assert objects[("Notebook", "explore")].manifest["metadata"]["annotations"]["example.com/owner"] == "vision"
