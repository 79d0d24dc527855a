"""Fixtures for the audit tests: records that look like real apply outcomes, and logs built from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controlplane.audit import GENESIS, AuditRecord, JsonlStore, Result, Verdict
from controlplane.audit.chain import HASH_MARKER, leaf_hash, link_hash
from controlplane.plans import Action, Change, Decision, FieldDiff, ObjectRef

TENANTS = ("nlp", "vision", "ranking")
ACTORS = ("alice@example.com", "bob@example.com", "carol@example.com")


def make_record(i: int, *, result: Result = Result.applied, decision: Verdict = Verdict.allow) -> AuditRecord:
    tenant = TENANTS[i % len(TENANTS)]
    kind = ("WorkflowTemplate", "ResourceQuota")[i % 2]
    return AuditRecord(
        time=f"2024-06-{1 + i % 28:02d}T10:00:{i % 60:02d}.000000Z",
        actors=(ACTORS[i % len(ACTORS)],),
        commit=f"{i:040x}",
        spec_path=f"tenants/{tenant}/pipelines/p{i}.yaml",
        spec=f"Pipeline/{tenant}/p{i}",
        tenant=tenant,
        target={"system": "kubernetes", "apiVersion": "v1", "kind": kind, "namespace": tenant, "name": f"p{i}"},
        action="update",
        decision=decision,
        rule="no-policy-yet",
        result=result,
        before="sha256:" + "a" * 64,
        after="sha256:" + "b" * 64,
        diff=({"field": "spec.image", "old": f"img:{i}", "new": f"img:{i + 1}"},),
    )


GATES = [{"metric": "auc", "comparison": ">=", "threshold": 0.9, "measured": 0.93, "passed": True}]


def alias_change(
    version: str, previous: str | None, alias: str = "production", model: str = "vision-detector"
) -> Change:
    """A resolved move of a model alias, as the registry's review plans it, allowed with one approval."""
    desired: dict[str, Any] = {
        "model": model,
        "alias": alias,
        "version": version,
        "previousVersion": previous,
        "gates": GATES,
    }
    return Change(
        ref=ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, f"{model}@{alias}"),
        action=Action.update if previous else Action.create,
        reason="moves",
        spec=f"ModelPromotion/vision/{model}-{alias}",
        tenant="vision",
        source=f"tenants/vision/promotions/{model}-{alias}.yaml",
        rank=65,
        desired=desired,
        diffs=(FieldDiff(("version",), previous, version),),
        decision=Decision(True, "team.rules[0]", "ok; 1 approval", ("alice@example.com",), ("bob@example.com",)),
    )


def sealed_line(**fields: str) -> bytes:
    """Line 1 of a chain: a record's fields (as JSON text; `fields` replaces or adds some) sealed as `chain.seal`
    seals them. Anyone can compute the hashes, so whoever can write the log can write any such line."""
    members = {k: json.dumps(v) for k, v in make_record(0).content().items()} | fields
    body = (
        b'{"seq":1,"prev":"%s",' % GENESIS.encode()
        + b",".join(b'"%s":%s' % (k.encode(), v.encode()) for k, v in sorted(members.items()))
        + b"}"
    )
    return body[:-1] + HASH_MARKER + link_hash(GENESIS, leaf_hash(body)).encode() + b'"}\n'


def write_log(path: Path, count: int) -> JsonlStore:
    store = JsonlStore(path)
    store.append_many([make_record(i) for i in range(count)])
    return store


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """A log of 12 records across three tenants and actors."""
    path = tmp_path / "audit.jsonl"
    write_log(path, 12)
    return path
