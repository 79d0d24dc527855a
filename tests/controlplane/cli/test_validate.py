"""`mlcp validate`: exit codes, where errors go, and the JSON shape CI tools read."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.controlplane.helpers import edit, line_of, mlcp, spec_files, write


def test_valid_repo_exits_0_and_says_so_on_stderr(repo: Path) -> None:
    result = mlcp("validate", repo)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    files = spec_files(repo)
    assert files >= 10 and f"{files} spec(s) in {files} file(s) are valid" in result.stderr


def test_invalid_quantity_exits_1_naming_file_line_and_field(repo: Path) -> None:
    path = edit(repo, "tenants/nlp/quota.yaml", 'requests.cpu: "16"', "requests.cpu: lots")
    result = mlcp("validate", repo)
    assert result.exit_code == 1
    line = line_of(path, "lots")
    assert f"tenants/nlp/quota.yaml:{line}:19: error: spec.hard.requests.cpu: 'lots' is not a Kubernetes quantity" in (
        result.stderr
    )
    assert f"1 error(s) in {spec_files(repo)} file(s)" in result.stderr
    assert result.stdout == ""


def test_hints_are_printed_under_their_error(repo: Path) -> None:
    edit(repo, "tenants/nlp/tenant.yaml", "displayName:", "displayNam:")
    result = mlcp("validate", repo)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    error = next(i for i, text in enumerate(lines) if "spec.displayNam: unknown field" in text)
    assert lines[error + 1].strip() == "hint: did you mean `displayName`?"


@pytest.mark.parametrize("value", ["2026-12-01", "2026-12-01 10:30:00", "42", "true"])
def test_a_value_yaml_reads_as_a_date_or_number_where_text_belongs_is_told_to_be_quoted(repo: Path, value: str) -> None:
    path = edit(repo, "tenants/nlp/tenant.yaml", "displayName: Language Models", f"displayName: {value}")
    result = mlcp("validate", repo)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    error = next(i for i, text in enumerate(lines) if "spec.displayName: Input should be a valid string" in text)
    assert lines[error].startswith(f"tenants/nlp/tenant.yaml:{line_of(path, value)}:"), lines[error]
    assert lines[error + 1].strip().startswith("hint: quote the value to make it a string"), lines[error + 1]
    if "-" in value:
        assert "date or time" in lines[error + 1]


def test_a_tenant_yaml_with_errors_is_named_as_the_cause_in_its_tenants_other_files(repo: Path) -> None:
    edit(repo, "tenants/nlp/tenant.yaml", "members:", "members: {}")  # invalid YAML: the Tenant does not load
    result = mlcp("validate", repo)
    assert result.exit_code == 1
    assert "tenants/nlp/tenant.yaml:" in result.stderr and "invalid YAML" in result.stderr
    assert "tenant 'nlp' has no valid Tenant spec" in result.stderr
    assert "hint: fix the errors reported in tenants/nlp/tenant.yaml" in result.stderr
    assert "add tenants/nlp/tenant.yaml" not in result.stderr, "the file is there: never told to add it"


def test_a_tenant_kept_in_another_file_with_errors_is_pointed_at_too(repo: Path) -> None:
    """A Tenant may live in any file of its folder: when it does not load, its folder's broken files are named."""
    tenant = repo / "tenants/nlp/tenant.yaml"
    (repo / "tenants/nlp/team.yaml").write_text(tenant.read_text().replace("members:", "members: {}"))
    tenant.unlink()
    result = mlcp("validate", repo)
    assert result.exit_code == 1
    assert "tenants/nlp/team.yaml:" in result.stderr and "invalid YAML" in result.stderr
    assert "tenant 'nlp' has no valid Tenant spec" in result.stderr
    assert "hint: fix the errors reported in tenants/nlp/team.yaml if the Tenant is there" in result.stderr


def test_a_folder_with_no_tenant_and_no_broken_file_is_told_to_add_one(repo: Path) -> None:
    (repo / "tenants/nlp/tenant.yaml").unlink()
    result = mlcp("validate", repo)
    assert result.exit_code == 1
    assert "tenant 'nlp' has no Tenant spec" in result.stderr
    assert "hint: add tenants/nlp/tenant.yaml with `kind: Tenant`" in result.stderr


