"""The registry's account of a model's aliases, for checking the promotion history against it.

The history comes from the audit log (controlplane.audit.history); the
registry knows where each alias points now, mlcp's own inventory record of
the version it last set each one to (on the installation's experiment
`mlcp-inventory.<controller namespace>`, which tenants cannot write), and the
tags mlcp wrote on the model at its last move (which anyone with EDIT on the model can rewrite: claims, only compared).
Reading them lets `mlcp promotions history` say when they disagree: an alias
moved by hand, a forged tag, or a log that is not this registry's.
"""

from __future__ import annotations

from typing import Any

from controlplane.audit.history import RegistryAlias
from controlplane.rendering.mlflow_objects import AliasRef, alias_tag
from reconciler.backends.mlflow_inventory import ROLE, ROLE_TAG, STORE, parse, record_tag, store_name
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value") or "") for t in item.get("tags") or []}


def read_aliases(rest: MlflowRest, model: str, aliases: set[str], installation: str) -> list[RegistryAlias] | None:
    """Each alias of `model` that is set now or in `aliases` (the ones the log names), with the records of the
    installation of the controller namespace `installation`; None: no such model."""
    try:
        found = rest.get("registered-models/get", name=model).get("registered_model") or {}
    except MlflowApiError as exc:
        if exc.not_found:
            return None
        raise
    current = {str(a["alias"]): str(a["version"]) for a in found.get("aliases") or []}
    tags = _tags(found)
    records = _store(rest, store_name(installation)) or _store(rest, STORE)  # an older mlcp's, not yet renamed
    out = []
    for alias in sorted(aliases | set(current)):
        prefix = alias_tag(alias, "")
        own = {key[len(prefix) :]: value for key, value in tags.items() if key.startswith(prefix)}
        out.append(RegistryAlias(alias, current.get(alias), own, _recorded(records, AliasRef(model, alias))))
    return out


def _store(rest: MlflowRest, name: str) -> dict[str, str]:
    """The record tags of mlcp's inventory experiment `name` (none when it does not exist or is not mlcp's)."""
    try:
        store = rest.get("experiments/get-by-name", experiment_name=name).get("experiment") or {}
    except MlflowApiError as exc:
        if exc.not_found:
            return {}
        raise
    tags = _tags(store)
    return tags if tags.get(ROLE_TAG) == ROLE else {}


def _recorded(records: dict[str, str], alias: AliasRef) -> str | None:
    """The version mlcp's record says it last set the alias to (None: no such record, or none readable)."""
    ref = alias.ref()
    value = records.get(record_tag(ref))
    parsed = parse(record_tag(ref), value) if value is not None else None
    if parsed is None or parsed[0] != ref or parsed[1].last_set is None:
        return None
    return parsed[1].last_set.version
