"""Safe YAML parsing that remembers where every value came from.

Specs are reviewed by people and fed to a controller with cluster-admin
rights, so parsing is deliberately strict: only the safe (libyaml) loader,
no duplicate keys (YAML silently keeps the last one), and no alias expansion
beyond a fixed budget (a "billion laughs" document is a few hundred bytes).
Every node's position is kept so schema errors can name the file, line and
column of the offending field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import yaml

try:  # libyaml is ~10x faster; the pure-Python loader behaves the same.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - wheels ship libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_EXPANDED_NODES = 100_000
"""Nodes a document may have once aliases are expanded; more is an alias bomb."""

MAX_DEPTH = 64
"""Nesting depth a document may reach; specs need a handful of levels."""

Path = tuple[str | int, ...]


class YamlError(Exception):
    """A document that cannot be accepted, with the 1-based position to blame."""

    def __init__(self, message: str, line: int, column: int, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint


@dataclass(slots=True)
class Document:
    """One YAML document: its data and the position of every key and value in it."""

    data: Any
    line: int
    column: int
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path) -> tuple[int, int]:
        """Position of the deepest known node on `path` (the document start if none)."""
        for end in range(len(path), 0, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return self.line, self.column


def _at(node: yaml.Node) -> tuple[int, int]:
    mark = node.start_mark
    return mark.line + 1, mark.column + 1


_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_SCALARS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "binary", "timestamp"))
"""Scalar tags built into data; every other tag (`!!python/...`, `!!set`, `!custom`) is refused."""


def _unsupported(node: yaml.Node) -> YamlError:
    line, col = _at(node)
    return YamlError(f"unsupported tag {node.tag!r}", line, col, "specs hold plain values, mappings and lists")


class _Builder:
    """Checks one composed node graph, records positions and builds the data, in one pass.

    Building here instead of with PyYAML's constructor halves parsing time (the
    constructor is pure Python even with libyaml) and means an alias is copied
    only after it has been counted against the expansion budget.
    """

    def __init__(self, loader: _Loader, positions: dict[Path, tuple[int, int]]) -> None:
        self.loader = loader
        self.positions = positions
        self.expanded = 0
        self.open: set[int] = set()

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.expanded += 1
        if self.expanded > MAX_EXPANDED_NODES:
            line, col = _at(node)
            raise YamlError(
                f"document expands to more than {MAX_EXPANDED_NODES} nodes (alias expansion bomb?)",
                line,
                col,
                "write the values out instead of repeating large anchors with aliases",
            )
        if len(path) > MAX_DEPTH:
            line, col = _at(node)
            raise YamlError(f"document nests deeper than {MAX_DEPTH} levels", line, col)
        self.positions[path] = _at(node)
        if isinstance(node, yaml.ScalarNode):
            return node.value if node.tag == _STR else self._scalar(node)
        if node.tag not in (_SEQ, _MAP):
            raise _unsupported(node)
        if id(node) in self.open:
            line, col = _at(node)
            raise YamlError("recursive alias: a node contains itself", line, col)
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
            return self._mapping(cast(yaml.MappingNode, node), path)
        finally:
            self.open.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        """Non-string scalars (ints, floats, booleans, nulls, timestamps) as the safe loader makes them."""
        if node.tag not in _SCALARS:
            raise _unsupported(node)
        return self.loader.yaml_constructors[node.tag](self.loader, node)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        data: dict[Any, Any] = {}
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = _at(key_node)
                raise YamlError("mapping keys must be plain scalars", line, col)
            if key_node.tag == "tag:yaml.org,2002:merge":
                line, col = _at(key_node)
                raise YamlError("merge keys (`<<`) are not supported", line, col, "write the keys out")
            key = key_node.value
            if key in seen:
                line, col = _at(key_node)
                raise YamlError(
                    f"duplicate key {key!r} (first at line {seen[key]})",
                    line,
                    col,
                    "YAML keeps only the last value; remove one of them",
                )
            seen[key] = key_node.start_mark.line + 1
            value = self.build(value_node, (*path, key))
            data[key if key_node.tag == _STR else self._scalar(key_node)] = value
        return data


def parse(text: str) -> list[Document]:
    """All documents of a YAML stream; raises YamlError for anything unsafe or invalid."""
    loader = _Loader(text)
    documents: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                break
            line, column = _at(node)
            doc = Document(data=None, line=line, column=column)
            doc.data = _Builder(loader, doc.positions).build(node, ())
            documents.append(doc)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlError(f"invalid YAML: {exc.problem or exc.context}", line, col) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", 1, 1) from None
    except (
        ValueError,
        TypeError,
        OverflowError,
        RecursionError,
    ) as exc:  # constructor on odd scalars
        raise YamlError(f"invalid YAML value: {exc}", 1, 1) from None
    finally:
        loader.dispose()
    return documents
