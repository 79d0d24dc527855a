"""Tenants own their registry names: checks that keep one tenant's specs off another's MLflow objects.

MLflow has no namespaces: an experiment or a registered model is known by its
name alone, server-wide. Without a rule tying names to tenants, a spec in
tenant `nlp` could name tenant `vision`'s model in a ModelPromotion (and move
vision's production alias) or vision's experiment in an Experiment (and
retag it), and the AccessPolicy would judge it as an nlp change. So every
registry name has exactly one owning tenant, decided from the name alone:

- an MLflow experiment name belongs to the tenant before its first `/`
  (`vision/detector` is vision's; tenant names are DNS labels, so no `/` in them);
- a registered model name belongs to the tenant with the longest name that the
  model name equals or starts with, followed by `-`, `_` or `.` (`vision-detector`
  is vision's; if a tenant `vision-x` exists, `vision-x-model` is vision-x's).
  Not `/`: KServe's and MLflow's `models:/<name>@<alias>` URIs split on it.

A spec may only name what its own tenant owns. The owners are every tenant the
repo knows of, including those whose specs are refused and every folder under
`tenants/`: the reconcile loop sets aside a broken tenant and validates the
rest again, and a name must not change hands because its owner's files are
broken this revision.

A folder is any committer's to add, so where a trusted base is known (`mlcp
plan`, `mlcp apply`, the loop, `mlcp validate --trusted-base`) it decides first: a model name that a tenant of
the base owns by the longest-name rule among the base's tenants stays that
tenant's, however long a newcomer folder's name (a stranger's
`tenants/vision-detector/` took vision's model `vision-detector`, made vision's
promotion invalid and got vision set aside, while its own promotion of the
model passed). The newcomer's claim is the error. Without a base (`mlcp
validate` without `--trusted-base`), the longest name among every folder decides, and the error says
which folder takes the name, for the reviewer to see.

Two specs claiming the same object (one alias of one model, one experiment)
would fight over it on every pass, so every claim after the first (in file
order) is an error naming the first. Only claims that pass the ownership rule
count: a foreign tenant's claim must never make the owner's own spec the
"second" one and get the owner set aside.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import cast

from controlplane.errors import Diagnostic
from controlplane.loading.repo import ConfigRepo
from controlplane.loading.sources import LoadedSpec
from controlplane.specs import Experiment, ModelPromotion
from controlplane.specs.artifact_roots import DEFAULT_ROOTS

MODEL_SEPARATORS = ("-", "_", ".")
"""What may follow the tenant's name in a model name it owns."""
TENANTS_FOLDER = "tenants"
NAME_CODE = "registry-name"
CONFLICT_CODE = "registry-conflict"

MODEL_PATH = ("spec", "model")
ALIAS_PATH = ("spec", "alias")
TRACKING_NAME_PATH = ("spec", "tracking", "name")


def _diag(loaded: LoadedSpec, path: tuple[str | int, ...], message: str, hint: str, code: str) -> Diagnostic:
    where = loaded.at(*path)
    return Diagnostic(where.path, where.line, where.column, message, hint, code)


def _tenant_folders(repo: ConfigRepo) -> set[str]:
    base = repo.root / TENANTS_FOLDER
    if base.is_symlink():
        return set()  # refused by loading; its folders are nobody's
    try:
        with os.scandir(base) as scan:
            return {e.name for e in scan if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)}
    except OSError:
        return set()


def tenant_names(repo: ConfigRepo) -> frozenset[str]:
    """Every tenant that may own names: loaded or refused specs' tenants and the folders under tenants/."""
    names = {s.tenant for s in repo.specs if s.tenant}
    names |= {k.tenant for k in repo.refused if k.tenant}
    return frozenset(names | _tenant_folders(repo))


def _candidates(model: str) -> Iterator[str]:
    """The tenant names that could own `model`, longest first: itself, then each part before a separator."""
    yield model
    for end in range(len(model) - 1, 0, -1):
        if model[end] in MODEL_SEPARATORS:
            yield model[:end]


def model_owner(model: str, tenants: frozenset[str]) -> str | None:
    """The tenant owning registered model `model`: the longest tenant name it equals or starts with plus a separator."""
    return next((t for t in _candidates(model) if t in tenants), None)


def experiment_owner(name: str, tenants: frozenset[str]) -> str | None:
    """The tenant owning MLflow experiment `name`: the part before the first `/`, if it is a tenant."""
    head, slash, _ = name.partition("/")
    return head if slash and head in tenants else None


@dataclass(frozen=True)
class Established:
    """The tenants of the trusted base (its tenant.yaml files), which keep the registry names they own there.

    Two are equal when their tenants are: only those decide whose a name is (the revision is for messages), so a
    base that moves without a tenant coming or going asks the loop to validate nothing again."""

    tenants: frozenset[str]
    revision: str = field(compare=False)
    roots: tuple[str, ...] = DEFAULT_ROOTS
    """The base's `artifacts.roots` of mlcp.yaml (controlplane/artifact_homes.py): a change validates again."""


