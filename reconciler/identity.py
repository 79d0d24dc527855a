"""Who changed a spec, according to git — and, when signatures are required, who provably did.

For each spec file, the commits that touched it since the last applied
revision (or, when none did, the commit that last wrote it: a change that only
restores git's content is judged by whoever wrote that content). Under
`requireSignedCommits`, a commit counts only when its SSH signature verifies
against the repo's `allowed_signers` file, and the signer's principal — not the
author field, which anyone can forge — is the identity.

Attribution has to be complete, or an attacker chooses how their change is
read, so:

- a merge commit is charged with what it changes itself beyond the automatic
  merge of its parents (git's remerge diff: an "evil merge", a conflict
  resolution), never with the files an ordinary merge brings in; an octopus
  merge, which git cannot remerge, is charged with everything it brings in;
- every output is NUL-separated and every record starts with a random marker
  chosen per history, so no path, email or trailer can be mistaken for another
  field or commit (git would otherwise quote odd paths, and a crafted email
  could shift the fields of a record);
- a base the head does not descend from (a force push) or that the clone lacks
  stops attribution with an error instead of silently judging by all history
  (reconciler.ancestry);
- only SSH signatures checked against the trusted allowed_signers count: the
  repo's own git config cannot choose the signers file, the verifier or the
  revocation list, and GPG / X.509 verifiers are replaced by `false`
  (reconciler.gitverify).

The values it yields (`Commit`, `Authorship`) are reconciler.commits'.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git

from controlplane.errors import MlcpError
from reconciler import ancestry, gitenv, pathindex
from reconciler.commits import Authorship, Commit
from reconciler.gitverify import SSH_KEY_PREFIX, git_env
from reconciler.pathindex import PathIndex

REWRITE_HINT = (
    "restore the branch, or have the operator name a new trusted base with --trusted-base REV or MLCP_TRUSTED_BASE"
)


@dataclass(frozen=True)
class _Entry:
    """One commit of a `git log`, with the files it is charged with and, when asked for, trailer values."""

    commit: Commit
    parents: tuple[str, ...]
    files: list[str]
    trailers: tuple[str, ...] = ()


_REGULAR_FILE_MODES = frozenset({"100644", "100755"})
"""git's modes of a file it holds itself (not a symlink 120000, a submodule's commit 160000 or a tree 040000)."""

_INDEPENDENT_CHUNK = 2048
"""Commits per `git merge-base --independent` (its arguments stay well under the command line's limit)."""


@dataclass
class History:
    """Commits of a config repo between the last applied revision and the target."""

    repo: git.Repo
    head: str
    base: str | None
    require_signed: bool = False
    allowed_signers: Path | None = None
    _by_file: dict[str, list[Commit]] = field(default_factory=dict)
    _mark: str = field(default_factory=lambda: f"\x1f{secrets.token_hex(16)}\x1f")
    _last: dict[str, tuple[Commit, ...]] = field(default_factory=dict)
    _index: PathIndex | None = None
    _indexed: bool = False
    """Changed-path filters of head's history (reconciler.pathindex), written once a second file's last writers
    are asked for: one walk of the history is then no longer paid per file."""

    def _env(self) -> dict[str, str]:
        env = git_env(self.allowed_signers)
        return {**env, **self._index.env} if self._index is not None else env

    def _run(self, command: str, *args: str) -> str:
        try:
            out: Any = getattr(self.repo.git, command)(*args, env=self._env(), strip_newline_in_stdout=False)
        except git.GitCommandError as exc:
            detail = " ".join(str(exc.stderr).split())
            raise MlcpError(
                f"git {command} failed in {self.repo.working_dir}: {detail}", "check that the clone is intact"
            ) from None
        return str(out)

    def _format(self, trailer: str | None = None, signatures: bool = True) -> str:
        m = self._mark
        fmt = f"{m}%H{m}%P{m}%G?{m}%GF{m}%GS{m}%ae" if signatures else f"{m}%H{m}%P{m}{m}{m}{m}%ae"
        return fmt + (f"{m}%(trailers:key={trailer},valueonly,separator={m})" if trailer else "")

    def _header(self, token: str, with_trailers: bool) -> _Entry:
        parts = token.split(self._mark)
        if len(parts) < 7 or parts[0] or (len(parts) > 7 and not with_trailers):
            raise MlcpError(f"cannot read git's log of {self.repo.working_dir}: unexpected record {token[:80]!r}")
        _, sha, parents, status, key, signer, author, *trailers = parts
        if status == "G" and not key.startswith(SSH_KEY_PREFIX):
            status = "O"  # never trusted, even if some verifier called it good
        commit = Commit(sha, author.lower(), status, signer.lower())
        return _Entry(commit, tuple(parents.split()), [], tuple(t.strip() for t in trailers if t.strip()))

    def _log(self, *args: str, trailer: str | None = None, signatures: bool = True) -> list[_Entry]:
        """`git log` with NUL-separated records: each commit and the files it is charged with. Without
        `signatures`, no signature is verified (a process per signed commit) and none is reported."""
        out = self._run(
            "log",
            f"--format={self._format(trailer, signatures)}",
            "-z",
            "--encoding=UTF-8",
            "--root",
            "--no-renames",
            "--no-ext-diff",
            "--no-textconv",
            *(["--name-only", "--diff-merges=remerge"] if trailer is None else []),
            *args,
        )
        entries: list[_Entry] = []
        first = False
        for token in out.split("\0"):
            at = token.find(self._mark)
            if at >= 0:  # anything before the marker is git's own noise (its octopus warning), never a path
                entries.append(self._header(token[at:], trailer is not None))
                first = True
            elif entries and token:
                # git separates a commit's header from its file list with one newline
                entries[-1].files.append(token[1:] if first and token.startswith("\n") else token)
                first = False
        for entry in entries:
            if len(entry.parents) > 2:  # git cannot remerge an octopus: charge it with all it brings in
                entry.files[:] = self._changed(entry.parents[0], entry.commit.sha)
        return entries

    def _changed(self, old: str, new: str) -> list[str]:
        out = self._run("diff-tree", "-r", "-z", "--name-only", "--no-renames", "--no-ext-diff", old, new)
        return [p for p in out.split("\0") if p]

    def load(self) -> History:
        """Read the range once: `git log base..head` with signature status."""
        span = f"{self.base}..{self.head}" if self.base else self.head
        for entry in self._log(span):
            for path in entry.files:
                self._by_file.setdefault(path, []).append(entry.commit)
        return self

    def uncommitted(self) -> set[str]:
        """Files that differ from HEAD in the work tree: modified, staged, untracked, or ignored (the loader
        reads an ignored file as readily as any other)."""
        out = self._run("status", "--porcelain", "-z", "--untracked-files=all", "--ignored", "--no-renames")
        return set(_status_paths(out.split("\0")))

    def unheld(self, paths: Iterable[str]) -> set[str]:
        """Of `paths` (files the loader read from the work tree), those head does not hold as regular files: inside
        a submodule or a nested repository, whose content `git status` leaves to that repository and reports clean.
        No commit of this repo vouches for them, so neither may the trusted base nor any author."""
        wanted = set(paths)
        if not wanted:
            return set()
        held = set()
        for entry in self._run("ls-tree", "-r", "-z", "--full-tree", self.head).split("\0"):
            meta, _, path = entry.partition("\t")
            if path in wanted and meta.split(" ", 1)[0] in _REGULAR_FILE_MODES:
                held.add(path)
        return wanted - held

    def _last_changes(self, path: str) -> tuple[Commit, ...]:
        """The commits that last changed `path` on each line of history that reaches head: those charged with it
        (a merge only when it changed the file itself) that no other commit charged with it descends from.

        Decided by ancestry (`git merge-base --independent`), never by the order of the log: that order follows
        committer dates, which the committer chooses, so a backdated commit on a merged branch was listed after
        an older commit of the main line and lost its authorship once the base moved past it. A clean merge of
        two changed lines is charged with neither; both lines' last changes are."""
        if path not in self._last:
            if self._last and not self._indexed:
                self._indexed = True
                self._index = pathindex.build(self.repo, self.head, git_env(self.allowed_signers))
            # every commit that ever changed the file is listed; only the last changes' signatures are checked
            charged = [e.commit for e in self._log(self.head, "--", path, signatures=False) if path in e.files]
            latest = {c.sha for c in charged}
            while len(latest) > 1:
                # maximal in each chunk, then among those: a commit below another in its chunk is below it in all
                chunks = [sorted(latest)[i : i + _INDEPENDENT_CHUNK] for i in range(0, len(latest), _INDEPENDENT_CHUNK)]
                reduced = {sha for chunk in chunks for sha in self._run("merge-base", "--independent", *chunk).split()}
                if len(chunks) == 1 or reduced == latest:
                    latest = reduced
                    break
                latest = reduced
            self._last[path] = self._verified([c.sha for c in charged if c.sha in latest])
        return self._last[path]

    def _verified(self, shas: list[str]) -> tuple[Commit, ...]:
        """The commits `shas`, in that order, with their signatures' status."""
        if not shas:
            return ()
        found = {e.commit.sha: e.commit for e in self._log("--no-walk=unsorted", *shas)}
        return tuple(found[sha] for sha in shas)

    def changed_since_base(self, path: str) -> bool:
        """Whether any commit between the base and head touched `path` (merge commits' own changes included)."""
        return path in self._by_file

    def touched(self, prefixes: tuple[str, ...]) -> bool:
        """Whether any commit between the base and head touched a path starting with one of `prefixes`."""
        return any(path.startswith(prefixes) for path in self._by_file)

    def last_writer(self, path: str) -> list[Commit]:
        return list(self._last_changes(path))

    def authorship(self, paths: Iterable[str]) -> Authorship:
        commits: list[Commit] = []
        for path in paths:
            commits.extend(self._by_file.get(path) or self.last_writer(path))
        actors = [c.identity(self.require_signed) for c in commits]
        problems = [p for c in commits if (p := c.problem(self.require_signed))]
        return Authorship(
            actors=tuple(dict.fromkeys(a for a in actors if a)),
            commits=tuple(dict.fromkeys(c.sha for c in commits)),
            problems=tuple(dict.fromkeys(problems)),
            claimed=tuple(dict.fromkeys(c.author for c in commits)),
        )

    def _approvals(self, entries: Iterable[_Entry]) -> list[tuple[str, str]]:
        """(identity, value) of the trailers of `entries` that are approval commits of their own: one parent and
        no change (what `mlcp approve` commits). A merge commit's message holds text its author never wrote (git
        copies a merged tag's message into it; a forge's merge button, the pull request's title), and so does a
        squash of others' commits: a trailer there approved in the name of whoever merged or signed."""
        candidates = [
            e for e in entries if e.trailers and len(e.parents) == 1 and e.commit.identity(self.require_signed)
        ]
        own = self._unchanging([e.commit.sha for e in candidates])
        return [
            (who, value)
            for entry in candidates
            if entry.commit.sha in own and (who := entry.commit.identity(self.require_signed))
            for value in entry.trailers
        ]

    def _unchanging(self, shas: list[str]) -> set[str]:
        """Of `shas` (commits of one parent), those that change no file: asked only of the few commits that carry
        a trailer, not of every commit since the change (a tree diff each)."""
        unchanged: set[str] = set()
        for at in range(0, len(shas), _INDEPENDENT_CHUNK):  # arguments well under the command line's limit
            chunk = shas[at : at + _INDEPENDENT_CHUNK]
            out = self._run(
                "log", "--no-walk=unsorted", f"--format={self._mark}%H", "-z", "--name-only", "--no-renames",
                "--no-ext-diff", "--no-textconv", *chunk,
            )  # fmt: skip
            sha = None
            for token in out.split("\0"):
                if (mark := token.find(self._mark)) >= 0:
                    sha = token[mark + len(self._mark) :].strip()
                    unchanged.add(sha)
                elif token.strip() and sha is not None:
                    unchanged.discard(sha)  # a file it changes
        return unchanged

    def approvals(self, trailer: str) -> list[tuple[str, str]]:
        """(identity, trailer value) of every commit up to head carrying `trailer` (signed where required)."""
        return self._approvals(self._log(self.head, trailer=trailer))

    def approvals_after(self, path: str, trailer: str) -> list[tuple[str, str]]:
        """Like `approvals`, but only from commits that descend from every last change of `path`
        (`--ancestry-path <last change>..head`, for each of them): an approval given before the content changed,
        even to content later restored, never counts, and neither does one given on a line of history that never
        held the change (a parallel branch merged beside it). A path no commit wrote has no approvals."""
        last = self._last_changes(path)
        if not last:
            return []
        spans = [self._log("--ancestry-path", f"{c.sha}..{self.head}", trailer=trailer) for c in last]
        after_all = set.intersection(*({e.commit.sha for e in span} for span in spans))
        return self._approvals(e for e in spans[0] if e.commit.sha in after_all)


def _status_paths(tokens: list[str]) -> Iterator[str]:
    """Paths of `git status --porcelain -z`: `XY path`, and after a rename or copy, its origin."""
    it = iter(tokens)
    for token in it:
        if len(token) < 4:
            continue
        yield token[3:]
        if "R" in token[:2] or "C" in token[:2]:
            origin = next(it, "")
            if origin:
                yield origin


def open_history(
    path: Path, head: str, base: str | None, require_signed: bool, allowed_signers: Path | None
) -> History | None:
    """The history of the config repo at `path`, or None when it is not a git repository.

    MlcpError when `head` is not a commit, or `base` is given but is not in the clone or `head` does not
    descend from it: then nothing since the base can be attributed, and judging by all history instead
    would let a rewritten branch pass as the work of earlier, trusted commits.
    """
    try:
        repo = gitenv.repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    env = git_env(allowed_signers)
    resolved = ancestry.resolve(repo, head, env)
    if resolved is None:
        raise MlcpError(
            f"revision {head!r} is not a commit of the config repo at {path}",
            "commit the change, or name a revision that exists in the clone",
        )
    if base is not None:
        trusted = ancestry.resolve(repo, base, env)
        if trusted is None:
            raise MlcpError(
                f"the trusted base {base[:10]} is not in the clone at {path} (history was rewritten, e.g. a force "
                "push, or the clone is shallow): nothing can be attributed",
                f"fetch the full history (git fetch --unshallow); otherwise {REWRITE_HINT}",
            )
        if not ancestry.ancestor(repo, trusted, resolved, env):
            raise MlcpError(
                f"head {resolved[:10]} does not descend from the trusted base {trusted[:10]} (history was "
                "rewritten, e.g. a force push): nothing can be attributed",
                REWRITE_HINT,
            )
        base = trusted
    return History(repo, resolved, base, require_signed, allowed_signers).load()
