"""`mlcp init`: a new config repo that validates out of the box, committed, with its admin bound."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from controlplane import schemas
from controlplane.loading.yamldocs import parse
from tests.controlplane.helpers import TEMPLATE, edit, line_of, mlcp, spec_files

PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmc8Yq4t2LPEJ1OVW7eAfBzJb9nH0tmrZq1pZmY1R6J"


@pytest.fixture(autouse=True)
def no_git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CI machines may have no git identity: start from none, tests add what they need."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_init_then_validate_exits_0(tmp_path: Path) -> None:
    target = tmp_path / "platform-config"
    created = mlcp("init", target, "--admin", "ops@acme.io")
    assert created.exit_code == 0, created.output
    assert f"created {target}" in created.stderr
    validated = mlcp("validate", target)
    assert validated.exit_code == 0, validated.output
    files = spec_files(target)
    assert files >= 10 and f"{files} spec(s) in {files} file(s) are valid" in validated.stderr


def test_init_makes_one_commit_holding_everything(tmp_path: Path) -> None:
    target = tmp_path / "cfg"
    assert mlcp("init", target, "--admin", "ops@acme.io").exit_code == 0
    repo = git.Repo(target)
    assert not repo.is_dirty(untracked_files=True)
    (commit,) = list(repo.iter_commits())
    assert repo.active_branch.name == "main"
    assert commit.author.email == "ops@acme.io"
    tracked = {str(p) for p, _ in repo.index.entries}
    template = {p.relative_to(TEMPLATE).as_posix() for p in TEMPLATE.rglob("*") if p.is_file()}
    assert template <= tracked
    assert {f"schemas/{name}" for name in schemas.generate()} <= tracked


def test_init_names_a_directory_holding_markup_as_it_is(tmp_path: Path) -> None:
    """The directory was put into rich markup: `cfg[/x]` raised MarkupError after the repo was made."""
    target = tmp_path / "cfg[/x]"
    result = mlcp("init", target, "--admin", "ops@acme.io")
    assert result.exit_code == 0 and result.exception is None, repr(result.exception)
    assert f"created {target} (commit" in result.stderr and f"mlcp validate {target}" in result.stderr


def test_init_binds_the_admin_as_platform_admin(tmp_path: Path) -> None:
    target = tmp_path / "cfg"
    assert mlcp("init", target, "--admin", "ops@acme.io").exit_code == 0
    (policy,) = parse((target / "policies/access.yaml").read_text())
    assert policy.data["spec"]["groups"]["platform-team"] == ["ops@acme.io"]
    assert "admin@example.com" not in (target / "policies/access.yaml").read_text()


def test_init_binds_the_admin_as_identities_are_compared_lower_cased(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An identity is a lower-cased email (or a signer's principal, lower-cased too); init bound git's email as
    written, so an admin `Jane.Doe@Corp.com` was admin of nothing: every later change to the rules was denied."""
    for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(var, "Jane")
    for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(var, "Jane.Doe@Corp.com")
    key = tmp_path / "id_ed25519.pub"
    key.write_text(f"{PUBLIC} jane@laptop\n")
    target = tmp_path / "cfg"
    assert mlcp("init", target, "--signing-key", key).exit_code == 0  # the email is $GIT_AUTHOR_EMAIL
    (policy,) = parse((target / "policies/access.yaml").read_text())
    assert policy.data["spec"]["groups"]["platform-team"] == ["jane.doe@corp.com"]
    assert (target / "policies/allowed_signers").read_text().splitlines()[-1].startswith("jane.doe@corp.com ")
    asked = mlcp(
        "policy", "can", "jane.doe@corp.com", "update", "AccessPolicy", "--repo", target, "--trusted-base", "HEAD"
    )
    assert asked.exit_code == 0, asked.output
    assert git.Repo(target).head.commit.author.email == "Jane.Doe@Corp.com", "the commit keeps git's identity"


@pytest.mark.parametrize("email", ["ops", "a b@acme.io", "*@acme.io", "ops@acme.io,eve@evil.io", "ops@acme.io\n- eve"])
def test_init_refuses_an_admin_that_is_no_email_it_can_bind(tmp_path: Path, email: str) -> None:
    """The email goes into a YAML list and an allowed_signers principal (patterns, comma-separated): one that
    would read as another value there is refused before anything is written."""
    refused = mlcp("init", tmp_path / "cfg", "--admin", email)
    assert refused.exit_code == 1 and "is not an email address" in refused.stderr, refused.output
    assert not (tmp_path / "cfg").exists()