@dataclass(frozen=True)
class Owners:
    """Who owns registry names: every tenant the revision knows of, and the trusted base's tenants when known."""

    tenants: frozenset[str]
    established: Established | None = None

    def model(self, model: str) -> str | None:
        """`model_owner`, where a tenant of the trusted base owning it among the base's tenants keeps it."""
        if self.established is not None:
            kept = model_owner(model, self.established.tenants)
            if kept is not None:
                return kept
        return model_owner(model, self.tenants)

    def experiment(self, name: str) -> str | None:
        known = self.tenants if self.established is None else self.tenants | self.established.tenants
        return experiment_owner(name, known)

    def newcomer(self, tenant: str) -> bool:
        """Whether `tenant` is not of the trusted base (always False without one)."""
        return self.established is not None and tenant not in self.established.tenants


def _owners(repo: ConfigRepo, owners: Owners | None) -> Owners:
    return Owners(tenant_names(repo)) if owners is None else owners


def _owned_by(owner: str | None) -> str:
    return f"tenant {owner!r}" if owner else "no tenant"


def _experiment_path(loaded: LoadedSpec) -> tuple[str, ...]:
    explicit = cast(Experiment, loaded.spec).spec.tracking.name is not None
    return TRACKING_NAME_PATH if explicit else ("metadata", "name")


def _owned_experiments(repo: ConfigRepo, owners: Owners) -> Iterator[tuple[LoadedSpec, str, str | None]]:
    for loaded in repo.of_kind("Experiment"):
        tenant = loaded.tenant or ""
        name = cast(Experiment, loaded.spec).mlflow_name(tenant)
        yield loaded, name, owners.experiment(name)


def _owned_promotions(repo: ConfigRepo, owners: Owners) -> Iterator[tuple[LoadedSpec, str, str | None]]:
    for loaded in repo.of_kind("ModelPromotion"):
        model = cast(ModelPromotion, loaded.spec).spec.model
        yield loaded, model, owners.model(model)


def claimed_names(repo: ConfigRepo) -> list[str]:
    """The registry names `repo`'s specs claim (MLflow experiments, registered models): the only inputs of these
    checks besides the specs themselves are the tenant names, and only through who owns these names."""
    experiments = [cast(Experiment, s.spec).mlflow_name(s.tenant or "") for s in repo.of_kind("Experiment")]
    return experiments + [cast(ModelPromotion, s.spec).spec.model for s in repo.of_kind("ModelPromotion")]


def experiment_names_owned(repo: ConfigRepo, owners: Owners | None = None) -> Iterable[Diagnostic]:
    """An Experiment's MLflow name starts with `<its tenant>/` (`owners`: default the repo's tenants, no base)."""
    for loaded, name, owner in _owned_experiments(repo, _owners(repo, owners)):
        tenant = loaded.tenant or ""
        if owner == tenant:
            continue
        yield _diag(
            loaded,
            TRACKING_NAME_PATH,
            f"MLflow experiment {name!r} belongs to {_owned_by(owner)}, not to tenant {tenant!r}: "
            "an experiment belongs to the tenant named before the first `/`",
            f"name it {tenant}/<something>, or leave out tracking.name for {tenant}/{loaded.spec.name}",
            NAME_CODE,
        )


def _model_hint(tenant: str, owner: str | None) -> str:
    hint = f"name it {tenant}-<something> (or {tenant}_<something>, {tenant}.<something>)"
    if owner and owner.startswith(tenant):  # a longer tenant name takes precedence
        hint += f", but not starting with {owner}-, {owner}_ or {owner}. (tenant {owner!r} owns those)"
    return hint


def _model_problem(model: str, tenant: str, owner: str | None, owners: Owners) -> tuple[str, str]:
    """The message and hint for tenant `tenant`'s claim of `model`, which `owner` owns."""
    rule = "a model belongs to the tenant with the longest name it equals or starts with, followed by -, _ or ."
    base = owners.established
    if owner is not None and base is not None and owners.newcomer(tenant) and owner in base.tenants:
        return (
            f"registered model {model!r} belongs to tenant {owner!r} of the trusted base {base.revision[:12]}, not "
            f"to tenant {tenant!r}, which the trusted base does not know: a tenant folder not yet applied takes no "
            f"name from a tenant of the trusted base ({rule} among the base's tenants)",
            f"promote a model no tenant of the trusted base owns, or apply tenant {tenant!r} (its tenant.yaml) "
            "alone first, so that the trusted base knows it",
        )
    message = f"registered model {model!r} belongs to {_owned_by(owner)}, not to tenant {tenant!r}: {rule}"
    if owner and owner.startswith(tenant) and base is None:  # no base to say which folder came first
        message += (
            f"; if the folder {TENANTS_FOLDER}/{owner}/ is new, it takes this name from tenant {tenant!r} "
            "(judged by a trusted base, as mlcp plan, apply and validate --trusted-base judge, the base's tenant "
            "keeps it)"
        )
    return message, _model_hint(tenant, owner)


