"""mlcp's inventory in MLflow: which spec, tenant and source file each experiment, alias and grant came from.

MLflow has no labels, so mlcp marks what it made with tags on the objects
themselves (`mlcp.dev/managed-by`, `mlcp.dev/alias.<a>.*`, `mlcp.dev/grant.*`).
Those tags are editable by anyone with EDIT on the experiment or model: every
tenant member on the tenant's own objects. Reading a deletion's spec, tenant
and file from them would let a member choose the rule that judges it (a
member with EDIT, who may not manage permissions, could have mlcp revoke a
co-owner's grant as if it were her experiment's). So mlcp keeps its own
record, like the Kubernetes inventory, on an experiment tenants cannot write:

- `mlcp-inventory.<controller namespace>`, one per installation, made by mlcp's
  own (admin) user at its first write. Under
  basic-auth its creator holds MANAGE and everyone else the server's
  `default_permission` (READ unless the operator changed it; with EDIT or
  MANAGE there every tenant may edit every tenant's objects, and mlcp refuses
  its store). Its name
  has no `/`, so no Experiment spec can claim it (experiment names start with
  `<tenant>/`); an experiment of that name that mlcp did not make (no role
  tag) is refused, not used. Under basic-auth a store someone other than mlcp
  and MLflow admins can write (its creator, if that was not mlcp) is refused
  too, before any record in it is read (`writers`, mlflow_record_trust), and
  another installation's that others can write is ignored.
  Scoped like the Kubernetes inventory (a ConfigMap of the controller
  namespace): two installations (or config repos) sharing one MLflow each keep
  their own records, so neither prunes, attributes or adopts the other's
  objects. What another installation's store records is refused to this one
  (`foreign`): a create or update of it is blocked, never taken over. The
  store of an older mlcp (`mlcp-inventory`, one per server) is read as this
  installation's until its first write, which renames it to this installation's
  name (the first installation to write after the upgrade takes it; the others
  start their own).
- one tag per object, `mlcp.dev/record.<sha256(kind/name), 16 hex>` = JSON
  `{kind, name, spec, tenant, source}`: a change writes only the tags of the
  objects it changed, and reading costs nothing extra (the experiment comes
  with the search for mlcp's experiments). A model alias's record also says
  which version mlcp last moved it to (`set`: `{version, commit, by, at}`):
  drift (a hand move, healed without waiting for a freeze window) is decided
  from that, never from the `mlcp.dev/alias.<a>.version` tag a member can
  rewrite. Records without `set` (written by an older mlcp) leave drift unknown.
  An experiment mlcp created (not one it adopted) is recorded with its id and the
  artifact location MLflow gave it (`made`: `{id, location}`), so what its
  location is trusted for (reconciler/servedhomes.py) is a fact of mlcp's, not a
  guess from the live experiment. Records without `made` (an adopted experiment,
  or one an older mlcp recorded) lend their tenant no location. An experiment
  mlcp took over is recorded with its id and location when it took it over
  (`taken`: `{id, location}`), lending nothing: from then on the managed
  experiment is the one with the recorded id, never whichever holds the name
  (mlflow_identity).

The ownership tags still say which objects mlcp manages; once the store exists,
an object is only prunable when it is also recorded there (an alias: whenever
it is recorded, whatever its model's tags say), so a tag added by
hand never makes someone's experiment or grant mlcp's to delete. Before the
store exists (MLflow written by an older mlcp), tagged objects stay prunable but
are attributed to no spec and no tenant. A record that is not what mlcp writes
makes that one object's deletion blocked.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from controlplane.inventory import InventoryRecord, LastSet, Made, TakenOver
from controlplane.plans import ObjectRef
from controlplane.rendering.mlflow_objects import API_VERSION, EXPERIMENT, OWNER_TAG, OWNER_VALUE, SYSTEM
from reconciler.backends import mlflow_models
from reconciler.backends.base import BackendError
from reconciler.backends.mlflow_creation import tags_of
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest

STORE = "mlcp-inventory"
"""The store of an older mlcp, one per MLflow server; now the prefix of each installation's (`store_name`)."""
ROLE_TAG = "mlcp.dev/role"
INSTALLATION_TAG = "mlcp.dev/installation"
"""The controller namespace of the installation whose records a store holds."""
ROLE = "inventory"
RECORD_TAG = "mlcp.dev/record."
SET = "set"
"""The key of what mlcp last set an object to (a model alias: the version), in that object's record."""
MADE = "made"
"""The key of the experiment mlcp created (its id and artifact location), in that experiment's record."""
TAKEN = "taken"
"""The key of the experiment mlcp took over (its id and artifact location then), in that experiment's record."""
MAX_LOCATION = 2048
"""The longest artifact location recorded (MLflow's SQL store keeps 256 characters)."""
_ID = re.compile(r"[0-9]{1,32}")
MAX_TEXT = 1024
_VERSION = re.compile(r"[1-9][0-9]{0,18}")
_COMMIT = re.compile(r"[0-9a-f]{4,64}")


