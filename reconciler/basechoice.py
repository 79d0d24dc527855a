"""Which trusted base judges a plan: the revision the operator named, else the one mlcp last recorded as applied.

The applied revision is read from the systems' own records (their inventories), never from the repo under
review; while a system that could hold it is unreachable the base is unknown and nothing is judged. The choice
(git's ancestry of two commits) and the loaded base are remembered, so a loop pass at the same revisions asks
git and reads the base's governance files once, not every pass. Apart from the engine, which plans with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from controlplane.errors import MlcpError
from controlplane.plans import SystemStatus
from reconciler import baserevision, trust
from reconciler.backends.base import Backend, LiveState
from reconciler.trust import TrustedBase

_TRUSTED: dict[tuple[Path, str, str], TrustedBase] = {}


_CHOSEN: dict[tuple[Path, str | None, str | None], tuple[str, str]] = {}
_FULL_SHA = re.compile(r"[0-9a-f]{40}")


def _choose(root: Path, applied: str | None, named: str | None) -> tuple[str, str]:
    """`baserevision.choose`, resolved to a sha; remembered when both inputs are full shas (a commit and the ancestry
    of two commits never change), so a loop pass does not ask git again and again for the same answer."""
    key = (root, applied, named)
    known = _CHOSEN.get(key)
    if known is not None:
        return known
    revision, origin = baserevision.choose(root, applied, named)
    chosen = (baserevision.resolve(root, revision), origin)
    if all(v is None or _FULL_SHA.fullmatch(v) for v in (applied, named)):
        if len(_CHOSEN) >= 64:
            _CHOSEN.clear()
        _CHOSEN[key] = chosen
    return chosen


def load_trusted(
    root: Path,
    states: Mapping[str, LiveState],
    statuses: Sequence[SystemStatus],
    backends: Mapping[str, Backend],
    named: str | None,
) -> TrustedBase:
    """The trusted base: the revision the operator named, else the one mlcp last recorded as applied.

    Refused while a system that could hold the applied revision is unreachable and none that was read holds it:
    the applied revision is unknown then, so a named revision cannot be told stale (a setting left from the
    bootstrap would judge by the rules before the last applied change) and "nothing applied yet" may be false.
    """
    applied = next((s.inventory.revision for s in states.values() if s.inventory.revision), None)
    unreachable = [s for s in statuses if not s.reachable and backends[s.system].keeps_applied_revision]
    if applied is None and unreachable:
        down = "; ".join(f"{s.system} ({s.error})" for s in unreachable)
        raise MlcpError(
            f"the last applied revision cannot be read: {down}; mlcp judges no change until it can tell which "
            "revision's rules apply (a named trusted base may be older than the last applied one)",
            "make the system reachable and plan again",
        )
    sha, origin = _choose(root, applied, named)
    key = (root, sha, origin)
    if key not in _TRUSTED:
        if len(_TRUSTED) >= 4:
            _TRUSTED.pop(next(iter(_TRUSTED)))
        previous = next((b for (at, _, _), b in reversed(_TRUSTED.items()) if at == root), None)
        _TRUSTED[key] = trust.load(root, sha, origin, previous)  # reads only the tenant files that changed
    return _TRUSTED[key]
