"""A record that would not fit the log keeps its place, with its largest parts left out and saying so.

A log takes lines up to a size (a segment of the cluster log 768 KiB, a file
log's line 16 MiB), and a record that does not fit stops the turn before its
first write: nothing is applied, for every tenant, until the record shrinks.
Its size is a committer's to choose: a create's diff holds the whole desired
object (a 1 MiB spec of non-ASCII text is 3 to 6 MiB of escaped JSON), and a
refusal's reason quotes the repo (`mlcp.yaml` expecting a context of any
length). So one tenant member's allowed change, or any committer's refused
one, stopped every pass of the loop.

What a reader needs keeps its place: who, what, the decision, the result, the
`before`/`after` digests (which still bind the exact content). The diff is left
out first (the spec file at the record's commit holds it); then the reason and
the error are cut. The record says so in the place of what it lost.
"""

from __future__ import annotations

from dataclasses import replace

from controlplane.audit.records import AuditRecord

OMITTED = "(diff omitted)"
"""The `field` of the one diff entry a record keeps in place of a diff too large for the log."""
TEXT_KEPT = 16 * 1024
"""Characters of `reason` and `error` a record keeps when even without its diff it does not fit."""


def without_diff(record: AuditRecord, size: int, limit: int) -> AuditRecord:
    """`record` with its diff replaced by a note of what was left out and where it is."""
    note = (
        f"{size} bytes of record, more than the log takes in one record ({limit}): the diff is left out; the spec "
        f"file at commit {record.commit or '?'} holds it, and `after` is the digest of what was written"
    )
    return replace(record, diff=({"field": OMITTED, "old": None, "new": note},))


def cut_text(record: AuditRecord) -> AuditRecord:
    """`record` with its reason and error cut to `TEXT_KEPT` characters, saying how many were cut."""
    return replace(record, reason=_cut(record.reason) or "", error=_cut(record.error))


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= TEXT_KEPT:
        return text
    return f"{text[:TEXT_KEPT]}… ({len(text) - TEXT_KEPT} characters more, cut to fit the log)"
