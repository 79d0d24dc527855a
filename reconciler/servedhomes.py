"""Whose files a promotion may serve: its tenant's artifact roots and its experiments' locations, from mlcp's records.

A model version's source is whatever its registrant wrote (MLflow checks only local and `mlflow-artifacts:` sources
against their run), and a version may be copied from any model its registrant can read. Promoted, the tenant's
InferenceService loads it with the storage credentials of the tenant's namespace. So a served location (after
`models:/` and `runs:/` are resolved, reconciler/backends/mlflow_sources.py) must lie where the tenant's own files
are, decided from inputs no tenant edits:

- the tenant's artifact roots (`artifacts.roots` of the trusted base's mlcp.yaml, controlplane/artifact_homes.py);
- the artifact location of each experiment mlcp's own inventory records as the tenant's and as one mlcp CREATED
  (`made`: the id and location MLflow gave it, recorded by the create, reconciler/backends/mlflow_creation.py),
  while the live experiment is still that one (same id, same location): under the tenant's roots, or of the shape
  MLflow gives an experiment created without a location (`<default root>/<its id>`) outside the folders the roots
  are made in. An experiment mlcp adopted (found tagged, made by someone at a location of their choosing: its
  record's `taken` says which experiment it is, never where the tenant's files are), or one recorded by an older
  mlcp, lends nothing; and no experiment anyone makes takes anything from another's: what
  counts is never decided by comparing live experiments' locations (a tagged experiment at a bucket's top, which
  anyone could make, once made every experiment in that bucket count for nobody).

A `pvc://<claim>/<path>` is the tenant's by construction: KServe mounts the claim from the InferenceService's own
namespace, the tenant's. Registry tags, experiment names and the versions' own run ids are never asked: any of
them a tenant can write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from controlplane.inventory import Made
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


def _counts(made: Made, location: str, experiment: str, tenant: str, templates: tuple[str, ...]) -> bool:
    """Whether the experiment mlcp created (`made`), live with id `experiment` at `location`, holds `tenant`'s files.

    Only while it is still the one mlcp made (its name may have been given to another since). Under its tenant's
    roots, yes; elsewhere only at the place MLflow gives an experiment created without a location
    (`<default root>/<id>`; ids are never given twice) outside the folders the roots are made in, where no
    tenant's root can be.
    """
    found = normal(location)
    if experiment != made.id or found is None or found != normal(made.location):
        return False
    if under(location, tenant_roots(templates, tenant)):
        return True
    if any(_contained(location, folder) for folder in _shared(templates)):
        return False
    return found.rstrip("/").rpartition("/")[2] == made.id


def homes(templates: Iterable[str], states: Mapping[str, LiveState]) -> Homes:
    """The Homes of every tenant: `templates` (the trusted base's), and the experiments mlcp records it created."""
    shapes = tuple(templates)
    found: dict[str, list[str]] = {}
    state = states.get(SYSTEM)
    if state is None:  # no registry read: no experiment lends a tenant its location
        return Homes(shapes)
    for ref, obj in state.objects.items():
        if ref.kind != EXPERIMENT:
            continue
        record = state.inventory.owner_of(ref)
        location = obj.manifest.get("artifactLocation")
        if record is None or record.error is not None or not record.tenant or record.made is None:
            continue
        if isinstance(location, str) and _counts(
            record.made, location, str(obj.manifest.get("experimentId")), record.tenant, shapes
        ):
            found.setdefault(record.tenant, []).append(location)
    return Homes(shapes, {tenant: tuple(sorted(places)) for tenant, places in found.items()})
