"""Attribution from git, attacked the way a tenant member with push access would: evil merges, odd paths,
forged records, rewritten history, forged signatures, stale approvals."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from controlplane.errors import MlcpError
from reconciler import identity
from reconciler.identity import History, open_history

ADMIN = ("Admin", "admin@example.com")
BOB = ("Bob", "bob@example.com")
MALLORY = ("Mallory", "mallory@example.com")
TRAILER = "Mlcp-Approve"
QUOTA = "tenants/vision/quota.yaml"
PIPELINE = "tenants/vision/pipelines/train.yaml"


class Repo:
    """A real git repo in a temp dir; every commit names its author explicitly."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args: str, who: tuple[str, str] = ADMIN, check: bool = True) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": who[0],
            "GIT_AUTHOR_EMAIL": who[1],
            "GIT_COMMITTER_NAME": who[0],
            "GIT_COMMITTER_EMAIL": who[1],
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.root.parent),
        }
        result = subprocess.run(["git", *args], cwd=self.root, env=env, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)}: {result.stderr}")
        return result.stdout.strip()

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def commit(self, message: str, who: tuple[str, str] = ADMIN, *extra: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message, *extra, who=who)
        return self.git("rev-parse", "HEAD")

    def history(self, base: str | None = None, signed: bool = False, signers: Path | None = None) -> History:
        history = open_history(self.root, self.git("rev-parse", "HEAD"), base, signed, signers)
        assert history is not None
        return history


def authors(history: History, path: str) -> tuple[str, ...]:
    return history.authorship([path]).actors


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "config")
    repo.write(QUOTA, 'gpu: "4"\n')
    repo.write(PIPELINE, "image: data:1\n")
    repo.write("tenants/vision/tenant.yaml", "name: vision\n")
    repo.commit("initial config")
    return repo


# --- 1. merges -----------------------------------------------------------------------------------------


def test_evil_merge_is_charged_to_the_merger_while_the_merged_branch_keeps_its_authors(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "harmless")
    repo.write(PIPELINE, "image: data:2\n")
    repo.commit("new data image", BOB)
    repo.git("checkout", "-q", "main")
    repo.write(QUOTA, 'gpu: "5"\n')
    admins = repo.commit("admin: one more GPU")
    repo.git("merge", "-q", "--no-ff", "--no-commit", "harmless", who=BOB)
    repo.write(QUOTA, 'gpu: "64"\n')  # smuggled into the merge commit itself
    merge = repo.commit("Merge branch 'harmless'", BOB)

    history = repo.history(base)
    assert set(authors(history, QUOTA)) == {"bob@example.com", "admin@example.com"}
    assert set(history.authorship([QUOTA]).commits) == {merge, admins}
    assert authors(history, PIPELINE) == ("bob@example.com",)
    assert merge not in history.authorship([PIPELINE]).commits, "a clean part of a merge is its branch's work"
    assert history.last_writer(QUOTA)[0].sha == merge


