"""AccessPolicy: who (git identities) may change what (kinds, in which tenants).

Git hosts only know who may push; mlcp decides per change. Groups are declared
here because git identities carry no groups. The `@own` tenant scope means
"tenants where the actor is an owner or an admin/edit member", so one rule
covers every team (a view member only reads, in git as in the cluster).

The policy is read from the trusted base, never from the revision it judges.
The kinds `AccessPolicy` (every file under policies/), `Config` (mlcp.yaml) and
`TenantMembership` (a tenant's owners and members) are the rules themselves:
only a rule naming them, or a rule over all kinds in all tenants, grants them.
Approval rules live here too, so a spec can ask for more approvals than the
policy sets, never fewer. So does the Pod Security Standards level of tenant
namespaces: it is a rule about what tenants may run, so a tenant's own spec
can never lower it, and a change to it takes effect once it is applied.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from controlplane import timezones
from controlplane.specs.base import KINDS, Spec, register
from controlplane.specs.kube_syntax import INT32_MAX, INT64_MAX
from controlplane.specs.model import NonEmptyStr, OneOf, SpecModel
from controlplane.specs.model_promotion import MetricGate

Action = Literal["create", "update", "delete", "approve", "*"]
RULE_KINDS = ("Config", "TenantMembership")
"""Kinds a rule may name that are no spec kind: `mlcp.yaml` and a tenant's owners and members."""


def kind_names() -> tuple[str, ...]:
    """What a rule's `kinds` may name: every registered spec kind, the rule kinds, or `*`."""
    return (*sorted(KINDS), *RULE_KINDS, "*")


KindName = Annotated[str, OneOf(kind_names)]


class Rule(SpecModel):
    """Grants `actions` on `kinds` within `tenants`."""

    actions: list[Action] = Field(min_length=1, description="create, update, delete, approve or *.")
    kinds: list[KindName] = Field(min_length=1, description="Spec kinds, or * for all.")
    tenants: list[NonEmptyStr] = Field(
        default_factory=lambda: ["*"],
        description=(
            "Tenant names, `*` for all, or `@own` for tenants the actor owns or is an `admin`/`edit` member of "
            "(a `view` member only reads)."
        ),
    )


class Role(SpecModel):
    name: NonEmptyStr = Field(description="Role name, referenced by bindings.")
    description: str | None = Field(default=None, description="What the role is for.")
    rules: list[Rule] = Field(min_length=1, description="What holders of the role may do.")


class Binding(SpecModel):
    """Gives a role to users (git emails) and groups."""

    role: NonEmptyStr = Field(description="A role defined in `roles`.")
    users: list[NonEmptyStr] = Field(default_factory=list, description="Git identities (emails).")
    groups: list[NonEmptyStr] = Field(default_factory=list, description="Groups defined in `groups`.")

    @model_validator(mode="after")
    def _someone(self) -> Binding:
        if not self.users and not self.groups:
            raise ValueError(f"binding of role {self.role!r} names no `users` and no `groups`")
        return self


class Approvers(SpecModel):
    """Who may approve; empty means anyone holding a role that may `approve` the promotion."""

    users: list[NonEmptyStr] = Field(default_factory=list, description="Identities (emails).")
    groups: list[NonEmptyStr] = Field(default_factory=list, description="Groups defined in `groups`.")


class ApprovalRule(SpecModel):
    """Approvals and gates a ModelPromotion needs, whatever its own spec says (it may only ask for more)."""

    tenants: list[NonEmptyStr] = Field(
        default_factory=lambda: ["*"], description="Tenant names; shell-style patterns (`vision-*`), `*` for all."
    )
    models: list[NonEmptyStr] = Field(
        default_factory=lambda: ["*"], description="Registered model names; shell-style patterns (`vision-*`)."
    )
    aliases: list[NonEmptyStr] = Field(
        default_factory=lambda: ["*"], description="Aliases the rule protects, e.g. `production`; `*` for all."
    )
    required: int = Field(
        default=1, ge=0, le=INT32_MAX, description="Approvals needed from distinct approvers, never an author."
    )
    approvers: Approvers = Field(default_factory=Approvers, description="Who may give them.")
    gates: list[MetricGate] = Field(
        default_factory=list,
        description="Mandatory metric gates: the promotion must declare each one, at least as strict.",
    )


DURATION = re.compile(r"^([0-9]+)([mhd])$")
"""A window's length: minutes, hours or days (`90m`, `4h`, `2d`)."""

MINUTES_PER_UNIT = {"m": 1, "h": 60, "d": 24 * 60}
"""Minutes per unit of DURATION."""

WINDOW_MAX_DAYS = 3660
"""The longest window (ten years): a longer one only overflows the dates a plan computes (a window as long as its
cron's period is always open already)."""


class Override(SpecModel):
    """Approvals that let a held change pass during a freeze, given with `mlcp approve --override`."""

    required: int = Field(
        default=1, ge=1, le=INT32_MAX, description="Override approvals needed, from distinct approvers."
    )
    approvers: Approvers = Field(default_factory=Approvers, description="Who may give them (never an author).")


