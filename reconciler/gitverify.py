"""The environment every git call of attribution runs under: git reports signatures and paths the way mlcp
means, whatever the repo under review configures.

The repo's own `.git/config` could otherwise choose the signers file, the verifier or the revocation list, or make
a GPG / X.509 signature pass as good (docs/security.md). Attribution (reconciler.identity) and the ancestry checks
(reconciler.ancestry) both run git with `git_env`; kept apart so that what git is trusted to say is one short file.
"""

from __future__ import annotations

import os
from pathlib import Path

from reconciler import gitenv

_REVOCATIONS = os.devnull
"""The SSH revocation list is forced empty: mlcp's only trust list is allowed_signers (revoking a key is
removing it there). A repo-chosen path could only revoke, but could also be a FIFO or a huge file."""

_FORCED_CONFIG = {
    "gpg.ssh.program": "ssh-keygen",
    "gpg.ssh.revocationFile": _REVOCATIONS,
    "gpg.program": "false",
    "gpg.openpgp.program": "false",
    "gpg.x509.program": "false",
    "log.showSignature": "false",
    "log.follow": "false",
    "diff.relative": "false",
    "core.fsmonitor": "false",
    "core.commitGraph": "true",
    "commitGraph.readChangedPaths": "true",
}
"""Config that decides what git reports, forced in command-line scope (GIT_CONFIG_COUNT), which beats the
repository's own `.git/config`: a verifier that always fails cannot report a GPG or X.509 signature as good."""

SSH_KEY_PREFIX = "SHA256:"
"""How git prints an SSH key's fingerprint (%GF); a GPG fingerprint is bare hex."""


def git_env(allowed_signers: Path | None) -> dict[str, str]:
    """Environment for every git call: the forced config, no inherited `-c` config, no replace refs, and
    pathspecs taken literally (a file may be named `*.yaml`).

    Without an allowed_signers file, the signers file is empty: no signature verifies, and the repo's
    `gpg.ssh.allowedSignersFile` is never consulted.
    """
    config = {"gpg.ssh.allowedSignersFile": str(allowed_signers or os.devnull), **_FORCED_CONFIG}
    env = {
        "GIT_CONFIG_COUNT": str(len(config)),
        "GIT_CONFIG_PARAMETERS": "",
        **gitenv.ENV,
        "GIT_LITERAL_PATHSPECS": "1",
    }
    for i, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env
