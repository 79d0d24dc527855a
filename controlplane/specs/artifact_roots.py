"""Whose files a location names: each tenant's artifact roots, and a location compared with them.

Every tenant's experiments write, and every tenant's InferenceServices load, through storage that several tenants
may share (one bucket, one tracking server's store). Which prefix is whose is the platform's decision, never a
tenant's: it comes from the trusted base's `mlcp.yaml` (`artifacts.roots`, templates naming `{tenant}`), never
from the revision under review. A location is compared only in its normal form (scheme and bucket in lower case,
percent-encoding decoded, empty segments dropped, one trailing slash), so `s3://b/a` is not under `s3://b/ab`,
`S3://B/a/./` is `s3://b/a/`, and a form that could mean two things (a `.` or `..` segment, a NUL, a query or a
fragment) is under nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote

TENANT = "{tenant}"
"""The placeholder of a root template, replaced by the tenant's name."""

DEFAULT_ROOTS = ("mlflow-artifacts:/{tenant}/",)
"""Without `artifacts.roots` in the trusted base's mlcp.yaml: the tenant's folder of the tracking server's store."""

ROOT_SCHEMES = ("s3", "gs", "wasbs", "abfss", "mlflow-artifacts")
"""The schemes an artifact root may use (an Experiment's `artifactLocation` may use no others)."""


def normal(location: str) -> str | None:
    """`location` as `scheme://host/seg/.../` (one trailing slash); None when it has no single meaning.

    `mlflow-artifacts:/a` (no host, the tracking server's own store) is `mlflow-artifacts:///a/`.
    """
    scheme, sep, rest = location.partition(":")
    if not sep or not scheme or "?" in rest or "#" in rest:
        return None
    decoded = rest
    while (once := unquote(decoded)) != decoded:  # each round is shorter: it ends
        decoded = once
    if "\x00" in decoded or "\\" in decoded:
        return None
    if decoded.startswith("//"):
        host, _, path = decoded[2:].partition("/")
    elif decoded.startswith("/"):
        host, path = "", decoded
    else:
        return None
    segments = [s for s in path.split("/") if s]
    if any(s in (".", "..") for s in segments):
        return None
    tail = "/".join(segments)
    return f"{scheme.lower()}://{host.lower()}/{tail}/" if tail else f"{scheme.lower()}://{host.lower()}/"


def under(location: str, roots: Iterable[str]) -> bool:
    """Whether `location` is one of `roots` or lies below one, both in normal form (a root with no single meaning,
    or with no path at all, holds nothing: a whole bucket is no tenant's)."""
    found = normal(location)
    if found is None:
        return False
    for root in roots:
        home = normal(root)
        if home is not None and home.partition("://")[2].partition("/")[2] and found.startswith(home):
            return True
    return False


def tenant_roots(templates: Iterable[str], tenant: str) -> tuple[str, ...]:
    """The roots of `tenant` from the platform's templates."""
    return tuple(t.replace(TENANT, tenant) for t in templates)


def template_problem(template: str) -> str | None:
    """Why `template` cannot be a tenant's root (None: it can): it must name `{tenant}` as a whole path segment,
    so that no two tenants' roots nest, and use a scheme an experiment may write to."""
    scheme = template.partition(":")[0].lower()
    if scheme not in ROOT_SCHEMES:
        return f"scheme {scheme!r} is not one of {', '.join(ROOT_SCHEMES)}"
    if template.startswith("mlflow-artifacts://"):
        return "mlflow-artifacts: takes no host (MLflow's client would send the tracking credentials to it)"
    filled = normal(template.replace(TENANT, "t"))
    if template.count(TENANT) != 1 or filled is None:
        return f"it must name {TENANT} exactly once, in a path with no '.', '..', query or fragment"
    segments = template.partition(":")[2].split("/")
    if TENANT not in segments:
        return (
            f"{TENANT} must be a whole path segment (e.g. s3://bucket/{TENANT}/), or one tenant's root holds another's"
        )
    return None
