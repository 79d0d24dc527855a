"""The shape every spec kind shares, and the registry that knows them all.

A spec is a Kubernetes-style document (`apiVersion`, `kind`, `metadata`,
`spec`). Field names are camelCase in YAML and snake_case in Python; every
model forbids unknown fields so a typo is an error, not a silently ignored key.
A new kind is one new module in this package that subclasses `Spec` and calls
`register` (the package imports every module in it), plus its renderer (see
`controlplane.rendering.registry`), which declares the objects it produces.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

API_VERSION = "mlcp.dev/v1alpha1"

# Whole values are checked with fullmatch: under re.match, `$` also matches before a trailing newline.
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


INT32_MAX = 2**31 - 1
"""The largest int32: the bound of a field the target system keeps as one (Kubernetes `int32`, IntOrString)."""
INT64_MAX = 2**63 - 1
"""The largest int64, the widest integer Kubernetes, Argo and MLflow keep (and the JSON mlcp sends can hold)."""
INT64_MIN = -(2**63)

LABEL_VALUE_MAX = 63
"""The API server's limit on a label value."""


def name_limit(kind: str) -> int:
    """The longest name of a `kind` spec whose objects carry the label `mlcp.dev/spec: <kind>.<name>`."""
    return LABEL_VALUE_MAX - len(kind) - 1


def _dns1123_subdomain(value: str) -> str:
    if len(value) > 253 or not all(_DNS1123_LABEL.fullmatch(part) for part in value.split(".")):
        raise ValueError(
            f"{value!r} is not a DNS-1123 subdomain: use at most 253 lowercase letters, digits, '-' and '.', "
            "each '.'-separated part starting and ending with a letter or digit (e.g. fast-ssd or ssd.example.com)"
        )
    return value


def is_dns1123_label(value: str) -> bool:
    """True for a DNS-1123 label: what a tenant's name (its folder, its namespace, a label value) must be."""
    return len(value) <= 63 and _DNS1123_LABEL.fullmatch(value) is not None


def _dns1123_label(value: str) -> str:
    if not is_dns1123_label(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label: use at most 63 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit"
        )
    return value


MLCP_PREFIX = "mlcp.dev/"
"""The prefix of mlcp's own labels and annotations (`mlcp.dev/spec`, `mlcp.dev/adopted-namespace`, …): mlcp reads
them back from live objects, so a spec may set none."""

ANNOTATIONS_MAX_BYTES = 256 * 1024 - 8 * 1024
"""A spec's annotations in all, keys and values in UTF-8: the API server refuses an object whose annotations exceed
256 KiB, and mlcp adds its own (the source file's path, the commit, ...) to every object."""


CONTROLLER_ANNOTATIONS: dict[str, str] = {
    "serving.kserve.io/": "KServe's (deployment mode, autoscaler, storage, ...)",
    "serving.knative.dev/": "Knative's, behind KServe's Serverless mode",
    "autoscaling.knative.dev/": "Knative's autoscaler's, behind KServe's Serverless mode",
    "networking.knative.dev/": "Knative's networking's, behind KServe's Serverless mode",
    "features.knative.dev/": "Knative's, behind KServe's Serverless mode",
    "sidecar.istio.io/": "Istio's sidecar injection, for the pods KServe and the notebook-controller create",
    "notebooks.kubeflow.org/": "the notebook-controller's (routing, headers, last activity)",
    "kubeflow-resource-stopped": "the notebook-controller's (it stops the server; use a Notebook's `stopped`)",
    "workflows.argoproj.io/": "Argo Workflows' (pod name format, SSO RBAC rules on a ServiceAccount, ...)",
    "cronworkflows.argoproj.io/": "Argo's cron controller's (the schedule it last used)",
}
"""Annotation keys (a prefix ending in `/`, or a whole key) the controllers behind mlcp's objects read as settings:
copied from a spec onto an InferenceService, a Notebook, a WorkflowTemplate, a CronWorkflow or a tenant's
ServiceAccount they change what the controller does with it, outside any field mlcp checks. No spec may set them;
a setting a tenant needs becomes a spec field."""

