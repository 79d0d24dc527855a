"""The desired state of the last revision a loop loaded, kept between its passes.

A pass at the same revision (a webhook, a resync, another lane) skips load and render; a new revision reads
and renders again only the tenants whose files changed (reconciler.incremental). What a load validated
depends on the trusted base as well: a newcomer's folder never takes an established tenant's registry names
(controlplane.registry_names), so the cache is keyed by the revision and the base's tenants, and a base that
changes whose names are whose has the revision validated again (`rebased`). Kept apart from the pass
(reconciler.passes), which asks for the desired state and acts on what the load set aside.
"""

from __future__ import annotations

from collections.abc import Callable

from controlplane.registry_names import Established
from reconciler import incremental, partition
from reconciler.gitsync import Checkout


class DesiredCache:
    """The loaded desired state of the last revision (see the module docstring)."""

    def __init__(self, on_load: Callable[[set[str] | None], None]) -> None:
        self.on_load = on_load
        """Told, after each load that read the revision, the tenants whose objects it changed (None: all)."""
        self.established: Established | None = None
        """The tenants of the trusted base of the last pass, who keep their registry names (registry_names)."""
        self._desired: tuple[tuple[str, Established | None], partition.Partitioned] | None = None
        """The loaded desired state of the last revision (and base tenants it was validated with): a pass at the
        same revision skips load and render."""
        self._loader = incremental.IncrementalLoader()
        """A new revision reads and renders again only the tenants whose files changed."""

    @property
    def parts(self) -> partition.Partitioned | None:
        """The desired state of the revision last loaded (None before the first load, or after one that raised)."""
        return self._desired[1] if self._desired else None

    def tenants(self) -> set[str]:
        """The tenants of the revision last loaded (empty before the first load)."""
        return {s.tenant for s in self._desired[1].desired.repo.specs if s.tenant} if self._desired else set()

    def load(self, checkout: Checkout) -> tuple[partition.Partitioned, set[str] | None]:
        """The desired state of the checkout, and the tenants whose objects changed since the last load."""
        key = (checkout.revision, self.established)
        if self._desired is not None and self._desired[0] == key:
            return self._desired[1], set()
        self._desired = None  # a load that raises must not leave the previous revision's state behind
        self._desired = (key, self._loader.load(checkout.path, checkout.revision, self.established))
        self.on_load(self._loader.rendered)
        return self._desired[1], self._loader.rendered

    def rebased(self, checkout: Checkout, parts: partition.Partitioned, established: Established) -> bool:
        """Whether the load set aside other tenants than the trusted base, known only now, sets aside.

        Whose a registry name is depends on the base's tenants (a newcomer folder never takes an established
        tenant's names: registry_names), and the base is read with the live state, after the load. The load
        used the last pass's base (none at first); when this one differs, the revision is validated again
        (only the slices whose registry names the difference can touch), and the next loads name this base.
        """
        known = self.established
        self.established = established  # the next load names this base (equal ones differ in revision alone)
        if established == known:
            return False
        again, _ = self.load(checkout)
        return again.broken.keys() != parts.broken.keys()
