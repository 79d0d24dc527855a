"""The repo template's CI, hook and ownership files: well formed, and using commands mlcp really has."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.scaffold import TEMPLATE_ADMIN, template_dir
from tests.controlplane.helpers import TEMPLATE, mlcp

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def load(rel: str) -> Any:
    return yaml.safe_load((TEMPLATE / rel).read_text(encoding="utf-8"))


def test_the_source_checkout_template_is_the_one_used() -> None:
    assert template_dir() == TEMPLATE
    assert TEMPLATE_ADMIN in (TEMPLATE / "policies/access.yaml").read_text()


@pytest.mark.parametrize(
    ("rel", "schema"),
    [(".github/workflows/mlcp.yaml", "vendor.github-workflows"), (".gitlab-ci.yml", "vendor.gitlab-ci")],
)
def test_ci_files_match_their_platforms_schema(rel: str, schema: str) -> None:
    done = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", schema, str(TEMPLATE / rel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _mlcp_invocations(script: str) -> list[list[str]]:
    calls = []
    for line in script.splitlines():
        words = shlex.split(line.split(" > ")[0].split(" || ")[0], comments=True)
        if words[:1] == ["mlcp"]:
            calls.append(words[1:])
    return calls


def _check_cli_accepts(args: list[str]) -> None:
    """The subcommand exists and knows every option the CI passes (usage errors exit 2)."""
    options = [a for a in args if a.startswith("-")]
    result = mlcp(args[0], "--help")
    assert result.exit_code == 0, result.output
    for option in options:
        assert option in result.stdout, f"`mlcp {args[0]}` has no {option}"


def test_github_workflow_validates_then_posts_the_plan_on_pull_requests() -> None:
    workflow = load(".github/workflows/mlcp.yaml")
    assert list(workflow[True]) == ["pull_request"]  # YAML 1.1 reads the key `on` as true
    assert workflow["permissions"]["pull-requests"] == "write"
    scripts = {job: "\n".join(s.get("run", "") for s in spec["steps"]) for job, spec in workflow["jobs"].items()}
    calls = [c for script in scripts.values() for c in _mlcp_invocations(script)]
    assert ["validate"] in calls
    assert ["plan", "--base", "origin/main", "--head", "HEAD", "-o", "markdown"] in calls
    assert "gh pr comment" in scripts["plan"]
    assert workflow["jobs"]["plan"]["needs"] == "validate"
    for call in calls:
        _check_cli_accepts(call)


def test_gitlab_ci_validates_then_posts_the_plan_on_merge_requests() -> None:
    ci = load(".gitlab-ci.yml")
    assert ci["workflow"]["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    calls = [c for job in ("validate", "plan") for line in ci[job]["script"] for c in _mlcp_invocations(line)]
    assert ["validate"] in calls
    assert [
        "plan",
        "--base",
        "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
        "--head",
        "HEAD",
        "-o",
        "markdown",
    ] in calls
    assert "merge_requests" in "\n".join(ci["plan"]["script"])
    for call in calls:
        _check_cli_accepts(call)


def test_pre_commit_hook_validates_the_whole_repo() -> None:
    (repo,) = load(".pre-commit-config.yaml")["repos"]
    (hook,) = repo["hooks"]
    assert repo["repo"] == "local"
    assert hook["entry"] == "mlcp validate"
    assert hook["pass_filenames"] is False


def test_codeowners_give_policies_to_the_platform_team_and_each_tenant_to_its_owners() -> None:
    rules = {}
    for line in (TEMPLATE / "CODEOWNERS").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, *owners = line.split()
            rules[pattern] = owners
    assert rules["/policies/"] == ["@example-org/platform-team"]
    tenants = sorted(p.name for p in (TEMPLATE / "tenants").iterdir())
    for tenant in tenants:
        owner = (TEMPLATE / f"tenants/{tenant}/tenant.yaml").read_text().split("owners:\n    - ")[1].split("@")[0]
        assert f"@{owner}" in rules[f"/tenants/{tenant}/"], tenant


def test_readme_explains_every_folder_of_the_layout() -> None:
    readme = (TEMPLATE / "README.md").read_text()
    for folder in ("policies/access.yaml", "tenant.yaml", "quota.yaml", "pipelines/", "experiments/", "promotions/"):
        assert folder in readme
    assert "mlcp validate" in readme
    assert "mlcp plan" in readme
