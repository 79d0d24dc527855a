"""Safe YAML parsing that remembers where every value came from, within a budget.

Specs are reviewed by people and fed to a controller with cluster-admin
rights, so parsing is deliberately strict: only the safe (libyaml) parser,
no duplicate keys (YAML silently keeps the last one), no merge keys, no tags
beyond plain data, and no explicit tag on a value but `!!str`: a value is what
its text says (`!!binary` would turn base64 the reviewer cannot read into the
string that runs). Every node's position is kept so schema errors can name the
file, line and column of the offending field, a value that cannot be built (a
date that does not exist, an integer of thousands of digits) included.

Data is built straight from the parser's events rather than from a composed
node graph. That is what keeps memory bounded: each node is counted (against
`Caps`, the budget the caller grants this stream) the moment its event
arrives, and an alias is charged the size of the value it repeats before that
value is copied. A "billion laughs" stream of a few kilobytes therefore stops
after `Caps.nodes` nodes, however many documents it splits itself into, and a
megabyte of flat YAML is refused without first becoming a graph of node
objects several times its size. It is also faster than composing then walking
the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

try:  # libyaml is ~10x faster; the pure-Python parser behaves the same.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - wheels ship libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path = tuple[str | int, ...]


class Caps(NamedTuple):
    """The most one stream (one file) may hold; the caller narrows them to what its budget has left."""

    nodes: int = 100_000
    """Nodes once aliases are expanded (keys, values and items each count one)."""
    documents: int = 1_000
    depth: int = 64
    """Nesting depth any value may reach; specs need a handful of levels."""


DEFAULT_CAPS = Caps()
MAX_DEPTH = DEFAULT_CAPS.depth
MAX_EXPANDED_NODES = DEFAULT_CAPS.nodes


class YamlError(Exception):
    """A document that cannot be accepted, with the 1-based position to blame."""

    def __init__(self, message: str, line: int, column: int, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint


class OverBudget(YamlError):
    """The stream holds more `measure` ("nodes" or "documents") than its caps allow."""

    def __init__(self, measure: str, limit: int, line: int, column: int) -> None:
        expanded = " once aliases are expanded (an alias expansion bomb?)" if measure == "nodes" else ""
        super().__init__(
            f"holds more than {limit} YAML {measure}{expanded}",
            line,
            column,
            "write the values out instead of repeating large anchors with aliases"
            if measure == "nodes"
            else "split it into several files",
        )
        self.measure = measure
        self.limit = limit


@dataclass(slots=True)
class Document:
    """One YAML document: its data and the position of every key and value in it."""

    data: Any
    line: int
    column: int
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path) -> tuple[int, int]:
        """Position of the deepest known node on `path` (the document start if none).

        Values repeated through an alias are positioned at the alias.
        """
        for end in range(len(path), 0, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return self.line, self.column


class Parsed(NamedTuple):
    documents: list[Document]
    nodes: int


def _at(mark: Any) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_INT = "tag:yaml.org,2002:int"
_SCALARS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp"))
"""Scalar types a plain value may resolve to; every other tag (`!!python/...`, `!!set`, `!custom`) is refused, and so
is any explicit tag on a value but `!!str` (`!!binary`, `!!int "١٢"`): a value is what its text says."""

_SHORT = "tag:yaml.org,2002:"


def _unsupported(tag: str, mark: Any) -> YamlError:
    line, col = _at(mark)
    shown = "!!" + tag.removeprefix(_SHORT) if tag.startswith(_SHORT) else tag
    return YamlError(
        f"unsupported tag {shown!r}",
        line,
        col,
        "specs hold plain values, mappings and lists: remove the tag, and write the value as it is meant to be read "
        "(quoted, for a string)",
    )


INT_BITS_MAX = 13_000
"""The largest whole number a spec may hold, in bits (about 3,900 decimal digits): Python converts no integer of
more than 4,300 digits to text (sys.get_int_max_str_digits), and no field takes more than 64 bits anyway."""


def _unbuildable(tag: str, event: Any, exc: Exception | None) -> YamlError:
    """A plain value whose type resolved but that cannot be built (or is too large to use), at its own position."""
    line, col = _at(event.start_mark)
    text = event.value
    if tag == _INT:
        return YamlError(
            f"the whole number {text[:20]}… ({len(text)} characters) is too large: no field takes more than 64 bits "
            "(19 digits)",
            line,
            col,
            "write a smaller number, or quote it to make it a string",
        )
    what = tag.removeprefix(_SHORT)
    shown = text if len(text) <= 40 else text[:40] + "…"
    return YamlError(f"invalid {what} {shown!r}: {exc}", line, col, "quote the value to make it a string")


def _copy(value: Any) -> Any:
    """A fresh copy of an anchored value (its size was charged before this is called)."""
    if isinstance(value, list):
        return [_copy(item) for item in value]
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    return value


class _Anchor(NamedTuple):
    value: Any
    nodes: int
    height: int


class _Open:
    """A mapping or sequence whose events are still arriving."""

    __slots__ = ("anchor", "first", "height", "key", "key_line", "mark", "path", "seen", "value")

    def __init__(self, value: list[Any] | dict[Any, Any], path: Path, anchor: str | None, mark: Any, first: int):
        self.value = value
        self.path = path
        self.anchor = anchor
        self.mark = mark
        self.first = first
        """The node count when it opened: its own size is the count when it closes, less this."""
        self.height = 0
        """Levels below it so far (an alias of it nests that much deeper than where it appears)."""
        self.key: tuple[Any, str] | None = None
        """(data key, path key) of a mapping entry whose value is next."""
        self.key_line = 0
        self.seen: dict[str, int] = {}


class _Builder:
    """Builds the documents of one stream from its events, counting as it goes."""

    def __init__(self, loader: _Loader, caps: Caps) -> None:
        self.loader = loader
        self.caps = caps
        self.nodes = 0
        self.anchors: dict[str, _Anchor] = {}
        self.stack: list[_Open] = []
        self.positions: dict[Path, tuple[int, int]] = {}
        self._resolve: Any = loader.resolve
        self._implicit: dict[str, Any] = loader.yaml_implicit_resolvers

    def _count(self, amount: int, mark: Any) -> None:
        self.nodes += amount
        if self.nodes > self.caps.nodes:
            raise OverBudget("nodes", self.caps.nodes, *_at(mark))

    def _path(self, mark: Any) -> Path:
        """The path of the node starting at `mark`, checking its depth."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            path = (*top.path, len(top.value))
        else:
            assert top.key is not None  # _key() ran before any value
            path = (*top.path, top.key[1])
        if len(path) > self.caps.depth:
            line, col = _at(mark)
            raise YamlError(f"document nests deeper than {self.caps.depth} levels", line, col)
        return path

    def document(self) -> Document:
        """The next document (the parser stands at its DocumentStartEvent)."""
        next_event: Any = self.loader.get_event
        next_event()
        self.anchors, self.stack, self.positions = {}, [], {}
        first: Any = self.loader.peek_event()
        doc = Document(None, *_at(first.start_mark), positions=self.positions)
        done: list[Any] = []
        while not done:
            done = self._event(next_event())
        doc.data = done[0]
        self.loader.get_event()  # DocumentEndEvent
        return doc

    def _event(self, event: Any) -> list[Any]:
        """Handle one event; [value] once the document's root value is complete."""
        kind = type(event)
        top = self.stack[-1] if self.stack else None
        if top is not None and top.key is None and type(top.value) is dict:
            if kind is yaml.MappingEndEvent:
                return self._close()
            self._key(top, event)
            return []
        if kind is yaml.ScalarEvent:
            path = self._path(event.start_mark)
            self._count(1, event.start_mark)
            self.positions[path] = _at(event.start_mark)
            value = self._scalar(event)
            if event.anchor is not None:
                self._anchor(event.anchor, _Anchor(value, 1, 0), event.start_mark)
            return self._add(value, 0)
        if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            return self._open(event, kind is yaml.MappingStartEvent)
        if kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
            return self._close()
        if kind is yaml.AliasEvent:
            return self._alias(event)
        line, col = _at(event.start_mark)  # pragma: no cover - libyaml sends nothing else inside a document
        raise YamlError(f"unexpected YAML event {kind.__name__}", line, col)

    def _open(self, event: Any, mapping: bool) -> list[Any]:
        tag = event.tag
        if tag not in (None, "!", _MAP if mapping else _SEQ):
            raise _unsupported(tag, event.start_mark)
        path = self._path(event.start_mark)
        self._count(1, event.start_mark)
        self.positions[path] = _at(event.start_mark)
        container: list[Any] | dict[Any, Any] = {} if mapping else []
        self.stack.append(_Open(container, path, event.anchor, event.start_mark, self.nodes - 1))
        return []

    def _key(self, top: _Open, event: Any) -> None:
        if not isinstance(event, yaml.ScalarEvent) or event.anchor is not None:
            line, col = _at(event.start_mark)
            raise YamlError("mapping keys must be plain scalars", line, col)
        tag = self._tag(event)
        line, col = _at(event.start_mark)
        if tag == _MERGE:
            raise YamlError("merge keys (`<<`) are not supported", line, col, "write the keys out")
        name = event.value
        if name in top.seen:
            raise YamlError(
                f"duplicate key {name!r} (first at line {top.seen[name]})",
                line,
                col,
                "YAML keeps only the last value; remove one of them",
            )
        self._count(1, event.start_mark)
        top.seen[name] = line
        top.key = (name if tag == _STR else self._scalar(event, tag), name)

    def _tag(self, event: Any) -> str:
        """The type a scalar resolves to; an explicit tag other than `!!str` is refused."""
        tag = event.tag
        if tag is None or tag == "!":
            value = event.value
            if not event.implicit[0] or (value and value[0] not in self._implicit):
                return _STR  # quoted, or no implicit type starts with this character: what resolve() would say
            return str(self._resolve(yaml.ScalarNode, value, event.implicit))
        if tag != _STR:
            raise _unsupported(str(tag), event.start_mark)
        return _STR

    def _scalar(self, event: Any, tag: str | None = None) -> Any:
        """Strings as they are; ints, floats, booleans, nulls, timestamps as the safe loader makes them."""
        tag = tag or self._tag(event)
        if tag == _STR:
            return event.value
        if tag not in _SCALARS:
            raise _unsupported(tag, event.start_mark)
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            value = self.loader.yaml_constructors[tag](self.loader, node)
        except (ValueError, OverflowError) as exc:  # 2024-13-45, or more digits than int() converts
            raise _unbuildable(tag, event, exc) from None
        if tag == _INT and value.bit_length() > INT_BITS_MAX:  # 0x and 0b numbers: no digit limit to trip
            raise _unbuildable(tag, event, None)
        return value

    def _anchor(self, name: str, anchor: _Anchor, mark: Any) -> None:
        if name in self.anchors:
            line, col = _at(mark)
            raise YamlError(f"duplicate anchor &{name}", line, col, "give each anchor its own name")
        self.anchors[name] = anchor

    def _alias(self, event: Any) -> list[Any]:
        name = event.anchor
        line, col = _at(event.start_mark)
        if any(frame.anchor == name for frame in self.stack):
            opened = next(frame for frame in self.stack if frame.anchor == name)
            raise YamlError("recursive alias: a node contains itself", *_at(opened.mark))
        anchor = self.anchors.get(name)
        if anchor is None:
            raise YamlError(f"alias *{name} names no anchor defined before it", line, col)
        path = self._path(event.start_mark)
        if len(path) + anchor.height > self.caps.depth:
            raise YamlError(f"document nests deeper than {self.caps.depth} levels", line, col)
        self._count(anchor.nodes, event.start_mark)  # charged before anything is copied
        self.positions[path] = (line, col)
        return self._add(_copy(anchor.value), anchor.height)

    def _close(self) -> list[Any]:
        frame = self.stack.pop()
        if frame.anchor is not None:
            self._anchor(frame.anchor, _Anchor(frame.value, self.nodes - frame.first, frame.height), frame.mark)
        return self._add(frame.value, frame.height)

    def _add(self, value: Any, height: int) -> list[Any]:
        """Put a complete value (`height` levels deep) into its parent; [value] when it is the document's root."""
        if not self.stack:
            return [value]
        top = self.stack[-1]
        top.height = max(top.height, height + 1)
        if isinstance(top.value, list):
            top.value.append(value)
        else:
            assert top.key is not None  # a value always follows its key
            top.value[top.key[0]] = value
            top.key = None
        return []


def parse(text: str, caps: Caps = DEFAULT_CAPS) -> list[Document]:
    """All documents of a YAML stream; raises YamlError for anything unsafe, invalid or over `caps`."""
    return parse_counted(text, caps).documents


def parse_counted(text: str, caps: Caps = DEFAULT_CAPS) -> Parsed:
    """`parse`, also saying how many nodes the stream expanded to (for the caller's budget)."""
    loader = _Loader(text)
    documents: list[Document] = []
    builder = _Builder(loader, caps)
    try:
        loader.get_event()  # StreamStartEvent
        peek: Any = loader.peek_event
        while not isinstance(peek(), yaml.StreamEndEvent):
            if len(documents) >= caps.documents:
                raise OverBudget("documents", caps.documents, *_at(peek().start_mark))
            documents.append(builder.document())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlError(f"invalid YAML: {exc.problem or exc.context}", line, col) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", 1, 1) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # constructors on odd scalars
        raise YamlError(f"invalid YAML value: {exc}", 1, 1) from None
    finally:
        loader.dispose()
    return Parsed(documents, builder.nodes)
