"""Alice's tag carries an approval in its message, and the ML lead's signed merge of the tag makes it his.

`git merge <tag>` copies the tag's message into the merge commit (a forge's merge button copies a pull
request's title the same way). Alice, owner of vision, ends her release tag's message with the trailer
`mlcp approve` would write for her promotion; the ML lead, a model approver who merges the team's releases,
merges the tag and signs the merge with his key. The trailer was read as his approval: Alice's promotion went
to production on words he never wrote. An approval now counts only in a commit of its own (one parent, no
change).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.loading.repo import load_repo
from controlplane.policy import approvals as approval_tokens
from tests.integration.attacks import approvals, gitattack

pytestmark = pytest.mark.integration


def test_a_trailer_in_a_merged_tags_message_is_no_approval_by_whoever_merged(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str
) -> None:
    op = approvals.promoted(tmp_path, prefix, kubeconfig, mlflow_uri)
    repo = op.repo
    rel = f"tenants/{repo.repo.vision}/{approvals.PROMOTION}"
    approvals.move_staging(op, 2)
    repo.git("checkout", "-q", "-b", "release-2", who="alice")
    repo.edit(rel, "maxReplicas: 3", "maxReplicas: 4")
    repo.commit("vision: version 2, a little more capacity", "alice")
    loaded = next(s for s in load_repo(repo.root).specs if s.source.path == rel)
    token = approval_tokens.token(loaded, "2")  # what `mlcp approve` would write: Alice can compute it
    repo.git("tag", "-a", "-s", "v2", "-m", f"vision release 2\n\n{approval_tokens.TRAILER}: {token}", who="alice")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "--no-edit", "-S", "v2", who="lead")
    assert token in repo.git("log", "-1", "--format=%(trailers:key=Mlcp-Approve,valueonly)"), "git made it a trailer"

    audit = tmp_path / "attack.jsonl"
    result = op.apply(audit)
    shown = gitattack.said(result)
    assert "denied (approvals): 0 of 1" in shown, result.output
    assert approvals.production(op) == "1", "the lead's merge approved nothing"
    assert [r["rule"] for r in approvals.promotion_records(op, audit, "deny")] == ["approvals"]

    assert approvals.approve(op, "lead").exit_code == 0  # now he reviews it: an approval of its own
    assert op.apply(tmp_path / "approved.jsonl").exit_code == 0
    assert approvals.production(op) == "2"
