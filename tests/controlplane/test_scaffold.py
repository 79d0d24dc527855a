"""The repo template's CI, hook and ownership files: well formed, and using commands mlcp really has."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
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
    # YAML 1.1 reads the key `on` as true. The base branch's copy of this file runs, never the pull request's
    # (whose author could otherwise rewrite the steps that hold the secrets); its commits are only checked out.
    assert list(workflow[True]) == ["pull_request_target"]
    assert workflow["permissions"]["pull-requests"] == "write"
    for job in workflow["jobs"].values():
        [checkout] = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@")]
        assert checkout["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"
        assert checkout["with"]["persist-credentials"] is False
        for step in job["steps"]:
            assert not step.get("uses", "").startswith("./"), "no action of the checkout runs"
    assert workflow["jobs"]["plan"]["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    scripts = {job: "\n".join(s.get("run", "") for s in spec["steps"]) for job, spec in workflow["jobs"].items()}
    calls = [c for script in scripts.values() for c in _mlcp_invocations(script)]
    assert ["validate"] in calls
    assert ["plan", "--base", "origin/main", "--head", "HEAD", "-o", "markdown"] in calls
    assert "gh pr comment" in scripts["plan"]
    assert workflow["jobs"]["plan"]["needs"] == "validate"
    for call in calls:
        _check_cli_accepts(call)


def test_ci_validates_with_the_target_branch_as_trusted_base_and_plans_without_it() -> None:
    """Whose registry names are whose depends on the trusted base: pull-request CI validated without one, so a
    stranger's folder named as a tenant's model made the tenant's own promotion the annotated error. The plan job
    must get none from the scaffold: a named base that the applied one precedes would vouch for unapplied commits."""
    workflow = load(".github/workflows/mlcp.yaml")
    validate = workflow["jobs"]["validate"]
    [step] = [s for s in validate["steps"] if s.get("name") == "mlcp validate"]
    assert step["env"]["MLCP_TRUSTED_BASE"] == "${{ github.event.pull_request.base.sha }}"
    [checkout] = [s for s in validate["steps"] if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["fetch-depth"] == 0, "the base commit is in the clone"
    assert "MLCP_TRUSTED_BASE" not in str(workflow["jobs"]["plan"]) and "MLCP_TRUSTED_BASE" not in str(workflow["env"])
    ci = load(".gitlab-ci.yml")
    assert ci["validate"]["variables"]["MLCP_TRUSTED_BASE"] == "$CI_MERGE_REQUEST_DIFF_BASE_SHA"
    assert "MLCP_TRUSTED_BASE" not in str(ci["plan"]) and "MLCP_TRUSTED_BASE" not in str(ci["variables"])


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


def _heredoc(script: str) -> tuple[list[str], str]:
    """The python command and the program of a CI script's `python … - <<'PY'` block."""
    lines = script.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("python") and "<<'PY'" in line)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == "PY")
    command = shlex.split(lines[start].split("<<")[0])
    return command, textwrap.dedent("\n".join(lines[start + 1 : end]))


def _run(command: list[str], program: str, cwd: Path, env: dict[str, str] | None = None) -> Any:
    """A CI step's Python program, run as the step runs it (its flags), with this interpreter."""
    step = [sys.executable, *command[1:]]
    return subprocess.run(step, input=program, cwd=cwd, text=True, capture_output=True, env=env, check=False)


def _plant(checkout: Path) -> Path:
    """What a pull request could add at the repo's root: modules named like the ones the CI's Python imports."""
    marker = checkout / "ran"
    for name in ("json", "os", "urllib"):
        (checkout / f"{name}.py").write_text(f"open({str(marker)!r}, 'a').write('{name} ')\n")
    return marker


def test_the_github_annotation_step_runs_nothing_from_the_checkout_and_escapes_workflow_commands(
    tmp_path: Path,
) -> None:
    """The pull request is data: a json.py in it must not run in CI, and a file name or message made of workflow
    commands (`%0A::add-mask::`, `,` and `:` in a property) must stay inside its one `::error` line."""
    workflow = load(".github/workflows/mlcp.yaml")
    script = next(s["run"] for s in workflow["jobs"]["validate"]["steps"] if "<<'PY'" in s.get("run", ""))
    command, program = _heredoc(script)
    assert command[:2] == ["python", "-I"]
    marker = _plant(tmp_path)
    errors = [
        {
            "path": "tenants/x/a,line=1::b\n::add-mask::secret.yaml",
            "line": 3,
            "column": 1,
            "message": "bad\n::warning file=x::forged\r%0A",
            "hint": "",
        }
    ]
    (tmp_path / "validate.json").write_text(json.dumps({"errors": errors}))
    done = _run(command, program, tmp_path)
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), "nothing of the checkout was imported"
    assert done.stdout.splitlines() == [
        "::error file=tenants/x/a%2Cline=1%3A%3Ab%0A%3A%3Aadd-mask%3A%3Asecret.yaml,line=3,col=1"
        "::bad%0A::warning file=x::forged%0D%250A"
    ]


def test_the_gitlab_comment_step_runs_nothing_from_the_checkout(tmp_path: Path) -> None:
    ci = load(".gitlab-ci.yml")
    script = next(line for line in ci["plan"]["script"] if "<<'PY'" in line)
    command, program = _heredoc(script)
    assert command[:2] == ["python3", "-I"]
    marker = _plant(tmp_path)
    (tmp_path / "plan.md").write_text("### mlcp plan\n")
    env = {
        "CI_API_V4_URL": "http://127.0.0.1:9/api/v4",  # nothing listens: the post fails, after the imports
        "CI_PROJECT_ID": "1",
        "CI_MERGE_REQUEST_IID": "1",
        "MLCP_BOT_TOKEN": "token",
        "PATH": os.environ.get("PATH", ""),
    }
    done = _run(command, program, tmp_path, env)
    assert "URLError" in done.stderr or "Connection refused" in done.stderr, done.stderr[-2000:]
    assert not marker.exists(), "nothing of the checkout was imported"
