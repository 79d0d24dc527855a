"""Environment variable names: one rule for every kind that sets a container's environment.

A pipeline step (`env`, `envFrom`), a TrainingJob and a pipeline's training step
(`env`, `secretEnv`) all render a container's `env`, which the API server
checks when the pod is created, long after apply: a name it refuses fails
every run. The rule here is the one every Kubernetes version takes
(`[-._a-zA-Z][-._a-zA-Z0-9]*`, `IsEnvVarName`); 1.34 relaxed it to any printable
ASCII but `=`, which older clusters still refuse and no shell can read.

A container's names are also checked together (`conflicts`): Kubernetes keeps
a name given twice and the later entry wins, so a Secret reference could
silently replace a plain value, or a variable mlcp sets (a TrainingJob's
`MLFLOW_EXPERIMENT_NAME`, rendered before `secretEnv`) could be replaced by the
tenant's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from controlplane.specs.model import error_at

_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")

HINT = "use letters, digits, '_', '-' and '.', not starting with a digit (e.g. BATCH_SIZE)"


def problem(name: str) -> str | None:
    """Why `name` is not an environment variable name every Kubernetes version accepts."""
    if _ENV_NAME.fullmatch(name):
        return None
    return f"{name!r} is not a valid environment variable name: {HINT}"


def _name(name: str) -> str:
    why = problem(name)
    if why is not None:
        raise ValueError(why)
    return name


def _names(env: dict[str, str]) -> dict[str, str]:
    for name in env:
        why = problem(name)
        if why is not None:
            raise error_at((name,), why)
    return env


_PATTERN = f"^{_ENV_NAME.pattern}$"

EnvName = Annotated[str, AfterValidator(_name), WithJsonSchema({"type": "string", "pattern": _PATTERN})]
"""The name of one environment variable."""

EnvVars = Annotated[
    dict[str, str],
    AfterValidator(_names),
    WithJsonSchema(
        {"type": "object", "propertyNames": {"pattern": _PATTERN}, "additionalProperties": {"type": "string"}}
    ),
]
"""Plain environment variables, name to value."""


def conflicts(
    env: dict[str, str], refs: Sequence[str], refs_field: str, reserved: dict[str, str]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(location, message) of each name of a container's `env` and its list of references (`refs_field`, names in
    order) that is set twice, or that mlcp sets itself (`reserved`: name to the field that sets it)."""
    seen = set(env)
    for name in env:
        if name in reserved:
            yield ("env", name), f"{name} is set from `{reserved[name]}` by mlcp; remove it from `env`"
    for i, name in enumerate(refs):
        if name in reserved:
            yield (refs_field, i, "name"), f"{name} is set from `{reserved[name]}` by mlcp; remove it"
        elif name in seen:
            yield (
                (refs_field, i, "name"),
                f"{name!r} is set twice: Kubernetes keeps the later one, so this would replace the first silently; "
                "set each variable once",
            )
        seen.add(name)
