"""Structured logs for the controller: one JSON object per line, each naming the revision and tenant.

Log pipelines (Loki, Cloud Logging) index fields, not prose, and "what did
the controller do to tenant X at commit Y" must be one query. The revision and
tenant come from context variables set around each pass and each tenant's
work, so no call site has to remember them; every line carries both keys
(null when they do not apply) so queries never miss a line for lacking a field.
No line leaves with a credential in it: each goes through `redaction.redact`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from reconciler.redaction import redact

LOGGER = "mlcp.reconcile"
revision_var: ContextVar[str | None] = ContextVar("revision", default=None)
tenant_var: ContextVar[str | None] = ContextVar("tenant", default=None)
shard_var: ContextVar[str | None] = ContextVar("shard", default=None)
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
            "revision": getattr(record, "revision", None) or revision_var.get(),
            "tenant": getattr(record, "tenant", None) or tenant_var.get(),
        }
        if shard_var.get() is not None:  # with --shards: the lane the line belongs to
            entry["shard"] = shard_var.get()
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, separators=(",", ":")))


def setup(stream: TextIO = sys.stderr, level: int = logging.INFO) -> logging.Logger:
    """Send the controller's logs to `stream` as JSON lines (idempotent)."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level)
    logger.propagate = False
    if not any(getattr(h, "_mlcp", False) for h in logger.handlers):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        handler._mlcp = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    return logger


def get() -> logging.Logger:
    return logging.getLogger(LOGGER)


@contextmanager
def context(*, revision: str | None = None, tenant: str | None = None, shard: str | None = None) -> Iterator[None]:
    """Lines logged inside carry `revision` / `tenant` / `shard` (when given)."""
    tokens = []
    if shard is not None:
        tokens.append((shard_var, shard_var.set(shard)))
    if revision is not None:
        tokens.append((revision_var, revision_var.set(revision)))
    if tenant is not None:
        tokens.append((tenant_var, tenant_var.set(tenant)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
