"""The audit log: hash-chained, append-only records of every change mlcp attempted, and who made it.

Import from here; the submodules are the implementation (kopf's convention).
"""

from controlplane.audit.anchor import Anchor, AnchorSet
from controlplane.audit.chain import GENESIS, Head
from controlplane.audit.journal import Journal, open_intents
from controlplane.audit.outcomes import records_for
from controlplane.audit.records import (
    DEFAULT_DECISION,
    NO_POLICY_RULE,
    AuditError,
    AuditRecord,
    Result,
    Verdict,
    digest,
)
from controlplane.audit.store import DEFAULT_RELATIVE_PATH, ENV_VAR, AuditStore, JsonlStore, default_path
from controlplane.audit.verify import Verification, verify_file, verify_lines
from controlplane.plans import Decision  # the authorizer's; re-exported for record-makers

__all__ = [
    "DEFAULT_DECISION",
    "DEFAULT_RELATIVE_PATH",
    "ENV_VAR",
    "GENESIS",
    "NO_POLICY_RULE",
    "Anchor",
    "AnchorSet",
    "AuditError",
    "AuditRecord",
    "AuditStore",
    "Decision",
    "Head",
    "Journal",
    "JsonlStore",
    "Result",
    "Verdict",
    "Verification",
    "default_path",
    "digest",
    "open_intents",
    "records_for",
    "verify_file",
    "verify_lines",
]