class FreezeWindow(SpecModel):
    """A change freeze: from each time `cron` fires (in `timeZone`), for `duration`, matching changes are held."""

    name: NonEmptyStr = Field(description="Named in the plan: `held by window NAME until ...`.")
    cron: NonEmptyStr = Field(
        description="When each window starts: 5 cron fields (minute hour day-of-month month day-of-week), or "
        "@daily, @weekly, ... e.g. `0 18 * * 5` (Fridays at 18:00)."
    )
    duration: str = Field(pattern=DURATION.pattern, description="How long each window lasts: `90m`, `4h`, `2d`.")
    time_zone: NonEmptyStr = Field(
        default="UTC", description="IANA time zone name of `cron`, e.g. `Europe/Berlin` (not `Local` or `localtime`)."
    )
    tenants: list[NonEmptyStr] = Field(
        default_factory=lambda: ["*"], description="Tenant names; shell-style patterns (`vision-*`), `*` for all."
    )
    models: list[NonEmptyStr] = Field(
        default_factory=lambda: ["*"], description="Registered model names held; shell-style patterns."
    )
    aliases: list[NonEmptyStr] = Field(
        default_factory=lambda: ["production"],
        description="Aliases whose moves are held (with the serving that follows them); `*` for all.",
    )
    kinds: list[KindName] = Field(
        default_factory=list,
        description="Whole spec kinds also held in the window (e.g. `Pipeline`); empty: only alias moves.",
    )
    override: Override = Field(
        default_factory=Override,
        description="An emergency override: what lets a held promotion pass during the window.",
    )

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        match = DURATION.fullmatch(value)
        if match is None:
            return value  # the pattern refused it
        number, unit = match.groups()
        if len(number) > 9 or int(number) * MINUTES_PER_UNIT[unit] > WINDOW_MAX_DAYS * 24 * 60:
            raise ValueError(f"window duration {value[:20]!r} is longer than {WINDOW_MAX_DAYS} days")
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value) or len(value.split()) not in (1, 5):
            raise ValueError(
                f"invalid cron expression {value!r}: use 5 fields (minute hour day-of-month month day-of-week) or "
                "@hourly/@daily/@weekly/@monthly"
            )
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        why = timezones.problem(value)
        if why is not None:
            raise ValueError(f"{why}: use an IANA name such as {timezones.EXAMPLES}")
        return value


class Quarantine(SpecModel):
    """Model versions that must never be promoted (a bad model, a leaked training set)."""

    model: NonEmptyStr = Field(description="Registered model name.")
    versions: list[Annotated[int, Field(ge=1, le=INT64_MAX)]] = Field(
        min_length=1, description="Version numbers that are never promoted."
    )
    reason: NonEmptyStr = Field(description="Why, shown in the plan error.")


PodSecurityLevel = Literal["baseline", "restricted"]
"""Pod Security Standards levels a tenant namespace may enforce; `privileged` (no restriction) is not offered."""


class PodSecurity(SpecModel):
    """The Pod Security Standards every tenant namespace enforces (labels `pod-security.kubernetes.io/*`)."""

    level: PodSecurityLevel = Field(
        default="baseline",
        description="Level enforced (and warned and audited) in every tenant namespace: baseline or restricted.",
    )
    version: str = Field(
        default="latest",
        pattern=r"^(latest|v1\.[0-9]+)$",
        description="Version of the standards the level refers to: `latest` or the API server's, e.g. `v1.30`.",
    )
    tenants: dict[NonEmptyStr, PodSecurityLevel] = Field(
        default_factory=dict, description="Tenant name → level, for tenants that need another than `level`."
    )

    def level_of(self, tenant: str | None) -> PodSecurityLevel:
        return self.tenants.get(tenant or "", self.level)


class AccessPolicySpec(SpecModel):
    require_signed_commits: bool = Field(
        default=False,
        description="Only count commits whose signature verifies against keys kept in the repo.",
    )
    allowed_signers_file: str = Field(
        default="policies/allowed_signers",
        description="SSH allowed_signers file (repo-relative) used when signatures are required.",
    )
    groups: dict[NonEmptyStr, list[NonEmptyStr]] = Field(
        default_factory=dict, description="Group name → member identities (emails)."
    )
    roles: list[Role] = Field(min_length=1, description="Roles and their rules.")
    bindings: list[Binding] = Field(default_factory=list, description="Who holds which role.")
    approvals: list[ApprovalRule] = Field(
        default_factory=list, description="Approval rules for model promotions; every matching rule applies."
    )
    people: dict[NonEmptyStr, list[NonEmptyStr]] = Field(
        default_factory=dict,
        description="Person → all of their identities (emails, signer principals): one person never approves "
        "a change made under any of their identities.",
    )
    pod_security: PodSecurity = Field(
        default_factory=PodSecurity,
        description="Pod Security Standards of tenant namespaces; tenants' own labels cannot override them.",
    )
    freeze_windows: list[FreezeWindow] = Field(
        default_factory=list,
        description="Change freezes: while one is open, matching alias moves (and kinds) are held, read from the "
        "trusted base only.",
    )
    quarantine: list[Quarantine] = Field(
        default_factory=list,
        description="Model versions never promoted: a promotion, or a `fromAlias`, resolving to one is an error. "
        "A version tagged `mlcp.dev/quarantined` in the registry is refused too.",
    )


@register
class AccessPolicy(Spec):
    """The rules deciding who may change which specs; default deny."""

    kind: Literal["AccessPolicy"] = "AccessPolicy"
    workload = False
    spec: AccessPolicySpec
    tenant_scoped = False
    folder = "policies/access.yaml"
