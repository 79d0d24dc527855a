"""What a document is and where it may live: its header names a known kind, and its folder the tenant it belongs to.

A spec's place is part of its authority: the folder `tenants/<t>/` is what makes a spec tenant t's (a spec naming
another tenant is refused, not moved), a cluster-wide kind lives only under `policies/`, and a Tenant only in its
own folder's tenant.yaml, the one file the trusted base reads for a tenant's people. Each check returns the
problem at the document's line rather than raising, so the loader reports every refused document of a file.
"""

from __future__ import annotations

import difflib
from typing import Any

from controlplane.errors import Diagnostic
from controlplane.loading.sources import SpecKey
from controlplane.loading.yamldocs import Document
from controlplane.specs import API_VERSION, KINDS

LFS_POINTER = "version https://git-lfs.github.com/spec/"
"""How a Git LFS pointer file starts: what git holds for a file tracked by LFS (YAML reads it as one string)."""
TENANT_FILE = "tenant.yaml"
"""The file of a tenant's folder that holds its Tenant, and nothing else names its people."""


def check_header(doc: Document, rel: str) -> tuple[str, Diagnostic | None]:
    data = doc.data
    if isinstance(data, str) and data.startswith(LFS_POINTER):
        return "", Diagnostic(
            rel,
            doc.line,
            doc.column,
            "the file is a Git LFS pointer, not a spec: mlcp reads it as committed and never fetches LFS objects",
            "commit the spec itself: `git lfs untrack` its pattern, then `git add --renormalize` the file",
            "document",
        )
    if not isinstance(data, dict):
        return "", Diagnostic(
            rel,
            doc.line,
            doc.column,
            "a spec must be a mapping with apiVersion, kind, metadata and spec",
            code="document",
        )
    api, kind = data.get("apiVersion"), data.get("kind")
    if api != API_VERSION:
        line, col = doc.position(("apiVersion",))
        return "", Diagnostic(
            rel,
            line,
            col,
            f"unknown apiVersion {api!r}",
            f"use `apiVersion: {API_VERSION}`",
            "apiVersion",
        )
    if not isinstance(kind, str) or kind not in KINDS:
        line, col = doc.position(("kind",))
        close = difflib.get_close_matches(str(kind), list(KINDS), n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"known kinds: {', '.join(sorted(KINDS))}"
        return "", Diagnostic(rel, line, col, f"unknown kind {kind!r}", hint, "kind")
    return kind, None


def place(kind: str, doc: Document, rel: str, folder: str | None) -> tuple[str | None, Diagnostic | None]:
    """The tenant a spec belongs to, or the reason it may not live where it is."""
    cls = KINDS[kind]
    meta = doc.data.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    if not cls.tenant_scoped:
        if folder is not None or not rel.startswith("policies/"):
            return None, Diagnostic(
                rel,
                doc.line,
                doc.column,
                f"{kind} is cluster-wide and must live under policies/",
                f"move it to {cls.folder}",
                "layout",
            )
        return None, None
    if folder is None:
        return None, Diagnostic(
            rel,
            doc.line,
            doc.column,
            f"{kind} must live under tenants/<tenant>/",
            f"move it to {cls.folder}",
            "layout",
        )
    if kind == "Tenant":
        return _place_tenant(doc, rel, folder, meta)
    declared = meta.get("tenant")
    if declared is not None and declared != folder:
        path = ("metadata", "tenant") if "tenant" in meta else ("metadata", "name")
        line, col = doc.position(path)
        return None, Diagnostic(
            rel,
            line,
            col,
            f"spec names tenant {declared!r} but lives in tenants/{folder}/",
            f"a spec belongs to the tenant of its folder; move it or set `{path[-1]}: {folder}`",
            "tenant-mismatch",
        )
    return folder, None


def _place_tenant(doc: Document, rel: str, folder: str, meta: dict[str, Any]) -> tuple[str | None, Diagnostic | None]:
    """A Tenant lives in its own folder's tenant.yaml and is named for it: the one file the trusted base reads
    for a tenant's people (reconciler.trust), so no other file can name a tenant's owners, or give a second
    Tenant of another name the folder's workloads."""
    expected = f"tenants/{folder}/{TENANT_FILE}"
    if rel != expected:
        return None, Diagnostic(
            rel,
            doc.line,
            doc.column,
            f"a Tenant must live in {expected}, the one file that names tenant {folder!r}'s people",
            f"move it to {expected} (one Tenant per folder)",
            "layout",
        )
    for key in ("name", "tenant"):
        declared = meta.get(key)
        if (declared is not None or key == "name") and declared != folder:
            line, col = doc.position(("metadata", key)) if key in meta else (doc.line, doc.column)
            return None, Diagnostic(
                rel,
                line,
                col,
                f"spec names tenant {declared!r} but lives in tenants/{folder}/",
                f"a Tenant is named for its folder: set `{key}: {folder}`, or move it to tenants/{declared}/",
                "tenant-mismatch",
            )
    return folder, None


def intended_key(kind: str, doc: Document, folder: str | None) -> SpecKey:
    """The identity a refused document was meant to have, as far as it can be told."""
    meta = doc.data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if kind == "Tenant" and folder is not None:
        name = folder
    return SpecKey(kind, folder if KINDS[kind].tenant_scoped else None, name if isinstance(name, str) else "")
