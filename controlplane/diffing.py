"""Desired-versus-live comparison restricted to the fields mlcp manages.

Live objects carry much that is not ours: server-populated metadata, defaults
filled in by the API server, fields other field managers own. Comparing whole
objects would report all of it as drift. Instead we compare only what the
desired manifest sets, and add the fields mlcp's server-side-apply field set
(`managedFields`, manager `mlcp`) still owns but the desired manifest dropped:
exactly what the next apply would change.

So a live object needs only those two things: its fields, and mlcp's own
applied field set. `compact` drops the rest at read time (every other
manager's `managedFields`, the server's bookkeeping metadata, `status`): at
10,000 tenants the other managers' entries alone were close to half of the
live state's bytes.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from controlplane.labels import FIELD_MANAGER
from controlplane.plans import FieldDiff
from controlplane.specs import resources

IGNORED_TOP_LEVEL = frozenset({"apiVersion", "kind", "status"})
SERVER_METADATA = ("managedFields", "uid", "creationTimestamp", "generation", "resourceVersion", "selfLink")
"""Metadata only the API server writes: an apply cannot set it, so the diff never reads it (`managedFields` is
read, but only mlcp's applied entry, which `compact` keeps)."""
RESOURCE_MAPS = frozenset({"hard", "requests", "limits", "default", "defaultRequest", "max", "min", "capacity"})

ATOMIC_MAPS = frozenset({"podSelector", "namespaceSelector", "labelSelector", "selector"})
"""Maps the API server replaces whole (`x-kubernetes-map-type: atomic`: every LabelSelector, a Service's
selector). A key someone else added there is not kept beside ours by the next apply, and it changes what the
object selects: a member who narrowed the tenant NetworkPolicy's `podSelector: {}` to match no pod opened the
namespace, and the walk of the desired (empty) map found nothing to compare. So the live value must equal the
desired one, empty values aside."""

Path = tuple[str, ...]
_MISSING = object()


def _quantity(value: Any) -> Decimal | None:
    """The value of a Kubernetes quantity (the API server's grammar, shared with validation), or None."""
    try:
        return resources.parse(value)
    except (ValueError, TypeError, ArithmeticError, InvalidOperation):
        return None


def _equal_leaf(path: Path, desired: Any, live: Any) -> bool:
    if desired == live and type(desired) is type(live):
        return True
    if isinstance(desired, int | float) and isinstance(live, int | float) and not isinstance(desired, bool):
        return float(desired) == float(live)
    if len(path) >= 2 and path[-2] in RESOURCE_MAPS and isinstance(desired, str | int) and isinstance(live, str | int):
        left, right = _quantity(desired), _quantity(live)
        return left is not None and left == right
    return False


def _is_empty(value: Any) -> bool:
    return value is None or value in ({}, [])


def _pruned(value: Any) -> Any:
    """`value` without its empty maps, lists and nulls, at any depth (the API server drops them as well)."""
    if isinstance(value, dict):
        kept = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if not _is_empty(v)}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _compare(path: Path, desired: Any, live: Any, out: list[FieldDiff]) -> None:
    if isinstance(desired, dict):
        if desired == live:  # the common case, decided in C; a mismatch walks on to find the fields
            return
        if path and path[-1] in ATOMIC_MAPS:
            if _pruned(desired) != _pruned({} if live is _MISSING else live):
                out.append(FieldDiff(path, None if live is _MISSING else live, desired))
            return
        if live is _MISSING or not isinstance(live, dict):
            if not (_is_empty(desired) and (live is _MISSING or _is_empty(live))):
                out.append(FieldDiff(path, None if live is _MISSING else live, desired))
            return
        for key, value in desired.items():
            _compare((*path, key), value, live.get(key, _MISSING), out)
        return
    if isinstance(desired, list):
        same = desired == live or (
            isinstance(live, list) and len(live) == len(desired) and _list_matches(path, desired, live)
        )
        if not same and not (_is_empty(desired) and (live is _MISSING or _is_empty(live))):
            out.append(FieldDiff(path, None if live is _MISSING else live, desired))
        return
    if live is _MISSING:
        if desired is not None:
            out.append(FieldDiff(path, None, desired))
        return
    if not _equal_leaf(path, desired, live):
        out.append(FieldDiff(path, live, desired))


def _list_matches(path: Path, desired: list[Any], live: list[Any]) -> bool:
    """Lists match when each desired item is contained in the live item at the same place."""
    for index, (want, have) in enumerate(zip(desired, live, strict=True)):
        found: list[FieldDiff] = []
        _compare((*path, str(index)), want, have, found)
        if found:
            return False
    return True


