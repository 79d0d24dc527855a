"""Carol, a member of nlp, commits a 10 KB multi-document alias bomb into nlp's folder.

Each of its sixty documents stays far below what one document was allowed to
expand to; together they expand to over half a million nodes, which once took
hundreds of megabytes on every pass, for every tenant. Now the file's budget
stops it as it is parsed: `mlcp validate` names file:line at once, and one real
`mlcp reconcile --once` pass against the real servers sets nlp aside (audited
as a denial, rule invalid-specs) while vision converges, within 300 MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import git
import pytest
from kubernetes import client

from controlplane.audit import JsonlStore
from controlplane.audit.records import Verdict
from controlplane.loading.budgets import Limits
from controlplane.loading.yamldocs import parse_counted
from tests import peak
from tests.integration import configrepo

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
DOCUMENT = (
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "---\n"
)
PEAK_LIMIT_MB = 300


def run_measured(argv: list[str], env: dict[str, str], log: Path) -> tuple[int, str, float, float]:
    """(exit code, stderr, seconds, peak RSS in MB) of `python -m controlplane ARGV`, the peak of that child only."""
    began = time.monotonic()
    with log.open("w") as err:
        code, peak_mb = peak.run(
            [sys.executable, "-m", "controlplane", *argv],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    return code, log.read_text(), time.monotonic() - began, peak_mb


@pytest.fixture
def bombed(tmp_path: Path, prefix: str) -> tuple[configrepo.ConfigRepo, Path, int]:
    repo = configrepo.make(tmp_path, prefix)
    path = repo.path(f"tenants/{repo.nlp}/pipelines/bomb.yaml")
    path.write_text(DOCUMENT * (10_000 // len(DOCUMENT)), encoding="utf-8")
    assert 9_000 < path.stat().st_size <= 10_000
    repo.commit("nlp: a pipeline", author=git.Actor("Carol", "carol@example.com"))
    per_document = parse_counted(DOCUMENT).nodes
    return repo, path, 5 * (Limits().file_nodes // per_document) + 4  # the `d:` line of the document that crosses


def test_validate_names_the_bomb_quickly(bombed: tuple[configrepo.ConfigRepo, Path, int], tmp_path: Path) -> None:
    repo, path, line = bombed
    code, stderr, seconds, peak = run_measured(["validate", str(repo.root)], {}, tmp_path / "validate.log")
    assert code == 1
    rel = path.relative_to(repo.root).as_posix()
    assert f"{rel}:{line}:" in stderr and "YAML nodes once aliases are expanded (limit file-nodes)" in stderr
    assert "Traceback" not in stderr
    assert seconds < 20 and peak < PEAK_LIMIT_MB, f"{seconds:.1f}s, {peak:.0f} MB"


def test_one_pass_sets_nlp_aside_and_vision_converges_within_300_mb(
    bombed: tuple[configrepo.ConfigRepo, Path, int],
    kubeconfig: Path,
    mlflow_uri: str,
    k8s_admin: client.ApiClient,
    tmp_path: Path,
) -> None:
    repo, path, _ = bombed
    audit = tmp_path / "audit.jsonl"
    env = {"MLCP_TRUSTED_BASE": repo.initial, "MLCP_CONTROLLER_NAMESPACE": repo.system_ns}
    argv = [
        "reconcile", "--once", "--repo", str(repo.root), "--no-leader-elect", "--audit-log", str(audit),
        "--kubeconfig", str(kubeconfig), "--tracking-uri", mlflow_uri, "--workdir", str(tmp_path / "work"),
    ]  # fmt: skip
    code, stderr, _, peak = run_measured(argv, env, tmp_path / "reconcile.log")
    assert code == 1, stderr[-3000:]  # not everything converged: nlp was set aside
    assert "Traceback" not in stderr and '"msg":"pass failed"' not in stderr, stderr[-3000:]
    assert peak < PEAK_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    core = client.CoreV1Api(k8s_admin)
    assert core.list_namespace(label_selector=f"mlcp.dev/tenant={repo.vision}").items, "vision converged"
    assert not core.list_namespace(label_selector=f"mlcp.dev/tenant={repo.nlp}").items, "nothing of nlp applied"
    records = list(JsonlStore(audit).records())
    set_aside = [r for r in records if r.tenant == repo.nlp and r.rule == "invalid-specs"]
    assert set_aside and set_aside[0].decision is Verdict.deny
    assert path.name in set_aside[0].reason and "limit file-nodes" in set_aside[0].reason
    assert JsonlStore(audit).verify().ok
