"""An Experiment writes its runs' artifacts only under its tenant's artifact roots, as the trusted base sets them.

A run logs wherever its experiment's `artifactLocation` says, with the credentials of whoever runs it: left free,
tenant nlp's experiment could name `s3://ml-artifacts/vision/` and write among (or over) vision's models, which
vision's InferenceService then loads. Which prefix is whose is the platform's rule (`artifacts.roots` in
`mlcp.yaml`), so it is read from the trusted base (`Owners.established`), never from the revision under review;
without a base (`mlcp validate` without `--trusted-base`) the revision's own mlcp.yaml stands in, and plan, apply
and the loop judge again by the base. The same roots decide what a promotion may serve (reconciler/serving.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from controlplane.errors import Diagnostic
from controlplane.loading.repo import ConfigRepo
from controlplane.registry_names import Owners
from controlplane.specs import Experiment
from controlplane.specs.artifact_roots import tenant_roots, under


def templates(repo: ConfigRepo, owners: Owners | None) -> tuple[str, ...]:
    """The platform's root templates: the trusted base's when known, else the repo's own mlcp.yaml."""
    if owners is not None and owners.established is not None:
        return owners.established.roots
    return tuple(repo.config.artifacts.roots)


def experiments_home(repo: ConfigRepo, owners: Owners | None = None) -> Iterable[Diagnostic]:
    """Every Experiment's `artifactLocation` lies under one of its tenant's roots."""
    shapes = templates(repo, owners)
    for loaded in repo.of_kind("Experiment"):
        location = cast(Experiment, loaded.spec).spec.tracking.artifact_location
        if location is None or loaded.tenant is None:
            continue
        roots = tenant_roots(shapes, loaded.tenant)
        if under(location, roots):
            continue
        where = loaded.at("spec", "tracking", "artifactLocation")
        yield Diagnostic(
            where.path,
            where.line,
            where.column,
            f"artifactLocation {location!r} is outside tenant {loaded.tenant!r}'s artifact roots "
            f"({', '.join(roots)}): its runs would write where another tenant's files are, and a model served from "
            "there would load them",
            f"put it under {roots[0]} (or leave it out: the tracking server's default); the roots are the platform's "
            "`artifacts.roots` in mlcp.yaml, read from the trusted base",
            "reference",
        )


CHECKS = (experiments_home,)
"""The checks this module adds to `controlplane.validation`; each takes the `Owners` (the trusted base) second."""