def _applied_field_sets(managed_fields: list[dict[str, Any]] | None, manager: str) -> list[dict[str, Any]]:
    return [
        entry["fieldsV1"]
        for entry in managed_fields or []
        if entry.get("manager") == manager
        and entry.get("operation") == "Apply"
        and isinstance(entry.get("fieldsV1"), dict)
    ]


def _descends(value: Any) -> bool:
    """Whether a field-set node is a map to walk into (not a leaf, not a list's item set)."""
    return bool(value) and isinstance(value, dict) and not any(k[:2] in _ITEM_KEYS for k in value)


def _leaves_under(node: dict[str, Any], prefix: Path, leaves: set[Path]) -> None:
    children = False
    for key, value in node.items():
        if key[:2] != "f:":
            continue
        children = True
        if _descends(value):
            _leaves_under(value, (*prefix, key[2:]), leaves)
        else:
            leaves.add((*prefix, key[2:]))
    if not children and prefix:
        leaves.add(prefix)


def _dropped(node: dict[str, Any], desired: Any, prefix: Path, leaves: set[Path]) -> None:
    """Owned leaves under `node` that `desired` (the desired value at `prefix`) no longer sets.

    Walks the field set and the desired manifest together and stops where they agree, instead of
    listing every owned leaf and looking each one up.
    """
    if isinstance(desired, list):
        return  # lists are compared whole
    for key, value in node.items():
        if key[:2] != "f:":
            continue
        name = key[2:]
        path = (*prefix, name)
        if not isinstance(desired, dict) or name not in desired:
            if _descends(value):
                _leaves_under(value, path, leaves)
            else:
                leaves.add(path)
        elif _descends(value):
            _dropped(value, desired[name], path, leaves)


_ITEM_KEYS = frozenset({"k:", "v:", "i:"})


def _lookup(data: Any, path: Path) -> Any:
    for key in path:
        if isinstance(data, list):
            return data  # inside a list: compared as a whole above
        if not isinstance(data, dict) or key not in data:
            return _MISSING
        data = data[key]
    return data


def owned_field_sets(live: dict[str, Any], manager: str = FIELD_MANAGER) -> list[dict[str, Any]]:
    """The field sets `manager` applied to `live` (from its managedFields): what the diff reads of them."""
    return _applied_field_sets((live.get("metadata") or {}).get("managedFields"), manager)


def compact(live: dict[str, Any], manager: str = FIELD_MANAGER) -> dict[str, Any]:
    """`live` reduced, in place, to what `managed_diff` reads of it, which returns the same diffs for it.

    Kept: every field an apply can set (the diff walks the desired manifest's fields through it) and
    `manager`'s applied field sets, as `managedFields` entries of just manager, operation and fieldsV1.
    Dropped: `status` and the metadata only the server writes (SERVER_METADATA: the version is kept
    beside the object, in `LiveObject.version`), other managers' entries included.
    """
    live.pop("status", None)
    meta = live.get("metadata")
    if isinstance(meta, dict):
        owned = _applied_field_sets(meta.get("managedFields"), manager)
        for key in SERVER_METADATA:
            meta.pop(key, None)
        if owned:
            meta["managedFields"] = [{"manager": manager, "operation": "Apply", "fieldsV1": f} for f in owned]
    return live


def managed_diff(desired: dict[str, Any], live: dict[str, Any]) -> list[FieldDiff]:
    """Differences the next server-side apply of `desired` would make to `live`."""
    out: list[FieldDiff] = []
    for key, value in desired.items():
        if key not in IGNORED_TOP_LEVEL:
            _compare((key,), value, live.get(key, _MISSING), out)
    dropped: set[Path] = set()
    for fields in owned_field_sets(live):
        _dropped(fields, desired, (), dropped)
    for leaf in sorted(dropped):
        if leaf[0] in IGNORED_TOP_LEVEL:
            continue
        old = _lookup(live, leaf)
        if old is not _MISSING and not _is_empty(old):
            out.append(FieldDiff(leaf, old, None))
    return out


def _put(data: Any, path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        data = data[int(part)] if isinstance(data, list) else data.setdefault(part, {})
    last = path[-1]
    if isinstance(data, list):
        data[int(last)] = value
    elif value is None:
        data.pop(last, None)
    else:
        data[last] = value


def live_projection(desired: dict[str, Any], diffs: Sequence[FieldDiff]) -> dict[str, Any]:
    """The managed fields as they are live: the desired manifest with each differing field put back."""
    live = copy.deepcopy(desired)
    for diff in diffs:
        if diff.path:
            _put(live, diff.path, diff.old)
    return live