def store_name(installation: str) -> str:
    """The store experiment of one installation (named by its controller namespace, a DNS label: no `/`)."""
    return f"{STORE}.{installation}"


def record_tag(ref: ObjectRef) -> str:
    return RECORD_TAG + hashlib.sha256(f"{ref.kind}/{ref.name}".encode()).hexdigest()[:16]


def _value(ref: ObjectRef, record: InventoryRecord) -> str:
    stored: dict[str, Any] = {
        "kind": ref.kind,
        "name": ref.name,
        "spec": record.spec,
        "tenant": record.tenant,
        "source": record.source,
    }
    if record.last_set is not None:  # only then: records without it keep their exact stored form
        last = record.last_set
        by = last.by[:MAX_TEXT] if last.by else None
        stored[SET] = {"version": last.version, "commit": last.commit, "by": by, "at": last.at}
    if record.made is not None:  # likewise: only an experiment mlcp created
        stored[MADE] = {"id": record.made.id, "location": record.made.location}
    if record.taken is not None:  # likewise: only an experiment mlcp took over
        stored[TAKEN] = {"id": record.taken.id, "location": record.taken.location}
    if record.model is not None:  # likewise: only an alias or grant recorded with its model's creation time
        stored[mlflow_models.MODEL] = record.model
    return json.dumps(stored, sort_keys=True, separators=(",", ":"))


def _last_set(stored: Any) -> LastSet | str | None:
    """The stored `set` of an alias record (None: absent), or what is wrong with it."""
    if stored is None:
        return None
    if not isinstance(stored, dict) or set(stored) - {"version", "commit", "by", "at"}:
        return f"{SET} is {stored!r}, not {{version, commit, by, at}}"
    version, commit = stored.get("version"), stored.get("commit")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        return f"{SET}.version is {version!r}, not a model version number"
    if commit is not None and (not isinstance(commit, str) or not _COMMIT.fullmatch(commit)):
        return f"{SET}.commit is {commit!r}, not a commit id"
    for name in ("by", "at"):
        value = stored.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
            return f"{SET}.{name} is {value!r}, not a string of at most {MAX_TEXT} characters"
    return LastSet(version, commit or None, stored.get("by") or None, stored.get("at") or None)


def _made(kind: str, stored: Any, key: str = MADE) -> Made | str | None:
    """The stored `made` (or `taken`) of an experiment's record (None: absent), or what is wrong with it (read
    strictly: it decides which experiment is the managed one, and which files a promotion may serve)."""
    if stored is None:
        return None
    if kind != EXPERIMENT:
        return f"{key} on a {kind}: mlcp records it for experiments only"
    if not isinstance(stored, dict) or set(stored) != {"id", "location"}:
        return f"{key} is {stored!r}, not {{id, location}}"
    experiment_id, location = stored["id"], stored["location"]
    if not isinstance(experiment_id, str) or not _ID.fullmatch(experiment_id):
        return f"{key}.id is {experiment_id!r}, not an experiment id"
    if not isinstance(location, str) or not location or len(location) > MAX_LOCATION:
        return f"{key}.location is not a string of 1 to {MAX_LOCATION} characters"
    return Made(experiment_id, location)


