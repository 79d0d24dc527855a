"""How much of a config repo mlcp will read: limits per file, per tenant folder and per repo.

Any committer can write files that mlcp parses, and one controller serves
every tenant. A few kilobytes of YAML can expand (through aliases) to millions
of nodes, and thousands of small files or documents add up just as well; left
unbounded, one tenant's folder could run every pass out of memory, for
everybody. So every load is charged against a budget, while it reads: bytes and
files before a file is read, YAML nodes (aliases counted as the nodes they
expand to) and documents while it is parsed, never after. Nesting depth is
bounded per document.

What a budget exceeded means depends on its scope:

* a **file** over its limits is refused, like any other bad file;
* a **tenant folder** over its limits (`tenants/<t>/`) is that tenant's error:
  the loader stops reading the folder and reports the file where it ran out,
  so the reconcile loop sets that tenant aside and converges everyone else;
* the **repo** over its limits stops the whole load with a repo-wide error,
  since reading on could leave other tenants half-read, and a half-read
  tenant must never be pruned.

Limits are the operator's to set (`--limit NAME=N` or `MLCP_MAX_<NAME>`),
never the repo's: a repo that could raise its own budget would not have one.
The defaults let a 10,000-tenant repo through with room to spare (see
docs/security.md, "Limits", for the measurements) while an alias bomb stops
within a few hundred thousand nodes. The active limits are process-wide
settings, like logging's: they are fixed once at the CLI's edge (`configure`)
and every load in the process (the loop's, the trusted base's, plan's) uses
them, without every caller having to pass them along.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum

from controlplane.errors import Diagnostic

MIB = 1024 * 1024
REPO_WIDE = "."
"""The path of problems that concern the whole repo (a budget it ran out of), never one tenant's."""


class Scope(StrEnum):
    file = "file"
    tenant = "tenant"
    repo = "repo"


@dataclass(frozen=True)
class Limits:
    """The most a load may read; each field is settable as `--limit <name>=N` (underscores as dashes)."""

    depth: int = 64
    file_bytes: int = MIB
    file_documents: int = 1_000
    file_nodes: int = 100_000
    tenant_files: int = 1_000
    tenant_bytes: int = 4 * MIB
    tenant_documents: int = 2_000
    tenant_nodes: int = 200_000
    repo_files: int = 1_000_000
    repo_bytes: int = 1024 * MIB
    repo_documents: int = 1_000_000
    repo_nodes: int = 200_000_000

    def of(self, scope: Scope, measure: str) -> int:
        value = getattr(self, f"{scope.value}_{measure}", None)
        return int(value) if value is not None else 0


NAMES = tuple(f.name.replace("_", "-") for f in fields(Limits))
ENV_PREFIX = "MLCP_MAX_"


class LimitError(ValueError):
    """An operator's limit setting that cannot be used (unknown name, not a positive integer)."""


def env_name(name: str) -> str:
    """`tenant-nodes` → `MLCP_MAX_TENANT_NODES`."""
    return ENV_PREFIX + name.replace("-", "_").upper()


def _number(text: str, where: str) -> int:
    value = text.strip().replace("_", "")
    if not value.isascii() or not value.isdigit() or len(value) > 18 or int(value) <= 0:  # `²` and `١` are digits
        raise LimitError(f"{where}: {text[:40]!r} is not a positive whole number (of at most 18 digits)")
    return int(value)


