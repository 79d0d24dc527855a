"""Cross-reference checks: what no single document's schema can see.

The schema proves each spec is well formed; these checks prove the repo is
coherent (every spec's tenant exists, pipelines pass Argo's own rules and their runs fit Argo's size,
names are unique, policies only bind defined roles, and the Pod Security
labels mlcp keeps for itself are left to it). Every problem is reported, each pointing at the field to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

from controlplane import artifact_homes, pipeline_rules, pipeline_size, registry_names, training_step_rules
from controlplane.errors import Diagnostic
from controlplane.labels import POD_SECURITY_PREFIX
from controlplane.loading.repo import ConfigRepo
from controlplane.loading.sources import LoadedSpec
from controlplane.rendering import RenderContext, pipeline_training
from controlplane.rendering import experiment as tuners
from controlplane.specs import AccessPolicy, Experiment, Pipeline, Spec, Tenant
from controlplane.specs.base import TenantSpecs
from controlplane.specs.experiment import DEFAULT_TUNER
from controlplane.specs.pipeline_training import TrainingStep
from controlplane.specs.training_job import EXPERIMENT_ENV

RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease", "mlcp-system"})

Check = Callable[[ConfigRepo], Iterable[Diagnostic]]


def _diag(loaded: LoadedSpec, path: tuple[str | int, ...], message: str, hint: str, code: str) -> Diagnostic:
    where = loaded.at(*path)
    return Diagnostic(where.path, where.line, where.column, message, hint, code)


def tenants_exist(repo: ConfigRepo) -> Iterable[Diagnostic]:
    """Every tenant-scoped spec lives in a folder that has a Tenant."""
    known = {s.tenant for s in repo.of_kind("Tenant")} | {k.tenant for k in repo.refused if k.kind == "Tenant"}
    broken = {d.path for d in repo.diagnostics}
    for loaded in repo.specs:
        if loaded.spec.kind != "Tenant" and loaded.tenant is not None and loaded.tenant not in known:
            message, hint = _missing_tenant_hint(loaded.tenant, broken)
            yield _diag(loaded, (), message, hint, "unknown-tenant")


_NAMED_AT_MOST = 3


def _missing_tenant_hint(tenant: str, broken: set[str]) -> tuple[str, str]:
    """What to say when a tenant's folder loaded no Tenant: its tenant.yaml has errors of its own (point at them,
    never at a file to add), or files of the folder have errors and the Tenant may be in one of them (a Tenant
    may be kept in any file of its folder), or nothing is broken and the Tenant is missing."""
    tenant_file = f"tenants/{tenant}/tenant.yaml"
    if tenant_file in broken:
        return f"tenant {tenant!r} has no valid Tenant spec", f"fix the errors reported in {tenant_file}"
    others = sorted(path for path in broken if path.startswith(f"tenants/{tenant}/"))
    if others:
        named = ", ".join(others[:_NAMED_AT_MOST]) + (" …" if len(others) > _NAMED_AT_MOST else "")
        return (
            f"tenant {tenant!r} has no valid Tenant spec",
            f"fix the errors reported in {named} if the Tenant is there, or add {tenant_file} with `kind: Tenant`",
        )
    return f"tenant {tenant!r} has no Tenant spec", f"add {tenant_file} with `kind: Tenant`"


def namespaces_not_reserved(repo: ConfigRepo) -> Iterable[Diagnostic]:
    """No tenant takes a system namespace.

    Two tenants declaring one namespace is not an offline error: which of them owns it is in mlcp's
    inventory, so the plan refuses the newcomer (rule `namespace-ownership`) and the owner keeps converging.
    """
    for loaded in repo.of_kind("Tenant"):
        tenant = cast(Tenant, loaded.spec)
        namespace = tenant.namespace
        path = ("spec", "namespace") if tenant.spec.namespace else ("metadata", "name")
        if namespace in RESERVED_NAMESPACES:
            yield _diag(
                loaded,
                path,
                f"namespace {namespace!r} is reserved",
                "choose another namespace",
                "namespace",
            )


def pipelines_coherent(repo: ConfigRepo) -> Iterable[Diagnostic]:
    """Every pipeline passes Argo's own rules (controlplane.pipeline_rules)."""
    for loaded in repo.of_kind("Pipeline"):
        yield from pipeline_rules.check(loaded)