def _identity(kind: str, stored: dict[str, Any]) -> tuple[Made | None, TakenOver | None, str | None] | str:
    """The stored `made` and `taken` of a record (at most one) and its model's creation time (mlflow_models), or
    what is wrong with them."""
    made, taken = _made(kind, stored.get(MADE)), _made(kind, stored.get(TAKEN), TAKEN)
    model, wrong = mlflow_models.stored(kind, stored.get(mlflow_models.MODEL))
    if isinstance(made, str) or isinstance(taken, str) or wrong is not None:
        return made if isinstance(made, str) else taken if isinstance(taken, str) else str(wrong)
    if made is not None and taken is not None:
        return f"both {MADE} and {TAKEN}: mlcp records one experiment either created or taken over"
    return made, TakenOver(taken.id, taken.location) if taken is not None else None, model


def parse(key: str, value: str) -> tuple[ObjectRef, InventoryRecord] | None:
    """One stored record (None when it does not even name an object)."""
    try:
        stored = json.loads(value)
    except ValueError:
        return None
    if (
        not isinstance(stored, dict)
        or not isinstance(stored.get("kind"), str)
        or not isinstance(stored.get("name"), str)
    ):
        return None
    ref = ObjectRef(SYSTEM, API_VERSION, stored["kind"], None, stored["name"])
    if record_tag(ref) != key:
        return ref, InventoryRecord(None, None, None, error=f"stored under another object's key {key}")
    record = InventoryRecord.checked(stored.get("spec"), stored.get("tenant"), stored.get("source"))
    last = _last_set(stored.get(SET))
    if isinstance(last, str):
        return ref, InventoryRecord(None, None, None, error=last)
    identity = _identity(ref.kind, stored)
    if isinstance(identity, str):
        return ref, InventoryRecord(None, None, None, error=identity)
    made, taken, model = identity
    return ref, replace(record, last_set=last, made=made, taken=taken, model=model) if record.error is None else record


