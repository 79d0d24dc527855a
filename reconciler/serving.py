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
from reconciler.backends.base import BackendError

INFERENCE_SERVICE = "InferenceService"
LOADABLE = ("s3://", "gs://", "hdfs://", "webhdfs://", "https://", "http://", "pvc://", "hf://", "oci://")
"""Schemes KServe's storage initializer downloads (kserve_storage.py; Azure is https://). Not `file://` (a path
on the machine that logged the model, not in the storage initializer), `mlflow-artifacts:` (the tracking
server's proxy), `models:`/`runs:` (MLflow URIs) nor relative paths."""


@runtime_checkable
class VersionResolver(Protocol):
    """A registry that tells which version a rendered alias moves to, and where that version's artifacts are."""

    def resolve_version(self, alias: Mapping[str, Any]) -> tuple[str, str | None]: ...


@dataclass(frozen=True)
class Completed:
    """Desired objects with serving completed, and why some could not be (by spec key)."""

    objects: list[DesiredObject]
    problems: dict[SpecKey, str]


def loadable(location: str) -> bool:
    return location.startswith(LOADABLE)


def follows_registry(obj: DesiredObject) -> bool:
    """Whether an object's desired state depends on the registry's live state (a pass always plans it)."""
    return _serves(obj) is not None


def _serves(obj: DesiredObject) -> str | None:
    if obj.ref.kind != INFERENCE_SERVICE:
        return None
    annotations = (obj.manifest.get("metadata") or {}).get("annotations") or {}
    return annotations.get(SERVES_ANNOTATION)


def _location(alias: DesiredObject, resolver: VersionResolver) -> str:
    """Where the version the alias moves to keeps its artifacts; BackendError says why KServe cannot have it."""
    version, location = resolver.resolve_version(alias.manifest)
    model = alias.manifest.get("model")
    if not location or not loadable(location):
        raise BackendError(
            f"version {version} of {model!r} cannot be served: its artifacts are at {location or '(no source)'!r}, "
            f"which KServe cannot load (it downloads {', '.join(LOADABLE)}); register the model with an artifact "
            "root KServe can read (e.g. s3:// or gs://), or set serving.storageUri"
        )
    return location


def _live_location(live: LiveObject | None) -> str | None:
    if live is None:
        return None
    found = ((live.manifest.get("spec") or {}).get("predictor") or {}).get("model", {}).get("storageUri")
    return str(found) if found else None


def complete(
    objects: Iterable[DesiredObject], live: Mapping[ObjectRef, LiveObject], resolvers: Sequence[VersionResolver]
) -> Completed:
    """Fill `storageUri` of every InferenceService that follows an alias, from the registry.

    Without a registry in the plan (none configured, or unreachable) serving keeps what it serves: the live
    location, and an InferenceService that does not exist yet is left out until the registry can be read.
    A version that cannot be resolved or loaded is a problem of the spec (the live location is kept meanwhile).
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
        if alias is not None and resolvers:
            try:
                location = _location(alias, resolvers[0])
            except BackendError as exc:
                problems[obj.spec] = str(exc)
        elif location is None:
            continue  # nothing served yet, and nothing known to serve: left out, like the registry's own objects
        out.append(replace(obj, manifest=_with_storage(obj.manifest, location)) if location else obj)
    return Completed(out, problems)


def _with_storage(manifest: dict[str, Any], location: str) -> dict[str, Any]:
    predictor = dict(manifest["spec"]["predictor"])
    predictor["model"] = {**predictor["model"], "storageUri": location}
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
    if change.ref.kind != INFERENCE_SERVICE or change.desired is None:
        return False
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