@pytest.mark.parametrize(
    ("old", "new", "hint"),
    [
        ("owners:\n    - carol@example.com", "owners: carol@example.com", "write a list: one `- item` per line"),
        ("owners:\n    - carol@example.com", "owners: []", "give at least 1 item(s)"),
        ("deletionProtection: true", "deletionProtection: maybe", "use true or false"),
    ],
    ids=["scalar-for-list", "empty-list", "not-a-boolean"],
)
def test_an_error_of_shape_says_how_to_fix_it(repo: Path, old: str, new: str, hint: str) -> None:
    edit(repo, "tenants/nlp/tenant.yaml", old, new)
    result = mlcp("validate", repo)
    assert result.exit_code == 1
    assert f"hint: {hint}" in result.stderr, result.stderr


def test_rich_markup_in_user_input_is_printed_literally(repo: Path) -> None:
    write(repo, "tenants/nlp/odd.yaml", "apiVersion: mlcp.dev/v1alpha1\nkind: '[bold]Quota[/bold]'\n")
    result = mlcp("validate", repo)
    assert result.exit_code == 1
    assert "unknown kind '[bold]Quota[/bold]'" in result.stderr


def test_json_output_is_on_stdout_with_every_error(repo: Path) -> None:
    edit(repo, "tenants/nlp/quota.yaml", 'requests.cpu: "16"', "requests.cpu: lots")
    edit(repo, "tenants/vision/pipelines/train-detector.yaml", "dependsOn: [train]", "dependsOn: [nope]")
    result = mlcp("validate", repo, "-o", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    files = spec_files(repo)
    assert (report["files"], report["specs"]) == (files, files - 1)
    assert [(e["path"], e["code"]) for e in report["errors"]] == [
        ("tenants/nlp/quota.yaml", "schema"),
        ("tenants/vision/pipelines/train-detector.yaml", "steps"),
    ]
    assert set(report["errors"][0]) == {"path", "line", "column", "message", "hint", "code"}


def test_json_output_of_a_valid_repo(repo: Path) -> None:
    result = mlcp("validate", "--output", "json", repo)
    assert result.exit_code == 0
    files = spec_files(repo)
    assert json.loads(result.stdout) == {"valid": True, "files": files, "specs": files, "errors": []}


def test_path_defaults_to_the_current_directory(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    result = mlcp("validate")
    assert result.exit_code == 0, result.output


def test_missing_directory_exits_1_without_traceback(tmp_path: Path) -> None:
    result = mlcp("validate", tmp_path / "nowhere")
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "not a directory" in result.stderr


def test_empty_directory_is_valid(tmp_path: Path) -> None:
    result = mlcp("validate", tmp_path)
    assert result.exit_code == 0
    assert "0 spec(s) in 0 file(s)" in result.stderr


def test_unknown_output_format_is_a_usage_error(repo: Path) -> None:
    result = mlcp("validate", repo, "-o", "yaml")
    assert result.exit_code == 2
    assert "yaml" in result.stderr


def test_version() -> None:
    from controlplane import __version__

    result = mlcp("--version")
    assert result.exit_code == 0
    assert result.stdout == f"mlcp {__version__}\n"


def test_a_file_named_with_markup_and_escape_sequences_is_shown_as_named(repo: Path) -> None:
    """File names are the committer's text too: their control characters are escapes, their `[` literal."""
    quota = repo / "tenants/nlp/quota.yaml"
    named = quota.with_name("q[blink]\x1b[2K.yaml")
    named.write_text(quota.read_text().replace('requests.cpu: "16"', "requests.cpu: lots"))
    quota.unlink()
    result = mlcp("validate", repo)
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr
    assert "tenants/nlp/q[blink]\\x1b[2K.yaml:" in result.stderr, result.stderr


# -- --trusted-base: pull-request CI judges registry names as plan does ----------------------------------------------


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "a"}
    env |= {"GIT_COMMITTER_EMAIL": "a@example.com", "PATH": "/usr/bin:/bin", "HOME": str(repo)}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


SQUAT = "tenants/vision-detector/promotions/production.yaml"


@pytest.fixture
def squatted(repo: Path) -> tuple[Path, str]:
    """The template committed (the base: vision promotes `vision-detector`), then Carol's pull request: a folder
    named as vision's model, promoting it."""
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    base = _git(repo, "rev-parse", "HEAD").strip()
    write(
        repo,
        "tenants/vision-detector/tenant.yaml",
        "apiVersion: mlcp.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: vision-detector\n"
        "spec:\n  owners: [carol@example.com]\n",
    )
    write(
        repo,
        SQUAT,
        "apiVersion: mlcp.dev/v1alpha1\nkind: ModelPromotion\nmetadata:\n  name: production\n"
        "spec:\n  model: vision-detector\n  alias: production\n  version: 2\n",
    )
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "a team of my own")
    return repo, base


