"""Carol, owner of nlp, pushes a commit whose tree holds a folder named `..` inside her own tenant.

`git mktree` writes any entry name but a slash, so Carol builds, with git's
plumbing and her own signing key, a tree holding
`tenants/<nlp>/../<vision>/pipelines/miner.yaml`: a path under her tenant by
its name, in vision's folder once written out. Git refuses to write such a
name into a work tree, so mlcp must refuse the revision as a whole, at the
first step, with an error naming the commit and the path, and write nothing:
the reconcile loop (the real `mlcp reconcile` process against the real API
server) and `mlcp plan --head` of the branch (as CI plans a pushed ref). A
commit on top that git can check out is then judged and applied as usual,
the crafted one in its history notwithstanding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests import gitcraft
from tests.integration.attacks import gitattack
from tests.integration.attacks.test_odd_paths import pipeline

pytestmark = pytest.mark.integration

EVIL = "ghcr.io/evil/miner:1"
EMBED = "  description: Embed the document corpus on demand (no schedule)."


def _failures(log: str) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, log.splitlines()) if line.get("msg") == "pass failed"]


def test_a_tree_entry_named_dotdot_is_refused_by_the_loop_and_by_plan_and_nothing_is_written(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    op = gitattack.operator(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo, nlp, vision = op.repo, op.repo.repo.nlp, op.repo.repo.vision
    initial = repo.head()
    assert op.applied_revision(k8s_admin) == initial

    def carol(*args: str, **kwargs: Any) -> str:
        return repo.git(*args, who="carol", **kwargs)

    crafted_path = f"tenants/{nlp}/../{vision}/pipelines/miner.yaml"
    crafted = gitcraft.commit_with(carol, crafted_path.split("/"), pipeline("miner", EVIL), "nlp: a helper", "-S")
    assert carol("ls-tree", "-r", "--name-only", crafted).splitlines().count(crafted_path) == 1

    audit = tmp_path / "loop.jsonl"
    code, log = op.reconcile_once(audit)
    assert code == 1, log
    [failed] = _failures(log)
    assert failed["stage"] == "fetch" and failed["revision"] == "", failed
    assert f"cannot check out {crafted[:12]}, the tip of branch 'main'" in failed["error"]
    assert f"invalid path '{crafted_path}'" in failed["error"], failed

    planned = op.cli("plan", str(repo.root), "--head", "main", "--kubeconfig", str(kubeconfig))
    said = gitattack.said(planned)
    assert planned.exit_code == 1 and isinstance(planned.exception, SystemExit), gitattack.explain(planned)
    assert f"cannot check out 'main' ({crafted[:12]})" in said and f"invalid path '{crafted_path}'" in said, said
    assert "nothing was planned" in said

    assert gitattack.step_images(k8s_admin, vision, "miner") == [], "nothing reached vision"
    assert gitattack.step_images(k8s_admin, nlp, "miner") == []
    assert op.applied_revision(k8s_admin) == initial, "the crafted revision was never applied"
    assert not audit.exists() or not audit.read_text(encoding="utf-8").strip(), "nothing was judged or written"

    repo.edit(f"tenants/{nlp}/pipelines/embed-corpus.yaml", EMBED, f"{EMBED[:-1]}, nightly.")
    fixed = repo.commit("nlp: describe the corpus job", "carol")  # the index never held the crafted entry
    assert carol("rev-parse", "HEAD^") == crafted
    _, log = op.reconcile_once(audit)  # exit 1 when other tests' tenants, in the shared cluster, are not converged
    assert not _failures(log), log
    [done] = [line for line in map(json.loads, log.splitlines()) if line.get("msg") == "pass done"]
    assert done["revision"] == fixed and not {nlp, vision} & set(done["failedTenants"]), log
    assert op.applied_revision(k8s_admin) == fixed
    assert gitattack.step_images(k8s_admin, vision, "miner") == [], "the crafted entry in history wrote nothing"
    assert op.verified(audit)