def test_init_trusts_the_admins_signing_key_and_names_the_first_trusted_base(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519.pub"
    key.write_text(f"{PUBLIC} ops@laptop\n")
    target = tmp_path / "cfg"
    created = mlcp("init", target, "--admin", "ops@acme.io", "--signing-key", key)
    assert created.exit_code == 0, created.output
    signers = (target / "policies/allowed_signers").read_text().splitlines()
    assert signers[-1] == f'ops@acme.io namespaces="git" {PUBLIC}'
    (commit,) = list(git.Repo(target).iter_commits())
    assert f"--trusted-base {commit.hexsha}" in created.stderr, "the full id: a short one a pushed tag could take"
    assert "requireSignedCommits: true" in (target / "policies/access.yaml").read_text()


def test_init_refuses_a_private_key_or_garbage_as_the_signing_key(tmp_path: Path) -> None:
    private = tmp_path / "id_ed25519"
    private.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    refused = mlcp("init", tmp_path / "cfg", "--admin", "ops@acme.io", "--signing-key", private)
    assert refused.exit_code == 1
    assert "is not an SSH public key" in refused.stderr and ".pub" in refused.stderr
    assert not (tmp_path / "cfg").exists()


def test_init_takes_the_identity_from_git_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_AUTHOR_NAME", "CI Bot")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ci@acme.io")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "CI Bot")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "ci@acme.io")
    target = tmp_path / "cfg"
    result = mlcp("init", target)
    assert result.exit_code == 0, result.output
    assert "ci@acme.io" in (target / "policies/access.yaml").read_text()
    assert git.Repo(target).head.commit.author.email == "ci@acme.io"


def test_init_takes_the_identity_from_git_config(tmp_path: Path) -> None:
    (tmp_path / "home/.gitconfig").write_text("[user]\n\tname = Pat\n\temail = pat@acme.io\n")
    target = tmp_path / "cfg"
    result = mlcp("init", target)
    assert result.exit_code == 0, result.output
    assert "pat@acme.io" in (target / "policies/access.yaml").read_text()
    assert git.Repo(target).head.commit.author.email == "pat@acme.io"


def test_init_without_any_identity_explains_how_to_give_one(tmp_path: Path) -> None:
    result = mlcp("init", tmp_path / "cfg")
    assert result.exit_code == 1
    assert "no identity to bind as platform admin" in result.stderr
    assert "--admin" in result.stderr
    assert not (tmp_path / "cfg").exists()


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg/keep.txt").write_text("mine\n")
    result = mlcp("init", tmp_path / "cfg", "--admin", "ops@acme.io")
    assert result.exit_code == 1
    assert "exists and is not an empty directory" in result.stderr
    assert sorted(p.name for p in (tmp_path / "cfg").iterdir()) == ["keep.txt"]


def test_init_refuses_a_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "cfg").write_text("a file\n")
    result = mlcp("init", tmp_path / "cfg", "--admin", "ops@acme.io")
    assert result.exit_code == 1
    assert "exists and is not an empty directory" in result.stderr


def test_init_accepts_an_empty_existing_directory(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    assert mlcp("init", tmp_path / "cfg", "--admin", "ops@acme.io").exit_code == 0
    assert (tmp_path / "cfg/.git").is_dir()


def test_changing_a_quota_to_lots_of_cpu_fails_naming_file_line_and_field(tmp_path: Path) -> None:
    target = tmp_path / "cfg"
    assert mlcp("init", target, "--admin", "ops@acme.io").exit_code == 0
    path = edit(target, "tenants/vision/quota.yaml", 'requests.cpu: "32"', "requests.cpu: lots")
    result = mlcp("validate", target)
    assert result.exit_code == 1
    assert f"tenants/vision/quota.yaml:{line_of(path, 'lots')}:" in result.stderr
    assert "spec.hard.requests.cpu" in result.stderr
    assert "'lots' is not a Kubernetes quantity" in result.stderr


def test_every_yaml_modeline_points_at_a_schema_init_wrote(tmp_path: Path) -> None:
    target = tmp_path / "cfg"
    assert mlcp("init", target, "--admin", "ops@acme.io").exit_code == 0
    spec_files = [target / "mlcp.yaml", *(target / "policies").rglob("*.yaml"), *(target / "tenants").rglob("*.yaml")]
    for path in spec_files:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        schema = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert schema.is_file(), f"{path}: {schema}"
        (doc,) = parse(path.read_text())
        kind = doc.data["kind"]
        assert schema.name == ("config.json" if kind == "Config" else f"{kind.lower()}.json"), path