def test_clean_merge_charges_the_merger_with_nothing(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write(QUOTA, 'gpu: "8"\n')
    repo.commit("admin raises the quota on a branch")
    repo.git("checkout", "-q", "main")
    repo.write(PIPELINE, "image: data:2\n")
    repo.commit("bob's pipeline", BOB)
    repo.git("merge", "-q", "--no-ff", "-m", "merge", "feature", who=MALLORY)

    history = repo.history(base)
    assert authors(history, QUOTA) == ("admin@example.com",)
    assert authors(history, PIPELINE) == ("bob@example.com",)
    assert "mallory@example.com" not in authors(history, "tenants/vision/tenant.yaml")


def test_conflict_resolution_is_charged_to_the_merger(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "side")
    repo.write(QUOTA, 'gpu: "6"\n')
    repo.commit("admin: 6 GPUs")
    repo.git("checkout", "-q", "main")
    repo.write(QUOTA, 'gpu: "5"\n')
    repo.commit("admin: 5 GPUs")
    repo.git("merge", "-q", "side", who=BOB, check=False)  # conflicts
    repo.write(QUOTA, 'gpu: "64"\n')  # bob "resolves" the conflict his way
    merge = repo.commit("merge side", BOB)

    history = repo.history(base)
    assert "bob@example.com" in authors(history, QUOTA)
    assert merge in history.authorship([QUOTA]).commits


def test_octopus_merge_is_charged_with_everything_it_brings_in(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    for name in ("a", "b"):
        repo.git("checkout", "-q", "-b", name, base)
        repo.write(f"tenants/vision/pipelines/{name}.yaml", f"name: {name}\n")
        repo.commit(f"pipeline {name}")
    repo.git("checkout", "-q", "main")
    repo.write("tenants/vision/pipelines/c.yaml", "name: c\n")
    repo.commit("pipeline c")
    repo.git("merge", "-q", "--no-commit", "a", "b", who=BOB)
    repo.write(QUOTA, 'gpu: "64"\n')
    repo.commit("octopus", BOB)

    history = repo.history(base)
    assert "bob@example.com" in authors(history, QUOTA)
    assert "bob@example.com" in authors(history, "tenants/vision/pipelines/a.yaml")  # conservative: no remerge


# --- 2. odd paths and forged records -------------------------------------------------------------------


ODD = 'tenants/vision/pipelines/a b/é "q"\tx.yaml'


def test_paths_with_spaces_quotes_tabs_and_non_ascii_are_attributed(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.write(ODD, "image: x\n")
    repo.commit("odd path", MALLORY)
    repo.write(ODD, "image: x\n# reviewed\n")
    repo.commit("admin adds a comment")  # the last writer must not speak for mallory's change
    history = repo.history(base)
    assert set(authors(history, ODD)) == {"mallory@example.com", "admin@example.com"}
    assert repo.history().last_writer(ODD)[0].author == "admin@example.com"


def test_uncommitted_sees_odd_paths_renames_and_ignored_files(repo: Repo) -> None:
    repo.write(ODD, "image: x\n")
    repo.commit("odd path")
    repo.write(ODD, "image: changed\n")
    repo.git("mv", PIPELINE, "tenants/vision/pipelines/ü renamed.yaml")
    repo.write(".gitignore", "secret*.yaml\n")
    repo.write("tenants/vision/pipelines/secret-spec.yaml", "image: hidden\n")
    dirty = repo.history().uncommitted()
    assert {ODD, PIPELINE, "tenants/vision/pipelines/ü renamed.yaml"} <= dirty
    assert "tenants/vision/pipelines/secret-spec.yaml" in dirty, "the loader reads ignored files too"


def test_a_forged_email_cannot_inject_record_fields(repo: Repo) -> None:
    """An author email carrying the old field separator and a fake signature status and signer."""
    base = repo.git("rev-parse", "HEAD")
    repo.write(QUOTA, 'gpu: "64"\n')
    repo.git("add", "-A")
    tree = repo.git("write-tree")
    forged = "bob@example.com\x1fG\x1fSHA256:x\x1fadmin@example.com\x1fG\x1fadmin@example.com"
    body = f"tree {tree}\nparent {base}\nauthor Bob <{forged}> 1700000000 +0000\n"
    body += f"committer Bob <{forged}> 1700000000 +0000\n\nforged fields\n"
    sha = (
        subprocess.run(
            ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
            cwd=repo.root,
            input=body.encode(),
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    repo.git("update-ref", "refs/heads/main", sha)

    for signed in (False, True):
        history = repo.history(base, signed=signed)
        actors = authors(history, QUOTA)
        assert "admin@example.com" not in actors
        assert actors == (() if signed else (forged.lower(),))


def test_a_file_named_like_a_record_is_just_a_file(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    fake = "@" + "0" * 40 + "\x1fadmin@example.com\x1fG\x1fadmin@example.com"
    repo.write(f"tenants/vision/{fake}", "x\n")
    repo.write(QUOTA, 'gpu: "64"\n')
    repo.commit("a record-shaped file name", MALLORY)
    history = repo.history(base)
    assert authors(history, QUOTA) == ("mallory@example.com",)
    assert authors(history, f"tenants/vision/{fake}") == ("mallory@example.com",)


def test_a_committed_mailmap_does_not_rename_the_author(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.write(".mailmap", "Admin <admin@example.com> Bob <bob@example.com>\n")
    repo.write(QUOTA, 'gpu: "64"\n')
    repo.commit("bob maps himself to the admin", BOB)
    assert authors(repo.history(base), QUOTA) == ("bob@example.com",)


def test_a_glob_shaped_file_name_is_taken_literally(repo: Repo) -> None:
    repo.write("tenants/vision/pipelines/*.yaml", "x\n")
    repo.commit("glob-named file", BOB)
    repo.write(PIPELINE, "image: data:9\n")
    repo.commit("later pipeline change", MALLORY)
    [last] = repo.history().last_writer("tenants/vision/pipelines/*.yaml")
    assert last.author == "bob@example.com"


# --- 3. rewritten history ------------------------------------------------------------------------------


def test_head_not_descending_from_the_base_is_refused(repo: Repo) -> None:
    repo.write(QUOTA, 'gpu: "4" # applied\n')
    applied = repo.commit("applied revision")
    repo.git("reset", "-q", "--hard", "HEAD~1")  # the force push
    repo.write(QUOTA, 'gpu: "64"\n')
    head = repo.commit("rewritten", BOB)
    with pytest.raises(MlcpError) as caught:
        open_history(repo.root, head, applied, False, None)
    assert f"head {head[:10]} does not descend from the trusted base {applied[:10]}" in caught.value.message
    assert "force push" in caught.value.message and "--trusted-base" in caught.value.hint


def test_base_missing_from_the_clone_is_refused(repo: Repo, tmp_path: Path) -> None:
    head = repo.git("rev-parse", "HEAD")
    for base in ("f" * 40, "no-such-branch", f"--output={tmp_path / 'pwned'}"):
        with pytest.raises(MlcpError) as caught:
            open_history(repo.root, head, base, False, None)
        assert "is not in the clone" in caught.value.message and "MLCP_TRUSTED_BASE" in caught.value.hint
    assert not (tmp_path / "pwned").exists()


def test_head_that_is_not_a_commit_is_refused(repo: Repo) -> None:
    with pytest.raises(MlcpError, match="is not a commit"):
        open_history(repo.root, "0" * 40, None, False, None)


def test_replace_refs_cannot_rewrite_an_old_commit(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.write(QUOTA, 'gpu: "64"\n')
    bobs = repo.commit("bob raises the quota", BOB)
    repo.git("commit", "-q", "--amend", "--reset-author", "-m", "admin's now", who=ADMIN)
    admins = repo.git("rev-parse", "HEAD")
    repo.git("update-ref", "refs/heads/main", bobs)
    repo.git("replace", bobs, admins)
    assert authors(repo.history(base), QUOTA) == ("bob@example.com",)


# --- 4. signatures ----------------------------------------------------------------------------------------


def keypair(tmp_path: Path, name: str) -> tuple[Path, str]:
    if shutil.which("ssh-keygen") is None:
        pytest.fail("ssh-keygen is needed (apt-get install -y openssh-client)")
    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key, (tmp_path / f"{name}.pub").read_text().strip()


def _signed(repo: Repo, message: str, who: tuple[str, str], key: Path) -> str:
    repo.git("add", "-A")
    repo.git("-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "commit", "-q", "-S", "-m", message, who=who)
    return repo.git("rev-parse", "HEAD")


def script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def signers(tmp_path: Path) -> tuple[Path, Path]:
    """alice's key, trusted; and the allowed_signers file naming only her."""
    key, pub = keypair(tmp_path, "alice")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'alice@example.com namespaces="git" {pub}\n')
    return key, allowed


def test_ssh_signature_by_a_trusted_key_is_the_identity(repo: Repo, signers: tuple[Path, Path]) -> None:
    key, allowed = signers
    base = repo.git("rev-parse", "HEAD")
    repo.write(PIPELINE, "image: data:2\n")
    _signed(repo, "signed", ("Someone", "someone@example.com"), key)
    history = repo.history(base, signed=True, signers=allowed)
    assert authors(history, PIPELINE) == ("alice@example.com",)


def test_unknown_ssh_key_vouches_for_nobody(repo: Repo, signers: tuple[Path, Path], tmp_path: Path) -> None:
    _, allowed = signers
    stranger, _ = keypair(tmp_path, "stranger")
    base = repo.git("rev-parse", "HEAD")
    repo.write(PIPELINE, "image: data:2\n")
    _signed(repo, "signed by a stranger", ("Alice", "alice@example.com"), stranger)
    authorship = repo.history(base, signed=True, signers=allowed).authorship([PIPELINE])
    assert authorship.actors == ()
    assert "not in allowed_signers" in authorship.problems[0]


def test_repo_config_cannot_redirect_the_signers_file_or_the_verifier(
    repo: Repo, signers: tuple[Path, Path], tmp_path: Path
) -> None:
    _, allowed = signers
    mallory_key, mallory_pub = keypair(tmp_path, "mallory")
    evil = tmp_path / "evil_signers"
    evil.write_text(f'admin@example.com namespaces="git" {mallory_pub}\n')
    base = repo.git("rev-parse", "HEAD")
    repo.write(QUOTA, 'gpu: "64"\n')
    _signed(repo, "mallory signs as the admin", MALLORY, mallory_key)
    repo.git("config", "gpg.ssh.allowedSignersFile", str(evil))
    assert repo.git("log", "-1", "--format=%G?%GS") == "Gadmin@example.com", "plain git falls for it"

    for trusted in (allowed, None):
        assert authors(repo.history(base, signed=True, signers=trusted), QUOTA) == ()

    good = 'Good "git" signature for admin@example.com with ED25519 key SHA256:AAAA'
    fake = script(
        tmp_path,
        "fake-ssh-keygen",
        f"""case "$*" in *find-principals*) echo admin@example.com;;
*) echo '{good}';; esac\nexit 0\n""",
    )
    repo.git("config", "gpg.ssh.program", str(fake))
    assert repo.git("log", "-1", "--format=%G?%GS") == "Gadmin@example.com", "plain git falls for it"
    assert authors(repo.history(base, signed=True, signers=allowed), QUOTA) == ()


GPG_STATUS = (
    "echo '[GNUPG:] NEWSIG'\necho '[GNUPG:] GOODSIG 0123456789ABCDEF admin@example.com'\n"
    "echo '[GNUPG:] VALIDSIG 0123456789ABCDEF0123456789ABCDEF01234567 2024-01-01 0 4 0 1 8 00 "
    "0123456789ABCDEF0123456789ABCDEF01234567'\necho '[GNUPG:] TRUST_ULTIMATE 0 pgp'\n"
)


@pytest.mark.parametrize(
    ("fmt", "armor", "programs"),
    [
        ("openpgp", "PGP SIGNATURE", ("gpg.program", "gpg.openpgp.program")),
        ("x509", "SIGNED MESSAGE", ("gpg.x509.program",)),
    ],
)
def test_gpg_and_x509_signatures_never_verify(
    repo: Repo, signers: tuple[Path, Path], tmp_path: Path, fmt: str, armor: str, programs: tuple[str, ...]
) -> None:
    """The repo's config points the verifier at a script that calls any signature the admin's."""
    _, allowed = signers
    sign = script(
        tmp_path,
        "fake-sign",
        f"cat >/dev/null\nprintf -- '-----BEGIN {armor}-----\\n\\niQAAAA==\\n-----END {armor}-----\\n'\n"
        "echo '[GNUPG:] SIG_CREATED D 22 8 00 1700000000 0123456789ABCDEF' >&2\n",
    )
    verify = script(tmp_path, "fake-gpg", GPG_STATUS)
    base = repo.git("rev-parse", "HEAD")
    repo.write(QUOTA, 'gpu: "64"\n')
    repo.git("add", "-A")
    signing = ["-c", f"gpg.format={fmt}", "-c", f"{programs[-1]}={sign}", "-c", "user.signingkey=x"]
    repo.git(*signing, "commit", "-q", "-S", "-m", fmt, who=MALLORY)
    for program in programs:
        repo.git("config", program, str(verify))
        assert repo.git("log", "-1", "--format=%G?%GS") == "Gadmin@example.com", "plain git falls for it"
        authorship = repo.history(base, signed=True, signers=allowed).authorship([QUOTA])
        assert authorship.actors == () and authorship.problems
        repo.git("config", "--unset", program)


def test_inherited_command_line_config_cannot_redirect_the_signers_file(
    repo: Repo, signers: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, allowed = signers
    mallory_key, mallory_pub = keypair(tmp_path, "mallory")
    evil = tmp_path / "evil_signers"
    evil.write_text(f'admin@example.com namespaces="git" {mallory_pub}\n')
    base = repo.git("rev-parse", "HEAD")
    repo.write(QUOTA, 'gpu: "64"\n')
    _signed(repo, "mallory signs as the admin", MALLORY, mallory_key)
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'gpg.ssh.allowedsignersfile'='{evil}'")
    assert authors(repo.history(base, signed=True, signers=allowed), QUOTA) == ()


# --- 5. approvals ---------------------------------------------------------------------------------------


def approve(repo: Repo, who: tuple[str, str], value: str) -> str:
    return repo.commit(f"approve\n\n{TRAILER}: {value}", who)


def test_an_approval_older_than_the_specs_last_change_does_not_count(repo: Repo) -> None:
    approve(repo, ADMIN, "v1")
    repo.write(PIPELINE, "image: data:2\n")
    repo.commit("change", BOB)
    repo.write(PIPELINE, "image: data:1\n")
    repo.commit("back to the approved content", BOB)
    approve(repo, ("Risk", "Risk@Example.com"), "v1-again")
    history = repo.history()
    assert history.approvals_after(PIPELINE, TRAILER) == [("risk@example.com", "v1-again")]
    assert ("admin@example.com", "v1") in history.approvals(TRAILER)
    assert history.approvals_after("tenants/vision/never-committed.yaml", TRAILER) == []


def test_an_evil_merge_is_the_last_change_for_approvals(repo: Repo) -> None:
    repo.git("checkout", "-q", "-b", "side")
    approve(repo, ADMIN, "quota-4")  # approved on a branch, before the merge changes the quota
    repo.git("checkout", "-q", "main")
    repo.write(PIPELINE, "image: data:2\n")
    repo.commit("main moves on", BOB)
    repo.git("merge", "-q", "--no-ff", "--no-commit", "side", who=BOB)
    repo.write(QUOTA, 'gpu: "64"\n')
    repo.commit("merge side", BOB)
    history = repo.history()
    assert history.approvals_after(QUOTA, TRAILER) == []
    approve(repo, ADMIN, "quota-64")
    assert repo.history().approvals_after(QUOTA, TRAILER) == [("admin@example.com", "quota-64")]


def test_approval_identity_is_the_signer_when_signatures_are_required(repo: Repo, signers: tuple[Path, Path]) -> None:
    key, allowed = signers
    approve(repo, ("Forged", "admin@example.com"), "unsigned")
    repo.git("add", "-A")
    repo.git(
        "-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "commit", "-q", "--allow-empty", "-S",
        "-m", f"approve\n\n{TRAILER}: signed", who=("Whoever", "whoever@example.com"),
    )  # fmt: skip
    history = repo.history(signed=True, signers=allowed)
    assert history.approvals_after(QUOTA, TRAILER) == [("alice@example.com", "signed")]


def test_not_a_git_repository_has_no_history(tmp_path: Path) -> None:
    assert open_history(tmp_path, "HEAD", None, False, None) is None


def test_a_good_non_ssh_signature_is_refused_even_if_a_verifier_passes_it(
    repo: Repo, signers: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defense in depth: were the forced `false` verifier ever lost, a GPG key's fingerprint still never counts."""
    _, allowed = signers
    sign = script(
        tmp_path,
        "fake-sign",
        "cat >/dev/null\nprintf -- '-----BEGIN PGP SIGNATURE-----\\n\\niQAAAA==\\n-----END PGP SIGNATURE-----\\n'\n"
        "echo '[GNUPG:] SIG_CREATED D 22 8 00 1700000000 0123456789ABCDEF' >&2\n",
    )
    base = repo.git("rev-parse", "HEAD")
    repo.write(QUOTA, 'gpu: "64"\n')
    repo.git("add", "-A")
    repo.git("-c", f"gpg.program={sign}", "-c", "user.signingkey=x", "commit", "-q", "-S", "-m", "gpg", who=MALLORY)
    monkeypatch.setitem(identity._FORCED_CONFIG, "gpg.program", str(script(tmp_path, "fake-gpg", GPG_STATUS)))
    monkeypatch.setitem(identity._FORCED_CONFIG, "gpg.openpgp.program", str(tmp_path / "fake-gpg"))
    authorship = repo.history(base, signed=True, signers=allowed).authorship([QUOTA])
    assert authorship.actors == ()
    assert "GPG or X.509" in authorship.problems[0]
