"""The changed-path index: a file's last writers are read without a tree diff at every commit of the history,
and are the same writers, whatever merges, backdates and reverts the history holds.

A plan re-rendering many tenants whose files no commit since the trusted base touched (an mlcp upgrade, a drift
heal, a platform-wide change) asked git for each file's last change over the whole history: 7 s a file at
100,000 commits, hours for 1,000 tenants (benchmarks/history.py).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from reconciler.identity import History
from tests.reconciler.gitrepo import ADMIN, BOB, MALLORY, PIPELINE, QUOTA, Repo, initial_repo

TENANT = "tenants/vision/tenant.yaml"


def _backdated(repo: Repo, message: str, who: tuple[str, str]) -> str:
    repo.git("add", "-A")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GIT_AUTHOR_DATE", "2001-01-01T00:00:00Z")
        env.setenv("GIT_COMMITTER_DATE", "2001-01-01T00:00:00Z")
        repo.git("commit", "-q", "-m", message, who=who)
    return repo.git("rev-parse", "HEAD")


def _tangled(tmp_path: Path) -> Repo:
    """Every shape of history attribution decides by: an evil merge, a clean merge of two lines that both changed
    a file (one backdated), a side change a merge threw away (`-s ours`), a conflict resolved by the merger, an
    octopus, a revert to older content and a file deleted and written again."""
    repo = initial_repo(tmp_path)
    repo.write(QUOTA, "a: 1\nb: 1\nc: 1\nd: 1\ne: 1\nf: 1\n")
    fork = repo.commit("spread the quota out", ADMIN)
    repo.git("checkout", "-q", "-b", "side", fork)
    repo.write(QUOTA, "a: 1\nb: 1\nc: 1\nd: 1\ne: 1\nf: 9\n")
    _backdated(repo, "f to 9", MALLORY)
    repo.git("checkout", "-q", "main")
    repo.write(QUOTA, "a: 2\nb: 1\nc: 1\nd: 1\ne: 1\nf: 1\n")
    repo.commit("a to 2", BOB)
    repo.git("merge", "-q", "--no-ff", "-m", "merge side", "side", who=BOB)
    repo.git("checkout", "-q", "-b", "discarded")
    repo.write(TENANT, "name: vision\nowners: [mallory]\n")
    repo.commit("mallory owns vision", MALLORY)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "-s", "ours", "-m", "keep ours", "discarded", who=ADMIN)
    repo.git("checkout", "-q", "-b", "harmless")
    repo.write(PIPELINE, "image: data:2\n")
    repo.commit("new data image", BOB)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "--no-commit", "harmless", who=MALLORY)
    repo.write(QUOTA, 'gpu: "64"\n')  # smuggled into the merge commit itself
    repo.commit("Merge branch 'harmless'", MALLORY)
    octopus = repo.git("rev-parse", "HEAD")
    for name in ("x", "y"):
        repo.git("checkout", "-q", "-b", name, octopus)
        repo.write(f"tenants/vision/pipelines/{name}.yaml", f"name: {name}\n")
        repo.commit(f"pipeline {name}", BOB)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "-m", "octopus", "x", "y", who=MALLORY)
    repo.write(PIPELINE, "image: data:1\n")  # back to the first content
    repo.commit("revert the image", ADMIN)
    (repo.root / "tenants/vision/pipelines/x.yaml").unlink()
    repo.commit("drop x", BOB)
    repo.write("tenants/vision/pipelines/x.yaml", "name: x again\n")
    repo.commit("x again", MALLORY)
    return repo


def _files(repo: Repo) -> list[str]:
    return [*sorted(repo.git("ls-files").splitlines()), "tenants/vision/gone.yaml"]


def _indexed(repo: Repo, base: str | None) -> History:
    history = repo.history(base)
    history.last_writer("mlcp.yaml")  # the first file's writers are asked without the index; the next build it
    history.last_writer(QUOTA)
    assert history._index is not None
    return history


@pytest.mark.parametrize("base", [None, "HEAD~3"])
def test_the_index_finds_each_files_writers_as_the_whole_walk_does(tmp_path: Path, base: str | None) -> None:
    repo = _tangled(tmp_path)
    trusted = repo.git("rev-parse", base) if base else None
    indexed = _indexed(repo, trusted)
    for path in _files(repo):
        walked = repo.history(trusted)  # a new history per file: one walk of everything, no index
        assert [c.sha for c in indexed.last_writer(path)] == [c.sha for c in walked.last_writer(path)], path
        assert indexed.authorship([path]) == walked.authorship([path]), path
        assert walked._index is None
    assert [c.author for c in indexed.last_writer(TENANT)] == ["admin@example.com"], "the discarded side is no writer"
    assert [c.author for c in indexed.last_writer(QUOTA)] == ["mallory@example.com"], "the evil merge's"


@pytest.mark.parametrize("own_graph", [False, True], ids=["no-commit-graph", "gc-commit-graph"])
def test_after_the_first_file_commits_are_skipped_by_the_index_not_diffed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_graph: bool
) -> None:
    """git reports what its Bloom filters answered: with the index, most commits are known not to touch the
    file without a tree diff. Without it there are no filters, and every commit of the history is diffed; nor
    are there when git reads the clone's own commit-graph first, which `git gc` writes without them."""
    repo = initial_repo(tmp_path)
    for i in range(30):
        repo.write(f"tenants/vision/pipelines/p{i}.yaml", f"name: p{i}\n")
        repo.commit(f"pipeline {i}", BOB)
    if own_graph:
        repo.git("commit-graph", "write", "--reachable", "--no-changed-paths")
    trace = tmp_path / "trace.json"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    history = repo.history(repo.git("rev-parse", "HEAD"))
    for path in (QUOTA, PIPELINE, TENANT):
        history.last_writer(path)
    skipped = 0
    for line in trace.read_text().splitlines():
        event = json.loads(line)
        if event.get("category") == "bloom" and event.get("key") == "statistics":
            skipped += int(event["value"]["definitely_not"])
    assert skipped >= 30, "the later files' walks skip most of the 30 pipeline commits by the filters (none without)"
    written = list((repo.root / ".git" / "objects" / "info").glob("commit-graph*"))
    assert len(written) == own_graph, "the clone is not written to"


def test_without_room_for_the_index_the_writers_are_found_by_walking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index only saves time: a temporary folder that cannot hold it (full, gone) is no attribution error."""
    repo = _tangled(tmp_path)
    walked = repo.history(None)
    expected = [[c.sha for c in walked.last_writer(path)] for path in (QUOTA, TENANT)]
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    history = repo.history(None)
    assert [[c.sha for c in history.last_writer(path)] for path in (QUOTA, TENANT)] == expected
    assert history._index is None
