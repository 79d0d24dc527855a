"""The `mlcp` Typer application: wires commands, turns domain errors into exit codes.

Commands stay thin; everything they do lives in the library so the reconcile
loop runs the same code. Unexpected exceptions are the only tracebacks left,
and those are bugs.

Each command's module is imported only when that command runs (or when help lists them all): `mlcp validate`
need not import the Kubernetes and MLflow clients, the audit trail or GitPython, and importing every command
was ~1 s of a 1,000-tenant `mlcp plan` (docs/performance.md).
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Annotated, Any

import typer
import typer.core
import typer.main

from controlplane import __version__

Command = Any
"""A click command as typer builds it (typer's vendored click is private; its type is not named here)."""


class _Commands(MutableMapping[str, Command]):
    """A group's commands by name, in order; a lazy one is built (its module imported) when first looked up."""

    def __init__(self, loaded: Mapping[str, Command], lazy: Mapping[str, Callable[[], Command]]) -> None:
        self._loaded = dict(loaded)
        self._lazy = dict(lazy)
        self._order = [*loaded, *(name for name in lazy if name not in loaded)]

    def __getitem__(self, name: str) -> Command:
        if name not in self._loaded and name in self._lazy:
            self._loaded[name] = self._lazy[name]()
        return self._loaded[name]

    def __setitem__(self, name: str, command: Command) -> None:
        if name not in self._loaded and name not in self._lazy:
            self._order.append(name)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._loaded and name not in self._lazy:
            raise KeyError(name)
        self._loaded.pop(name, None)
        self._lazy.pop(name, None)
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)


def _command(name: str, module: str, help_text: str | None = None) -> Callable[[], Command]:
    """Builds the command `name` from `controlplane.cli.<module>.command`, importing it then."""

    def build() -> Command:
        found = importlib.import_module(f"controlplane.cli.{module}")
        gc.freeze()  # as main() does for the imports before it
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name, help=help_text)(found.command)
        return typer.main.get_command(single)

    return build


def _group(name: str, module: str) -> Callable[[], Command]:
    """Builds the sub-command group `name` from `controlplane.cli.<module>.app`, importing it then."""

    def build() -> Command:
        found = importlib.import_module(f"controlplane.cli.{module}")
        gc.freeze()
        outer = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        outer.add_typer(found.app, name=name)  # exactly as `app.add_typer` builds it (a group, however small)
        return typer.main.get_command(outer).commands[name]  # type: ignore[attr-defined]

    return build


LAZY: dict[str, Callable[[], Command]] = {
    "validate": _command("validate", "validate"),
    "init": _command("init", "init"),
    "schema": _command("schema", "schema"),
    "plan": _command("plan", "plan"),
    "diff": _command("diff", "plan", "Alias of `mlcp plan`, for kubectl users."),
    "apply": _command("apply", "apply"),
    "approve": _command("approve", "approve"),
    "reconcile": _command("reconcile", "reconcile"),
    "run": _command("run", "run"),
    "shards": _command("shards", "shards"),
    "policy": _group("policy", "policy"),
    "audit": _group("audit", "audit"),
    "promotions": _group("promotions", "promotions"),
}
"""Every command, in the order help lists them, and how to build it."""


class _LazyGroup(typer.core.TyperGroup):
    """mlcp's root group: its commands are `LAZY`'s, each built on first use (lookup, help or a typo's hint)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _Commands(self.commands, LAZY)


app = typer.Typer(
    name="mlcp",
    cls=_LazyGroup,
    help="GitOps control plane for ML platforms: validate, plan and apply specs to Kubernetes and MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlcp {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """mlcp: specs in git, planned on pull requests, reconciled with RBAC and an audit log."""


def main() -> None:
    gc.freeze()  # what the imports built lives until exit: full collections need not walk it again
    app()
