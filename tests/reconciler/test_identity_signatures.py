"""Only SSH signatures checked against the trusted allowed_signers count, whatever the repo's own git config,
the inherited environment or a forged GPG / X.509 signature says."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from reconciler import gitverify
from tests.reconciler.gitrepo import MALLORY, PIPELINE, QUOTA, TRAILER, Repo, approve, authors, initial_repo


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return initial_repo(tmp_path)


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
    monkeypatch.setitem(gitverify._FORCED_CONFIG, "gpg.program", str(script(tmp_path, "fake-gpg", GPG_STATUS)))
    monkeypatch.setitem(gitverify._FORCED_CONFIG, "gpg.openpgp.program", str(tmp_path / "fake-gpg"))
    authorship = repo.history(base, signed=True, signers=allowed).authorship([QUOTA])
    assert authorship.actors == ()
    assert "GPG or X.509" in authorship.problems[0]


def test_only_the_last_changes_signatures_are_checked_for_a_file_untouched_since_the_base(
    repo: Repo, signers: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file's last writers are found among every commit that ever changed it; each signature git verifies is
    an ssh-keygen process (9 ms), so a file changed 10,000 times in a repo's life cost 90 s of verifying per
    plan, although only its last change's signature decides. The count of ssh-keygen runs is the count of
    signatures verified."""
    key, allowed = signers
    for n in range(6):
        repo.write(QUOTA, f'gpu: "{n}"\n')
        last = _signed(repo, f"quota {n}", ("Alice", "alice@example.com"), key)
    calls, folder = tmp_path / "calls", tmp_path / "bin"
    folder.mkdir()
    script(folder, "ssh-keygen", f'echo "$@" >> {calls}\nexec {shutil.which("ssh-keygen")} "$@"\n')
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    history = repo.history(last, signed=True, signers=allowed)
    assert [c.sha for c in history.last_writer(QUOTA)] == [last]
    assert authors(history, QUOTA) == ("alice@example.com",)
    verified = [line for line in calls.read_text().splitlines() if line.startswith("-Y verify")]
    assert len(verified) == 1, verified
