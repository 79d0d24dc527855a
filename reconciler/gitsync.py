"""The loop's view of the config repo: a local clone of one branch, brought to the remote's tip each pass.

The clone keeps full history: authorization judges a change by the commits
that touched a spec since the last applied revision, and approvals are
commits. Each sync removes anything untracked or ignored (while the fetch of
the branch runs: both take time that grows with the repo) and then
force-checks-out its tip detached, which writes every tracked file that
differs and drops every index entry the tip lacks, so the work tree is exactly
one revision — never a half-pulled mix, never a stray local edit. Credentials stay out of
argv and the remote URL: an HTTPS token is handed to git as an extra header
through the environment, SSH uses the usual key files. A URL that carries
credentials anyway is redacted in every error (git quotes it back).
"""

from __future__ import annotations

import base64
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import git

from controlplane.errors import MlcpError
from reconciler import gitenv
from reconciler.gitsource import git_error
from reconciler.redaction import redact

TIMEOUT = 120.0


class SourceError(MlcpError):
    """The config repo could not be fetched (unreachable remote, unknown branch, bad credentials)."""


@dataclass(frozen=True)
class Checkout:
    path: Path
    revision: str
    committed_at: float
    """Commit time (Unix seconds) of `revision`."""
    clean: bool = False
    """The work tree is exactly `revision`: `GitSource.sync` just checked it out with `--force` and removed
    everything untracked and ignored, so no file is uncommitted (the authorizer need not ask `git status`). Files
    the revision's `.gitattributes` has git convert on checkout are the one difference, and the authorizer asks for
    those in any work tree (reconciler/conversions.py)."""


class GitSource:
    """Branch `branch` of `url` (a URL or a local path), cloned into `workdir`."""

    def __init__(self, url: str, branch: str, workdir: Path, token: str | None = None) -> None:
        self.url = str(Path(url).resolve()) if Path(url).exists() else url
        self.branch = branch
        self.workdir = workdir
        self._env = _token_env(token) if token else {}

    def _clone(self) -> git.Repo:
        if (self.workdir / ".git").is_dir():
            repo = gitenv.repo(self.workdir)
            if repo.remotes and repo.remotes.origin.url == self.url:
                return repo
        if self.workdir.exists():
            shutil.rmtree(self.workdir)  # a clone of something else, or a broken one: start over
        self.workdir.parent.mkdir(parents=True, exist_ok=True)
        repo = gitenv.init(self.workdir)
        repo.create_remote("origin", self.url)
        return repo

    def sync(self) -> Checkout:
        """Fetch the branch and check out its tip; SourceError when that is not possible."""
        remote = f"refs/remotes/origin/{self.branch}"
        cleaning: Future[object] | None = None
        with ThreadPoolExecutor(max_workers=1) as pool:
            try:
                repo = self._clone()
                # Untracked and ignored files go while the fetch runs (both walk what grows with the repo: the
                # work tree's folders, the new trees); the forced checkout after it then leaves exactly the tip:
                # it writes every tracked file that differs and removes every index entry the tip lacks.
                cleaning = pool.submit(gitenv.command(self.workdir).clean, "-ffdx")
                g = repo.git
                g.update_environment(GIT_TERMINAL_PROMPT="0", **self._env)
                g.fetch(
                    "--prune", "--no-tags", "origin", f"+refs/heads/{self.branch}:{remote}", kill_after_timeout=TIMEOUT
                )
                tip = str(g.rev_parse("--verify", f"{remote}^{{commit}}"))
            except (git.GitCommandError, git.InvalidGitRepositoryError, OSError, ValueError) as exc:
                raise SourceError(
                    redact(f"cannot fetch branch {self.branch!r} of {self.url}: {git_error(exc)}"),
                    "check the URL, the branch and the credentials; the loop retries with backoff",
                ) from None
            finally:
                if cleaning is not None:
                    cleaning.exception()  # never two git processes on the work tree at once
        try:
            if cleaning is not None:
                cleaning.result()
            g.checkout("--force", "--detach", tip)
            commit = repo.head.commit
        except (git.GitCommandError, OSError, ValueError) as exc:
            # git refuses to write a tree holding a name such as `..`, `.` or `.git` (crafted with git's
            # plumbing: no work tree can hold it), so that revision is never loaded, judged or applied.
            raise SourceError(
                redact(
                    f"cannot check out {tip[:12]}, the tip of branch {self.branch!r} of {self.url}: "
                    f"{git_error(exc)}; nothing of it is applied until a new commit on the branch can be checked out"
                ),
                "a tree entry git refuses to write (`..`, `.`, `.git`) is crafted, not edited: find who pushed it "
                "and push a commit whose tree git can check out",
            ) from None
        return Checkout(self.workdir, str(commit.hexsha), float(commit.committed_date), clean=True)


def _token_env(token: str) -> dict[str, str]:
    """git config through the environment: `http.extraHeader` with the token, never on the command line."""
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    return {
        "GIT_CONFIG_COUNT": str(count + 1),
        f"GIT_CONFIG_KEY_{count}": "http.extraHeader",
        f"GIT_CONFIG_VALUE_{count}": f"Authorization: Basic {basic}",
    }
