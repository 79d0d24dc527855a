"""What attribution yields: a commit as git reported it, and the identities vouching for a spec file.

Values only (no git): the authorizer (reconciler.authorizing) and the approval rules read them, and the history
(reconciler.identity) makes them. A commit vouches for its author only when signatures are not required, and
otherwise for its verified signer alone (`Commit.identity`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    status: str
    """git's %G?: G good, B bad, U good but unknown validity, X/Y expired, R revoked, E cannot check, N none."""
    signer: str

    def identity(self, require_signed: bool) -> str | None:
        """The identity this commit vouches for, or None when it vouches for nobody."""
        if not require_signed:
            return self.author
        return self.signer if self.status == "G" and self.signer else None

    def problem(self, require_signed: bool) -> str | None:
        if not require_signed or self.identity(True):
            return None
        what = {
            "N": "is not signed",
            "B": "has a bad signature",
            "E": "is signed by a key not in allowed_signers",
            "U": "has a signature by a key not in allowed_signers",
            "O": "is signed with a GPG or X.509 signature; only SSH signatures in allowed_signers count",
        }
        problem = what.get(self.status, f"has an unverified signature ({self.status})")
        return f"commit {self.sha[:10]} by {self.author} {problem}"


@dataclass(frozen=True)
class Authorship:
    """Identities vouching for one spec file's content, and why some commits did not count."""

    actors: tuple[str, ...] = ()
    commits: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    claimed: tuple[str, ...] = ()
    """The commits' author fields, verified or not: what the audit log shows, marked, for unverified ones."""
