"""The renderer registry: spec kind → functions producing desired objects.

Each kind's module registers itself with `renders`, naming the Kubernetes
resources it produces (see `catalog`), so adding a kind never edits a central
switch or list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering import catalog
from controlplane.rendering.context import RenderContext

Renderer = Callable[[LoadedSpec, RenderContext], list[DesiredObject]]

RENDERERS: dict[str, list[Renderer]] = {}


def renders(
    kind: str, *produces: catalog.Resource, grants: tuple[catalog.Grant, ...] = (), people: tuple[str, ...] = ()
) -> Callable[[Renderer], Renderer]:
    """Register a function rendering specs of `kind` into objects of the `produces` resources.

    Several functions may render the same kind; objects of other systems (MLflow) declare no resource.
    `grants` are the permissions of Roles it renders, which their writer must hold (`catalog.Grant`).
    `people` are the kinds of its objects that name the tenant's owners or members (`catalog.NAMES_PEOPLE`):
    their changes are judged with the tenant's membership (tests/controlplane/rendering/test_tenant_derived.py
    finds an object that names them undeclared).
    """
    catalog.declare(kind, produces, grants, people)

    def add(func: Renderer) -> Renderer:
        RENDERERS.setdefault(kind, []).append(func)
        return func

    return add


def render(ctx: RenderContext) -> list[DesiredObject]:
    """Every desired object of the repo, in apply order (rank, then identity).

    The key spells out `ObjectRef`'s order (its fields, in order) so the comparisons stay in C: the dataclass's
    generated `__lt__` was 0.3 M Python calls at 10,000 tenants.
    """
    return sorted(
        render_specs(ctx.repo.specs, ctx),
        key=lambda o: (o.rank, o.ref.system, o.ref.api_version, o.ref.kind, o.ref.namespace, o.ref.name),
    )


def render_specs(specs: Iterable[LoadedSpec], ctx: RenderContext) -> list[DesiredObject]:
    """The objects of some of the repo's specs (in `ctx`), unsorted: to re-render only what changed."""
    return [obj for loaded in specs for func in RENDERERS.get(loaded.spec.kind, []) for obj in func(loaded, ctx)]
