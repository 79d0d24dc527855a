"""`mlcp policy can|validate`: ask the AccessPolicy questions, as `argocd admin settings rbac` does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer

from controlplane.cli.console import Format, OutputOption, err, fail, markup_safe, out, print_diagnostics, print_json
from controlplane.cli.options import use_limits
from controlplane.errors import MlcpError
from controlplane.loading.repo import ConfigRepo, load_repo
from controlplane.policy.authorizer import Authorizer
from controlplane.specs import AccessPolicy, Tenant
from controlplane.validation import validate

app = typer.Typer(help="Query and check the AccessPolicy.", no_args_is_help=True)

RepoOption = Annotated[Path, typer.Option("--repo", help="Config repo root.")]


@app.command("can")
def can(
    email: Annotated[str, typer.Argument(help="Git identity (email).")],
    action: Annotated[str, typer.Argument(help="create, update, delete or approve.")],
    kind: Annotated[str, typer.Argument(help="Spec kind, e.g. Pipeline.")],
    tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant the spec belongs to.")] = None,
    repo: RepoOption = Path(),
    trusted_base: Annotated[
        str | None,
        typer.Option(
            "--trusted-base",
            envvar="MLCP_TRUSTED_BASE",
            help="Ask the policy of this revision (read from git, as plans are judged) instead of the work tree's.",
        ),
    ] = None,
    output: OutputOption = Format.text,
) -> None:
    """Answer yes or no, naming the deciding rule. Exit 0 for yes, 1 for no.

    Without --trusted-base the answer is about the work tree's policy: a draft until it is applied, since every
    plan is judged by the trusted base's rules (docs/security.md)."""
    use_limits(None)  # the operator's MLCP_MAX_*: a bad one is an error here, not a traceback mid-load
    if trusted_base is not None:
        config = _base_config(repo, trusted_base)
    else:
        config = load_repo(repo)
        problems = validate(config)
        if problems:
            print_diagnostics(problems)
            raise fail("the config repo is invalid; fix it before asking the policy")
    policies = config.of_kind("AccessPolicy")
    policy = cast(AccessPolicy, policies[0].spec) if policies else None
    tenants = {s.tenant: cast(Tenant, s.spec) for s in config.of_kind("Tenant") if s.tenant}
    decision = Authorizer(policy, tenants).can(email.lower(), action, kind, tenant)
    if output is Format.json:
        print_json(decision.to_dict())
    else:
        verdict = "yes" if decision.allowed else "no"
        out.print(f"{verdict} ({markup_safe(decision.rule)}): {markup_safe(decision.reason)}")
    if not decision.allowed:
        raise typer.Exit(1)


def _base_config(repo: Path, revision: str) -> ConfigRepo:
    """The governance files of `revision`, read from git's object store like a plan's trusted base."""
    from reconciler import trust  # noqa: PLC0415 - git and the base loader, only for this option

    try:
        base = trust.load(repo, revision, "operator")
    except MlcpError as exc:
        raise fail(str(exc), exc.hint) from None
    if base.problems:
        print_diagnostics(base.problems)
        raise fail(f"the policy at {base.revision[:12]} has errors; fix them in a new revision")
    return base.repo


@app.command("validate")
def validate_policy(repo: RepoOption = Path()) -> None:
    """Check the repo's AccessPolicy: schema, defined roles and groups. Exit 0 valid, 1 invalid."""
    use_limits(None)  # the operator's MLCP_MAX_*: a bad one is an error here, not a traceback mid-load
    config = load_repo(repo)
    problems = [d for d in validate(config) if d.path.startswith("policies/")]
    if problems:
        print_diagnostics(problems)
        raise typer.Exit(1)
    if not config.of_kind("AccessPolicy"):
        raise fail("no AccessPolicy found", "add policies/access.yaml (`mlcp init` makes one)")
    err.print("[green]✓[/green] the AccessPolicy is valid")
