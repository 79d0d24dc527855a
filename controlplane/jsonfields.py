"""Fields of a JSON document read with their types checked: the readers of files mlcp writes and others may edit.

A saved plan and an audit log pass through hands; a field of another type than mlcp writes (a list where a name
goes, a number where a namespace goes) must be refused by name, never reach a comparison or a hash as it is and
end in a traceback. One reading for both, so they refuse alike: `ValueError` naming the field and what it holds.
"""

from __future__ import annotations

from typing import Any

TEXT = (str, type(None))
"""A string or null."""
REQUIRED: Any = object()
"""`typed`'s default when the field must be there."""
_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}


def kind_of(value: Any) -> str:
    """What a JSON value is, as an error names it."""
    return _KINDS.get(type(value), "a number")


def typed(data: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = REQUIRED) -> Any:
    """`data[key]` (or `default` when absent, unless required), refused unless of `kind` (a bool is no int)."""
    if default is REQUIRED and key not in data:
        raise ValueError(f"{key} is missing")
    value = data.get(key, default)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (type(value) is bool and bool not in kinds):
        raise ValueError(f"{key} is {kind_of(value)}, not {' or '.join(_KINDS.get(k, 'a number') for k in kinds)}")
    return value
