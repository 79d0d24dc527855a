"""Whose files a promotion may serve: its tenant's artifact roots and its experiments' locations, from mlcp's records.

A model version's source is whatever its registrant wrote (MLflow checks only local and `mlflow-artifacts:` sources
against their run), and a version may be copied from any model its registrant can read. Promoted, the tenant's
InferenceService loads it with the storage credentials of the tenant's namespace. So a served location (after
`models:/` and `runs:/` are resolved, reconciler/backends/mlflow_sources.py) must lie where the tenant's own files
are, decided from inputs no tenant edits:

- the tenant's artifact roots (`artifacts.roots` of the trusted base's mlcp.yaml, controlplane/artifact_homes.py);
- the artifact location, as MLflow reports it (fixed when the experiment is created), of each experiment mlcp's own
  inventory records as the tenant's: under the tenant's roots, or of the shape MLflow gives an experiment created
  without a location (`<default root>/<its id>`), outside the folders the roots are made in and inside no other
  experiment's location. mlcp also adopts experiments someone made by hand and tagged, at a location of their
  choosing: one at (or inside) another experiment's location, or in another tenant's root, counts for nobody.

A `pvc://<claim>/<path>` is the tenant's by construction: KServe mounts the claim from the InferenceService's own
namespace, the tenant's. Registry tags, experiment names and the versions' own run ids are never asked: any of
them a tenant can write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from controlplane.rendering.mlflow_objects import EXPERIMENT, SYSTEM
from controlplane.specs.artifact_roots import TENANT, normal, tenant_roots, under
from reconciler.backends.base import LiveState

PVC = "pvc://"
"""A PersistentVolumeClaim KServe mounts from the InferenceService's namespace."""


@dataclass(frozen=True)
class Homes:
    """Each tenant's places: the platform's root templates, and its managed experiments' artifact locations."""

    templates: tuple[str, ...]
    experiments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def roots(self, tenant: str) -> tuple[str, ...]:
        """Where `tenant`'s files are: its roots first, then its experiments' locations."""
        return (*tenant_roots(self.templates, tenant), *self.experiments.get(tenant, ()))

    def holds(self, tenant: str, location: str) -> bool:
        """Whether `location` is among `tenant`'s files (a claim of its own namespace, or under its places)."""
        if location.startswith(PVC) and normal(location) is not None:
            return True
        return under(location, self.roots(tenant))


def _shared(templates: Iterable[str]) -> tuple[str, ...]:
    """The folders every tenant's root is made in (a template up to `{tenant}`)."""
    return tuple(t.partition(TENANT)[0] for t in templates)


def _contained(location: str, folder: str) -> bool:
    """`under` for a folder that may be a whole bucket or store (normal forms, segment by segment)."""
    found, home = normal(location), normal(folder)
    return found is not None and home is not None and found.startswith(home)


def _enclosing(found: str) -> Iterable[str]:
    """Every folder (normal form) that holds the normal location `found`, itself excluded."""
    scheme, _, rest = found.partition("://")
    host, _, path = rest.partition("/")
    segments = [s for s in path.split("/") if s]
    for i in range(len(segments)):
        yield f"{scheme}://{host}/" + "".join(f"{s}/" for s in segments[:i])


def _counts(location: str, tenant: str, experiment: str, templates: tuple[str, ...], taken: frozenset[str]) -> bool:
    """Whether an experiment of `tenant` (id `experiment`) at `location` holds `tenant`'s files.

    Under its tenant's roots, yes. Elsewhere, only the shape MLflow gives an experiment created without a location
    (`<default root>/<experiment id>`: ids are unique, so no two experiments share one) outside the folders the
    roots are made in and inside no other experiment's location (`taken`): an experiment a member made by hand at
    another's location, or inside it, and tagged for mlcp to adopt, lends her nothing.
    """
    found = normal(location)
    if found is None:
        return False
    if under(location, tenant_roots(templates, tenant)):
        return True
    if any(_contained(location, folder) for folder in _shared(templates)):
        return False
    if found.rstrip("/").rpartition("/")[2] != experiment:
        return False
    return not any(folder in taken for folder in _enclosing(found))


def homes(templates: Iterable[str], states: Mapping[str, LiveState]) -> Homes:
    """The Homes of every tenant: `templates` (the trusted base's), and the registry's experiments mlcp records."""
    shapes = tuple(templates)
    found: dict[str, list[str]] = {}
    state = states.get(SYSTEM)
    if state is None:  # no registry read: no experiment lends a tenant its location
        return Homes(shapes)
    experiments = [(ref, obj) for ref, obj in state.objects.items() if ref.kind == EXPERIMENT]
    taken = frozenset(
        n for _, obj in experiments if (n := normal(str(obj.manifest.get("artifactLocation") or ""))) is not None
    )
    for ref, obj in experiments:
        record = state.inventory.owner_of(ref)
        location = obj.manifest.get("artifactLocation")
        if record is None or record.error is not None or not record.tenant or not isinstance(location, str):
            continue
        if _counts(location, record.tenant, str(obj.manifest.get("experimentId")), shapes, taken):
            found.setdefault(record.tenant, []).append(location)
    return Homes(shapes, {tenant: tuple(sorted(places)) for tenant, places in found.items()})
