"""`gitsource.checkout`: a work tree of a commit that exists, or a clear error — never a git traceback.

A saved plan names its revision in a file anyone may edit, so the revision is input: a commit id that
parses but does not exist, a name that does not resolve, or an option in disguise must all be refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.errors import MlcpError
from reconciler import gitsource
from tests import gitcraft
from tests.reconciler import gitrepo
from tests.reconciler.gitrepo import ADMIN, Repo


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return gitrepo.committed(tmp_path / "repo", {"mlcp.yaml": "apiVersion: mlcp.dev/v1alpha1\n"})


def test_a_commit_is_checked_out_and_removed_afterwards(repo: Repo) -> None:
    head = repo.git("rev-parse", "HEAD").strip()
    with gitsource.checkout(repo.root, head) as tree:
        assert (tree / "mlcp.yaml").is_file()
    assert not tree.exists()
    assert len(repo.git("worktree", "list").strip().splitlines()) == 1, "no work tree left registered"


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("0" * 40, "no such commit"),
        ("no-such-branch", "no such commit"),
        ("HEAD:mlcp.yaml", "no such commit"),  # a blob, not a commit
        ("--output=/tmp/pwned", "never starts with '-'"),
    ],
)
def test_what_is_not_a_commit_is_refused_clearly(repo: Repo, ref: str, reason: str) -> None:
    with pytest.raises(MlcpError, match=reason) as caught, gitsource.checkout(repo.root, ref):
        pass
    assert caught.value.hint == "pass a branch, tag or commit of the config repo"


CRAFTED = [
    pytest.param(["tenants", "a", "..", "b", "tenant.yaml"], id="dotdot-inside"),
    pytest.param(["..", "mlcp.yaml"], id="dotdot-at-the-root"),
    pytest.param(["tenants", ".", "tenant.yaml"], id="dot"),
    pytest.param([".git", "config"], id="dotgit"),
    pytest.param(["tenants", ".GIT", "hooks", "post-checkout"], id="dotgit-other-case"),
]


@pytest.mark.parametrize("path", CRAFTED)
def test_a_commit_whose_tree_git_refuses_to_write_is_refused_clearly(repo: Repo, path: list[str]) -> None:
    """A tree entry named `..` (made with `git mktree`, as no work tree can hold it) would put a file outside
    the folder whose name authorizes it; git refuses to check it out, and that is an error, not a traceback."""
    crafted = gitcraft.commit_with(repo.git, path, "kind: Tenant\n", "crafted")
    with pytest.raises(MlcpError, match="invalid path") as caught, gitsource.checkout(repo.root, crafted):
        pass
    assert f"cannot check out '{crafted}'" in caught.value.message
    assert "`..`" in caught.value.hint
    assert len(repo.git("worktree", "list").strip().splitlines()) == 1, "no work tree left registered"


def test_a_failed_git_command_is_told_by_its_error_lines_and_what_the_remote_said() -> None:
    import git

    stderr = (
        "Cloning into 'x'...\nremote: Invalid username or password.\n"
        "fatal: Authentication failed for 'https://git.example/repo.git/'\n"
    )
    exc = git.GitCommandError(["git", "fetch"], 128, stderr.encode())
    assert gitsource.git_error(exc) == (
        "remote: Invalid username or password.; fatal: Authentication failed for 'https://git.example/repo.git/'"
    )
    assert gitsource.git_error(OSError("no such\n  directory")) == "no such directory"


def test_a_checkout_writes_the_committed_files_never_a_replace_refs_forgery(repo: Repo) -> None:
    """`mlcp plan --head REV` checks REV out: a replace ref for one of its blobs (pushed by anyone, fetched by a
    mirror clone) would have it write content no commit holds, judged as if the commit's author wrote it."""
    real = repo.git("rev-parse", "HEAD:mlcp.yaml").strip()
    forged = repo.git("hash-object", "-w", "--stdin", input="apiVersion: evil/v1\n").strip()
    repo.git("replace", real, forged)
    assert "evil" in repo.git("cat-file", "-p", real), "plain git reads the forgery"
    with gitsource.checkout(repo.root, "HEAD") as tree:
        assert (tree / "mlcp.yaml").read_text() == "apiVersion: mlcp.dev/v1alpha1\n"


def test_a_checkout_never_lets_git_lfs_fetch_where_the_repo_points(repo: Repo, tmp_path: Path) -> None:
    """The operator's Git LFS smudge filter runs for what the repo's .gitattributes mark and fetches from the URL
    its .lfsconfig names. The attacker commits both; a filter standing in for git-lfs records what git-lfs reads
    to decide whether to fetch (GIT_LFS_SKIP_SMUDGE)."""
    seen = tmp_path / "skip"
    repo.git("config", "filter.lfs.smudge", f"sh -c 'printf %s \"$GIT_LFS_SKIP_SMUDGE\" > {seen}; cat'")
    repo.write(".gitattributes", "*.yaml filter=lfs\n")
    repo.write(".lfsconfig", "[lfs]\n\turl = https://attacker.example/lfs\n")
    repo.write("tenants/vision/tenant.yaml", "kind: Tenant\n")
    repo.commit("content from elsewhere")
    with gitsource.checkout(repo.root, "HEAD") as tree:
        assert (tree / "tenants/vision/tenant.yaml").is_file()
    assert seen.read_text() == "1", "git-lfs would have fetched from the repo's URL"


