"""Cross-reference checks: one test per rule, each pointing at the file, line and field to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.loading.repo import load_repo
from controlplane.validation import validate
from tests.controlplane.helpers import assert_problem, edit, line_of, problems, write

EMBED = "tenants/nlp/pipelines/embed-corpus.yaml"
TRAIN = "tenants/vision/pipelines/train-detector.yaml"
DETECTOR = "tenants/vision/experiments/detector.yaml"
PROMOTION = "tenants/vision/promotions/detector-production.yaml"
POLICY = "policies/access.yaml"

PIPELINE = """\
apiVersion: mlcp.dev/v1alpha1
kind: Pipeline
metadata:
  name: {name}
spec:
  steps:
    - name: only
      image: busybox
"""


def test_the_template_is_valid(repo: Path) -> None:
    assert problems(repo) == []


def test_spec_in_a_folder_without_tenant_is_refused(repo: Path) -> None:
    write(repo, "tenants/ghost/pipelines/p.yaml", PIPELINE.format(name="p"))
    found = assert_problem(repo, "tenants/ghost/pipelines/p.yaml", 1, "tenant 'ghost' has no Tenant spec")
    assert found.hint == "add tenants/ghost/tenant.yaml with `kind: Tenant`"


def test_invalid_tenant_is_reported_once_not_again_by_each_of_its_specs(repo: Path) -> None:
    path = edit(repo, "tenants/nlp/tenant.yaml", "    - carol@example.com\n", "")
    assert_problem(repo, "tenants/nlp/tenant.yaml", line_of(path, "owners:"), "spec.owners")


def test_duplicate_step_names_are_refused(repo: Path) -> None:
    path = edit(repo, TRAIN, "  schedule:\n", "    - name: train\n      image: busybox\n  schedule:\n")
    second = [n for n, text in enumerate(path.read_text().splitlines(), 1) if "- name: train" in text][1]
    assert_problem(repo, TRAIN, second, "duplicate step name 'train'", column=13)


def test_dependency_on_an_unknown_step_is_refused(repo: Path) -> None:
    path = edit(repo, TRAIN, "dependsOn: [train]", "dependsOn: [trian]")
    found = assert_problem(repo, TRAIN, line_of(path, "[trian]"), "step 'evaluate' depends on unknown step 'trian'")
    assert found.hint == "known steps: fetch-data, train, evaluate"


def test_dependency_on_itself_is_refused(repo: Path) -> None:
    path = edit(repo, TRAIN, "dependsOn: [train]", "dependsOn: [evaluate]")
    assert_problem(repo, TRAIN, line_of(path, "[evaluate]"), "step 'evaluate' depends on itself")


def test_cyclic_dependencies_are_refused(repo: Path) -> None:
    path = edit(repo, TRAIN, '      args: ["--since", "yesterday"]\n', "      dependsOn: [evaluate]\n")
    found = assert_problem(repo, TRAIN, line_of(path, "steps:") + 1, "steps depend on each other in a cycle")
    for step in ("fetch-data", "train", "evaluate"):
        assert step in found.message
    assert found.hint == "break the cycle in dependsOn"


@pytest.mark.parametrize("cron", ["61 2 * * *", "every night", "0 2 * * * *", "0 6 * * MON", "*/0 * * * *"])
def test_invalid_cron_is_refused(repo: Path, cron: str) -> None:
    path = edit(repo, TRAIN, '"0 2 * * *"', f'"{cron}"')
    found = assert_problem(repo, TRAIN, line_of(path, "cron:"), f"invalid cron expression {cron!r}", column=11)
    assert "@every 1h" in found.hint


@pytest.mark.parametrize("cron", ["@daily", "*/15 * * * 1-5", "0 0 1 1 *", "@every 1h"])
def test_valid_crons_are_accepted(repo: Path, cron: str) -> None:
    edit(repo, TRAIN, '"0 2 * * *"', f'"{cron}"')
    assert problems(repo) == []


@pytest.mark.parametrize("zone", ["Europe/Berlinn", "Europe", "../../etc/passwd", "x" * 300, "", "CET+1"])
def test_invalid_timezone_is_refused(repo: Path, zone: str) -> None:
    path = edit(repo, TRAIN, "timezone: Europe/Berlin", f"timezone: '{zone}'")
    found = assert_problem(repo, TRAIN, line_of(path, "timezone:"), "unknown time zone", column=15)
    assert "IANA" in found.hint


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('requests.cpu: "32"', "requests.cpu: lots"),
        ("requests.memory: 128Gi", "requests.memory: 128GB"),
        ('requests.nvidia.com/gpu: "4"', "requests.nvidia.com/gpu: -1"),
        ("memory: 1Gi", "memory: [1Gi]"),
        ('requests.cpu: "32"', "requests.cpu: .nan"),
        ('requests.cpu: "32"', "requests.cpu: NaN"),
        ('requests.cpu: "32"', "requests.cpu: Infinity"),
        ("requests.memory: 128Gi", "requests.memory: '1_000'"),
    ],
)
def test_invalid_quantity_is_refused(repo: Path, old: str, new: str) -> None:
    path = edit(repo, "tenants/vision/quota.yaml", old, new)
    key = new.split(":", maxsplit=1)[0].strip()
    found = assert_problem(repo, "tenants/vision/quota.yaml", line_of(path, new), "quantit")
    assert key in found.message


def test_invalid_quantity_in_a_pipeline_step_is_refused(repo: Path) -> None:
    path = edit(repo, TRAIN, "limits: {memory: 48Gi,", "limits: {memory: lots,")
    found = assert_problem(repo, TRAIN, line_of(path, "memory: lots"), "'lots' is not a Kubernetes quantity")
    assert found.message.startswith("spec.steps[1].resources.limits.memory:")


def test_invalid_resource_name_is_refused(repo: Path) -> None:
    path = edit(repo, "tenants/nlp/quota.yaml", "count/pods", "count/Pods!")
    assert_problem(repo, "tenants/nlp/quota.yaml", line_of(path, "count/Pods!"), "is not a Kubernetes resource name")


def test_trial_pipeline_must_exist(repo: Path) -> None:
    path = edit(repo, DETECTOR, "trialPipeline: train-detector", "trialPipeline: train-detecter")
    found = assert_problem(
        repo,
        DETECTOR,
        line_of(path, "trialPipeline"),
        "trial pipeline 'train-detecter' does not exist in tenant 'vision'",
    )
    assert found.column == 20


def test_trial_pipeline_of_another_tenant_does_not_count(repo: Path) -> None:
    path = edit(repo, DETECTOR, "trialPipeline: train-detector", "trialPipeline: embed-corpus")
    assert_problem(
        repo,
        DETECTOR,
        line_of(path, "trialPipeline"),
        "trial pipeline 'embed-corpus' does not exist in tenant 'vision'",
    )


def test_invalid_trial_pipeline_is_reported_once(repo: Path) -> None:
    path = edit(repo, TRAIN, "image: ghcr.io/example/vision-data:1.3.0", "image: ''")
    assert_problem(repo, TRAIN, line_of(path, "image: ''"), "spec.steps[0].image")


def test_tuned_parameter_must_be_a_parameter_of_the_trial_pipeline(repo: Path) -> None:
    path = edit(repo, DETECTOR, "- name: epochs", "- name: epoch")
    assert_problem(repo, DETECTOR, line_of(path, "name: epoch"), "pipeline 'train-detector' has no parameter 'epoch'")


def test_duplicate_pipeline_parameters_are_refused(repo: Path) -> None:
    path = edit(repo, TRAIN, '      value: "20"\n', '      value: "20"\n    - name: epochs\n      value: "5"\n')
    assert_problem(repo, TRAIN, line_of(path, 'value: "20"') + 1, "duplicate parameter 'epochs'")


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        ("tenants/vision/tenant.yaml", "  deletionProtection: true\n", "  namespace: nlp-team\n"),
        ("tenants/nlp/tenant.yaml", "namespace: nlp-team", "namespace: vision"),  # meets a defaulted one
    ],
)
def test_two_tenants_with_one_namespace_are_left_to_the_plan(repo: Path, path: str, old: str, new: str) -> None:
    """Only the inventory knows which of them owns it: an offline error would set the owner aside too."""
    edit(repo, path, old, new)
    assert problems(repo) == []


def test_reserved_namespace_is_refused(repo: Path) -> None:
    path = edit(repo, "tenants/nlp/tenant.yaml", "namespace: nlp-team", "namespace: kube-system")
    assert_problem(repo, "tenants/nlp/tenant.yaml", line_of(path, "kube-system"), "namespace 'kube-system' is reserved")


def test_promotion_with_both_version_and_from_alias_is_refused(repo: Path) -> None:
    path = edit(repo, PROMOTION, "  fromAlias: staging\n", "  fromAlias: staging\n  version: 3\n")
    assert_problem(repo, PROMOTION, line_of(path, "model:"), "spec: set exactly one of `version`")


def test_promotion_with_neither_version_nor_from_alias_is_refused(repo: Path) -> None:
    path = edit(repo, PROMOTION, "  fromAlias: staging\n", "")
    assert_problem(
        repo, PROMOTION, line_of(path, "model:"), "set exactly one of `version` (a fixed version) or `fromAlias`"
    )


def test_promotion_with_only_a_version_is_fine(repo: Path) -> None:
    edit(repo, PROMOTION, "  fromAlias: staging\n", "  version: 7\n")
    assert problems(repo) == []


def test_promotion_from_its_own_alias_is_refused(repo: Path) -> None:
    path = edit(repo, PROMOTION, "fromAlias: staging", "fromAlias: production")
    assert_problem(repo, PROMOTION, line_of(path, "model:"), "`fromAlias` must differ from `alias`")


def test_binding_of_an_undefined_role_is_refused(repo: Path) -> None:
    path = edit(repo, POLICY, "- role: model-approver", "- role: model-approvers")
    found = assert_problem(repo, POLICY, line_of(path, "role: model-approvers"), "undefined role 'model-approvers'")
    assert found.column == 13
    assert found.hint == "defined roles: platform-admin, tenant-developer, model-approver"


def test_binding_of_an_undefined_group_is_refused(repo: Path) -> None:
    path = edit(
        repo,
        POLICY,
        "role: model-approver\n      groups: [model-approvers]",
        "role: model-approver\n      groups: [approvers]",
    )
    assert_problem(repo, POLICY, line_of(path, "[approvers]"), "binding names undefined group 'approvers'")


def test_approval_rule_of_an_undefined_group_is_refused(repo: Path) -> None:
    path = edit(repo, POLICY, "approvers:\n        groups: [model-approvers]", "approvers:\n        groups: [risk]")
    assert_problem(repo, POLICY, line_of(path, "[risk]"), "approval rule names undefined group 'risk'")


def test_a_tenant_pattern_in_a_roles_rule_is_refused_not_silently_granting_nothing(repo: Path) -> None:
    """Approval rules and freeze windows take tenant patterns; a role's rule does not (a grant stays exact)."""
    path = edit(repo, POLICY, 'tenants: ["@own"]', 'tenants: ["@own", "vision-*"]')
    found = assert_problem(repo, POLICY, line_of(path, "vision-*"), "names tenants exactly, never by pattern")
    assert "'vision-*' would grant nothing" in found.message


