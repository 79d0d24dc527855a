"""A private changed-path index of a config repo, so that `git log HEAD -- PATH` skips the commits that cannot
touch PATH.

Attribution asks, for each changed spec file no commit since the trusted base touched (a drift heal, a rendering
that changed with an mlcp upgrade, a platform-wide change), who last wrote it: a walk of the whole history per
file, with a tree diff at every commit. A config repo lives for years: at 100,000 commits that was 7 s a file, so
a plan re-rendering 1,000 tenants took hours. git's commit-graph with changed-path Bloom filters answers "may this
commit touch PATH?" without the diff, and git's output is the same with or without it (the filters are only ever
"no" or "maybe"). The graph is written once per history, from the repo's own objects, into a temporary object
directory that git reads first, the clone's objects as its alternate: the operator's clone is never written to,
and a commit-graph of its own without Bloom filters (which `git gc` writes) does not hide the index, as git reads
only the first object directory's graph.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import git

from controlplane.errors import MlcpError

OBJECTS = "GIT_OBJECT_DIRECTORY"
ALTERNATES = "GIT_ALTERNATE_OBJECT_DIRECTORIES"


def build(repo: git.Repo, head: str, env: dict[str, str]) -> PathIndex | None:
    """The index of `head`'s history, or None where it cannot be had: an object directory whose path git's list
    of alternates would split, no room for it, git failing to write it. The walks then run as they did without
    it (a clone git cannot read fails there, with attribution's own error)."""
    clone = os.environ.get(OBJECTS) or str(Path(repo.common_dir) / "objects")
    if os.pathsep in clone or clone.startswith('"'):
        return None
    try:
        return PathIndex(repo, head, env, os.pathsep.join(filter(None, (clone, os.environ.get(ALTERNATES)))))
    except (OSError, MlcpError):
        return None


class PathIndex:
    """A commit-graph with changed-path Bloom filters of the commits reachable from one head, kept in a temporary
    object directory that holds no object but the temporary ones git makes (removed with the index)."""

    def __init__(self, repo: git.Repo, head: str, env: dict[str, str], alternates: str) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="mlcp-paths-")
        objects = Path(self._dir.name) / "objects"
        (objects / "info").mkdir(parents=True)
        self.env = {OBJECTS: str(objects), ALTERNATES: alternates}
        """What a git command adds to its environment to read the index (and, through it, the clone's objects)."""
        argv = ["git", "commit-graph", "write", "--stdin-commits", "--changed-paths", f"--object-dir={objects}"]
        done = subprocess.run(
            [*argv, "--no-progress"],
            cwd=repo.working_dir,
            env={**os.environ, **env, **self.env},
            input=f"{head}\n".encode(),
            capture_output=True,
            check=False,
        )
        if done.returncode:
            self.close()
            detail = " ".join(done.stderr.decode("utf-8", "replace").split())
            raise MlcpError(
                f"cannot index the history of {repo.working_dir}: {detail}", "check that the clone is intact"
            ) from None

    def close(self) -> None:
        self._dir.cleanup()
