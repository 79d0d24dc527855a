"""MLflow backend: experiments and model aliases, read with paged searches, behind the same Protocol as Kubernetes.

Reading costs one paged `experiments/search` (filtered to mlcp's ownership
tag, deleted ones included so they can be restored) plus one paged
`registered-models/search` (which already carries every model's aliases and
tags): ⌈N / page size⌉ calls per object type, never one per object. MLflow
has no labels, so what mlcp manages is marked by a tag on the object itself:
an experiment is mlcp's when it carries `mlcp.dev/managed-by=mlcp`, an alias
(before mlcp's record store exists) when its model carries
`mlcp.dev/alias.<alias>.version`. Those tags are
editable by tenant members, so whose an object is (the spec, tenant and file
that judge its deletion) comes only from mlcp's own record, kept on an
experiment tenants cannot write, and only recorded objects are pruned (see
mlflow_inventory for why and how). Promotion decisions that
need live run metrics are made in `review` (see mlflow_promotion); so are
permission decisions, which depend on whether the server runs basic-auth (one
unauthenticated probe per read) and on which users it knows (mlflow_permissions).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from controlplane.inventory import Claim, Inventory, InventoryRecord
from controlplane.planning import attributed
from controlplane.plans import Action, Change, LiveObject, ObjectRef
from controlplane.rendering.mlflow_objects import (
    API_VERSION,
    EXPERIMENT,
    MODEL_ALIAS,
    SYSTEM,
    AliasRef,
    alias_tag,
)
from controlplane.specs.repo_config import RepoConfig
from reconciler.backends import mlflow_adoption, mlflow_identity, mlflow_models, mlflow_provenance, mlflow_records
from reconciler.backends.base import ApplyOptions, Backend, BackendError, Expectation, LiveState, Outcome, Status
from reconciler.backends.deadline import Remaining
from reconciler.backends.mlflow_creation import Creations, experiment_named, tags_of
from reconciler.backends.mlflow_experiments import ExperimentWrites, live_experiment, without_fixed_fields
from reconciler.backends.mlflow_inventory import RegistryInventory, record_tag
from reconciler.backends.mlflow_movers import AliasMovers
from reconciler.backends.mlflow_permissions import Permissions, is_permission
from reconciler.backends.mlflow_promotion import ModelInfo, Promotions
from reconciler.backends.mlflow_record_trust import RecordTrust
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest, Unanswered
from reconciler.backends.movers import AliasRights
from reconciler.backends.registry import register
from reconciler.targets import DEFAULT_CONTROLLER_NAMESPACE, Targets


def live_aliases(model: dict[str, Any]) -> list[tuple[LiveObject, bool]]:
    """Each alias of a registered model, and whether its model carries mlcp's tag for it (a claim of ownership
    that only counts before mlcp's record store exists: see `_read_models`)."""
    tags = tags_of(model)
    out = []
    for entry in model.get("aliases") or []:
        alias, version = str(entry["alias"]), str(entry["version"])
        ref = AliasRef(str(model["name"]), alias).ref()
        manifest = {"model": model["name"], "alias": alias, "version": version}
        out.append((LiveObject(ref, manifest, version), alias_tag(alias, "version") in tags))
    return out


