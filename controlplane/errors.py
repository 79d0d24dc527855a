"""Diagnostics: the one shape every user-facing problem takes.

Bad input must never surface as a traceback. Every layer (loading, schema,
cross-references, later planning) reports problems as `Diagnostic` values that
carry the file, line and column, what is wrong and how to fix it, so the CLI can
print them all at once, as text or JSON, and exit 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a config repo, pointing at where it is."""

    path: str
    line: int
    column: int
    message: str
    hint: str = ""
    code: str = "invalid"

    def render(self) -> str:
        """`file:line:col: message (hint)`, the format editors and CI annotate."""
        where = f"{self.path}:{self.line}:{self.column}"
        text = f"{where}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MlcpError(Exception):
    """A domain error the CLI turns into a clear message and a non-zero exit."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class Refused(MlcpError):
    """A security rule refused the whole revision (e.g. the repo names other targets than the operator's).

    Unlike a plain error, a refusal is a decision: `mlcp apply` and the reconcile loop record it in the
    audit log, under `rule`, against `source` (the file that asked for it).
    """

    def __init__(self, message: str, hint: str, rule: str, source: str | None = None) -> None:
        super().__init__(message, hint)
        self.rule = rule
        self.source = source


class InvalidConfig(MlcpError):
    """The config repo holds errors; `diagnostics` lists every one found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        shown = "; ".join(d.render().replace("\n", " ") for d in diagnostics[:3])
        more = f" (and {len(diagnostics) - 3} more)" if len(diagnostics) > 3 else ""
        super().__init__(f"{len(diagnostics)} error(s) in the config repo: {shown}{more}")
        self.diagnostics = diagnostics