CONTROLLER_LABELS: dict[str, str] = {
    "workflows.argoproj.io/": "Argo Workflows' (controller-instanceid chooses which workflow-controller runs a "
    "pipeline, or that none does; creator, creator-email and creator-preferred-username claim who submitted its runs)",
    "katib.kubeflow.org/": "Katib's (metrics-collector-injection on a namespace decides whether trials report their "
    "metrics; experiment and trial labels on pods say which trial a pod reports for)",
    "katib-metricscollector-injection": "Katib's (before v0.13: whether trials in the namespace report their metrics)",
}
"""Label keys (a prefix ending in `/`, or a whole key) the controllers behind mlcp's objects read, as
`CONTROLLER_ANNOTATIONS`: a CronWorkflow passes Argo's controller-instanceid and creator labels on to every run it
starts, and Katib injects its metrics collector only into pods of a namespace labelled as mlcp labels tenants'."""


def _controller_owned(key: str, what: str, owned: Mapping[str, str]) -> str | None:
    lowered = key.lower()
    for prefix, owner in owned.items():
        if lowered.startswith(prefix) if prefix.endswith("/") else lowered == prefix:
            return (
                f"{what} key {key!r} is {owner}: it changes what that controller does with the object, outside "
                "the fields mlcp checks, so a spec sets none"
            )
    return None


def qualified_name_problem(key: str, what: str, any_case: bool = False) -> str | None:
    """Why `key` is not a qualified name (`[prefix/]name`) as the API server checks a label key, a node selector's
    or a toleration's key (an annotation's lowercased: `any_case`)."""
    prefix, slash, name = (key.lower() if any_case else key).rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not all(_DNS1123_LABEL.fullmatch(p) for p in prefix.split("."))):
        return f"{what} key {key!r} has an invalid prefix: it must be a DNS subdomain such as example.com"
    if len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        return (
            f"{what} key {key!r} is invalid: at most 63 characters of letters, digits, "
            "'-', '_' and '.', starting and ending with a letter or digit, after an optional DNS-subdomain prefix"
        )
    return None


def label_value_problem(value: str, what: str) -> str | None:
    """Why `value` is not a label value as the API server checks one (a label's, a node selector's, a toleration's)."""
    if len(value) > LABEL_VALUE_MAX or not _LABEL_VALUE.fullmatch(value):
        return (
            f"{what} {value!r} is not a valid label value: at most 63 characters of letters, "
            "digits, '-', '_' and '.', starting and ending with a letter or digit (or empty)"
        )
    return None


def _key_problem(key: str, what: str, any_case: bool = False) -> str | None:
    """Why `key` is not a label or annotation key a spec may set: not a qualified name, or one of mlcp's own."""
    problem = qualified_name_problem(key, what, any_case)
    if problem is None and key.lower().startswith(MLCP_PREFIX):
        return f"{what} key {key!r} is mlcp's own ({MLCP_PREFIX}*): mlcp sets and reads these, a spec sets none"
    return problem


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


def _labels(labels: dict[str, str]) -> dict[str, str]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for key, value in labels.items():
        problem = _key_problem(key, "label") or _controller_owned(key, "label", CONTROLLER_LABELS)
        if problem is None and (problem := label_value_problem(value, "label value")) is not None:
            problem = f"{problem} (key {key!r})"
        if problem is not None:
            problems.append(((key,), problem))
    if problems:
        raise errors_at(problems)
    return labels