def _paths(result_stdout: str) -> set[str]:
    return {e["path"] for e in json.loads(result_stdout)["errors"] if e["code"] == "registry-name"}


def test_with_the_trusted_base_the_newcomer_folder_is_the_error_not_the_tenant(
    squatted: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a base the longest folder decides: vision's own promotion was the error CI showed. With the base
    (flag or MLCP_TRUSTED_BASE, as for `mlcp plan`) the folder the base does not know is, naming the base."""
    repo, base = squatted
    without = mlcp("validate", repo, "-o", "json")
    assert without.exit_code == 1 and _paths(without.stdout) == {"tenants/vision/promotions/detector-production.yaml"}
    with_flag = mlcp("validate", repo, "-o", "json", "--trusted-base", base)
    assert with_flag.exit_code == 1, with_flag.output
    assert _paths(with_flag.stdout) == {SQUAT, "tenants/vision-detector/tenant.yaml"}
    assert json.loads(with_flag.stdout)["trustedBase"] == {"revision": base, "origin": "operator"}
    monkeypatch.setenv("MLCP_TRUSTED_BASE", base)
    text = mlcp("validate", repo)
    assert text.exit_code == 1
    assert f"belongs to tenant 'vision' of the trusted base {base[:12]}" in " ".join(text.stderr.split())


def test_the_base_is_read_from_git_not_from_the_work_tree(squatted: tuple[Path, str]) -> None:
    """Naming HEAD, whose tenants include the folder, is the reviewer's word for it: then the folder owns the name."""
    repo, _ = squatted
    result = mlcp("validate", repo, "-o", "json", "--trusted-base", "HEAD")
    assert _paths(result.stdout) == {"tenants/vision/promotions/detector-production.yaml"}


@pytest.mark.parametrize("base", ["nope", "HEAD@{99}", "-x"])
def test_an_unknown_base_is_a_clear_error(squatted: tuple[Path, str], base: str) -> None:
    repo, _ = squatted
    result = mlcp("validate", repo, "--trusted-base", base)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1 and f"the trusted base {base!r} is not a commit" in " ".join(result.stderr.split())


def test_a_base_named_like_carols_tag_is_refused_not_read_as_her_commit(squatted: tuple[Path, str]) -> None:
    """Carol pushes a tag named like the reviewed base's short id, on her own commit: CI's `--trusted-base` with
    that short id read her commit (her folder then owned vision's model). git finds the name twice: refused."""
    repo, base = squatted
    _git(repo, "tag", base[:12], "HEAD")
    result = mlcp("validate", repo, "--trusted-base", base[:12])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    said = " ".join(result.stderr.split())
    assert result.exit_code == 1 and "names more than one thing" in said and "full commit id" in said, said
    assert _paths(mlcp("validate", repo, "-o", "json", "--trusted-base", base).stdout) == {
        SQUAT,
        "tenants/vision-detector/tenant.yaml",
    }, "the full id names the reviewed base"


def test_a_base_outside_a_git_repository_is_a_clear_error(repo: Path) -> None:
    result = mlcp("validate", repo, "--trusted-base", "main")
    assert result.exit_code == 1 and "is not a git repository" in " ".join(result.stderr.split())


def test_with_the_trusted_base_its_artifact_roots_judge_an_experiments_location(repo: Path) -> None:
    """Carol's pull request widens the roots in the revision's mlcp.yaml to reach vision's folder and points nlp's
    experiment there: without a base the revision's word stands (and says so by passing); with it, the base's
    roots refuse the location at its line."""
    config = repo / "mlcp.yaml"
    config.write_text(config.read_text() + "artifacts:\n  roots: ['s3://ml/{tenant}/']\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    base = _git(repo, "rev-parse", "HEAD").strip()
    config.write_text(
        config.read_text().replace("['s3://ml/{tenant}/']", "['s3://ml/{tenant}/', 's3://ml/x/{tenant}/']")
    )
    sentiment = repo / "tenants/nlp/experiments/sentiment.yaml"
    sentiment.write_text(
        sentiment.read_text().replace("    tags:\n", "    artifactLocation: s3://ml/x/nlp/runs\n    tags:\n")
    )
    _git(repo, "commit", "-q", "-am", "nlp: log under a root of my own making, beside vision's")
    assert mlcp("validate", repo).exit_code == 0
    judged = mlcp("validate", repo, "-o", "json", "--trusted-base", base)
    assert judged.exit_code == 1
    (error,) = json.loads(judged.stdout)["errors"]
    assert error["path"] == "tenants/nlp/experiments/sentiment.yaml" and "(s3://ml/nlp/)" in error["message"]