def from_settings(flags: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> Limits:
    """Limits from `MLCP_MAX_*` variables, then `NAME=N` flags (a flag wins); LimitError on a bad setting."""
    env = os.environ if environ is None else environ
    changes: dict[str, int] = {}
    for name in NAMES:
        text = env.get(env_name(name))
        if text:
            changes[name.replace("-", "_")] = _number(text, f"${env_name(name)}")
    known = {key for key in env if key.startswith(ENV_PREFIX)} - {env_name(n) for n in NAMES}
    if known:
        raise LimitError(f"unknown limit variable ${sorted(known)[0]}; known: {', '.join(map(env_name, NAMES))}")
    for flag in flags:
        name, sep, text = flag.partition("=")
        name = name.strip().lower()
        if not sep or name not in NAMES:
            raise LimitError(f"--limit {flag!r}: expected NAME=N with NAME one of {', '.join(NAMES)}")
        changes[name.replace("-", "_")] = _number(text, f"--limit {name}")
    return replace(Limits(), **changes)


_active: Limits | None = None


def configure(limits: Limits) -> None:
    """Make `limits` the ones every load in this process uses (the CLI calls this with the operator's)."""
    global _active  # noqa: PLW0603 - a process-wide setting, fixed once at the edge
    _active = limits


def active() -> Limits:
    """The configured limits; without `configure`, the ones the environment sets (defaults otherwise)."""
    global _active  # noqa: PLW0603 - see configure
    if _active is None:
        _active = from_settings()
    return _active


@dataclass
class Usage:
    """What a load read: the measures every scope is charged in."""

    files: int = 0
    bytes: int = 0
    documents: int = 0
    nodes: int = 0

    def add(self, other: Usage) -> None:
        self.files += other.files
        self.bytes += other.bytes
        self.documents += other.documents
        self.nodes += other.nodes

    def remove(self, other: Usage) -> None:
        """Take back what `add` counted for `other` (a part read again: its old usage leaves the total)."""
        self.files -= other.files
        self.bytes -= other.bytes
        self.documents -= other.documents
        self.nodes -= other.nodes


@dataclass(frozen=True)
class Exceeded:
    """The scope that ran out first and how to say so."""

    scope: Scope
    measure: str
    limit: int

    def message(self, tenant: str | None) -> str:
        what = {"files": "spec files", "bytes": "bytes", "documents": "YAML documents", "nodes": "YAML nodes"}
        owner = {Scope.file: "this file", Scope.tenant: f"tenants/{tenant}/", Scope.repo: "the repo"}[self.scope]
        expanded = " once aliases are expanded" if self.measure == "nodes" else ""
        return f"{owner} holds more than {self.limit} {what[self.measure]}{expanded} (limit {self.name})"

    @property
    def name(self) -> str:
        return "depth" if self.measure == "depth" else f"{self.scope.value}-{self.measure}"

    def diagnostic(self, rel: str, at: tuple[int, int], tenant: str | None, size: int = 0) -> Diagnostic:
        """The problem to report for file `rel` (repo-relative), where reading ran out at `at` (line, column)."""
        if self.scope is Scope.file and self.measure == "bytes":
            limit = f"{self.limit // MIB} MiB" if self.limit % MIB == 0 else f"{self.limit} bytes"
            message = f"{rel} is {size} bytes; spec files may be at most {limit} (limit file-bytes)"
            return Diagnostic(rel, 1, 1, message, self.hint(), "budget")
        if self.scope is Scope.repo:
            where = f"{self.message(tenant)}; reading stopped at {rel}:{at[0]}:{at[1]}"
            return Diagnostic(REPO_WIDE, 1, 1, where, self.hint(), "budget")
        return Diagnostic(rel, at[0], at[1], self.message(tenant), self.hint(), "budget")

    def hint(self) -> str:
        if self.measure == "nodes":
            advice = "write values out instead of repeating large anchors with aliases, or split the specs"
        elif self.scope is Scope.file:
            advice = "split it into several files"
        else:
            advice = "split the specs or remove what is not needed"
        return f"{advice} (limits are the operator's: --limit {self.name}=N or ${env_name(self.name)})"


_PARSED = ("documents", "nodes")
"""The measures a parse is charged in (`Budget.allowance`)."""


class Budget:
    """One load's running totals, for the repo and the tenant folder being read, against `limits`.

    `repo` may start with what other parts of the repo already hold (the loop
    reads only the tenant folders that changed and keeps the rest).
    """

    def __init__(self, limits: Limits | None = None, repo: Usage | None = None) -> None:
        self.limits = limits or active()
        self._limits = {(scope, m): self.limits.of(scope, m) for scope in Scope for m in ("files", "bytes", *_PARSED)}
        """Each limit by scope and measure, looked up once (twice per file for 10,000 files added up)."""
        self.repo = repo or Usage()
        self.tenant = Usage()
        self.tenant_name: str | None = None
        self.spent: Scope | None = None
        """Set once the repo's budget ran out: nothing more is read."""
        self.spent_tenants: set[str] = set()

    def enter(self, tenant: str | None) -> None:
        """Charge what follows to `tenant` (None: the shared part, which only the repo's limits bound)."""
        if tenant != self.tenant_name:
            self.tenant_name, self.tenant = tenant, Usage()

    def stopped(self) -> bool:
        """Whether the current file must not be read: the repo or the current tenant ran out."""
        return self.spent is Scope.repo or self.tenant_name in self.spent_tenants

    def _scopes(self) -> list[tuple[Scope, Usage]]:
        scopes = [(Scope.repo, self.repo)]
        if self.tenant_name is not None:
            scopes.append((Scope.tenant, self.tenant))
        return scopes

    def check_file(self, size: int) -> Exceeded | None:
        """Whether one more file of `size` bytes fits; charges it when it does."""
        if size > self.limits.file_bytes:
            return Exceeded(Scope.file, "bytes", self.limits.file_bytes)
        for scope, used in self._scopes():
            for measure, amount in (("files", 1), ("bytes", size)):
                limit = self._limits[scope, measure]
                if getattr(used, measure) + amount > limit:
                    return self._spend(Exceeded(scope, measure, limit))
        for _, used in self._scopes():
            used.files += 1
            used.bytes += size
        return None

    def allowance(self, measure: str) -> tuple[int, Exceeded]:
        """How many `measure` (nodes, documents) the next file may hold, and what stops it past that."""
        best = Exceeded(Scope.file, measure, self._limits[Scope.file, measure])
        left = best.limit
        for scope, used in self._scopes():
            limit = self._limits[scope, measure]
            if limit - getattr(used, measure) < left:
                left, best = limit - getattr(used, measure), Exceeded(scope, measure, limit)
        return max(left, 0), best

    def charge(self, documents: int, nodes: int) -> None:
        for _, used in self._scopes():
            used.documents += documents
            used.nodes += nodes

    def _spend(self, exceeded: Exceeded) -> Exceeded:
        if exceeded.scope is Scope.repo:
            self.spent = Scope.repo
        elif exceeded.scope is Scope.tenant and self.tenant_name is not None:
            self.spent_tenants.add(self.tenant_name)
        return exceeded

    def overrun(self, exceeded: Exceeded) -> Exceeded:
        """Record that parsing ran out of `exceeded` (a tenant's or the repo's budget stops further reading)."""
        return self._spend(exceeded)
