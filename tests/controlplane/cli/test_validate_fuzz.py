"""`mlcp validate` on hostile input: whatever the files hold, exit 0 or 1 and never a traceback.

Two generators: arbitrary YAML (random structures, spec-shaped documents and
raw token soup, at random places in the repo), and the template's own specs
with fields deleted, replaced, retyped or renamed. Each example edits a copy
of the template in place and restores it afterwards, so a thousand examples
stay fast.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.specs import API_VERSION, KINDS
from tests.controlplane.helpers import SPEC_DIRS, TEMPLATE, copy_template, mlcp

EXAMPLES = 1000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPEC_FILES = sorted(p.relative_to(TEMPLATE).as_posix() for d in SPEC_DIRS for p in (TEMPLATE / d).rglob("*.yaml"))
TEMPLATE_FILES = [*SPEC_FILES, "mlcp.yaml"]
TEMPLATE_DATA = {rel: yaml.load((TEMPLATE / rel).read_text(), Loader=yaml.CSafeLoader) for rel in TEMPLATE_FILES}
PLACES = [
    *TEMPLATE_FILES,
    "tenants/nlp/pipelines/fuzz.yaml",
    "tenants/vision/experiments/fuzz.yml",
    "tenants/fuzz/tenant.yaml",
    "tenants/fuzz/quota.yaml",
    "tenants/fuzz.yaml",
    "policies/fuzz.yaml",
]
FIELD_NAMES = sorted(
    {"apiVersion", "kind", "metadata", "spec", "name", "tenant", "steps", "image", "dependsOn", "hard", "cpu"}
    | {"requests.cpu", "schedule", "cron", "timezone", "tuning", "trialPipeline", "version", "fromAlias", "roles"}
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["500m", "4Gi", "lots", "-1", "1e3", "NaN", "Infinity", "0 2 * * *", "@daily", "Europe", "UTC", "nlp"]
    ),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=12))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=12,
)
spec_shaped = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from([API_VERSION, API_VERSION, "v1", None]),
        "kind": st.sampled_from([*KINDS, "Config", "Sandbox", None]),
        "metadata": st.one_of(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["x", "nlp", "vision", "fuzz", "Bad_Name", ""]) | st.text(max_size=8)},
                optional={"tenant": st.sampled_from(["nlp", "vision", "fuzz", "other"])},
            ),
            values,
        ),
        "spec": values,
    }
)
TOKENS = ["- ", ": ", "&a ", "*a", "!!python/object ", "<<: ", "---\n", "\n", "  ", "{", "}", "[", "]", "'", '"']
TOKENS += ["? ", "key", "1", "|\n", ">\n", "#", ",", "!!binary ", "%YAML 1.1\n", "\t", "\x00", "\ufeff", "kind: Quota"]
token_soup = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)


def _dump(documents: list[Any]) -> str:
    return yaml.dump_all(documents, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False)


yaml_files = st.one_of(
    st.lists(values, min_size=1, max_size=3).map(_dump),
    st.lists(spec_shaped, min_size=1, max_size=3).map(_dump),
    token_soup,
    st.text(max_size=200),
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_template(tmp_path_factory.mktemp("fuzz") / "repo")


def _run_with(root: Path, files: dict[str, str | bytes], json_output: bool) -> None:
    """Write `files`, validate, check the outcome, and put the repo back as it was."""
    saved = {rel: (root / rel).read_bytes() for rel in files if (root / rel).exists()}
    try:
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        args = ["validate", str(root), *(["-o", "json"] if json_output else [])]
        result = mlcp(*args)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        assert result.exit_code in (0, 1), result.output
        if json_output:
            report = json.loads(result.stdout)
            assert report["valid"] is (result.exit_code == 0)
            assert bool(report["errors"]) is (result.exit_code == 1)
        else:
            assert ("error(s) in" in result.stderr) is (result.exit_code == 1), result.stderr
    finally:
        for rel in files:
            if rel in saved:
                (root / rel).write_bytes(saved[rel])
            else:
                (root / rel).unlink(missing_ok=True)
        shutil.rmtree(root / "tenants/fuzz", ignore_errors=True)


@FUZZ
@given(
    files=st.dictionaries(st.sampled_from(PLACES), yaml_files, min_size=1, max_size=3),
    json_output=st.booleans(),
)
def test_arbitrary_yaml_never_causes_a_traceback(scratch: Path, files: dict[str, str], json_output: bool) -> None:
    _run_with(scratch, dict(files), json_output)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key/index path inside a parsed document (not the root)."""
    children: Any = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


def _retype(value: Any) -> Any:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, str):
        return int(value) if value.isascii() and value.isdigit() else [value]
    return str(value)


@st.composite
def mutated_template_file(draw: st.DrawFn) -> tuple[str, str]:
    rel = draw(st.sampled_from(TEMPLATE_FILES))
    data = copy.deepcopy(TEMPLATE_DATA[rel])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = list(_paths(data))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        operation = draw(st.sampled_from(["delete", "replace", "retype", "rename", "duplicate", "add"]))
        if operation == "delete":
            del parent[key]
        elif operation == "replace":
            parent[key] = draw(values)
        elif operation == "retype":
            parent[key] = _retype(parent[key])
        elif operation == "rename" and isinstance(parent, dict):
            parent[draw(keys)] = parent.pop(key)
        elif operation == "duplicate" and isinstance(parent, list):
            parent.append(parent[key])
        elif isinstance(parent, dict):
            parent[draw(keys)] = draw(values)
    return rel, _dump([data])


@FUZZ
@given(
    mutations=st.lists(mutated_template_file(), min_size=1, max_size=3, unique_by=lambda m: m[0]),
    json_output=st.booleans(),
)
def test_mutated_template_specs_never_cause_a_traceback(
    scratch: Path, mutations: list[tuple[str, str]], json_output: bool
) -> None:
    _run_with(scratch, dict(mutations), json_output)