def model_names_owned(repo: ConfigRepo, owners: Owners | None = None) -> Iterable[Diagnostic]:
    """A ModelPromotion names a registered model its own tenant owns (`owners`: default the repo's tenants, no
    base)."""
    owners = _owners(repo, owners)
    for loaded, model, owner in _owned_promotions(repo, owners):
        tenant = loaded.tenant or ""
        if owner == tenant:
            continue
        message, hint = _model_problem(model, tenant, owner, owners)
        yield _diag(loaded, MODEL_PATH, message, hint, NAME_CODE)


def _first_claims(
    claims: Iterable[tuple[LoadedSpec, str, str | None]],
) -> Iterator[tuple[LoadedSpec, LoadedSpec, str]]:
    """(later spec, first spec, claimed name) for each claim after the first, among claims by the owner."""
    mine = [(loaded, name) for loaded, name, owner in claims if owner is not None and owner == loaded.tenant]
    first: dict[str, LoadedSpec] = {}
    for loaded, name in sorted(mine, key=lambda c: (c[0].source.path, c[0].source.line, c[0].source.column)):
        if name in first:
            yield loaded, first[name], name
        else:
            first[name] = loaded


def registry_claims_unique(repo: ConfigRepo, owners: Owners | None = None) -> Iterable[Diagnostic]:
    """One ModelPromotion per (model, alias) and one Experiment per MLflow name; later ones name the first.

    Only a name's owner's claims count, so two claims of one name are always one tenant's: the check needs
    only that tenant's specs (and the owners), which lets the loop validate a repo tenant by tenant.
    """
    tenants = _owners(repo, owners)
    aliases = (
        (loaded, f"{model}@{cast(ModelPromotion, loaded.spec).spec.alias}", owner)
        for loaded, model, owner in _owned_promotions(repo, tenants)
    )
    for loaded, first, alias in _first_claims(aliases):
        yield _diag(
            loaded,
            ALIAS_PATH,
            f"alias {alias} is already promoted by {first.key} at {first.at(*ALIAS_PATH)}",
            "keep one ModelPromotion per model and alias: remove this one or promote another alias",
            CONFLICT_CODE,
        )
    for loaded, first, name in _first_claims(_owned_experiments(repo, tenants)):
        yield _diag(
            loaded,
            _experiment_path(loaded),
            f"MLflow experiment {name!r} is already declared by {first.key} at {first.at(*_experiment_path(first))}",
            "give each Experiment its own MLflow name (tracking.name, or the default <tenant>/<name>)",
            CONFLICT_CODE,
        )


def names_taken(
    tenant: LoadedSpec, owners: Owners, promotions_of: Callable[[str], Iterable[LoadedSpec]]
) -> Iterator[Diagnostic]:
    """The model names a Tenant the trusted base does not know would take, once applied, from a tenant of the
    base that promotes them now (`promotions_of(t)`: tenant t's ModelPromotions).

    Applied, the newcomer is a tenant of the next base, where the longest name owns a model: an admin approving
    `tenants/vision-detector/tenant.yaml`, an innocent-looking Tenant, gave it vision's model `vision-detector`,
    set vision aside and let the newcomer move vision's production alias. So the Tenant is the error while a
    tenant of the base promotes such a model (no other spec decides, and only those few tenants are read: a
    name the newcomer's extends at a separator).
    """
    base, name = owners.established, tenant.tenant
    if base is None or name is None or name in base.tenants:
        return
    after = Owners(owners.tenants, replace(base, tenants=base.tenants | {name}))
    for victim in _candidates(name):
        if victim == name or victim not in base.tenants:
            continue
        for loaded in promotions_of(victim):
            model = cast(ModelPromotion, loaded.spec).spec.model
            if owners.model(model) == victim and after.model(model) == name:
                where = loaded.at(*MODEL_PATH)
                yield _diag(
                    tenant,
                    ("metadata", "name"),
                    f"tenant {name!r} would take registered model {model!r} from tenant {victim!r}, which promotes "
                    f"it at {where}: once the trusted base knows a tenant, a model belongs to the tenant with the "
                    "longest name it equals or starts with, followed by -, _ or .",
                    f"choose a tenant name that no model of tenant {victim!r} starts with, or have {victim!r} stop "
                    "promoting the model first",
                    NAME_CODE,
                )


def tenants_take_nothing(repo: ConfigRepo, owners: Owners | None = None) -> Iterable[Diagnostic]:
    """`names_taken` for every Tenant of `repo` the trusted base does not know (none without a base)."""
    owners = _owners(repo, owners)
    if owners.established is None:
        return
    promotions: dict[str, list[LoadedSpec]] = {}
    for loaded in repo.of_kind("ModelPromotion"):
        promotions.setdefault(loaded.tenant or "", []).append(loaded)
    for tenant in repo.of_kind("Tenant"):
        yield from names_taken(tenant, owners, lambda t: promotions.get(t, ()))


CHECKS = (experiment_names_owned, model_names_owned, registry_claims_unique)
"""The checks this module adds to `controlplane.validation.CHECKS`; each takes the `Owners` as an optional second
argument (`controlplane.validation.validate_part`). `tenants_take_nothing` reads two tenants' specs, so the
callers that validate part by part run it (`names_taken`) on their own."""