@register
class MlflowBackend(Backend):
    """Reads and writes mlcp's experiments and model aliases on one tracking server."""

    system = SYSTEM
    order = 10
    """Before the cluster: serving never points at an alias that has not moved."""

    def __init__(self, rest: MlflowRest, installation: str = DEFAULT_CONTROLLER_NAMESPACE) -> None:
        self.rest = rest
        self.store = RegistryInventory(rest, installation)
        """mlcp's records of this installation (its controller namespace), like the Kubernetes inventory's."""
        self.promotions = Promotions(rest, before_move=self._forget_last_set)
        self.permissions = Permissions(rest)
        self.creations = Creations(rest)
        """The experiments this process created, with where MLflow put them, until their records are written."""
        self.writes = ExperimentWrites(rest, self._recorded)
        """Updates and prunes of experiments, each to the one whose id mlcp recorded (mlflow_identity)."""
        self.permissions.pinned = self._pinned
        self.trust = RecordTrust(rest, self.permissions)
        self.store.writers = self.trust.writers
        self.movers = AliasMovers(rest, self.permissions)
        """Who may move a model's aliases, as the approvals of `fromAlias` promotions ask (mlflow_movers)."""
        self._inventory: Inventory | None = None
        self.models = mlflow_models.Places()
        """mlcp's recorded registered models and the live ones, as last read (which one is managed under a name)."""
        self.permissions.model_place = self._model_place
        self._by_name: dict[str, dict[str, Any]] = {}
        """mlcp's experiments as last read, by name (who holds a recorded name now)."""
        self._reading = threading.Lock()
        """A backend that applies without having planned reads its records once, before the first write needs them."""
        self._recording = threading.Lock()
        """Alias moves run concurrently; each rewrites the store's records before it moves (_forget_last_set)."""

    @classmethod
    def from_uri(cls, uri: str, installation: str = DEFAULT_CONTROLLER_NAMESPACE) -> MlflowBackend:
        return cls(MlflowRest(uri), installation)

    @classmethod
    def connect(cls, targets: Targets) -> MlflowBackend | None:
        """The operator's tracking server (--tracking-uri / $MLFLOW_TRACKING_URI); None when none is set. Its records
        are the installation's of the controller namespace, as in the cluster."""
        uri = targets.resolved_tracking_uri()
        return cls.from_uri(uri, targets.controller_namespace) if uri else None

    @classmethod
    def expectations(cls, config: RepoConfig, targets: Targets) -> list[Expectation]:
        setting = "--tracking-uri / $MLFLOW_TRACKING_URI"
        return [("registry.trackingUri", config.registry.tracking_uri, targets.resolved_tracking_uri(), setting)]

    @property
    def target(self) -> str:
        return self.rest.shown

    def bounded(self, remaining: Remaining) -> AbstractContextManager[None]:
        """Every registry call of this thread inside the block ends within the fence's time (see deadline)."""
        return self.rest.bounded(remaining)

    @property
    def requests(self) -> int:
        """HTTP requests sent so far (per endpoint: `rest.calls`)."""
        return sum(self.rest.calls.values())

    @property
    def plan_meta(self) -> dict[str, Any]:
        """What the plan records about this server: whether it enforces permissions (None: not read yet)."""
        return {"registryAuth": self.permissions.auth}

    @property
    def notes(self) -> tuple[str, ...]:
        """One line for the plan's header about the server's auth, and the record problems."""
        if self.permissions.auth is None:  # not read yet, or unknown: its records refused (record_problems)
            return self.record_problems
        if self.permissions.auth:
            return ("basic-auth on: tenant permissions on experiments and models are managed", *self.record_problems)
        return ("no auth: MLflow enforces no permissions, none are planned",)

    @property
    def record_problems(self) -> tuple[str, ...]:
        """Other installations' record stores ignored because someone else may write them (mlflow_record_trust)."""
        return tuple(self.store.problems)

    # -- reading ---------------------------------------------------------------------------------------------

    def forget(self) -> None:
        """Nothing read is kept across plans: `read` itself drops the last plan's models, versions, metrics,
        grants and records (a loop keeps this backend for its life), so this only makes that explicit early; and the
        verdict on mlcp's record store is reached again (mlflow_record_trust), as after RECHECK seconds."""
        self.promotions.forget()
        self.permissions.forget()
        self.trust.forget()
        self.movers.forget()

    def read(self) -> LiveState:
        objects: dict[ObjectRef, LiveObject] = {}
        owned: set[ObjectRef] = set()
        self._inventory = None  # a refused store leaves no earlier pass's records to write over
        self.movers.forget()  # who may move an alias is asked again for each plan
        experiments = mlflow_records.read(self.rest, self.permissions, self.store)
        for item in experiments:
            found = live_experiment(item)
            objects[found.ref] = found
            if found.manifest["lifecycleStage"] == "active":
                owned.add(found.ref)
        models = list(self.rest.search("registered-models/search", "registered_models", method="GET"))
        self._read_models(models, objects, owned)
        self.permissions.models = frozenset(str(m["name"]) for m in models)
        self.models = mlflow_models.Places.of(self.store.records, models)
        self._by_name = {str(e["name"]): e for e in experiments}
        by_id = {str(e["experiment_id"]): e for e in experiments}
        records = self.store.records
        recorded = mlflow_identity.recorded_experiments(records, by_id, self._experiment_by_id)
        self.writes.by_id = {**by_id, **recorded}  # a recorded one untagged by hand is still where it is
        self.permissions.experiment_ids = mlflow_identity.grant_places(records, self._by_name, recorded)
        grants = self.permissions.read(  # each grant on the experiment mlcp recorded, whatever its name now
            [
                (name, str(e["experiment_id"]), tags_of(e))
                for name, e in mlflow_identity.tagged_grant_places(records, experiments, self.writes.by_id)
            ],
            [(known, tags_of(m)) for m in models if (known := self.models.known_as(str(m["name"]))) is not None],
            [ref for ref in self.store.records if is_permission(ref)],
        )
        objects.update(grants)
        owned.update(grants)
        if self.store.exists:  # a tag added by hand never makes an object mlcp's to delete
            owned &= set(self.store.records)
        elif self.store.others:  # a new installation beside others: their tags are no claim of this one
            owned = set()
        else:  # an older mlcp's registry (tags, no store), before this installation's first write
            owned = {ref for ref in owned if record_tag(ref) not in self.store.foreign}
        self._inventory = Inventory(frozenset(owned), records=dict(self.store.records))
        return LiveState(objects, self._inventory)

    def alias_rights(self, model: str, identities: Collection[str]) -> AliasRights:
        """Who among `identities` MLflow lets move `model`'s aliases (backends.movers: a restriction on approvers)."""
        return self.movers.rights(model, identities)

    def _experiment_by_id(self, experiment_id: str) -> dict[str, Any] | None:
        """A recorded experiment that is not among mlcp's tagged ones (its tag deleted by hand; None: gone)."""
        try:
            found: dict[str, Any] = self.rest.get("experiments/get", experiment_id=experiment_id)["experiment"]
        except MlflowApiError as exc:
            if exc.not_found:
                return None
            raise
        return found

    def _read_models(
        self, models: list[dict[str, Any]], objects: dict[ObjectRef, LiveObject], owned: set[ObjectRef]
    ) -> None:
        self.promotions.forget()  # every plan judges promotions from what it reads itself
        for model in models:
            aliases = live_aliases(model)
            self.promotions.models[str(model["name"])] = ModelInfo(
                {o.manifest["alias"]: o.version for o, _ in aliases}, tags_of(model)
            )
            for obj, tagged in aliases:
                objects[obj.ref] = obj
                # mlcp's record says whose an alias is; the model's tag (which a member may delete to keep an
                # alias from being pruned) only counts before the record store exists (an older mlcp's registry)
                if obj.ref in self.store.records if self.store.exists else tagged and not self._foreign(obj.ref):
                    owned.add(obj.ref)

    def review(self, changes: Sequence[Change]) -> list[Change]:
        """Resolve promotions against live versions and run metrics; ignore differences MLflow cannot change.

        Deletes carry mlcp's own record of the object (never its tags), whatever the planner was given.
        """
        out = []
        inventory = self._inventory or Inventory()
        evidence = mlflow_provenance.tenants_experiments(self.store.records)  # whose runs each tenant's gates judge
        for change in changes:
            if change.action is Action.delete:
                change = attributed(change, inventory.owner_of(change.ref))  # noqa: PLW2901 - refined in turn
            if change.ref.kind == MODEL_ALIAS:  # drift is judged by mlcp's record, whether or not it is owned
                ours = evidence.get(change.tenant or "", frozenset())
                out.append(self.promotions.review(change, self.store.records.get(change.ref), ours))
            elif is_permission(change.ref):
                out.append(self.permissions.review(change))
            elif change.ref.kind == EXPERIMENT and change.action is Action.update:
                out.append(without_fixed_fields(change))
            else:
                out.append(change)
        out = mlflow_identity.review(out, self.store.records, self._by_name, self.writes.by_id)
        out = mlflow_models.review(out, self.models)
        reviewed = [self._not_foreign(c) for c in out]
        aliased = {AliasRef.of(ref).model for ref in self.store.records if ref.kind == MODEL_ALIAS}
        governed = {name for name in aliased if self.models.governed(name, legacy=True)}
        return mlflow_adoption.judge(reviewed, self.store.records, self.permissions, self.rest.username, governed)

    def _foreign(self, ref: ObjectRef) -> bool:
        return self.store.foreign_owner(ref) is not None

    def _not_foreign(self, change: Change) -> Change:
        """A create, update or no-op of an object another installation's store records, blocked: never taken over
        (a no-op too, as it would record the object as this installation's)."""
        owner = self.store.foreign_owner(change.ref)
        if owner is None or change.action is Action.delete or change.blocked:
            return change
        return replace(
            change,
            action=Action.update if change.action is Action.noop else change.action,
            blocked=f"{change.ref.kind} {change.ref.name!r} on this MLflow is managed by another mlcp, {owner}: "
            "two installations never manage one object. Rename it here, or remove it from the other's config repo "
            "(and let that installation prune it) first",
        )

    def resolve_version(self, alias: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
        """The version a rendered alias moves to, its artifact location and its registered source
        (reconciler/serving.py's resolver)."""
        return self.promotions.resolve_version(alias)

    def current_version(self, ref: ObjectRef) -> str | None:
        if ref.kind == MODEL_ALIAS:
            model, alias = AliasRef.of(ref)
            return self.promotions.current(model, alias)
        if is_permission(ref):
            return self.permissions.current(ref)
        found = self._experiment(ref.name)
        return live_experiment(found).version if found else None

    def _experiment(self, name: str) -> dict[str, Any] | None:
        return experiment_named(self.rest, name)

    # -- writing ---------------------------------------------------------------------------------------------

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        if change.ref.kind == MODEL_ALIAS:
            return self.promotions.apply(change, options)
        if is_permission(change.ref):
            self._recorded()  # where the recorded models are now, read first by a backend that did not plan
            return self.permissions.apply(change, options)
        try:
            if change.action is Action.create:
                return self.creations.create(change, options)
            if change.action is Action.delete:
                return self.writes.delete(change, options)
            return self.writes.update(change, options)
        except Unanswered as exc:  # a write's answer was lost: it may have been done, and its record is kept
            return Outcome(
                change, Status.failed, f"{exc} (it may have been done: the next plan reads it)", uncertain=True
            )
        except BackendError as exc:
            return Outcome(change, Status.failed, str(exc))

    def record_inventory(self, refs: frozenset[ObjectRef], options: ApplyOptions) -> None:
        """Write the records that changed to mlcp's inventory experiment (nothing when none did).

        An alias this apply moved is recorded with the version mlcp set it to, so the next plan judges drift
        from this record; any other record of an alias says no version (see mlflow_drift).
        """
        if self._inventory is None:
            self.read()
        prior = replace(self._inventory or Inventory(), records=dict(self.store.records))
        claims = {  # another installation's object never enters this one's records (review blocked its changes)
            ref: self.models.claimed(ref, self._with_made(ref, self._with_last_set(ref, claim)), prior.records.get(ref))
            for ref, claim in options.claims.items()
            if not self._foreign(ref)
        }
        if options.scope is not None:  # a shard's writer: other shards' tags are neither rewritten nor dropped
            refs = refs | prior.others(options.scope)
        updated = prior.updated(refs, claims)
        if options.dry_run:
            return
        self.store.write(updated.records)
        self._inventory = Inventory(updated.refs, records=dict(self.store.records))
        for ref in claims:  # recorded: the store holds it now
            self.creations.made.pop(ref, None)
            self.writes.taken.pop(ref, None)

    def _with_last_set(self, ref: ObjectRef, claim: Claim) -> Claim:
        """A write's claim of an alias with the version this apply moved it to (none when it did not move it)."""
        if ref.kind != MODEL_ALIAS or not claim.wrote:
            return claim
        return replace(claim, record=replace(claim.record, last_set=self.promotions.moved.pop(ref, None)))

    def _with_made(self, ref: ObjectRef, claim: Claim) -> Claim:
        """A write's claim of an experiment this process created or took over, with its id and location
        (mlflow_creation, mlflow_experiments); a later write's claim says nothing of it and the inventory keeps the
        record's (`Inventory.updated`)."""
        if not claim.wrote:
            return claim
        made, taken = self.creations.made.get(ref), self.writes.taken.get(ref)
        if made is not None:
            return replace(claim, record=replace(claim.record, made=made))
        if taken is not None and mlflow_identity.recorded_id(self.store.records.get(ref)) is None:
            return replace(claim, record=replace(claim.record, taken=taken))
        return claim

    def _model_place(self, name: str) -> str | None:
        """The live name of the registered model mlcp manages as `name` (as last read: each read replaces them)."""
        return self.models.place(name)

    def _recorded(self) -> dict[ObjectRef, InventoryRecord]:
        """mlcp's records of this server, read first when this backend has not read it (an apply of a saved plan)."""
        with self._reading:
            if self._inventory is None:
                self.read()
        return self.store.records

    def _pinned(self, name: str) -> str | None:
        """The id of the experiment mlcp manages under `name` (None: none recorded or taken over yet)."""
        ref = ObjectRef(SYSTEM, API_VERSION, EXPERIMENT, None, name)
        made, taken = self.creations.made.get(ref), self.writes.taken.get(ref)
        if made is not None or taken is not None:  # this process's, newer than the record
            return made.id if made is not None else taken.id if taken is not None else None
        return mlflow_identity.recorded_id(self._recorded().get(ref))

    def _forget_last_set(self, ref: ObjectRef, version: str) -> None:
        """Before moving an alias to `version`: its record no longer names another version, until the move is
        recorded as done.

        A move whose outcome is never recorded (a crash, a lost lease, a failed tag write, a conflict) then leaves
        drift unknown, never judged from the version mlcp set before: that could make a later declared move back
        to it look like a heal, free of freeze windows. A move back to the recorded version itself (a heal, or the
        move back in place of a declared change that may not go ahead) keeps the record: whatever its outcome,
        that version is still the last one mlcp set, and a hand move that races it (MLflow has no compare-and-set)
        must not leave the alias where drift is unknown.
        """
        with self._recording:
            record = self.store.records.get(ref)  # empty before a read: every mlcp command reads before it applies
            if record is None or record.last_set is None or record.last_set.version == version:
                return
            self.store.write({**self.store.records, ref: replace(record, last_set=None)})