def _annotations(annotations: dict[str, str]) -> dict[str, str]:
    problems = [
        ((key,), problem)
        for key in annotations
        if (problem := _key_problem(key, "annotation", any_case=True))
        or (problem := _controller_owned(key, "annotation", CONTROLLER_ANNOTATIONS))
    ]
    if problems:
        raise errors_at(problems)
    size = sum(len(key.encode()) + len(value.encode()) for key, value in annotations.items())
    if size > ANNOTATIONS_MAX_BYTES:
        raise ValueError(
            f"annotations hold {size} bytes: at most {ANNOTATIONS_MAX_BYTES} (the API server's 256 KiB for all of an "
            "object's annotations, less 8 KiB for mlcp's own); keep large data out of annotations"
        )
    return annotations


DnsLabel = Annotated[
    str,
    AfterValidator(_dns1123_label),
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": _DNS1123_LABEL.pattern}),
]
"""A Kubernetes object name that must also be a DNS-1123 label (namespaces, tenants)."""

_DNS1123_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

DnsSubdomain = Annotated[
    str,
    AfterValidator(_dns1123_subdomain),
    WithJsonSchema({"type": "string", "maxLength": 253, "pattern": _DNS1123_SUBDOMAIN_PATTERN}),
]
"""A Kubernetes object name the API server checks as a DNS-1123 subdomain (a StorageClass, most object names)."""

Labels = Annotated[dict[str, str], AfterValidator(_labels)]
"""Kubernetes labels, checked with the API server's own syntax rules; none of mlcp's own (`mlcp.dev/`), none the
controllers behind mlcp's objects read (`CONTROLLER_LABELS`)."""

Annotations = Annotated[dict[str, str], AfterValidator(_annotations)]
"""Kubernetes annotations: keys as the API server checks them, within its size limit; none of mlcp's own, none the
controllers behind mlcp's objects read as settings (`CONTROLLER_ANNOTATIONS`)."""

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


class Metadata(SpecModel):
    """Identity of a spec inside the config repo."""

    name: DnsLabel = Field(
        description="Name of the spec, unique per kind and tenant. If the spec renders Kubernetes objects (every "
        "kind does, but an Experiment only with `tuning` and a ModelPromotion only with `serving`), at most 62 "
        "characters less the kind's length (a Pipeline's 54, a TrainingJob's 51): its objects carry the label "
        "`mlcp.dev/spec: <kind>.<name>`, and a label value holds at most 63 characters. The controllers of some kinds "
        "demand more: a TrainingJob's, a Notebook's and a ModelPromotion's with `serving` start with a letter "
        "(Trainer, the notebook-controller's Service, KServe's webhook), a Notebook's has at most 52 characters (its "
        "StatefulSet's revision label), and an Experiment's with `tuning` starts with a letter (Katib's webhook) and "
        "leaves room for `-<algorithm>` within 63 characters (the name of Katib's suggestion Service)."
    )
    tenant: DnsLabel | None = Field(
        default=None,
        description=(
            "Tenant the spec belongs to. Optional: specs under `tenants/<t>/` belong to `<t>`; "
            "if set it must equal that folder."
        ),
    )
    labels: Labels = Field(
        default_factory=dict,
        description="Labels copied to rendered objects. None of mlcp's own (`mlcp.dev/`) nor Argo Workflows' "
        "(`workflows.argoproj.io/`: its controller-instanceid and creator labels pass from a CronWorkflow to its "
        "runs) nor Katib's (`katib.kubeflow.org/`: mlcp sets its metrics-collector-injection on the namespace).",
    )
    annotations: Annotations = Field(
        default_factory=dict,
        description="Annotations copied to the spec's Kubernetes objects. None of mlcp's own (`mlcp.dev/`) nor any "
        "key the controllers behind them read as a setting: `serving.kserve.io/`, Knative's (`serving.knative.dev/`, "
        "`autoscaling.knative.dev/`, `networking.knative.dev/`, `features.knative.dev/`), `sidecar.istio.io/`, "
        "`notebooks.kubeflow.org/` and `kubeflow-resource-stopped` (a Notebook's `stopped` sets it), Argo Workflows' "
        "(`workflows.argoproj.io/`, `cronworkflows.argoproj.io/`).",
    )


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
