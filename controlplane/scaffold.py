"""Creating a new config repo from `repo_template/`, ready to validate and apply.

A new repo must apply out of the box, so the person who creates it is bound
as platform admin in the template's AccessPolicy, the JSON Schemas the YAML
modelines point at are written beside the specs, and everything is committed.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import git

from controlplane import schemas
from controlplane.errors import MlcpError

TEMPLATE_ADMIN = "admin@example.com"
"""The placeholder identity in the template's AccessPolicy that init replaces."""

_EMAIL = re.compile(r"[A-Za-z0-9._+-][^\s@\"\\,*?!:#\[\]{}<>`]*@[^\s@\"\\,*?!:#\[\]{}<>`]+")
"""An email that reads as itself in a YAML list (a plain scalar) and as an allowed_signers principal (where `*`,
`?` and `!` are patterns and a comma separates principals)."""


def template_dir() -> Path:
    """The template shipped with the package, or the one in a source checkout."""
    source = Path(__file__).resolve().parent.parent / "repo_template"
    installed = Path(sys.prefix) / "share" / "mlcp" / "repo_template"  # pyproject's data-files
    for candidate in (source, installed):
        if (candidate / "mlcp.yaml").is_file():
            return candidate
    raise MlcpError("the repo template is missing from this installation", "reinstall mlcp")


def git_email(cwd: Path) -> str | None:
    """The email git would author a commit with here, if any (environment first, as git does)."""
    from_env = os.environ.get("GIT_AUTHOR_EMAIL") or os.environ.get("GIT_COMMITTER_EMAIL")
    if from_env:
        return from_env
    try:
        reader = git.Repo(cwd, search_parent_directories=True).config_reader()
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        reader = git.GitConfigParser(read_only=True)
    try:
        value = reader.get_value("user", "email", default="")
    except Exception:
        return None
    return str(value) or None


def _signing_key(path: Path | None) -> str | None:
    """The admin's public SSH key (`ssh-ed25519 AAAA…`) from a .pub file, or None."""
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise MlcpError(f"cannot read the signing key {path}: {exc}", "pass the public key file (.pub)") from None
    fields = text.split()
    if len(fields) < 2 or not fields[0].startswith(("ssh-", "ecdsa-", "sk-")) or "PRIVATE KEY" in text:
        raise MlcpError(f"{path} is not an SSH public key", "pass the .pub file, e.g. ~/.ssh/id_ed25519.pub")
    return " ".join(fields[:2])


def scaffold(target: Path, admin: str | None, signing_key: Path | None = None) -> git.Commit:
    """Create `target` from the template, bind `admin` (and their SSH signing key), and make the first commit."""
    key = _signing_key(signing_key)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise MlcpError(f"{target} exists and is not an empty directory", "choose a new directory")
    admin = admin or git_email(target.parent if target.parent.exists() else Path.cwd())
    if not admin:
        raise MlcpError(
            "no identity to bind as platform admin",
            "pass --admin EMAIL or set `git config --global user.email`",
        )
    if not _EMAIL.fullmatch(admin):
        raise MlcpError(
            f"{admin!r} is not an email address mlcp can bind as platform admin",
            "pass --admin EMAIL: one '@', no spaces or any of \" \\ , * ? ! : # [ ] { } < > `",
        )
    identity = admin.lower()  # identities are compared lower-cased (a commit's author, a signer's principal)
    shutil.copytree(template_dir(), target, dirs_exist_ok=True)
    policy = target / "policies" / "access.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").replace(TEMPLATE_ADMIN, identity), encoding="utf-8")
    if key is not None:
        with (target / "policies" / "allowed_signers").open("a", encoding="utf-8") as signers:
            signers.write(f'{identity} namespaces="git" {key}\n')
    schemas.write(target / "schemas")
    repo = git.Repo.init(target, initial_branch="main")
    repo.git.add(A=True)
    with repo.config_reader() as reader:
        has_identity = bool(reader.get_value("user", "email", default=""))
    name = admin.split("@")[0]
    env = {} if has_identity else {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": admin}
    env |= {} if has_identity else {"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": admin}
    # git itself commits, so the user's signing settings (commit.gpgsign, user.signingkey) sign the first commit:
    # under requireSignedCommits an unsigned commit vouches for nobody, even for files it last wrote.
    try:
        repo.git.commit("-q", "-m", "Initial mlcp config repo", env=env)
    except git.GitCommandError as exc:
        raise MlcpError(
            f"git could not make the first commit: {exc.stderr.strip() or exc}",
            "check your git identity and signing settings (user.signingkey, gpg.format ssh)",
        ) from None
    return repo.head.commit
