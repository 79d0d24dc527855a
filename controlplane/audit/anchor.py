"""Anchors: the chain head, kept where the log's writer cannot rewrite it together with the log.

A hash chain proves that no record was edited, inserted or reordered, but a
log whose last records were cut off is a shorter valid chain, and someone who
can write the log can rebuild the whole chain. A head (`SEQ:HASH`) kept
elsewhere closes both gaps: the log must still hold record SEQ with that hash.
The leader publishes one in the cluster after every pass that wrote records
(reconciler.anchors); operators copy it somewhere write-once
(`mlcp audit anchor export`). The same fields are the ConfigMap's data and the
exported JSON, so either verifies the log (`mlcp audit verify --anchor …`).

With shards, every chain has an anchor of its own, and a copy that holds only
the main chain's protects nothing else. So an export (`AnchorSet`) holds every
chain's: the main chain's fields at the top, as a reader of one chain expects
them, and each shard chain's under `chains`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controlplane.audit.chain import Head
from controlplane.audit.chains import is_chain_name
from controlplane.audit.records import AuditError


@dataclass(frozen=True)
class Anchor:
    head: Head
    log: str = ""
    """The log it anchors (`file:/abs/path`, `cluster:<namespace>`), as the store names itself."""
    time: str = ""
    writer: str = ""
    """Who published it (the leader's identity, or the CLI apply that held the Lease)."""
    closed: bool = False
    """The turn that ended at `head` left no intent open: while the log still ends there, a new writer has
    nothing to close and need not read the log back (False: unknown, read it)."""

    def to_data(self) -> dict[str, str]:
        data = {"anchor": str(self.head), "log": self.log, "time": self.time, "writer": self.writer}
        return {**data, "closed": "true"} if self.closed else data

    @classmethod
    def from_data(cls, data: dict[str, Any], source: str) -> Anchor:
        text = data.get("anchor")
        if not isinstance(text, str):
            raise AuditError(f"{source}: no `anchor` field (SEQ:HASH)", "export one with `mlcp audit anchor export`")
        try:
            head = Head.parse(text)
        except AuditError as exc:
            raise AuditError(f"{source}: {exc}", exc.hint) from None
        closed = data.get("closed") == "true"
        return cls(head, str(data.get("log") or ""), str(data.get("time") or ""), str(data.get("writer") or ""), closed)

    @classmethod
    def parse(cls, text: str, source: str) -> Anchor:
        """An exported anchor (JSON) or a bare `SEQ:HASH` line: the main chain's (see `AnchorSet`)."""
        return AnchorSet.parse(text, source).main


@dataclass(frozen=True)
class AnchorSet:
    """Every chain's anchor, as `mlcp audit anchor export` writes them (see the module docstring)."""

    main: Anchor
    chains: Mapping[str, Anchor] = field(default_factory=dict)
    """Each shard chain's anchor, by chain name (`shard-3`); empty for an unsharded log or an older export."""

    def to_data(self) -> dict[str, Any]:
        """The main chain's fields (what an older mlcp reads), and `chains` only when there are shard chains."""
        data: dict[str, Any] = dict(self.main.to_data())
        if self.chains:
            data["chains"] = {name: self.chains[name].to_data() for name in sorted(self.chains)}
        return data

    @classmethod
    def parse(cls, text: str, source: str) -> AnchorSet:
        """An export (JSON; one written before shard chains had anchors in it holds only the main chain's) or a
        bare `SEQ:HASH` line (the main chain's)."""
        stripped = text.strip()
        if not stripped.startswith("{"):
            try:
                return cls(Anchor(Head.parse(stripped)))
            except AuditError as exc:
                raise AuditError(f"{source}: {exc}", exc.hint) from None
        try:
            data = json.loads(stripped)
        except (ValueError, RecursionError) as exc:
            raise AuditError(
                f"{source}: not an exported anchor: {exc}", "export one with `mlcp audit anchor export`"
            ) from None
        if not isinstance(data, dict):
            raise AuditError(f"{source}: not an exported anchor (a JSON object)", "`mlcp audit anchor export`")
        chains = data.get("chains") or {}
        if not isinstance(chains, dict) or not all(isinstance(c, dict) for c in chains.values()):
            raise AuditError(f"{source}: `chains` is not an object of anchors", "`mlcp audit anchor export`")
        for name in chains:
            if not is_chain_name(name):
                raise AuditError(f"{source}: {name!r} is not a chain's name", "`mlcp audit anchor export`")
        return cls(
            Anchor.from_data(data, source),
            {str(name): Anchor.from_data(chain, f"{source}, chain {name}") for name, chain in chains.items()},
        )
