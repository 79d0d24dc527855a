"""The registry's account of a model's aliases, for checking the promotion history against it.

The history comes from the audit log (controlplane.audit.history); the
registry knows only where each alias points now and the tags mlcp wrote on
its last move. Reading both lets `mlcp promotions history` say when they
disagree: an alias moved by hand, or a log that is not this registry's.
"""

from __future__ import annotations

from controlplane.audit.history import RegistryAlias
from controlplane.rendering.mlflow_objects import alias_tag
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest


def read_aliases(rest: MlflowRest, model: str, aliases: set[str]) -> list[RegistryAlias] | None:
    """Each alias of `model` that is set now or in `aliases` (the ones the log names); None: no such model."""
    try:
        found = rest.get("registered-models/get", name=model).get("registered_model") or {}
    except MlflowApiError as exc:
        if exc.not_found:
            return None
        raise
    current = {str(a["alias"]): str(a["version"]) for a in found.get("aliases") or []}
    tags = {str(t["key"]): str(t.get("value") or "") for t in found.get("tags") or []}
    out = []
    for alias in sorted(aliases | set(current)):
        prefix = alias_tag(alias, "")
        own = {key[len(prefix) :]: value for key, value in tags.items() if key.startswith(prefix)}
        out.append(RegistryAlias(alias, current.get(alias), own))
    return out