def test_duplicate_roles_are_refused(repo: Path) -> None:
    path = edit(repo, POLICY, "- name: model-approver", "- name: platform-admin")
    edit(repo, POLICY, "- role: model-approver", "- role: platform-admin")
    second = [n for n, text in enumerate(path.read_text().splitlines(), 1) if "- name: platform-admin" in text][1]
    assert_problem(repo, POLICY, second, "duplicate role 'platform-admin'")


def test_a_second_access_policy_is_refused(repo: Path) -> None:
    text = (repo / POLICY).read_text().replace("  name: platform\n", "  name: other\n")
    write(repo, "policies/other.yaml", text)
    assert_problem(
        repo, "policies/other.yaml", line_of(repo / "policies/other.yaml", "name: other"), "a second AccessPolicy"
    )


def test_all_problems_are_reported_at_once_sorted_by_place(repo: Path) -> None:
    edit(repo, TRAIN, "dependsOn: [train]", "dependsOn: [nope]")
    edit(repo, TRAIN, "timezone: Europe/Berlin", "timezone: Mars/Olympus")
    edit(repo, POLICY, "- role: model-approver", "- role: nobody")
    edit(repo, DETECTOR, "trialPipeline: train-detector", "trialPipeline: gone")
    write(
        repo,
        "tenants/ghost/quota.yaml",
        "apiVersion: mlcp.dev/v1alpha1\nkind: Quota\nmetadata: {name: q}\nspec:\n  hard: {cpu: '1'}\n",
    )
    found = validate(load_repo(repo))
    assert [(d.path, d.code) for d in found] == [
        (POLICY, "policy"),
        ("tenants/ghost/quota.yaml", "unknown-tenant"),
        (DETECTOR, "reference"),
        (TRAIN, "steps"),
        (TRAIN, "schedule"),
    ]


@pytest.mark.parametrize("where", ["spec", "metadata"])
def test_a_tenant_cannot_set_its_own_pod_security_labels(repo: Path, where: str) -> None:
    tenant = "tenants/vision/tenant.yaml"
    if where == "spec":
        path = edit(repo, tenant, "    cost-center: cv-001\n", "    pod-security.kubernetes.io/enforce: privileged\n")
    else:
        path = edit(
            repo, tenant, "  name: vision\n", "  name: vision\n  labels:\n    pod-security.kubernetes.io/warn: x\n"
        )
    found = assert_problem(repo, tenant, line_of(path, "pod-security.kubernetes.io/"), "is mlcp's")
    assert "spec.podSecurity" in found.hint and found.code == "pod-security"


@pytest.mark.parametrize("account", ["mlcp-deployer", "mlcp-workload", "trainer", "default"])
def test_a_pipeline_cannot_choose_its_service_account(repo: Path, account: str) -> None:
    # runs are the tenant's workload account's; no field of a pipeline names another, mlcp's or the team's own
    path = edit(repo, TRAIN, "  steps:\n", f"  serviceAccount: {account}\n  steps:\n")
    assert_problem(repo, TRAIN, line_of(path, "serviceAccount:"), "serviceAccount")
