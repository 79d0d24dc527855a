"""Serving follows the promotion: the InferenceService of a promotion points at the version its alias moves to.

KServe loads concrete artifact locations only, so the cluster object has to
name the version's `source`, and that is a live fact of the registry that pure
rendering cannot know. The seam sits in the engine, between the two backends,
which stay independent of each other:

- `complete` (before planning): every InferenceService rendered with the
  annotation `mlcp.dev/serves-alias` gets the `storageUri` of the version the
  promotion's alias moves to, asked of whichever backend is a
  `VersionResolver` (MLflow). The planner then diffs it like any field, so an
  alias move, or its revert, changes the InferenceService in the same plan. A
  version KServe cannot load, or one that cannot be resolved, is a problem of
  the spec. Without the registry in the plan, serving keeps its live location
  (a registry outage never changes or removes what is served).
- `couple` (after review and authorization): the alias move and the serving
  change of one spec succeed or fail together; when one is blocked (a gate,
  missing approvals, a denial, an unloadable version), so is the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

from controlplane.plans import Action, Change, DesiredObject, LiveObject, ObjectRef, Plan, SpecKey
from controlplane.rendering.mlflow_objects import MODEL_ALIAS
from controlplane.rendering.serving import SERVES_ANNOTATION
from controlplane.specs.model_promotion import unloadable
from reconciler.backends.base import BackendError
from reconciler.servedhomes import Homes

INFERENCE_SERVICE = "InferenceService"
PROMOTION_KIND = "ModelPromotion"


@runtime_checkable
class VersionResolver(Protocol):
    """A registry that tells which version a rendered alias moves to, where that version's artifacts are, and the
    version's `source` as its registrant wrote it (a reference, `runs:/<run>/model`, leads to another place)."""

    def resolve_version(self, alias: Mapping[str, Any]) -> tuple[str, str | None, str | None]: ...


@dataclass(frozen=True)
class Completed:
    """Desired objects with serving completed, and why some could not be (by spec key)."""

    objects: list[DesiredObject]
    problems: dict[SpecKey, str]


def follows_registry(obj: DesiredObject) -> bool:
    """Whether an object's desired state depends on the registry's live state (a pass always plans it)."""
    return _serves(obj) is not None


def _serves(obj: DesiredObject) -> str | None:
    if obj.ref.kind != INFERENCE_SERVICE:
        return None
    annotations = (obj.manifest.get("metadata") or {}).get("annotations") or {}
    return annotations.get(SERVES_ANNOTATION)


def _location(alias: DesiredObject, resolver: VersionResolver, claimed: str | None, homes: Homes) -> str:
    """Where the version the alias moves to keeps its artifacts; BackendError says why KServe cannot have it.

    A `storageUri` the spec names (`claimed`) must be exactly that location: the alias move is what is
    authorized (the model the tenant's own, the version not quarantined, gates and approvals), and any other
    location could be another tenant's artifacts or a quarantined version's files. The location itself must be
    the tenant's (reconciler/servedhomes.py): a version's source is whatever its registrant wrote.
    """
    version, location, source = resolver.resolve_version(alias.manifest)
    model = alias.manifest.get("model")
    why = unloadable(location) if location else "KServe's storage initializer has nothing to load"
    if not location or why is not None:
        raise BackendError(
            f"version {version} of {model!r} cannot be served: its artifacts are {_at(location, source)}: {why}; "
            "register the model with an artifact root KServe can read (e.g. s3:// or gs://)"
        )
    tenant = alias.spec.tenant if alias.spec is not None else None
    if tenant is None or not homes.holds(tenant, location):
        raise BackendError(_elsewhere(version, model, _at(location, source), tenant, homes))
    if claimed is not None and claimed != location:
        raise BackendError(
            f"serving.storageUri {claimed!r} is not where version {version} of {model!r} keeps its artifacts "
            f"({location!r}): mlcp serves only the location of the version the alias moves to; remove storageUri, "
            "or set it to that location"
        )
    return location


SHOWN_PLACES = 4
"""How many of a tenant's places a refusal names (an experiment-rich tenant has hundreds)."""


def _at(location: str | None, source: str | None) -> str:
    """Where a refusal says the files are: the source as registered when it is a reference to another place.

    The place a reference leads to was read with mlcp's own credentials (another tenant's run, say) and the
    refusal is shown on the tenant's pull request: it names what the tenant wrote, never what mlcp read for it.
    """
    if source and source != location:
        return f"where its source {source!r} leads"
    return f"at {location or '(no source)'!r}"


def _elsewhere(version: str, model: object, location: str, tenant: str | None, homes: Homes) -> str:
    places = homes.roots(tenant) if tenant else ()
    shown = ", ".join(places[:SHOWN_PLACES]) + (
        f", and {len(places) - SHOWN_PLACES} more" if len(places) > SHOWN_PLACES else ""
    )
    return (
        f"version {version} of {model!r} keeps its artifacts {location}, which is not tenant {tenant!r}'s: "
        f"outside its artifact roots and the artifact locations of the experiments mlcp created for it ({shown}); "
        "served, its predictor would load someone else's files with the tenant's storage credentials. Register the "
        "version from a run of one of the tenant's experiments that mlcp created (or under its roots), or promote "
        "another version"
    )


