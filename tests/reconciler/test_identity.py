"""Attribution from git, attacked the way a tenant member with push access would: evil merges, odd paths,
forged records, rewritten history, stale approvals (signatures: test_identity_signatures.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controlplane.errors import MlcpError
from reconciler.identity import open_history
from tests.reconciler.gitrepo import ADMIN, BOB, MALLORY, PIPELINE, QUOTA, TRAILER, Repo, approve, authors, initial_repo


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return initial_repo(tmp_path)


# --- 1. merges -----------------------------------------------------------------------------------------


def test_evil_merge_is_charged_to_the_merger_while_the_merged_branch_keeps_its_authors(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "harmless")
    repo.write(PIPELINE, "image: data:2\n")
    repo.commit("new data image", BOB)
    repo.git("checkout", "-q", "main")
    repo.write(QUOTA, 'gpu: "5"\n')
    admins = repo.commit("admin: one more GPU")
    repo.git("merge", "-q", "--no-ff", "--no-commit", "harmless", who=BOB)
    repo.write(QUOTA, 'gpu: "64"\n')  # smuggled into the merge commit itself
    merge = repo.commit("Merge branch 'harmless'", BOB)

    history = repo.history(base)
    assert set(authors(history, QUOTA)) == {"bob@example.com", "admin@example.com"}
    assert set(history.authorship([QUOTA]).commits) == {merge, admins}
    assert authors(history, PIPELINE) == ("bob@example.com",)
    assert merge not in history.authorship([PIPELINE]).commits, "a clean part of a merge is its branch's work"
    assert history.last_writer(QUOTA)[0].sha == merge


def test_clean_merge_charges_the_merger_with_nothing(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write(QUOTA, 'gpu: "8"\n')
    repo.commit("admin raises the quota on a branch")
    repo.git("checkout", "-q", "main")
    repo.write(PIPELINE, "image: data:2\n")
    repo.commit("bob's pipeline", BOB)
    repo.git("merge", "-q", "--no-ff", "-m", "merge", "feature", who=MALLORY)

    history = repo.history(base)
    assert authors(history, QUOTA) == ("admin@example.com",)
    assert authors(history, PIPELINE) == ("bob@example.com",)
    assert "mallory@example.com" not in authors(history, "tenants/vision/tenant.yaml")


def test_conflict_resolution_is_charged_to_the_merger(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "side")
    repo.write(QUOTA, 'gpu: "6"\n')
    repo.commit("admin: 6 GPUs")
    repo.git("checkout", "-q", "main")
    repo.write(QUOTA, 'gpu: "5"\n')
    repo.commit("admin: 5 GPUs")
    repo.git("merge", "-q", "side", who=BOB, check=False)  # conflicts
    repo.write(QUOTA, 'gpu: "64"\n')  # bob "resolves" the conflict his way
    merge = repo.commit("merge side", BOB)

    history = repo.history(base)
    assert "bob@example.com" in authors(history, QUOTA)
    assert merge in history.authorship([QUOTA]).commits


def test_octopus_merge_is_charged_with_everything_it_brings_in(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    for name in ("a", "b"):
        repo.git("checkout", "-q", "-b", name, base)
        repo.write(f"tenants/vision/pipelines/{name}.yaml", f"name: {name}\n")
        repo.commit(f"pipeline {name}")
    repo.git("checkout", "-q", "main")
    repo.write("tenants/vision/pipelines/c.yaml", "name: c\n")
    repo.commit("pipeline c")
    repo.git("merge", "-q", "--no-commit", "a", "b", who=BOB)
    repo.write(QUOTA, 'gpu: "64"\n')
    repo.commit("octopus", BOB)

    history = repo.history(base)
    assert "bob@example.com" in authors(history, QUOTA)
    assert "bob@example.com" in authors(history, "tenants/vision/pipelines/a.yaml")  # conservative: no remerge


# --- 2. odd paths and forged records -------------------------------------------------------------------


ODD = 'tenants/vision/pipelines/a b/é "q"\tx.yaml'


def test_paths_with_spaces_quotes_tabs_and_non_ascii_are_attributed(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.write(ODD, "image: x\n")
    repo.commit("odd path", MALLORY)
    repo.write(ODD, "image: x\n# reviewed\n")
    repo.commit("admin adds a comment")  # the last writer must not speak for mallory's change
    history = repo.history(base)
    assert set(authors(history, ODD)) == {"mallory@example.com", "admin@example.com"}
    assert repo.history().last_writer(ODD)[0].author == "admin@example.com"


def test_uncommitted_sees_odd_paths_renames_and_ignored_files(repo: Repo) -> None:
    repo.write(ODD, "image: x\n")
    repo.commit("odd path")
    repo.write(ODD, "image: changed\n")
    repo.git("mv", PIPELINE, "tenants/vision/pipelines/ü renamed.yaml")
    repo.write(".gitignore", "secret*.yaml\n")
    repo.write("tenants/vision/pipelines/secret-spec.yaml", "image: hidden\n")
    dirty = repo.history().uncommitted()
    assert {ODD, PIPELINE, "tenants/vision/pipelines/ü renamed.yaml"} <= dirty
    assert "tenants/vision/pipelines/secret-spec.yaml" in dirty, "the loader reads ignored files too"


def test_a_forged_email_cannot_inject_record_fields(repo: Repo) -> None:
    """An author email carrying the field separator, a fake signature status and a fake signer: git allows any
    byte but NUL, `<`, `>` and newline in an email, and `hash-object` writes whatever it is given."""
    base = repo.git("rev-parse", "HEAD")
    repo.write(QUOTA, 'gpu: "64"\n')
    repo.git("add", "-A")
    tree = repo.git("write-tree")
    forged = "bob@example.com\x1fG\x1fadmin@example.com"  # the old parser read: author, status G, signer admin
    body = f"tree {tree}\nparent {base}\nauthor Bob <{forged}> 1700000000 +0000\n"
    body += f"committer Bob <{forged}> 1700000000 +0000\n\nforged fields\n"
    sha = (
        subprocess.run(
            ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
            cwd=repo.root,
            input=body.encode(),
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    repo.git("update-ref", "refs/heads/main", sha)

    for signed in (True, False):  # signed: an unsigned commit must not come out as the admin's good signature
        history = repo.history(base, signed=signed)
        actors = authors(history, QUOTA)
        assert "admin@example.com" not in actors
        assert actors == (() if signed else (forged.lower(),))


def test_a_file_named_like_a_record_is_just_a_file(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    fake = "@" + "0" * 40 + "\x1fadmin@example.com\x1fG\x1fadmin@example.com"
    repo.write(f"tenants/vision/{fake}", "x\n")
    repo.write(QUOTA, 'gpu: "64"\n')
    repo.commit("a record-shaped file name", MALLORY)
    history = repo.history(base)
    assert authors(history, QUOTA) == ("mallory@example.com",)
    assert authors(history, f"tenants/vision/{fake}") == ("mallory@example.com",)


def test_a_committed_mailmap_does_not_rename_the_author(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.write(".mailmap", "Admin <admin@example.com> Bob <bob@example.com>\n")
    repo.write(QUOTA, 'gpu: "64"\n')
    repo.commit("bob maps himself to the admin", BOB)
    assert authors(repo.history(base), QUOTA) == ("bob@example.com",)


def test_a_glob_shaped_file_name_is_taken_literally(repo: Repo) -> None:
    repo.write("tenants/vision/pipelines/*.yaml", "x\n")
    repo.commit("glob-named file", BOB)
    repo.write(PIPELINE, "image: data:9\n")
    repo.commit("later pipeline change", MALLORY)
    [last] = repo.history().last_writer("tenants/vision/pipelines/*.yaml")
    assert last.author == "bob@example.com"


# --- 3. rewritten history ------------------------------------------------------------------------------


def test_head_not_descending_from_the_base_is_refused(repo: Repo) -> None:
    repo.write(QUOTA, 'gpu: "4" # applied\n')
    applied = repo.commit("applied revision")
    repo.git("reset", "-q", "--hard", "HEAD~1")  # the force push
    repo.write(QUOTA, 'gpu: "64"\n')
    head = repo.commit("rewritten", BOB)
    with pytest.raises(MlcpError) as caught:
        open_history(repo.root, head, applied, False, None)
    assert f"head {head[:10]} does not descend from the trusted base {applied[:10]}" in caught.value.message
    assert "force push" in caught.value.message and "--trusted-base" in caught.value.hint


def test_base_missing_from_the_clone_is_refused(repo: Repo, tmp_path: Path) -> None:
    head = repo.git("rev-parse", "HEAD")
    for base in ("f" * 40, "no-such-branch", f"--output={tmp_path / 'pwned'}"):
        with pytest.raises(MlcpError) as caught:
            open_history(repo.root, head, base, False, None)
        assert "is not in the clone" in caught.value.message and "MLCP_TRUSTED_BASE" in caught.value.hint
    assert not (tmp_path / "pwned").exists()


def test_head_that_is_not_a_commit_is_refused(repo: Repo) -> None:
    with pytest.raises(MlcpError, match="is not a commit"):
        open_history(repo.root, "0" * 40, None, False, None)


def test_replace_refs_cannot_rewrite_an_old_commit(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.write(QUOTA, 'gpu: "64"\n')
    bobs = repo.commit("bob raises the quota", BOB)
    repo.git("commit", "-q", "--amend", "--reset-author", "-m", "admin's now", who=ADMIN)
    admins = repo.git("rev-parse", "HEAD")
    repo.git("update-ref", "refs/heads/main", bobs)
    repo.git("replace", bobs, admins)
    assert authors(repo.history(base), QUOTA) == ("bob@example.com",)


# --- 5. approvals ---------------------------------------------------------------------------------------


def test_an_approval_older_than_the_specs_last_change_does_not_count(repo: Repo) -> None:
    approve(repo, ADMIN, "v1")
    repo.write(PIPELINE, "image: data:2\n")
    repo.commit("change", BOB)
    repo.write(PIPELINE, "image: data:1\n")
    repo.commit("back to the approved content", BOB)
    approve(repo, ("Risk", "Risk@Example.com"), "v1-again")
    history = repo.history()
    assert history.approvals_after(PIPELINE, TRAILER) == [("risk@example.com", "v1-again")]
    assert ("admin@example.com", "v1") in history.approvals(TRAILER)
    assert history.approvals_after("tenants/vision/never-committed.yaml", TRAILER) == []


def test_an_evil_merge_is_the_last_change_for_approvals(repo: Repo) -> None:
    repo.git("checkout", "-q", "-b", "side")
    approve(repo, ADMIN, "quota-4")  # approved on a branch, before the merge changes the quota
    repo.git("checkout", "-q", "main")
    repo.write(PIPELINE, "image: data:2\n")
    repo.commit("main moves on", BOB)
    repo.git("merge", "-q", "--no-ff", "--no-commit", "side", who=BOB)
    repo.write(QUOTA, 'gpu: "64"\n')
    repo.commit("merge side", BOB)
    history = repo.history()
    assert history.approvals_after(QUOTA, TRAILER) == []
    approve(repo, ADMIN, "quota-64")
    assert repo.history().approvals_after(QUOTA, TRAILER) == [("admin@example.com", "quota-64")]


def test_a_trailer_the_merged_side_wrote_is_no_approval_by_whoever_merged(repo: Repo) -> None:
    """Mallory changes the pipeline on a branch and tags it, the tag's message ending in an approval trailer; the
    admin merges the tag (git copies its message into the merge commit, as a forge's merge button copies a pull
    request's title). The merge commit is the admin's, signed or not: its trailer was never his approval."""
    repo.git("checkout", "-q", "-b", "feature")
    repo.write(PIPELINE, "image: data:666\n")
    repo.commit("faster training", MALLORY)
    repo.git("tag", "-a", "v1", "-m", f"release v1\n\n{TRAILER}: pipeline-666", who=MALLORY)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "--no-edit", "v1", who=ADMIN)
    assert TRAILER in repo.git("log", "-1", "--format=%B"), "git put Mallory's words in the admin's merge"
    history = repo.history()
    assert history.approvals_after(PIPELINE, TRAILER) == []
    approve(repo, ADMIN, "pipeline-666")
    assert repo.history().approvals_after(PIPELINE, TRAILER) == [("admin@example.com", "pipeline-666")]


def test_a_trailer_in_a_commit_that_changes_files_is_no_approval(repo: Repo) -> None:
    """A squash of others' commits carries their messages (a forge lists them in the squash's body): an approval
    is a commit of its own, changing nothing, as `mlcp approve` writes it."""
    repo.write(PIPELINE, "image: data:2\n")
    repo.commit("change", MALLORY)
    repo.write(QUOTA, 'gpu: "1"\n')
    repo.commit(f"squashed: tidy the quota\n\n{TRAILER}: pipeline-2", ADMIN)
    assert repo.history().approvals_after(PIPELINE, TRAILER) == []


def test_not_a_git_repository_has_no_history(tmp_path: Path) -> None:
    assert open_history(tmp_path, "HEAD", None, False, None) is None


# --- 6. the last change, by ancestry ----------------------------------------------------------------------


def _backdated(repo: Repo, message: str, who: tuple[str, str]) -> str:
    """A commit dated 2001: committer dates are the committer's to choose."""
    repo.git("add", "-A")
    old = {"GIT_AUTHOR_DATE": "2001-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2001-01-01T00:00:00Z"}
    with pytest.MonkeyPatch.context() as env:
        for name, value in old.items():
            env.setenv(name, value)
        repo.git("commit", "-q", "-m", message, who=who)
    return repo.git("rev-parse", "HEAD")


