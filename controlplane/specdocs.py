"""The spec reference (docs/specs.md), generated from the spec models.

The models are the single source of truth for fields, types, defaults and
descriptions; a hand-written reference would drift from them the first time a
field is added. `make docs` regenerates the file and a test fails when the
checked-in copy is stale, as for schemas/. Run: `python -m controlplane.specdocs [--check] [PATH]`.
"""

from __future__ import annotations

import inspect
import json
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from controlplane import generated
from controlplane.scaffold import template_dir
from controlplane.specs import KINDS, Spec
from controlplane.specs.kube_syntax import DnsLabel
from controlplane.specs.metadata import Annotations, Labels, Metadata
from controlplane.specs.model import NonEmptyStr, OneOf, Person
from controlplane.specs.repo_config import RepoConfig
from controlplane.specs.resources import Quantity, ResourceList, ResourceName

DEFAULT_PATH = Path("docs/specs.md")
ORDER = ("Tenant", "Quota", "Pipeline", "Experiment", "ModelPromotion", "AccessPolicy")
"""Kinds in reading order; kinds added later follow in alphabetical order."""

NAMED: tuple[tuple[Any, str], ...] = (
    (DnsLabel, "DNS label"),
    (NonEmptyStr, "string (non-empty)"),
    (Person, "person"),
    (Labels, "labels (map of string → string)"),
    (Annotations, "annotations (map of string → string)"),
    (Quantity, "quantity"),
    (ResourceName, "resource name"),
    (ResourceList, "map of resource name → quantity"),
)
"""Annotated aliases shown by name: their rules are explained once, in the glossary."""

SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}

GLOSSARY = """\
## Types

| type | meaning |
| --- | --- |
| person | a user (usually an email) or group name, never Kubernetes' own (`system:`: accounts, nodes, everyone) |
| DNS label | a Kubernetes name: at most 63 lowercase letters, digits and `-`, starting and ending alphanumeric |
| labels | Kubernetes labels: keys `[prefix/]name` (name ≤ 63 of letters, digits, `-_.`), values ≤ 63 of the same |
| annotations | Kubernetes annotations: keys as for labels (any case), values free-form, ≤ 248 KiB in all |
| `mlcp.dev/` | mlcp's own labels and annotations: neither labels nor annotations of a spec may use the prefix |
| quantity | a Kubernetes quantity: `500m`, `2`, `1.5`, `4Gi`, `100M`, `1e3` (never negative) |
| resource name | a Kubernetes resource name: `cpu`, `memory`, `requests.nvidia.com/gpu`, `count/pods` |
"""


def _anchor(kind: str, model: type[BaseModel]) -> str:
    return f"{kind}-{model.__name__}".lower()


def _unwrap(annotation: Any, field: FieldInfo | None) -> Any:
    """The field's annotation with its constraints put back, so named aliases can be recognized."""
    if field is not None and field.metadata:
        return Annotated[(annotation, *field.metadata)]
    return annotation


def type_name(annotation: Any, links: dict[type[BaseModel], str]) -> str:
    """A readable type: `list of DNS label`, `` `Allow` | `Forbid` ``, a link to a nested model."""
    for alias, name in NAMED:
        if annotation == alias:
            return name
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        one_of = next((a for a in args[1:] if isinstance(a, OneOf)), None)
        if one_of is not None:
            return " \\| ".join(f"`{name}`" for name in one_of.names())
        return type_name(args[0], links)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a, links) for a in args if a is not type(None))
    if origin is list:
        return f"list of {type_name(args[0], links)}"
    if origin is dict:
        return f"map of {type_name(args[0], links)} → {type_name(args[1], links)}"
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{links[annotation]})" if annotation in links else annotation.__name__
    return SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _constraints(field: FieldInfo) -> str:
    notes = []
    for item in field.metadata:
        if isinstance(item, annotated_types.MinLen) and item.min_length:
            noun = "item" if typing.get_origin(field.annotation) is list else "entry"
            many = "" if item.min_length == 1 else "s"
            notes.append("non-empty" if field.annotation is str else f"at least {item.min_length} {noun}{many}")
        elif isinstance(item, annotated_types.Ge):
            notes.append(f"≥ {item.ge}")
        elif isinstance(item, annotated_types.Gt):
            notes.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Le):
            notes.append(f"≤ {item.le}")
    return f" ({', '.join(notes)})" if notes else ""


