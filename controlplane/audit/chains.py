"""Several chains read as one trail: with shards, each shard's replica keeps a chain of its own beside the main one.

A sharded controller writes one hash chain per shard (reconciler.auditstore)
so that writers never interleave; an auditor still asks one question of all of
them ("what happened to tenant X last week"). So readers merge the chains by
record time, each chain's own order kept (intents and outcomes are paired
within their chain, where their seqs mean something), and every record is
labelled with its chain.

Seqs repeat across chains, so a record is named by a `RecordId`: `42` is record
42 of the main chain (what a bare seq always meant), `shard-3:42` record 42 of
shard 3's chain.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from controlplane.audit.records import AuditError, AuditRecord

MAIN = ""
"""The main chain's name: the platform lane's and every `mlcp apply`'s (reconciler.auditstore)."""
MAIN_LABEL = "main"
"""How output names the main chain."""
_NAME = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_ID = re.compile(rf"(?:(?P<chain>{_NAME}):)?(?P<seq>[1-9][0-9]{{0,18}})")


def label(chain: str) -> str:
    return chain or MAIN_LABEL


def is_chain_name(name: str) -> bool:
    """Whether `name` can name a chain beside the main one (`shard-3`): a DNS label, never `main`. Names found
    in the cluster or in a file become parts of ConfigMap names (reconciler.auditstore), so nothing else passes."""
    return name != MAIN_LABEL and re.fullmatch(_NAME, name) is not None


@dataclass(frozen=True, slots=True, order=True)
class RecordId:
    """A record's name across chains: its chain ("" for the main one) and its seq there."""

    chain: str
    seq: int

    def __str__(self) -> str:
        return f"{self.chain}:{self.seq}" if self.chain else str(self.seq)

    @classmethod
    def parse(cls, text: str) -> RecordId:
        """`SEQ` (the main chain's) or `CHAIN:SEQ` (`main:42` is `42`)."""
        match = _ID.fullmatch(text.strip())
        if match is None:
            raise AuditError(
                f"{text!r} is not a record id",
                "give a seq of the main chain (42) or CHAIN:SEQ (shard-3:42), as `mlcp audit list` shows them",
            )
        chain = match.group("chain") or MAIN
        return cls(MAIN if chain == MAIN_LABEL else chain, int(match.group("seq")))


@dataclass(frozen=True, slots=True)
class ChainRecord:
    """A record and the chain it was read from."""

    chain: str
    record: AuditRecord

    @property
    def id(self) -> RecordId:
        return RecordId(self.chain, self.record.seq)

    def to_dict(self) -> dict[str, Any]:
        """The stored record's fields, with `id` and `chain` first."""
        return {"id": str(self.id), "chain": label(self.chain), **self.record.to_dict()}


def merged(chains: Mapping[str, Iterable[AuditRecord]]) -> Iterator[ChainRecord]:
    """The records of every chain, oldest first by time; each chain's own order kept, and on equal times the
    chains in the order given (the main chain first when it is given first)."""
    streams = [_labelled(name, records) for name, records in chains.items()]
    return heapq.merge(*streams, key=lambda labelled: labelled.record.time)


def _labelled(chain: str, records: Iterable[AuditRecord]) -> Iterator[ChainRecord]:
    """Each record with its chain (a function of its own: a generator in the loop would see the last name)."""
    return (ChainRecord(chain, record) for record in records)


def pick(names: Iterable[str], wanted: str | None) -> list[str]:
    """The chains to read: all of `names`, or the one `wanted` names (`main` or a shard's)."""
    available = list(names)
    if wanted is None:
        return available
    chain = MAIN if wanted == MAIN_LABEL else wanted
    if chain not in available:
        raise AuditError(f"no audit chain {wanted!r}", "the chains here are: " + ", ".join(label(n) for n in available))
    return [chain]