def training_manifests_exact(repo: ConfigRepo) -> Iterable[Diagnostic]:
    """No `{{` reaches a training step's TrainJob manifest from any spec: Argo substitutes run parameters into it
    as text, so a parameter could add fields to the TrainJob (a ServiceAccount, a Secret volume). The step's own
    fields are checked where they are written (controlplane.training_step_rules); this renders each manifest
    and checks what else it holds: the Experiment's MLflow name (another spec), the pipeline file's path."""
    ctx = RenderContext(repo)
    for loaded in repo.of_kind("Pipeline"):
        for i, step in enumerate(cast(Pipeline, loaded.spec).spec.steps):
            if not isinstance(step, TrainingStep):
                continue
            try:
                manifest = pipeline_training.trainjob(loaded, ctx, step)
            except (KeyError, StopIteration):
                continue  # its tenant or experiment is missing: reported by the checks that look for them
            where = next(training_step_rules.templated(manifest, ()), None)
            if where is None or any(training_step_rules.templated(step.training_job.model_dump(), ())):
                continue  # none, or in the step's own fields (reported there)
            at: tuple[str | int, ...] = ("spec", "steps", i, "name")
            if "{{" in loaded.source.path:
                source, hint = "the pipeline file's path (annotation mlcp.dev/source)", "rename the file"
            else:
                at = ("spec", "steps", i, "trainingJob", "experiment")
                experiment = step.training_job.experiment
                source = f"the MLflow name of Experiment {experiment!r} ({EXPERIMENT_ENV})"
                hint = f"remove `{{{{` from the tracking name of Experiment {experiment!r}"
            field = ".".join(str(part) for part in where)
            yield _diag(
                loaded,
                at,
                f"training step {step.name!r}: its TrainJob's `{field}` would hold `{{{{` from {source}, and Argo "
                "writes run parameters into the manifest as text",
                hint,
                "reference",
            )


def mlcp_names_kept(repo: ConfigRepo) -> Iterable[Diagnostic]:
    """No tenant sets the Pod Security labels mlcp sets from the policy."""
    for loaded in repo.of_kind("Tenant"):
        tenant = cast(Tenant, loaded.spec)
        for where, labels in (
            (("metadata", "labels"), tenant.metadata.labels),
            (("spec", "labels"), tenant.spec.labels),
        ):
            for key in labels:
                if key.startswith(POD_SECURITY_PREFIX):
                    yield _diag(
                        loaded,
                        (*where, key),
                        f"label {key!r} is mlcp's: the namespace's Pod Security level comes from the AccessPolicy",
                        "remove it; platform admins set spec.podSecurity in policies/access.yaml",
                        "pod-security",
                    )


def trial_pipelines_exist(repo: ConfigRepo) -> Iterable[Diagnostic]:
    """A tuning experiment's trial pipeline is in the same tenant and takes its parameters."""
    pipelines = {(s.tenant, s.spec.name): cast(Pipeline, s.spec) for s in repo.of_kind("Pipeline")}
    for loaded in repo.of_kind("Experiment"):
        tuning = cast(Experiment, loaded.spec).spec.tuning
        if tuning is None:
            continue
        trial = pipelines.get((loaded.tenant, tuning.trial_pipeline))
        if trial is None and ("Pipeline", loaded.tenant, tuning.trial_pipeline) in repo.refused:
            continue  # the pipeline exists but is invalid, which is reported already
        if trial is None:
            yield _diag(
                loaded,
                ("spec", "tuning", "trialPipeline"),
                f"trial pipeline {tuning.trial_pipeline!r} does not exist in tenant {loaded.tenant!r}",
                f"add tenants/{loaded.tenant}/pipelines/{tuning.trial_pipeline}.yaml or fix the name",
                "reference",
            )
            continue
        declared = {p.name for p in trial.spec.parameters}
        for i, param in enumerate(tuning.parameters):
            if param.name not in declared:
                yield _diag(
                    loaded,
                    ("spec", "tuning", "parameters", i, "name"),
                    f"pipeline {trial.name!r} has no parameter {param.name!r} for trials to set",
                    "declare it under the pipeline's spec.parameters",
                    "reference",
                )


