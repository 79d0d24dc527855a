"""The registry's account of a model's aliases, for checking the promotion history against it.

The history comes from the audit log (controlplane.audit.history); the
registry knows where each alias points now, mlcp's own inventory record of
the version it last set each one to (on the installation's experiment
`mlcp-inventory.<controller namespace>`), and the tags mlcp wrote on the model
at its last move (which anyone with EDIT on the model can rewrite: claims, only
compared). Reading them lets `mlcp promotions history` say when they disagree:
an alias moved by hand, a forged tag, or a log that is not this registry's.

The records are read as the backend reads them (mlflow_records): a store that
anyone but mlcp's user and MLflow admins may write (one a tenant made under
mlcp's name first, or was granted EDIT on) is refused, naming who, and none of
its records is read. Found by name alone, a squatted store's forged `set` made
the history vouch for a hand move as mlcp's, or call mlcp's own move drift.
"""

from __future__ import annotations

from typing import Any

from controlplane.audit.history import RegistryAlias
from controlplane.inventory import InventoryRecord
from controlplane.plans import ObjectRef
from controlplane.rendering.mlflow_objects import AliasRef, alias_tag
from reconciler.backends import mlflow_records
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value") or "") for t in item.get("tags") or []}


def read_aliases(rest: MlflowRest, model: str, aliases: set[str], installation: str) -> list[RegistryAlias] | None:
    """Each alias of `model` that is set now or in `aliases` (the ones the log names), with the records of the
    installation of the controller namespace `installation`; None: no such model. BackendError: the records are
    refused (someone else may write them) or could not be read."""
    records = mlflow_records.checked(rest, installation).records  # judged before the model is even read
    try:
        found = rest.get("registered-models/get", name=model).get("registered_model") or {}
    except MlflowApiError as exc:
        if exc.not_found:
            return None
        raise
    current = {str(a["alias"]): str(a["version"]) for a in found.get("aliases") or []}
    tags = _tags(found)
    out = []
    for alias in sorted(aliases | set(current)):
        prefix = alias_tag(alias, "")
        own = {key[len(prefix) :]: value for key, value in tags.items() if key.startswith(prefix)}
        out.append(RegistryAlias(alias, current.get(alias), own, _recorded(records, AliasRef(model, alias))))
    return out


def _recorded(records: dict[ObjectRef, InventoryRecord], alias: AliasRef) -> str | None:
    """The version mlcp's record says it last set the alias to (None: no such record, or none readable)."""
    record = records.get(alias.ref())
    if record is None or record.error is not None or record.last_set is None:
        return None
    return record.last_set.version
