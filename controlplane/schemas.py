"""JSON Schemas generated from the spec models, one file per kind.

Editors (yaml-language-server) and other tools (check-jsonschema) consume
them; the models stay the single source of truth, and a test fails when the
checked-in files drift from what the models generate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from controlplane.specs import KINDS, schema_of
from controlplane.specs.repo_config import RepoConfig


def config_schema() -> dict[str, Any]:
    schema = RepoConfig.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://mlcp.dev/schemas/v1alpha1/config.json"
    return schema


def generate() -> dict[str, dict[str, Any]]:
    """File name → schema, for every kind plus `mlcp.yaml`."""
    files = {f"{kind.lower()}.json": schema_of(kind) for kind in sorted(KINDS)}
    files["config.json"] = config_schema()
    return files


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(directory: Path) -> list[Path]:
    """Write every schema into `directory`; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in generate().items():
        path = directory / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def stale(directory: Path) -> list[str]:
    """Names of schema files in `directory` that are missing or differ from the models."""
    out = []
    for name, schema in generate().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != render(schema):
            out.append(name)
    return out