def tuners_registered(repo: ConfigRepo) -> Iterable[Diagnostic]:
    """A tuning names a tuner that some module registered (rendering/experiment.py)."""
    for loaded in repo.of_kind("Experiment"):
        tuning = cast(Experiment, loaded.spec).spec.tuning
        if tuning is not None and tuning.tuner not in tuners.TUNERS:
            yield _diag(
                loaded,
                ("spec", "tuning", "tuner"),
                f"no tuner {tuning.tuner!r}: mlcp renders tuning with {', '.join(sorted(tuners.TUNERS))}",
                f"use one of those, or leave `tuner` out for the default ({DEFAULT_TUNER})",
                "reference",
            )


def policy_coherent(repo: ConfigRepo) -> Iterable[Diagnostic]:
    """At most one AccessPolicy; bindings and approval rules name defined roles and groups; a role's rule names
    its tenants exactly (a pattern there grants nothing, while approval rules and freeze windows take patterns)."""
    policies = repo.of_kind("AccessPolicy")
    for extra in policies[1:]:
        yield _diag(
            extra,
            ("metadata", "name"),
            f"a second AccessPolicy (first at {policies[0].source})",
            "keep one AccessPolicy per repo",
            "policy",
        )
    for loaded in policies:
        policy = cast(AccessPolicy, loaded.spec)
        roles = [r.name for r in policy.spec.roles]
        for i, name in enumerate(roles):
            if name in roles[:i]:
                yield _diag(
                    loaded,
                    ("spec", "roles", i, "name"),
                    f"duplicate role {name!r}",
                    "rename it",
                    "policy",
                )
        for i, binding in enumerate(policy.spec.bindings):
            if binding.role not in roles:
                yield _diag(
                    loaded,
                    ("spec", "bindings", i, "role"),
                    f"binding names undefined role {binding.role!r}",
                    f"defined roles: {', '.join(roles)}",
                    "policy",
                )
            for j, group in enumerate(binding.groups):
                if group not in policy.spec.groups:
                    yield _diag(
                        loaded,
                        ("spec", "bindings", i, "groups", j),
                        f"binding names undefined group {group!r}",
                        "define it under spec.groups",
                        "policy",
                    )
        for i, role in enumerate(policy.spec.roles):
            for j, grant in enumerate(role.rules):
                for k, tenant in enumerate(grant.tenants):
                    if tenant not in ("*", "@own") and any(c in tenant for c in "*?["):
                        yield _diag(
                            loaded,
                            ("spec", "roles", i, "rules", j, "tenants", k),
                            f"a role's rule names tenants exactly, never by pattern: {tenant!r} would grant nothing",
                            "list each tenant, or use `*` (all tenants) or `@own` (the actor's own tenants)",
                            "policy",
                        )
        for i, rule in enumerate(policy.spec.approvals):
            for j, group in enumerate(rule.approvers.groups):
                if group not in policy.spec.groups:
                    yield _diag(
                        loaded,
                        ("spec", "approvals", i, "approvers", "groups", j),
                        f"approval rule names undefined group {group!r}",
                        "define it under spec.groups",
                        "policy",
                    )


