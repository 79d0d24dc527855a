"""Every git command mlcp runs on a config repo reads objects as they are: never through replace refs, never
through a Git LFS fetch the repo points elsewhere.

A replace ref (`refs/replace/<sha>`) makes git read another object wherever the named one is asked for: the blob
of the trusted base's AccessPolicy, a file a checkout writes, a commit's parents. Anyone who can push a ref can
push one, and a clone that fetches more than branches (a mirror, `+refs/*:refs/*`) carries it. Attribution
(reconciler.identity) always turned them off; the trusted base's reads, the checkouts and the sources did not, so
the rules and the content judged could be other objects than the ones attributed. Every git call goes through
`repo` (a GitPython repo whose every command, its object reader included, runs with `ENV`) or passes `ENV`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import git

ENV: Mapping[str, str] = MappingProxyType({"GIT_NO_REPLACE_OBJECTS": "1", "GIT_LFS_SKIP_SMUDGE": "1"})
"""What every git command on a config repo runs with (on top of the process's environment).

`GIT_LFS_SKIP_SMUDGE`: where the operator has Git LFS installed, its smudge filter runs during mlcp's checkouts
for the paths the repo's `.gitattributes` mark, and fetches their content from the URL the repo's `.lfsconfig`
names: the repo under review would decide where mlcp connects. Skipped, LFS leaves the pointer file, which
loading names as one (and a change of a file git converts on checkout is denied anyway, reconciler.conversions)."""


def repo(path: Path | str, *, search_parent_directories: bool = False) -> git.Repo:
    """The repository at `path`, every command of it (GitPython's object reader too) run with `ENV`."""
    opened = git.Repo(path, search_parent_directories=search_parent_directories)
    opened.git.update_environment(**ENV)
    return opened


def init(path: Path) -> git.Repo:
    """A new repository at `path`, its commands run with `ENV`."""
    created = git.Repo.init(path)
    created.git.update_environment(**ENV)
    return created


def command(path: Path) -> git.Git:
    """git commands in `path` (no repository object needed), run with `ENV`."""
    runner = git.Git(path)
    runner.update_environment(**ENV)
    return runner


def environment() -> dict[str, str]:
    """The process's environment with `ENV`, for git run as a plain subprocess."""
    return {**os.environ, **ENV}
