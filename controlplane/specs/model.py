"""The pydantic base every spec model shares, the field types several kinds use, and how a check reports an error at
its line.

Every model forbids unknown fields (a typo is an error, not a silently ignored key), is frozen, and takes its YAML
keys in camelCase. A validator that finds a problem inside the value it checks (a map's key, a nested field)
raises it at that place (`error_at`), so loading reports it at the line where it was written, not at the value's
first line.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema


def error_at(loc: tuple[str | int, ...], message: str) -> ValidationError:
    """An error at `loc` inside the value being validated, so it is reported at that line (pydantic prefixes the
    value's own location): a map's key, or a field of a model that a model validator checks."""
    return errors_at([(loc, message)])


def errors_at(problems: Sequence[tuple[tuple[str | int, ...], str]]) -> ValidationError:
    """`error_at` for several places at once, so each is reported at its line in one validation."""
    details = [
        InitErrorDetails(
            type=PydanticCustomError("value_error", "{message}", {"message": message}), loc=loc, input=loc[-1]
        )
        for loc, message in problems
    ]
    return ValidationError.from_exception_data("value", details)


NonEmptyStr = Annotated[str, Field(min_length=1)]

RESERVED_PREFIX = "system:"


def _person(name: str) -> str:
    """Kubernetes' own identities are not people: `system:serviceaccount:<ns>:mlcp-workload` is every pipeline pod of
    the namespace, `system:serviceaccounts` every pod of the cluster, `system:authenticated` everyone."""
    if name.lower().startswith(RESERVED_PREFIX):
        raise ValueError(
            f"{name!r} is one of Kubernetes' own identities (the {RESERVED_PREFIX!r} prefix: ServiceAccounts, nodes, "
            "every authenticated user), and binding a tenant role to it gives the role to workloads or to everyone; "
            "name a person (their email) or a group of people"
        )
    return name


Person = Annotated[str, Field(min_length=1), AfterValidator(_person)]
"""A person or group a tenant role is bound to (a Tenant's owners and members)."""


@dataclass(frozen=True)
class OneOf:
    """A string that must be one of a set known only once every kind is registered (`Annotated[str, OneOf(...)]`).

    A `Literal` would fix the set where the field is written, so every new kind would edit it. This checks, and
    lists in the JSON schema, whatever `names()` returns when a document is validated or a schema generated,
    with the same error as a `Literal`.
    """

    names: Callable[[], Collection[str]]

    def _check(self, value: str) -> str:
        allowed = self.names()
        if value not in allowed:
            expected = ", ".join(repr(n) for n in allowed)
            raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {**handler(schema), "enum": list(self.names())}


class SpecModel(BaseModel):
    """Base of every spec model: camelCase aliases, unknown fields forbidden."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        str_strip_whitespace=False,
        defer_build=True,
        allow_inf_nan=False,  # YAML's .nan, .inf and 1e999: no target takes them (JSON has no such number)
    )
