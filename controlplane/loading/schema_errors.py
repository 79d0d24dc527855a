"""Turns pydantic validation errors into diagnostics a person can act on.

Pydantic says *what* failed at a path of aliases; this adds *where* (line and
column from the YAML positions) and a hint (the closest field name for a typo,
the allowed values for an enum).
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterator
from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError

from controlplane.errors import Diagnostic
from controlplane.loading.yamldocs import Document
from controlplane.specs.base import UNION_TAGS

Loc = tuple[str | int, ...]


def _document_loc(loc: Loc) -> Loc:
    """`loc` without the union tags pydantic adds after a list index (`steps, 0, training-step, ...`)."""
    return tuple(p for i, p in enumerate(loc) if not (p in UNION_TAGS and i and isinstance(loc[i - 1], int)))


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """Every BaseModel class reachable through Optional/list/dict/Annotated wrappers."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin is None:
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The YAML field names allowed in the mapping at `loc` (empty if unknown)."""
    current: list[type[BaseModel]] = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for cls in current:
            for name, info in cls.model_fields.items():
                if part in (info.alias, name):
                    nxt.extend(_models_in(info.annotation))
        if not nxt:
            return []
        current = nxt
    return sorted({info.alias or name for cls in current for name, info in cls.model_fields.items()})


def _hint(model: type[BaseModel], error: Any) -> str:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden" and loc and isinstance(loc[-1], str):
        allowed = _fields_at(model, loc[:-1])
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        if close == [loc[-1]]:  # a field of another member of a union (a container step's, on a training step)
            parent = next((p for p in reversed(loc[:-1]) if isinstance(p, str)), "")
            return f"`{loc[-1]}` is not allowed in this kind of `{parent}` item"
        if close:
            return f"did you mean `{close[0]}`?"
        return f"allowed fields here: {', '.join(allowed)}" if allowed else ""
    if kind == "missing":
        return f"add `{loc[-1]}`" if loc else ""
    if kind in ("literal_error", "enum"):
        expected = error.get("ctx", {}).get("expected")
        return f"use one of: {expected}" if expected else ""
    if kind == "string_type" and isinstance(error.get("input"), date):  # datetime is a date too
        return "quote the value to make it a string: YAML reads an unquoted date or time as a timestamp"
    if kind == "string_type" and isinstance(error.get("input"), int | float | bool):
        return "quote the value to make it a string"
    try:
        return _SHAPE_HINTS.get(kind, "").format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):  # a pydantic whose context lacks the bound: the message still says it
        return ""


_SHAPE_HINTS = {
    "list_type": "write a list: one `- item` per line under the key, or `[a, b]`",
    "dict_type": "write a mapping: one `key: value` per line, indented under the key",
    "model_type": "write a mapping: one `key: value` per line, indented under the key",
    "bool_type": "use true or false",
    "bool_parsing": "use true or false",
    "int_type": "write a whole number, such as 3",
    "int_parsing": "write a whole number, such as 3",
    "int_from_float": "write a whole number, such as 3",
    "finite_number": "write a finite number: YAML's .nan and .inf (or 1e999) are not numbers the targets take",
    "string_too_long": "shorten it to at most {max_length} characters",
    "string_too_short": "give at least {min_length} character(s)",
    "too_short": "give at least {min_length} item(s)",
    "too_long": "give at most {max_length} item(s)",
    "greater_than": "use a value above {gt}",
    "greater_than_equal": "use {ge} or more",
    "less_than": "use a value below {lt}",
    "less_than_equal": "use {le} or less",
}
"""How to fix an error of shape (pydantic's type), filled from the error's context; an error of a rule of mlcp's own
says how to fix it in its message."""


def _message(error: Any) -> str:
    loc: Loc = tuple(error["loc"])
    msg = str(error["msg"])
    if error["type"] == "extra_forbidden":
        msg = "unknown field"
    elif msg.startswith("Value error, "):
        msg = msg.removeprefix("Value error, ")
    where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    return f"{where}: {msg}" if where else msg


def diagnostics(exc: ValidationError, model: type[BaseModel], doc: Document, path: str) -> list[Diagnostic]:
    """One diagnostic per pydantic error, positioned at the offending YAML node."""
    found = []
    for error in exc.errors(include_url=False):
        error["loc"] = _document_loc(tuple(error["loc"]))
        loc: Loc = tuple(error["loc"])
        line, column = doc.position(loc)
        found.append(Diagnostic(path, line, column, _message(error), _hint(model, error), code="schema"))
    return found