class RegistryInventory:
    """The store experiment of one installation on one MLflow server: found while reading, written after applying."""

    def __init__(self, rest: MlflowRest, installation: str) -> None:
        self.rest = rest
        self.installation = installation
        self.name = store_name(installation)
        self.experiment: dict[str, Any] | None = None
        self.legacy = False
        """The store read is an older mlcp's (`mlcp-inventory`), renamed to this installation's at the first write."""
        self.records: dict[ObjectRef, InventoryRecord] = {}
        self.foreign: dict[str, str] = {}
        """Record tags of other installations' stores, each to the installation (what this one never takes over)."""
        self._stored: dict[str, str] = {}
        self.writers: Callable[[str, str, bool], str | None] | None = None
        """Who besides mlcp and MLflow admins may write a store (id, name, fresh; None: nobody): mlflow_record_trust."""
        self.problems: list[str] = []
        """This installation's store refused, other installations' stores ignored, as others may write them (the
        backend's `record_problems`)."""
        self.others = False
        """Another installation's store (or an older mlcp's it does not take) is on the server: tags say nothing
        of what this installation made, as every installation tags the same way."""

    @property
    def exists(self) -> bool:
        return self.experiment is not None

    def foreign_owner(self, ref: ObjectRef) -> str | None:
        """The installation whose store records `ref` when this one does not (None: nobody else's)."""
        return None if ref in self.records else self.foreign.get(record_tag(ref))

    def take(self, experiments: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Find the stores among mlcp's searched experiments; the others are the live experiments."""
        self.experiment, self.legacy, self.records, self._stored, self.foreign = None, False, {}, {}, {}
        self.problems = []
        self.others = False
        others, stores = [], {}
        for item in experiments:
            name, tags = str(item.get("name")), tags_of(item)
            if name in (self.name, STORE) or (name.startswith(f"{STORE}.") and tags.get(ROLE_TAG) == ROLE):
                stores[name] = (item, tags)
            else:
                others.append(item)
        own, legacy = stores.pop(self.name, None), stores.pop(STORE, None)
        for name, (item, tags) in stores.items():
            self._foreign(item, tags, f"installation {name[len(STORE) + 1 :]!r} (its inventory {name!r})")
        if own is None and legacy is not None:
            own, self.legacy = legacy, True
        elif legacy is not None and legacy[1].get(ROLE_TAG) == ROLE:  # an installation not upgraded yet
            self._foreign(*legacy, f"an older mlcp (its inventory {STORE!r})")
        elif legacy is not None:
            others.append(legacy[0])
        if own is None:
            return others
        item, tags = own
        if tags.get(ROLE_TAG) != ROLE:
            raise self._refused(
                f"MLflow experiment {item.get('name')!r} exists but is not mlcp's inventory (no tag "
                f"{ROLE_TAG}={ROLE}); mlcp never trusts records in an experiment someone else made: rename or delete it"
            )
        self._trusted(str(item["experiment_id"]), str(item.get("name")))
        self.experiment = item
        self._stored = {k: v for k, v in tags.items() if k.startswith(RECORD_TAG)}
        for key, value in self._stored.items():
            parsed = parse(key, value)
            if parsed is not None:
                self.records[parsed[0]] = parsed[1]
        return others

    def unchecked(self, problem: str) -> BackendError:
        """The refusal of every record on the server before any is read (who may write them cannot be judged):
        nothing of an earlier read is kept, and the refusal is among the problems, as a refused store's is."""
        self.experiment, self.legacy, self.records, self._stored, self.foreign = None, False, {}, {}, {}
        self.problems, self.others = [], False
        return self._refused(problem)

    def _trusted(self, experiment_id: str, name: str, fresh: bool = False) -> None:
        """Refuse a store others may write before reading any record of it (nothing of it is kept)."""
        writers = self.writers(experiment_id, name, fresh) if self.writers is not None else None
        if writers:
            raise self._refused(
                f"MLflow experiment {name!r} (id {experiment_id}), where mlcp keeps its records, can be written by "
                f"{writers}, not only by mlcp's user and MLflow admins. Anyone may create an experiment under any "
                "name and holds MANAGE on it, so its records may be forged: mlcp reads none of them and writes "
                "nothing to this MLflow. An MLflow admin: if mlcp made it, revoke those grants (and keep the "
                "server's default_permission at READ or lower); if not, or unsure, rename it to a name not starting "
                f"with {STORE!r} (or delete it and purge it with `mlflow gc`), and mlcp makes its own at the next "
                "apply (the objects it recorded are then nobody's: never pruned, their drift unknown)"
            )

    def _refused(self, problem: str) -> BackendError:
        """The refusal of this installation's own store, kept among the problems too: the loop and `mlcp apply`
        record each problem in the audit log (rule `record-store`), so a reviewer of `mlcp audit` sees it, not only
        the plan's error and a metric."""
        self.problems.append(problem)
        return BackendError(problem)

    def _foreign(self, item: dict[str, Any], tags: Mapping[str, str], who: str) -> None:
        """Honor another installation's records (refuse this one its objects) unless others may write them: a
        store anyone made could name any object, to block it."""
        name, experiment_id = str(item.get("name")), str(item.get("experiment_id"))
        self.others = True
        writers = self.writers(experiment_id, name, False) if self.writers is not None else None
        if writers:
            self.problems.append(
                f"MLflow experiment {name!r} (id {experiment_id}) says it holds the records of {who}, but {writers} "
                "may write it besides MLflow admins: its records are ignored. An MLflow admin renames it to a name "
                f"not starting with {STORE!r}, or revokes those grants if that installation made it"
            )
            return
        self.foreign.update(dict.fromkeys((k for k in tags if k.startswith(RECORD_TAG)), who))

    def write(self, records: Mapping[ObjectRef, InventoryRecord]) -> None:
        """Set the tags of records that changed and delete those of objects no longer recorded."""
        wanted = {record_tag(ref): _value(ref, record) for ref, record in records.items() if record.error is None}
        kept = {k for ref, r in records.items() if r.error is not None and (k := record_tag(ref)) in self._stored}
        changed = {k: v for k, v in wanted.items() if self._stored.get(k) != v}
        dropped = sorted(set(self._stored) - set(wanted) - kept)
        if not changed and not dropped and not self.legacy:  # an older mlcp's store is taken at the first apply
            return
        experiment_id = self._ensure()
        for key, value in sorted(changed.items()):
            self.rest.post("experiments/set-experiment-tag", experiment_id=experiment_id, key=key, value=value)
            self._stored[key] = value
        for key in dropped:
            try:
                self.rest.post("experiments/delete-experiment-tag", experiment_id=experiment_id, key=key)
            except MlflowApiError as exc:
                if not exc.not_found:
                    raise
            self._stored.pop(key, None)
        self.records = dict(records)

    def _migrate(self, experiment_id: str) -> None:
        """Rename an older mlcp's store to this installation's: its records become this installation's alone."""
        found = self.rest.get("experiments/get", experiment_id=experiment_id).get("experiment") or {}
        if found.get("name") != STORE:
            raise BackendError(
                f"the older mlcp's inventory {STORE!r} was renamed to {found.get('name')!r} since mlcp read the "
                "registry (another installation upgraded at the same moment?); mlcp did not write its records: "
                "plan again"
            )
        try:
            self.rest.post("experiments/update", experiment_id=experiment_id, new_name=self.name)
        except MlflowApiError as exc:
            again = self.rest.get("experiments/get", experiment_id=experiment_id).get("experiment") or {}
            if not exc.after_lost_answer or again.get("name") != self.name:
                raise
        self.rest.post(
            "experiments/set-experiment-tag", experiment_id=experiment_id, key=INSTALLATION_TAG, value=self.installation
        )
        self.legacy = False
        if self.experiment is not None:
            self.experiment["name"] = self.name

    def _made_by_lost_attempt(self, sent: dict[str, str]) -> dict[str, Any] | None:
        """The store a create whose answer was lost made: active, with exactly the tags it sent and no record yet
        (one holding anything else was made or written by someone else, and is never trusted)."""
        try:
            found: dict[str, Any] = self.rest.get("experiments/get-by-name", experiment_name=self.name)["experiment"]
        except MlflowApiError as exc:
            if exc.not_found:
                return None
            raise
        own = {k: v for k, v in tags_of(found).items() if not k.startswith("mlflow.")}  # MLflow's may be added
        if found.get("lifecycle_stage") != "active" or own != sent:
            return None
        return found

    def _ensure(self) -> str:
        """The store's id: made on first use (tagged as mlcp's), restored if someone deleted it."""
        if self.experiment is None:
            tags = {ROLE_TAG: ROLE, OWNER_TAG: OWNER_VALUE, INSTALLATION_TAG: self.installation}
            made: dict[str, Any] | None
            try:
                made = self.rest.post(
                    "experiments/create", name=self.name, tags=[{"key": k, "value": v} for k, v in tags.items()]
                )
            except MlflowApiError as exc:
                if exc.code != "RESOURCE_ALREADY_EXISTS":
                    raise
                made = self._made_by_lost_attempt(tags) if exc.after_lost_answer else None
                if made is None:
                    raise BackendError(
                        f"MLflow experiment {self.name!r} appeared since mlcp read the registry (made by someone "
                        "else?); mlcp did not write its records: rename or delete it, then apply again"
                    ) from None
            self._trusted(str(made["experiment_id"]), self.name, fresh=True)  # e.g. a default_permission of EDIT
            self.experiment = {"experiment_id": made["experiment_id"], "name": self.name, "lifecycle_stage": "active"}
        experiment_id = str(self.experiment["experiment_id"])
        if self.experiment.get("lifecycle_stage") == "deleted":
            try:
                self.rest.post("experiments/restore", experiment_id=experiment_id)
            except MlflowApiError as exc:  # "cannot restore an active experiment": the lost attempt restored it
                found = self.rest.get("experiments/get", experiment_id=experiment_id).get("experiment") or {}
                if not exc.after_lost_answer or found.get("lifecycle_stage") != "active":
                    raise
            self.experiment["lifecycle_stage"] = "active"
        if self.legacy:  # after the restore: MLflow renames active experiments only
            self._migrate(experiment_id)
        return experiment_id