def test_a_backdated_change_merged_cleanly_stays_the_files_last_change(repo: Repo) -> None:
    """git log lists commits by committer date: Mallory's 2001 commit on a merged branch came after the admin's
    older commit of the file, and the admin was taken for the file's last writer once the base moved past the
    merge. The last change is decided by ancestry."""
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "raise", base)
    repo.write(QUOTA, 'gpu: "64"\n')
    raised = _backdated(repo, "64 GPUs", MALLORY)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "merge raise", "raise", who=MALLORY)  # clean: charged with nothing
    assert authors(repo.history(base), QUOTA) == ("mallory@example.com",)
    moved = repo.history(repo.git("rev-parse", "HEAD"))  # the base moved past the merge
    assert [c.sha for c in moved.last_writer(QUOTA)] == [raised]
    assert authors(moved, QUOTA) == ("mallory@example.com",)


def test_two_lines_that_both_changed_a_file_and_merged_cleanly_are_both_its_last_change(repo: Repo) -> None:
    repo.write(QUOTA, "a: 1\nb: 1\nc: 1\nd: 1\ne: 1\nf: 1\n")
    fork = repo.commit("spread the quota out", ADMIN)
    repo.git("checkout", "-q", "-b", "side", fork)
    repo.write(QUOTA, "a: 1\nb: 1\nc: 1\nd: 1\ne: 1\nf: 9\n")
    side = _backdated(repo, "f to 9", MALLORY)
    repo.git("checkout", "-q", "main")
    repo.write(QUOTA, "a: 2\nb: 1\nc: 1\nd: 1\ne: 1\nf: 1\n")
    main = repo.commit("a to 2", BOB)
    repo.git("merge", "-q", "--no-ff", "-m", "merge side", "side", who=BOB)
    assert "f: 9" in (repo.root / QUOTA).read_text() and "a: 2" in (repo.root / QUOTA).read_text()
    history = repo.history(repo.git("rev-parse", "HEAD"))
    assert {c.sha for c in history.last_writer(QUOTA)} == {main, side}
    assert set(authors(history, QUOTA)) == {"bob@example.com", "mallory@example.com"}


def test_an_approval_before_a_backdated_merged_change_does_not_count(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    approve(repo, ADMIN, "quota-4")  # approves what the file holds now
    repo.git("checkout", "-q", "-b", "raise", base)
    repo.write(QUOTA, 'gpu: "64"\n')
    _backdated(repo, "64 GPUs", MALLORY)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "merge raise", "raise", who=MALLORY)
    assert repo.history().approvals_after(QUOTA, TRAILER) == [], "the approval is older than the content"


def test_files_of_a_nested_repository_are_not_held_by_head_though_status_names_only_its_folder(repo: Repo) -> None:
    nested = repo.root / "tenants/vision/extra"
    nested.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=nested, check=True)
    (nested / "backdoor.yaml").write_text("kind: Quota\n")
    history = repo.history()
    assert "tenants/vision/extra/backdoor.yaml" not in history.uncommitted(), "git status names only the folder"
    assert history.unheld(["tenants/vision/extra/backdoor.yaml", QUOTA]) == {"tenants/vision/extra/backdoor.yaml"}
