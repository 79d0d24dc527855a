"""The shape every spec kind shares, and the registry that knows them all.

A spec is a Kubernetes-style document (`apiVersion`, `kind`, `metadata`,
`spec`). Field names are camelCase in YAML and snake_case in Python; every
model forbids unknown fields so a typo is an error, not a silently ignored key
(`model.SpecModel`; a spec's metadata is `metadata.Metadata`, the API server's
own syntax rules `kube_syntax`).
A new kind is one new module in this package that subclasses `Spec` and calls
`register` (the package imports every module in it), plus its renderer (see
`controlplane.rendering.registry`), which declares the objects it produces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from controlplane.specs.kube_syntax import LABEL_VALUE_MAX
from controlplane.specs.metadata import Metadata
from controlplane.specs.model import SpecModel

API_VERSION = "mlcp.dev/v1alpha1"


def name_limit(kind: str) -> int:
    """The longest name of a `kind` spec whose objects carry the label `mlcp.dev/spec: <kind>.<name>`."""
    return LABEL_VALUE_MAX - len(kind) - 1


@dataclass(frozen=True)
class Finding:
    """A problem a spec finds against the other specs of its tenant: where in it (a key path), what, how to fix."""

    path: tuple[str | int, ...]
    message: str
    hint: str
    code: str = "reference"


@dataclass(frozen=True)
class NameRule:
    """What the controller behind a kind's objects demands of their names, beyond the DNS label every spec name is.

    The API server takes any DNS-1123 label for a custom object, but a controller or webhook behind it may refuse
    it later (KServe's webhook) or build objects of its own from it that the API server refuses (a Notebook's
    Service, its StatefulSet's revision label): the spec's other objects are written by then, or the object never
    runs. `Spec.name_rules` lists a kind's, checked at the name by validation.
    """

    target: str
    """What refuses the name, and why (shown in the message)."""
    letter_first: bool = False
    """A DNS-1035 label: starts with a letter (a Service name, KServe's and Trainer's rule)."""
    max_length: int | None = None

    def finding(self, kind: str, name: str) -> Finding | None:
        if self.letter_first and not name[:1].isalpha():
            return Finding(
                ("metadata", "name"),
                f"{kind} {name!r} must start with a letter: {self.target}",
                "rename it so it starts with a letter (a-z)",
                "name",
            )
        if self.max_length is not None and len(name) > self.max_length:
            return Finding(
                ("metadata", "name"),
                f"{kind} {name!r} has {len(name)} characters, more than {self.max_length}: {self.target}",
                f"shorten it to at most {self.max_length} characters",
                "name",
            )
        return None


@dataclass(frozen=True)
class TenantSpecs:
    """What a spec may check itself against: the valid specs of its tenant by kind, and those refused."""

    tenant: str | None
    by_kind: Mapping[str, Sequence[Spec]]
    refused: frozenset[tuple[str, str]]
    """(kind, name) of specs that were written but are invalid (already reported): not "missing"."""

    def of_kind(self, kind: str) -> Sequence[Spec]:
        return self.by_kind.get(kind, ())


class Spec(SpecModel):
    """A whole spec document. Subclasses narrow `kind` and type `spec`."""

    api_version: Literal["mlcp.dev/v1alpha1"] = Field(alias="apiVersion", description="Always `mlcp.dev/v1alpha1`.")
    kind: str
    metadata: Metadata

    tenant_scoped: ClassVar[bool] = True
    """Whether the kind lives under `tenants/<tenant>/` (False: cluster-wide, e.g. policies)."""

    folder: ClassVar[str] = ""
    """Where the kind lives in a config repo (documentation and `mlcp init`)."""

    name_rules: ClassVar[tuple[NameRule, ...]] = ()
    """What the controllers of the kind's Kubernetes objects demand of their names (checked when `in_cluster`)."""

    workload: ClassVar[bool] = True
    """Whether its objects are a tenant's workloads, written as the tenant's confined deployer (and granted to
    that deployer's ClusterRole). False for platform kinds (tenants, quotas, policy), written with mlcp's own
    identity. True is the default because it is the confined one."""

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def in_cluster(self) -> bool:
        """Whether the spec renders Kubernetes objects; a kind whose objects are not all in the registry says when.

        Those objects carry the label `mlcp.dev/spec: <kind>.<name>`, which the API server refuses over 63
        characters, so their names are bounded by `name_limit`; a spec of the registry only is not.
        """
        return True

    @model_validator(mode="after")
    def _name_fits_the_spec_label(self) -> Spec:
        limit = name_limit(self.kind)
        if self.in_cluster and len(self.metadata.name) > limit:
            name = self.metadata.name  # a DNS label: no braces for the message template to read
            error = PydanticCustomError(
                "string_too_long",  # its hint: shorten it to at most {max_length} characters
                f"{self.kind} name {name!r} has {len(name)} characters: at most {{max_length}} fit the label "
                f"`mlcp.dev/spec: {self.kind}.<name>` its Kubernetes objects carry (a label value holds at most 63)",
                {"max_length": limit},
            )
            details = InitErrorDetails(type=error, loc=("metadata", "name"), input=self.metadata.name)
            raise ValidationError.from_exception_data(type(self).__name__, [details])
        return self

    def name_findings(self) -> Iterable[Finding]:
        """The kind's `name_rules` the name breaks, when the spec renders Kubernetes objects."""
        if self.in_cluster:
            for rule in self.name_rules:
                found = rule.finding(self.kind, self.name)
                if found is not None:
                    yield found

    def cross_checks(self, tenant: TenantSpecs) -> Iterable[Finding]:
        """Problems only the tenant's other specs show (validation reports them at file:line); none by default.

        A kind checks its own references here, so validation names no kind.
        """
        return ()


UNION_TAGS: set[str] = set()
"""Tags of discriminated unions in spec models (e.g. a pipeline step's kind). Pydantic adds the chosen tag to an
error's location after the list index; `loading.schema_errors` drops it so the location is the document's."""


KINDS: dict[str, type[Spec]] = {}
"""Every registered spec kind, by `kind`."""


def register(cls: type[Spec]) -> type[Spec]:
    """Class decorator adding a kind to `KINDS`; refuses a second kind of the same name."""
    kind_field = cls.model_fields["kind"]
    kind = kind_field.default
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{cls.__name__} must declare `kind: Literal[...] = '...'`")
    if kind in KINDS and KINDS[kind] is not cls:
        raise TypeError(f"spec kind {kind!r} registered twice")
    KINDS[kind] = cls
    return cls


def close_pattern_properties(node: Any) -> None:
    """Make maps whose keys have a pattern refuse other keys, as the models do.

    Pydantic renders `dict[ResourceName, ...]` as `patternProperties`, which
    alone lets any key that misses the pattern through unchecked.
    """
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            close_pattern_properties(value)
    elif isinstance(node, list):
        for item in node:
            close_pattern_properties(item)


def schema_of(kind: str) -> dict[str, Any]:
    """The JSON Schema of one kind, as editors and `check-jsonschema` consume it."""
    cls = KINDS[kind]
    schema = cls.model_json_schema(by_alias=True, mode="validation")
    close_pattern_properties(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://mlcp.dev/schemas/v1alpha1/{kind.lower()}.json"
    return schema
