"""A stranger's submodule inside a tenant: its files were vouched for by the operator's trusted base.

With an operator-named base, a spec file no commit changed since the base is allowed as the base's own content
(rule `trusted-base`). Mallory, in no tenant, commits a submodule at `tenants/<t>/extra`. Where the operator's
clone has submodules checked out, the loader reads its files as specs, and `git status` reports them clean (they
are another repository's content), so no commit since the base touched them: they were allowed as if the operator
had reviewed them. A spec file the commit does not hold as a regular file is now never authorized, by any rule.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import git
import pytest

from controlplane.plans import Action, Plan
from reconciler import engine
from tests.integration import configrepo
from tests.reconciler.fakes import FakeBackend

MALLORY = git.Actor("Mallory", "mallory@example.com")
"""Belongs to no tenant."""

pytestmark = pytest.mark.integration


def _plan(repo: configrepo.ConfigRepo) -> Plan:
    fakes = {s: FakeBackend(system=s, order=o, applied=repo.initial) for s, o in (("mlflow", 10), ("kubernetes", 20))}
    planned, _ = engine.make_plan(
        engine.load_desired(repo.root),
        dict(fakes),  # type: ignore[arg-type]
        targets=repo.targets(None, trusted=True),  # the operator names the initial commit
    )
    return planned


def test_a_file_inside_a_strangers_submodule_is_not_vouched_for_by_the_operators_base(tmp_path: Path) -> None:
    repo = configrepo.make(tmp_path, "zs")
    sub = tmp_path / "sub"
    sub.mkdir()
    template = repo.path(f"tenants/{repo.vision}/experiments/detector.yaml").read_text(encoding="utf-8")
    (sub / "backdoor.yaml").write_text(
        template.replace("name: detector\n", "name: backdoor\n", 1).replace(
            f"name: {repo.experiment}", f"name: {repo.experiment}-backdoor"
        ),
        encoding="utf-8",
    )
    env = {"GIT_AUTHOR_NAME": "m", "GIT_AUTHOR_EMAIL": MALLORY.email, "GIT_COMMITTER_NAME": "m",
           "GIT_COMMITTER_EMAIL": MALLORY.email, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # fmt: skip
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git", *args], cwd=sub, env=env, check=True, capture_output=True)
    subprocess.run(
        ["git", "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), f"tenants/{repo.vision}/extra"],
        cwd=repo.root, env=env, check=True, capture_output=True,
    )  # fmt: skip
    repo.commit("add a submodule", MALLORY)
    assert repo.git.git.status("--porcelain") == "", "the operator's work tree is clean"

    source = f"tenants/{repo.vision}/extra/backdoor.yaml"
    planned = _plan(repo)
    changes = [c for c in planned.changes if c.source == source and c.action is not Action.noop]
    assert changes, "the loader reads the submodule's file as a spec"
    for change in changes:
        assert change.decision is not None
        assert not change.decision.allowed, f"{change.decision.rule}: {change.decision.reason}"
        assert change.decision.rule == "uncommitted" and "inside a submodule" in change.decision.reason
