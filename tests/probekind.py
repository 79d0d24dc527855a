"""A spec kind declared here, in the tests, and nowhere in mlcp: the proof that a kind is one module.

`declared()` registers the `Probe` kind exactly as a kind module of mlcp does
(`register`, `renders` with the resource it produces) and takes it away again,
so no other test sees it. A Probe renders an Argo `WorkflowEventBinding` (a
CRD the test environment installs from Argo's module, so no CRD is written
for the test) in its tenant's namespace: a tenant workload kind, written as the
tenant's deployer, whose ClusterRole must grant it from the declaration alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, cast

from pydantic import Field

from controlplane.loading.sources import LoadedSpec
from controlplane.plans import DesiredObject
from controlplane.rendering import catalog, registry
from controlplane.rendering.catalog import Resource
from controlplane.rendering.context import RenderContext, desired, metadata
from controlplane.specs import base
from controlplane.specs.base import Spec
from controlplane.specs.model import NonEmptyStr, SpecModel

KIND = "Probe"
BINDING = Resource(80, "argoproj.io", "v1alpha1", "WorkflowEventBinding", "workfloweventbindings", True)


class ProbeSpec(SpecModel):
    selector: NonEmptyStr = Field(description="Event selector of the binding.")


class Probe(Spec):
    """A kind only the tests know."""

    kind: Literal["Probe"] = "Probe"
    spec: ProbeSpec
    folder = "tenants/<tenant>/probes/<name>.yaml"


def render_probe(loaded: LoadedSpec, ctx: RenderContext) -> list[DesiredObject]:
    probe = cast(Probe, loaded.spec)
    meta = metadata(loaded, ctx, probe.metadata.name, ctx.namespace(loaded.tenant))
    binding = {
        "apiVersion": BINDING.api_version,
        "kind": BINDING.kind,
        "metadata": meta,
        "spec": {"event": {"selector": probe.spec.selector}},
    }
    return [desired(loaded, binding)]


@contextmanager
def declared() -> Iterator[type[Probe]]:
    """The Probe kind, registered as any kind module registers itself, for the duration of the block."""
    base.register(Probe)
    registry.renders(KIND, BINDING)(render_probe)
    try:
        yield Probe
    finally:
        base.KINDS.pop(KIND, None)
        registry.RENDERERS.pop(KIND, None)
        catalog.withdraw(KIND)


PROBE_YAML = """\
apiVersion: mlcp.dev/v1alpha1
kind: Probe
metadata:
  name: deploys
spec:
  selector: payload.message == "deploy"
"""
