"""Where a spec came from, and the identity that makes it unique in a repo."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.plans import SpecKey as SpecKey  # noqa: PLC0414 - re-exported: where specs are loaded
from controlplane.specs import Spec


@dataclass(frozen=True, slots=True)
class Source:
    """Repo-relative file and 1-based position of a document."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class LoadedSpec:
    """A validated spec with the tenant it belongs to and where it was written."""

    spec: Spec
    tenant: str | None
    source: Source
    positions: dict[tuple[str | int, ...], tuple[int, int]]

    @property
    def key(self) -> SpecKey:
        return SpecKey(self.spec.kind, self.tenant, self.spec.metadata.name)

    def at(self, *path: str | int) -> Source:
        """The source position of a field inside this spec (nearest known ancestor)."""
        for end in range(len(path), 0, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return Source(self.source.path, found[0], found[1])
        return self.source