def _claimed(obj: DesiredObject) -> str | None:
    """The `storageUri` the spec names (rendered), None when it leaves it to the registry."""
    found = obj.manifest["spec"]["predictor"]["model"].get("storageUri")
    return str(found) if found else None


def _live_location(live: LiveObject | None) -> str | None:
    if live is None:
        return None
    found = ((live.manifest.get("spec") or {}).get("predictor") or {}).get("model", {}).get("storageUri")
    return str(found) if found else None


def complete(
    objects: Iterable[DesiredObject],
    live: Mapping[ObjectRef, LiveObject],
    resolvers: Sequence[VersionResolver],
    homes: Homes,
) -> Completed:
    """Fill `storageUri` of every InferenceService that follows an alias, from the registry.

    Without a registry in the plan (none configured, or unreachable) serving keeps what it serves: the live
    location, and an InferenceService that does not exist yet is left out until the registry can be read.
    A version that cannot be resolved or loaded is a problem of the spec (the live location is kept meanwhile),
    and so is a `storageUri` the spec names that is not the resolved version's location: that one stays in the
    manifest, so the plan shows the change it asks for, blocked (`couple`) with the alias move. Without a
    registry a claim cannot be confirmed: the live location is kept, as for any served alias. `homes`: where
    each tenant's files are (a resolved location elsewhere is a problem of the spec, as an unloadable one is).
    """
    objects = list(objects)
    aliases = {o.spec: o for o in objects if o.ref.kind == MODEL_ALIAS}
    out: list[DesiredObject] = []
    problems: dict[SpecKey, str] = {}
    for obj in objects:
        if _serves(obj) is None:
            out.append(obj)
            continue
        location = _live_location(live.get(obj.ref))
        alias = aliases.get(obj.spec)
        claimed = _claimed(obj)
        if alias is not None and resolvers:
            try:
                location = _location(alias, resolvers[0], claimed, homes)
            except BackendError as exc:
                problems[obj.spec] = str(exc)
                location = claimed or location  # a claim is shown as written, and blocked with the alias move
        elif location is None:
            continue  # nothing served yet, and nothing known to serve: left out, like the registry's own objects
        out.append(replace(obj, manifest=_with_storage(obj.manifest, location)))
    return Completed(out, problems)


def _with_storage(manifest: dict[str, Any], location: str | None) -> dict[str, Any]:
    """The manifest serving `location`; None: no `storageUri` at all."""
    predictor = dict(manifest["spec"]["predictor"])
    model = {k: v for k, v in predictor["model"].items() if k != "storageUri"}
    predictor["model"] = {**model, "storageUri": location} if location else model
    return {**manifest, "spec": {**manifest["spec"], "predictor": predictor}}


def _pending(change: Change) -> bool:
    return change.action is not Action.noop


def couple(planned: Plan, problems: Mapping[SpecKey, str] | None = None) -> Plan:
    """Block the alias move and the serving change of a spec together (and both for a serving problem)."""
    problems = problems or {}
    pairs: dict[SpecKey, list[int]] = {}
    for i, change in enumerate(planned.changes):
        if change.spec and (change.ref.kind == MODEL_ALIAS or _serves_change(change)):
            pairs.setdefault(change.spec, []).append(i)
    changes = list(planned.changes)
    for spec, positions in pairs.items():
        reason = problems.get(spec) or next(
            (f"{_name(changes[i])} is blocked ({changes[i].blocked})" for i in positions if changes[i].blocked), None
        )
        if reason is None:
            continue
        for i in positions:
            if _pending(changes[i]) and not changes[i].blocked:
                changes[i] = replace(changes[i], blocked=_together(reason, spec, problems))
    return replace(planned, changes=tuple(changes))


def _serves_change(change: Change) -> bool:
    """Whether a change is a promotion's serving: rendered to serve its alias, or, deleted, recorded as a
    promotion's (a removed promotion's alias and serving go together: a freeze holding the alias holds both)."""
    if change.ref.kind != INFERENCE_SERVICE:
        return False
    if change.desired is None:
        return change.action is Action.delete and change.spec is not None and change.spec.kind == PROMOTION_KIND
    annotations = (change.desired.get("metadata") or {}).get("annotations") or {}
    return SERVES_ANNOTATION in annotations


def _name(change: Change) -> str:
    if change.ref.kind == MODEL_ALIAS:
        return f"the alias move {change.ref.name}"
    return f"the InferenceService {change.ref.namespace}/{change.ref.name}"


def _together(reason: str, spec: SpecKey, problems: Mapping[SpecKey, str]) -> str:
    if spec in problems:
        return reason
    return f"{reason}; the alias move and the serving change of {spec} apply together or not at all"
