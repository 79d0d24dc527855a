"""The hash chain: how a record becomes one line whose hash commits to every line before it.

Construction (RFC 6962-style domain separation: leaves and chain links can never
be confused for each other):

    body_n = {"seq":n,"prev":"<hash_{n-1}>",<content, keys sorted, no spaces, ASCII>}
    leaf_n = SHA-256(0x00 || body_n)
    hash_n = SHA-256(0x01 || raw(hash_{n-1}) || leaf_n)        hash_0 = 64 zeros (GENESIS)
    line_n = body_n without its closing "}" + ,"hash":"<hash_n hex>"} + "\\n"

So every line is one flat JSON object (`jq .seq` works) whose last member is its
hash, always 76 bytes from the end of the line. A verifier cuts those bytes off,
puts back the "}", and hashes exactly the stored bytes: it never re-serializes,
so it is fast and cannot disagree with the writer about JSON formatting. `seq`
and `prev` lead the body at a fixed place, so checking them is a prefix compare.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import NamedTuple

import orjson

from controlplane.audit import fitting
from controlplane.audit.records import AuditError, AuditRecord, canonical_json, read_content

GENESIS = "0" * 64
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_MARKER = b',"hash":"'
SUFFIX_LEN = len(HASH_MARKER) + 64 + len(b'"}\n')
LINE_START = re.compile(rb'\{"seq":([0-9]{1,19}),"prev":"([0-9a-f]{64})",')
MAX_LINE_BYTES = 16 * 1024 * 1024
"""The longest line a reader takes, and a writer writes: far beyond any record (a spec file is at most 1 MiB, an
object the API server keeps about 1.5 MiB), so a line longer than it is none of mlcp's, and reading one costs
bounded memory."""
_HEAD = re.compile(r"([0-9]{1,19}):([0-9a-f]{64})")
"""A seq has at most 19 ASCII digits, in a line as in an anchor: never a number Python refuses to read (more than
4,300 digits) nor a digit of another script (`"²".isdigit()` is true)."""


class Head(NamedTuple):
    """A position in the chain: record `seq` and its hash; the anchor format is `seq:hash`."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        found = _HEAD.fullmatch(text.strip())
        if found is None or int(found.group(1)) < 1:
            shown = text if len(text) <= 100 else f"{text[:100]}… ({len(text)} characters)"
            raise AuditError(f"{shown!r} is not an anchor", "write it as SEQ:HASH, as printed by `mlcp audit verify`")
        return cls(int(found.group(1)), found.group(2))


def body_bytes(record: AuditRecord, seq: int, prev: str) -> bytes:
    """The canonical bytes the leaf hash covers: seq and prev first, then the sorted content."""
    content = canonical_json(record.content())
    return b'{"seq":%d,"prev":"%s",' % (seq, prev.encode("ascii")) + content[1:]


def leaf_hash(body: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + body).digest()


def link_hash(prev: str, leaf: bytes) -> str:
    """hash_n from hash_{n-1} (hex) and leaf_n."""
    return hashlib.sha256(NODE_PREFIX + bytes.fromhex(prev) + leaf).hexdigest()


def seal(record: AuditRecord, seq: int, prev: str) -> tuple[AuditRecord, bytes]:
    """The record with its place in the chain, and the exact line to append for it."""
    body = body_bytes(record, seq, prev)
    hash_ = link_hash(prev, leaf_hash(body))
    line = body[:-1] + HASH_MARKER + hash_.encode("ascii") + b'"}\n'
    return record.with_chain(seq, prev, hash_), line


def seal_within(record: AuditRecord, seq: int, prev: str, limit: int) -> tuple[AuditRecord, bytes]:
    """`seal`, for a log that takes lines of at most `limit` bytes: a longer record keeps its place with its diff
    left out, then its reason and error cut (`fitting`), saying so; AuditError only if even that is too long."""
    done, line = seal(record, seq, prev)
    if len(line) <= limit:
        return done, line
    size = len(line)
    for shrunk in (
        fitting.without_diff(record, size, limit),
        fitting.cut_text(fitting.without_diff(record, size, limit)),
    ):
        done, line = seal(shrunk, seq, prev)
        if len(line) <= limit:
            return done, line
    raise AuditError(
        f"a record of {size} bytes does not fit the log ({limit} bytes a record), even without its diff; its spec is "
        f"{record.spec}",
        "keep that spec's names and its authors' names shorter",
    )


def split_line(line: bytes) -> tuple[bytes, bytes] | None:
    """(body, hash hex) of a stored line ending in a newline, or None if it is not laid out as one."""
    if len(line) <= SUFFIX_LEN or not line.endswith(b'"}\n') or line[-SUFFIX_LEN:-67] != HASH_MARKER:
        return None
    return line[:-SUFFIX_LEN] + b"}", line[-67:-3]


def read(line: bytes) -> AuditRecord:
    """The record a stored line seals, only if the line is exactly what `seal` writes for it; ValueError (or
    TypeError, KeyError) otherwise.

    `verify` hashes the stored bytes, never parsing them, and anyone can compute the hashes: so a line that
    verifies can still hold a key twice (`"actors":["mallory"],…,"actors":["alice"]`: mlcp read the last, other
    tools may read the first), NaN or Infinity (which JSON has no spelling for: a JSON printer wrote `null`), or
    any spacing and order. Every reader takes a record only in the one form mlcp writes it, so what it shows is
    what the hash covers, as any JSON tool reads it."""
    if len(line) > MAX_LINE_BYTES:
        raise ValueError(f"the line is longer than any record mlcp writes ({MAX_LINE_BYTES} bytes)")
    parts = split_line(line)
    try:  # orjson reads in half the time; `json` decides whatever it did not take (it reads 2**70 as a float)
        record = AuditRecord.from_dict(orjson.loads(line))
        if parts is not None and _form(record) == parts[0] and parts[1] == record.hash.encode("ascii", "replace"):
            return record
    except (orjson.JSONDecodeError, ValueError, KeyError, TypeError):
        pass
    record = AuditRecord.from_dict(json.loads(line, parse_constant=_no_constant))
    if parts is None or _form(record) != parts[0] or parts[1] != record.hash.encode("ascii", "replace"):
        raise ValueError("the line is not in the form mlcp writes (a key twice, spacing, order or escapes differ)")
    return record


REASON_CHARS = 300
"""How much of why a line was refused is quoted (`refused_because`)."""


def refused_because(exc: BaseException) -> str:
    """Why `read` refused a line, bounded: the reason can quote a value of the line (`'…' is not a valid Verdict`),
    which whoever wrote the line chose, up to `MAX_LINE_BYTES`: quoted whole, one forged line made every message
    about it (verify's problem, a reader's error, the JSON of either) megabytes long."""
    text = f"{type(exc).__name__}: {exc}"
    if len(text) <= REASON_CHARS:
        return text
    return f"{text[:REASON_CHARS]}… ({len(text) - REASON_CHARS} more characters)"


def _form(record: AuditRecord) -> bytes:
    """The body `seal` writes for a record a reader parsed."""
    return b'{"seq":%d,"prev":"%s",' % (record.seq, record.prev.encode("ascii", "replace")) + read_content(record)[1:]


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is no JSON value (mlcp never writes one)")