def test_changed_files_never_takes_a_revision_for_an_option(repo: Repo, tmp_path: Path) -> None:
    """`mlcp plan --base --output=FILE` made git write FILE (the base went to `git diff` as `--output=FILE...HEAD`)."""
    with pytest.raises(MlcpError, match="never starts with '-'"):
        gitsource.changed_files(repo.root, f"--output={tmp_path / 'pwned'}", "HEAD")
    assert not list(tmp_path.glob("pwned*"))


def test_each_files_last_commit_is_found_whatever_its_name(repo: Repo) -> None:
    """Without `-z`, git quotes a name holding a space or a non-ASCII character: that file got no commit label,
    and the loop's incremental load could not place the change and read everything again."""
    base = repo.git("rev-parse", "HEAD").strip()
    names = ["tenants/vision/réseau.yaml", "tenants/vision/a b.yaml", "tenants/vision/\nnewline.yaml"]
    for name in names:
        repo.write(name, "kind: Quota\n")
    first = repo.commit("odd names")
    repo.commit("nothing", ADMIN, "--allow-empty")
    repo.write(names[0], "kind: Quota # again\n")
    second = repo.commit("one again")
    info = gitsource.inspect(repo.root, names)
    assert {n: info.commits.get(n) for n in names} == {names[0]: second, names[1]: first, names[2]: first}
    delta = gitsource.delta(repo.root, base, second)
    assert delta is not None and delta.paths == frozenset(names)
    assert {n: delta.commits.get(n) for n in names} == {names[0]: second, names[1]: first, names[2]: first}


def _unreadable_past(repo: Repo) -> str:
    """Remove the tree of the repo's first commit: git can no longer diff the commit after it, as a walk of the
    whole history must. Returns the newest commit."""
    tree = repo.git("rev-parse", "HEAD~2^{tree}")
    (repo.root / ".git" / "objects" / tree[:2] / tree[2:]).unlink()
    return repo.git("rev-parse", "HEAD")


def test_the_history_is_read_back_only_as_far_as_the_files_last_changes(repo: Repo) -> None:
    """A config repo lives for years: each plan read every commit of it (8.5 s at 100,000 commits) to label the
    objects of files all changed recently. The walk ends once each file asked for is placed; here, what lies
    beyond cannot even be read, and the answer is still given."""
    repo.write("tenants/vision/tenant.yaml", "kind: Tenant\n")
    repo.commit("vision")
    repo.write("tenants/vision/tenant.yaml", "kind: Tenant # again\n")
    repo.write("tenants/nlp/tenant.yaml", "kind: Tenant\n")
    head = repo.commit("both")
    past = _unreadable_past(repo)
    assert past == head
    wanted = ["tenants/vision/tenant.yaml", "tenants/nlp/tenant.yaml"]
    assert gitsource.inspect(repo.root, wanted).commits == dict.fromkeys(wanted, head)


def test_files_are_placed_by_the_newest_commit_that_touched_them_not_head(repo: Repo) -> None:
    first = repo.git("rev-parse", "HEAD")
    repo.write("tenants/vision/tenant.yaml", "kind: Tenant\n")
    vision = repo.commit("vision")
    repo.commit("nothing", ADMIN, "--allow-empty")
    info = gitsource.inspect(repo.root, ["mlcp.yaml", "tenants/vision/tenant.yaml", "untracked.yaml"])
    assert info.commits == {"mlcp.yaml": first, "tenants/vision/tenant.yaml": vision}, "no commit places untracked"
    assert info.revision == repo.git("rev-parse", "HEAD")
    assert gitsource.inspect(repo.root, []).commits == {}


def test_a_history_git_cannot_read_where_a_file_is_placed_is_a_clear_error(repo: Repo) -> None:
    """The first commit's file is placed only by reading the commit whose tree is gone: an MlcpError naming git's
    words, not a traceback."""
    repo.write("tenants/vision/tenant.yaml", "kind: Tenant\n")
    repo.commit("vision")
    repo.commit("nothing", ADMIN, "--allow-empty")
    _unreadable_past(repo)
    with pytest.raises(MlcpError, match=r"cannot read the history of .*git log failed") as caught:
        gitsource.inspect(repo.root, ["mlcp.yaml"])
    assert caught.value.hint == "check that the clone is intact"
