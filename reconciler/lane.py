"""A lane: whose share of the desired state a pass converges, under which fence, into which audit chain.

Unsharded, one lane holds everything under the leader's Lease. With shards, a replica runs a lane per shard it
holds (that shard's tenants, its Lease's fence, its own audit chain) and the leader runs the platform lane
(objects of no tenant, the governance objects, the trusted base's record). A value apart from the pass, so the
memory between passes, the pass's writes and the sharded loop name it without the pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reconciler.fencing import Fence
from reconciler.passaudit import PassAudit
from reconciler.state import TenantRevisions


def everyone(_key: str) -> bool:
    return True


@dataclass
class Lane:
    """Whose share of the desired state a pass converges, under which fence, into which audit chain."""

    audit: PassAudit
    fence: Fence
    covers: Callable[[str], bool] = everyone
    """Whether a tenant ("" for objects of no tenant) is this lane's."""
    platform: bool = True
    """The governance objects and the trusted base's record are this lane's (the leader's, or the only lane)."""
    name: str = ""
    """"" when unsharded; "platform" or the shard's number otherwise (logs and metrics)."""
    state: TenantRevisions | None = None

    @property
    def sharded(self) -> bool:
        return bool(self.name)