def kinds_check_themselves(repo: ConfigRepo) -> Iterable[Diagnostic]:
    """Each spec's own `name_findings` and `cross_checks` against the specs of its tenant (a kind's references and
    name rules live with the kind)."""
    by_tenant: dict[str | None, dict[str, list[Spec]]] = {}
    for loaded in repo.specs:
        by_tenant.setdefault(loaded.tenant, {}).setdefault(loaded.spec.kind, []).append(loaded.spec)
    refused: dict[str | None, set[tuple[str, str]]] = {}
    for key in repo.refused:
        refused.setdefault(key.tenant, set()).add((key.kind, key.name))
    views: dict[str | None, TenantSpecs] = {}
    for loaded in repo.specs:
        if loaded.tenant not in views:
            views[loaded.tenant] = TenantSpecs(
                loaded.tenant, by_tenant[loaded.tenant], frozenset(refused.get(loaded.tenant, ()))
            )
        for finding in (*loaded.spec.name_findings(), *loaded.spec.cross_checks(views[loaded.tenant])):
            yield _diag(loaded, finding.path, finding.message, finding.hint, finding.code)


OWN_CHECKS: tuple[Check, ...] = (
    tenants_exist,
    namespaces_not_reserved,
    pipelines_coherent,
    pipeline_size.check,
    training_manifests_exact,
    mlcp_names_kept,
    trial_pipelines_exist,
    tuners_registered,
    policy_coherent,
    kinds_check_themselves,
)
"""The checks that read one tenant's specs at a time (or only the specs outside tenants/: the policies)."""
BASE_CHECKS = (*registry_names.CHECKS, *artifact_homes.CHECKS)
"""The checks that the trusted base decides (whose registry names, whose artifact roots): each takes `Owners`."""
CHECKS: tuple[Check, ...] = (*OWN_CHECKS, *BASE_CHECKS)


def own_problems(repo: ConfigRepo) -> list[Diagnostic]:
    """The problems of `repo` that no trusted base changes: loading's and `OWN_CHECKS`' (not whose registry
    names are whose), so a command can stop at them before it knows the base."""
    found = list(repo.diagnostics)
    for check in OWN_CHECKS:
        found.extend(check(repo))
    return found


def validate(repo: ConfigRepo, base: registry_names.Established | None = None) -> list[Diagnostic]:
    """Every loading, schema and cross-reference problem of `repo`, sorted by place.

    `base`: the tenants of the trusted base, which keep the registry names they own there (None: no base is
    known, as for `mlcp validate` without `--trusted-base`; the repo's own tenant folders decide)."""
    found = own_problems(repo)
    owners = registry_names.Owners(registry_names.tenant_names(repo), base)
    for named in (*BASE_CHECKS, registry_names.tenants_take_nothing):
        found.extend(named(repo, owners))
    return sorted(found, key=sort_key)


def validate_part(part: ConfigRepo, owners: registry_names.Owners) -> list[Diagnostic]:
    """`validate`'s findings in one part of a repo: the specs of one tenant folder, or those outside tenants/.

    `owners` are every tenant the whole repo knows of (`registry_names.tenant_names`), with the trusted base's
    tenants when one is known. No check reads two
    tenants' specs: a tenant-scoped spec lives in its tenant's folder (loading refuses it elsewhere) and every
    check looks only within a tenant (its Tenant spec, its pipelines, its own registry names; two claims of one
    registry name are always the owner's), or only at the cluster-wide specs (the AccessPolicy). So the
    findings of a repo's parts, together with `registry_names.names_taken` of the Tenants the base does not know
    (which reads the promotions of the base's tenants their names extend), are `validate`'s of the whole repo (a
    test compares them), and a part's findings stay true while the part and `owners` are unchanged, whatever the
    other parts hold.
    """
    found = list(part.diagnostics)
    for check in OWN_CHECKS:
        found.extend(check(part))
    for named in BASE_CHECKS:
        found.extend(named(part, owners))
    return sorted(found, key=sort_key)


def sort_key(found: Diagnostic) -> tuple[str, int, int, str]:
    """The order `validate` reports problems in: by place, then message."""
    return (found.path, found.line, found.column, found.message)