def _description(field: FieldInfo) -> str:
    """The field's description; for a bare nested model, the model's own summary; for `kind`, its value."""
    text = field.description or ""
    if not text and typing.get_origin(field.annotation) is Literal and len(typing.get_args(field.annotation)) == 1:
        text = f"Always `{typing.get_args(field.annotation)[0]}`."
    if not text:
        models = list(_nested(field.annotation))
        text = _doc(models[0]).split("\n\n")[0] if models else ""
    return " ".join(text.split()).replace("|", "\\|")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        return "all defaults"
    return f"`{json.dumps(value)}`"


def _nested(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _nested(arg)


def _walk(root: type[BaseModel], prefix: str) -> Iterator[tuple[str, type[BaseModel]]]:
    """(YAML path, model) for `root` and every model nested in it, parents first, each model once."""
    seen: set[type[BaseModel]] = set()
    queue = [(prefix, root)]
    while queue:
        path, model = queue.pop(0)
        if model in seen or model is Metadata:
            continue
        seen.add(model)
        yield path, model
        for name, field in model.model_fields.items():
            key = field.alias or name
            for child in _nested(field.annotation):
                suffix = "[]" if typing.get_origin(field.annotation) is list else ""
                queue.append((f"{path}.{key}{suffix}".lstrip("."), child))


def _table(model: type[BaseModel], links: dict[type[BaseModel], str]) -> list[str]:
    rows = ["| field | type | default | description |", "| --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        key = field.alias or name
        kind = type_name(_unwrap(field.annotation, field), links) + _constraints(field)
        rows.append(f"| `{key}` | {kind} | {_default(field)} | {_description(field)} |")
    return rows


def _doc(obj: object) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip()


def _example(kind: str) -> list[str]:
    for path in sorted(template_dir().glob("**/*.yaml")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if f"kind: {kind}" in lines and not path.is_relative_to(template_dir() / ".github"):
            body = [line for line in lines if not line.startswith("# yaml-language-server")]
            rel = path.relative_to(template_dir()).as_posix()
            return [f"Example (`repo_template/{rel}`):", "", "```yaml", *body, "```", ""]
    return []


def _section(title: str, root: type[BaseModel], intro: list[str], kind: str) -> list[str]:
    models = list(_walk(root, ""))
    links = {model: _anchor(kind, model) for _, model in models}
    links[Metadata] = "metadata"
    out = [f'<a id="{links[root]}"></a>', "", f"## {title}", "", *intro]
    for path, model in models:
        if model is not root:
            doc = _doc(model)
            out += [f'<a id="{links[model]}"></a>', "", f"### `{path}` ({model.__name__})", ""]
            out += [doc, ""] if doc else []
        out += [*_table(model, links), ""]
    return out


def _kind_intro(cls: type[Spec]) -> list[str]:
    module = _doc(sys.modules[cls.__module__]).split("\n\n")
    scope = "tenant-scoped" if cls.tenant_scoped else "cluster-wide"
    intro = [_doc(cls), "", f"Lives in `{cls.folder}` ({scope}).", ""]
    if len(module) > 1:
        intro += [" ".join(module[1].split()), ""]
    return intro + _example(cls.model_fields["kind"].default)


def render() -> str:
    """The whole reference as Markdown."""
    kinds = [k for k in ORDER if k in KINDS] + sorted(set(KINDS) - set(ORDER))
    out = [
        "# Spec reference",
        "",
        "<!-- Generated from the spec models by `make docs` (python -m controlplane.specdocs). Do not edit. -->",
        "",
        "Every spec is a YAML document with `apiVersion: mlcp.dev/v1alpha1`, a `kind`, `metadata` and `spec`.",
        "Field names are camelCase; unknown fields are errors. Kinds: "
        + ", ".join(f"[{k}](#{_anchor(k, KINDS[k])})" for k in kinds)
        + ", and the repo settings file [mlcp.yaml](#config-repoconfig).",
        "",
        GLOSSARY,
        '<a id="metadata"></a>',
        "",
        "## metadata (every kind)",
        "",
        *_table(Metadata, {}),
        "",
    ]
    for kind in kinds:
        cls = KINDS[kind]
        out += _section(kind, cls, _kind_intro(cls), kind)
    intro = [_doc(RepoConfig), "", " ".join(_doc(sys.modules[RepoConfig.__module__]).split("\n\n")[-1].split()), ""]
    out += _section("mlcp.yaml", RepoConfig, intro, "config")
    return "\n".join(out).rstrip() + "\n"


def stale(path: Path = DEFAULT_PATH) -> bool:
    """Whether `path` differs from what the models generate."""
    return generated.stale(path, render)


def main(argv: list[str] | None = None) -> int:
    return generated.main(render, DEFAULT_PATH, "Generate the spec reference from the models.", "docs", argv)


if __name__ == "__main__":
    sys.exit(main())
