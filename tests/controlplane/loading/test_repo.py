"""Loading a config repo: what it reads, where each spec came from, and every refusal."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from controlplane.errors import InvalidConfig
from controlplane.loading.repo import MAX_FILE_BYTES, load_repo
from controlplane.specs import Quota
from reconciler import partition
from tests import deepdirs
from tests.controlplane.helpers import QUOTA, assert_problem, edit, line_of, only, problems, spec_files, write
from tests.controlplane.loading.test_yamldocs import BILLION_LAUGHS

TRAIN = "tenants/vision/pipelines/train-detector.yaml"


def test_template_loads_every_spec_with_its_tenant_and_source(repo: Path) -> None:
    loaded = load_repo(repo)
    assert loaded.diagnostics == []
    assert loaded.files == spec_files(repo) >= 10
    keys = {str(s.key) for s in loaded.specs}
    assert "AccessPolicy/platform" in keys
    assert "Pipeline/vision/train-detector" in keys
    quota = next(s for s in loaded.specs if str(s.key) == "Quota/nlp/compute")
    assert isinstance(quota.spec, Quota)
    assert (quota.source.path, quota.source.line, quota.source.column) == ("tenants/nlp/quota.yaml", 2, 1)
    assert quota.at("spec", "hard", "count/pods").line == line_of(repo / "tenants/nlp/quota.yaml", "count/pods")
    assert loaded.config.cluster.controller_namespace == "mlcp-system"


def test_several_documents_in_one_file_each_keep_their_line(repo: Path) -> None:
    write(repo, "tenants/nlp/quotas.yaml", QUOTA.format(name="a") + "---\n" + QUOTA.format(name="b"))
    loaded = load_repo(repo)
    lines = {s.spec.name: s.source.line for s in loaded.specs if s.source.path == "tenants/nlp/quotas.yaml"}
    assert lines == {"a": 1, "b": 9}


def test_files_outside_spec_folders_and_hidden_folders_are_not_read(repo: Path) -> None:
    write(repo, "README.md", "# not a spec\n")
    write(repo, ".github/workflows/ci.yaml", "on: pull_request\n")
    write(repo, "tenants/nlp/.drafts/broken.yaml", "kind: [\n")
    write(repo, "tenants/nlp/notes.txt", "kind: [\n")
    assert problems(repo) == []


def test_file_over_one_mebibyte_is_refused(repo: Path) -> None:
    write(repo, "tenants/nlp/pipelines/huge.yaml", "# " + "x" * MAX_FILE_BYTES + "\n")
    found = assert_problem(repo, "tenants/nlp/pipelines/huge.yaml", 1, "spec files may be at most 1 MiB")
    assert found.hint.startswith("split it into several files (limits are the operator's: --limit file-bytes=N")


def test_file_of_exactly_one_mebibyte_is_read(repo: Path) -> None:
    body = QUOTA.format(name="big").replace('"1"', '"16"')  # a second quota binds nlp's pipeline too
    write(repo, "tenants/nlp/big.yaml", body + "#" * (MAX_FILE_BYTES - len(body) - 1) + "\n")
    assert (repo / "tenants/nlp/big.yaml").stat().st_size == MAX_FILE_BYTES
    assert problems(repo) == []


def test_alias_expansion_bomb_is_refused(repo: Path) -> None:
    write(repo, "tenants/nlp/pipelines/bomb.yaml", BILLION_LAUGHS)
    found = assert_problem(repo, "tenants/nlp/pipelines/bomb.yaml", 5, "YAML nodes once aliases are expanded")
    assert "(limit file-nodes)" in found.message
    assert "--limit file-nodes=N or $MLCP_MAX_FILE_NODES" in found.hint


def test_duplicate_keys_are_refused(repo: Path) -> None:
    write(
        repo,
        "tenants/nlp/pipelines/dup.yaml",
        """
        apiVersion: mlcp.dev/v1alpha1
        kind: Pipeline
        metadata:
          name: dup
        spec:
          steps:
            - name: a
              image: x
              image: y
        """,
    )
    found = assert_problem(repo, "tenants/nlp/pipelines/dup.yaml", 9, "duplicate key 'image' (first at line 8)")
    assert found.column == 7


def test_invalid_yaml_is_reported_with_its_position(repo: Path) -> None:
    write(repo, "tenants/nlp/pipelines/broken.yaml", "kind: Pipeline\nspec: [\n")
    assert_problem(repo, "tenants/nlp/pipelines/broken.yaml", 3, "invalid YAML")


def test_a_value_the_reviewer_cannot_read_is_refused_at_its_line(repo: Path) -> None:
    hidden = base64.b64encode(b"ghcr.io/evil/miner:1").decode()  # a str field would take the decoded bytes
    path = edit(repo, TRAIN, "      image: ghcr.io/example/vision-data:1.3.0\n", f"      image: !!binary {hidden}\n")
    found = only([d for d in problems(repo) if d.path == TRAIN])  # (the experiment then misses its pipeline)
    assert (found.line, found.column, found.code) == (line_of(path, "!!binary"), 14, "yaml")
    assert found.message == "unsupported tag '!!binary'"


def test_a_number_too_large_to_read_is_reported_at_its_line(repo: Path) -> None:
    path = edit(repo, TRAIN, "  schedule:\n", "  parallelism: " + "9" * 5000 + "\n  schedule:\n")
    found = only([d for d in problems(repo) if d.path == TRAIN])
    assert (found.line, found.column) == (line_of(path, "parallelism"), 16)
    assert "is too large" in found.message and "set_int_max_str_digits" not in found.message


def test_non_utf8_file_is_refused(repo: Path) -> None:
    (repo / "tenants/nlp/latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert_problem(repo, "tenants/nlp/latin1.yaml", 1, "is not UTF-8 text")


def test_symlinked_spec_file_is_refused(repo: Path) -> None:
    (repo / "tenants/nlp/quota-link.yaml").symlink_to(repo / "tenants/nlp/quota.yaml")
    found = assert_problem(repo, "tenants/nlp/quota-link.yaml", 1, "is a symlink")
    assert "replace the link" in found.hint


def test_symlinked_file_pointing_outside_the_repo_is_refused(repo: Path, tmp_path: Path) -> None:
    outside = write(tmp_path, "elsewhere/quota.yaml", QUOTA.format(name="outside"))
    (repo / "tenants/nlp/outside.yaml").symlink_to(outside)
    assert_problem(repo, "tenants/nlp/outside.yaml", 1, "is a symlink")
    assert "outside" not in {s.spec.name for s in load_repo(repo).specs}


def test_symlinked_folder_pointing_outside_the_repo_is_not_followed(repo: Path, tmp_path: Path) -> None:
    write(tmp_path, "elsewhere/pipelines/p.yaml", "kind: [\n")
    (repo / "tenants/vision/shared").symlink_to(tmp_path / "elsewhere/pipelines")
    assert_problem(repo, "tenants/vision/shared", 1, "is a symlink")


def test_a_linked_tenant_folder_is_that_tenant_s_problem_not_everyone_s(repo: Path) -> None:
    """Found by the fuzzer: `tenants/twin -> vision` once made a repo-wide error that stopped every tenant."""
    (repo / "tenants/twin").symlink_to("vision")
    found = assert_problem(repo, "tenants/twin/", 1, "is a symlink")
    _, broken = partition.isolate(load_repo(repo))
    assert set(broken) == {"twin"}, found.render()


def test_symlinked_spec_root_is_refused(repo: Path, tmp_path: Path) -> None:
    (repo / "policies").rename(tmp_path / "policies")
    (repo / "policies").symlink_to(tmp_path / "policies")
    assert_problem(repo, "policies", 1, "is a symlink")


def test_symlinked_repo_config_is_refused(repo: Path, tmp_path: Path) -> None:
    (repo / "mlcp.yaml").rename(tmp_path / "mlcp.yaml")
    (repo / "mlcp.yaml").symlink_to(tmp_path / "mlcp.yaml")
    assert_problem(repo, "mlcp.yaml", 1, "is a symlink")


def test_unknown_kind_is_refused_with_a_suggestion(repo: Path) -> None:
    path = write(repo, "tenants/nlp/pipelines/typo.yaml", QUOTA.format(name="t").replace("Quota", "Pipelin"))
    found = assert_problem(repo, "tenants/nlp/pipelines/typo.yaml", line_of(path, "kind:"), "unknown kind 'Pipelin'")
    assert found.column == 7
    assert found.hint == "did you mean `Pipeline`?"


def test_missing_kind_is_refused_listing_known_kinds(repo: Path) -> None:
    write(repo, "tenants/nlp/nokind.yaml", "apiVersion: mlcp.dev/v1alpha1\nmetadata: {name: x}\n")
    found = assert_problem(repo, "tenants/nlp/nokind.yaml", 1, "unknown kind None")
    assert "Pipeline" in found.hint


def test_unknown_api_version_is_refused(repo: Path) -> None:
    path = write(repo, "tenants/nlp/old.yaml", QUOTA.format(name="old").replace("v1alpha1", "v1"))
    found = assert_problem(
        repo, "tenants/nlp/old.yaml", line_of(path, "apiVersion"), "unknown apiVersion 'mlcp.dev/v1'"
    )
    assert found.hint == "use `apiVersion: mlcp.dev/v1alpha1`"


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_a_document_that_is_not_a_mapping_is_refused(repo: Path, text: str) -> None:
    write(repo, "tenants/nlp/odd.yaml", text)
    assert_problem(repo, "tenants/nlp/odd.yaml", 1, "a spec must be a mapping")


def test_a_git_lfs_pointer_is_refused_saying_what_it_is(repo: Path) -> None:
    """A spec tracked by LFS is a pointer in git: it read as 'a spec must be a mapping', which said nothing of
    why or how to fix it."""
    oid = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"
    write(repo, "tenants/nlp/quota.yaml", f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 280\n")
    found = assert_problem(repo, "tenants/nlp/quota.yaml", 1, "the file is a Git LFS pointer, not a spec")
    assert "git lfs untrack" in found.hint and found.code == "document"


def test_empty_documents_are_ignored(repo: Path) -> None:
    write(repo, "tenants/nlp/empty.yaml", "# nothing yet\n---\n")
    assert problems(repo) == []


def test_two_specs_with_the_same_kind_tenant_and_name_are_refused(repo: Path) -> None:
    path = write(
        repo, "tenants/nlp/pipelines/copy.yaml", (repo / "tenants/nlp/pipelines/embed-corpus.yaml").read_text()
    )
    found = assert_problem(
        repo,
        "tenants/nlp/pipelines/embed-corpus.yaml",
        line_of(path, "name: embed-corpus"),
        "duplicate Pipeline/nlp/embed-corpus: already defined at tenants/nlp/pipelines/copy.yaml:2:1",
    )
    assert found.hint == "rename one of them"


def test_same_name_in_another_tenant_or_of_another_kind_is_fine(repo: Path) -> None:
    embed = (repo / "tenants/nlp/pipelines/embed-corpus.yaml").read_text()
    limited = (
        'requests: {cpu: "4", memory: 8Gi}\n        limits: {cpu: "4", memory: 8Gi}'  # vision's default limit is 1
    )
    write(
        repo, "tenants/vision/pipelines/embed-corpus.yaml", embed.replace('requests: {cpu: "4", memory: 8Gi}', limited)
    )
    write(repo, "tenants/nlp/quotas/embed-corpus.yaml", QUOTA.format(name="embed-corpus").replace('"1"', '"16"'))
    assert problems(repo) == []


def test_spec_naming_another_tenant_than_its_folder_is_refused(repo: Path) -> None:
    path = write(repo, "tenants/nlp/pipelines/sneaky.yaml", QUOTA.format(name="sneaky"))
    text = path.read_text().replace("  name: sneaky\n", "  name: sneaky\n  tenant: vision\n")
    path.write_text(text)
    found = assert_problem(
        repo, "tenants/nlp/pipelines/sneaky.yaml", 5, "spec names tenant 'vision' but lives in tenants/nlp/", column=11
    )
    assert "tenant: nlp" in found.hint


def test_spec_naming_its_own_folder_tenant_is_fine(repo: Path) -> None:
    path = write(repo, "tenants/nlp/extra.yaml", QUOTA.format(name="extra").replace('"1"', '"16"'))
    path.write_text(path.read_text().replace("  name: extra\n", "  name: extra\n  tenant: nlp\n"))
    assert problems(repo) == []


def test_tenant_whose_name_differs_from_its_folder_is_refused(repo: Path) -> None:
    path = repo / "tenants/nlp/tenant.yaml"
    path.write_text(path.read_text().replace("name: nlp", "name: language"))
    assert_problem(repo, "tenants/nlp/tenant.yaml", line_of(path, "name: language"), "spec names tenant 'language'")


def test_tenant_scoped_kind_outside_a_tenant_folder_is_refused(repo: Path) -> None:
    write(repo, "policies/quota.yaml", QUOTA.format(name="loose"))
    found = assert_problem(repo, "policies/quota.yaml", 1, "Quota must live under tenants/<tenant>/")
    assert found.hint == "move it to tenants/<tenant>/quota.yaml"


def test_spec_directly_under_tenants_is_refused(repo: Path) -> None:
    write(repo, "tenants/quota.yaml", QUOTA.format(name="loose"))
    assert_problem(repo, "tenants/quota.yaml", 1, "Quota must live under tenants/<tenant>/")


def test_cluster_wide_kind_inside_a_tenant_folder_is_refused(repo: Path) -> None:
    path = write(repo, "tenants/nlp/access.yaml", (repo / "policies/access.yaml").read_text())
    line = line_of(path, "apiVersion:")  # the document starts after the file's header comments
    assert_problem(repo, "tenants/nlp/access.yaml", line, "AccessPolicy is cluster-wide and must live under policies/")


def test_invalid_repo_config_is_reported(repo: Path) -> None:
    path = repo / "mlcp.yaml"
    path.write_text(path.read_text().replace("enabled: false", "enabled: sometimes"))
    assert_problem(repo, "mlcp.yaml", line_of(path, "sometimes"), "prune.enabled")


def test_repo_config_is_optional(repo: Path) -> None:
    (repo / "mlcp.yaml").unlink()
    assert problems(repo) == []


def test_a_path_that_is_not_a_directory_is_reported(tmp_path: Path) -> None:
    found = only(problems(tmp_path / "missing"))
    assert found.message == "not a directory"
    assert found.path == str(tmp_path / "missing")


def test_every_problem_is_reported_at_once(repo: Path) -> None:
    write(repo, "tenants/nlp/a.yaml", "a: 1\na: 2\n")
    write(repo, "tenants/nlp/b.yaml", QUOTA.format(name="b").replace("Quota", "Qota"))
    write(repo, "tenants/vision/c.yaml", QUOTA.format(name="c").replace('"1"', "lots"))
    assert [(d.path, d.line) for d in problems(repo)] == [
        ("tenants/nlp/a.yaml", 2),
        ("tenants/nlp/b.yaml", 2),
        ("tenants/vision/c.yaml", 7),
    ]


def test_a_fifo_named_like_a_spec_is_refused_not_read(repo: Path) -> None:
    os.mkfifo(repo / "tenants/nlp/pipe.yaml")
    assert_problem(repo, "tenants/nlp/pipe.yaml", 1, "is not a regular file")


def test_of_kind_answers_from_an_index_that_follows_the_specs(repo: Path) -> None:
    loaded = load_repo(repo)
    walked = {kind: [s for s in loaded.specs if s.spec.kind == kind] for kind in {s.spec.kind for s in loaded.specs}}
    assert all(loaded.of_kind(kind) == specs for kind, specs in walked.items()) and loaded.of_kind("Nothing") == []
    assert all(loaded.spec(s.key) is s for s in loaded.specs) and loaded.spec(None) is None
    loaded.of_kind("Tenant").clear()
    assert loaded.of_kind("Tenant") == walked["Tenant"], "each answer is a new list: changing it changes no index"
    loaded.specs.append(loaded.specs[0])
    assert loaded.of_kind(loaded.specs[0].spec.kind)[-1] is loaded.specs[0], "an appended spec is found"
    loaded.specs = [s for s in loaded.specs if s.spec.kind != "Tenant"]
    assert loaded.of_kind("Tenant") == [], "a replaced list is indexed again"
    assert loaded.spec(walked["Tenant"][0].key) is None


SECOND_TENANT = """\
apiVersion: mlcp.dev/v1alpha1
kind: Tenant
metadata:
  name: vision
  tenant: nlp
spec:
  owners: [mallory@example.com]
"""


def test_a_second_tenant_in_another_tenants_folder_is_refused(repo: Path) -> None:
    """Named `vision` but placed in nlp's folder (its `tenant: nlp` matching the folder): it was loaded, nlp's
    workloads rendered into vision's namespace, and the trusted base (which reads only tenant.yaml) and the
    rendering disagreed about who the tenant's people are."""
    write(repo, "tenants/nlp/extra.yaml", SECOND_TENANT)
    found = assert_problem(repo, "tenants/nlp/extra.yaml", 1, "a Tenant must live in tenants/nlp/tenant.yaml")
    assert found.hint == "move it to tenants/nlp/tenant.yaml (one Tenant per folder)"


def test_a_tenant_is_named_for_its_folder_whatever_its_tenant_field_says(repo: Path) -> None:
    path = repo / "tenants/nlp/tenant.yaml"
    path.write_text(path.read_text().replace("name: nlp", "name: nlp\n  tenant: vision", 1))
    assert_problem(repo, "tenants/nlp/tenant.yaml", line_of(path, "tenant: vision"), "spec names tenant 'vision'")


@pytest.mark.parametrize(
    "name",
    ["Vision", "team a", "a" * 64, "-vision", "vision-", "vis.ion", "vision\u202e", "é", "v\nx"],
)
def test_a_tenant_folder_not_named_as_a_tenant_is_everyone_s_problem_and_is_not_read(repo: Path, name: str) -> None:
    """The folder's name would be the tenant's key (logs, metrics, the audit log): a committer's free text."""
    write(repo, f"tenants/{name}/pipelines/broken.yaml", "kind: [\n")
    found = assert_problem(repo, "tenants", 1, "not a tenant's name (a DNS-1123 label)")
    assert repr(name) in found.message and "rename it" in found.hint
    assert [d.path for d in load_repo(repo).diagnostics] == ["tenants"], "a file of the folder was read"
    with pytest.raises(InvalidConfig):
        partition.isolate(load_repo(repo))


def test_a_tenant_folder_whose_name_is_not_utf8_is_refused_with_its_bytes_escaped(repo: Path) -> None:
    folder = repo / "tenants" / os.fsdecode(b"ev\xffl")  # git writes any bytes as a name; Python escapes them
    folder.mkdir()
    (folder / "tenant.yaml").write_text("kind: Tenant\n")
    [found] = load_repo(repo).diagnostics
    assert found.path == "tenants" and "'ev\\udcffl'" in found.message
    found.render().encode()  # shown and logged as UTF-8 text: no lone surrogate left in it
    assert partition.tenant_of_path(os.fsdecode(b"tenants/ev\xffl/tenant.yaml")) is None


@pytest.mark.parametrize(
    ("rel", "shown"),
    [
        (b"tenants/nlp/pipelines/x\xff.yaml", "tenants/nlp/pipelines/x\\xff.yaml"),
        (b"tenants/nlp/dr\xe9fts/quota.yaml", "tenants/nlp/dr\\xe9fts"),
    ],
    ids=["file", "folder"],
)
def test_a_spec_file_or_folder_whose_name_is_not_utf8_is_its_tenant_s_problem_shown_escaped(
    repo: Path, rel: bytes, shown: str
) -> None:
    """git stores any bytes as a name; Python reads them with surrogates, which the spec's path carried into
    every rendered object's annotation, mlcp's inventory and the audit log: no JSON encoder writes them, and the
    reconcile pass of every tenant ended in a traceback at the inventory write. Now the name is the tenant's
    error, shown with its bytes escaped, and nothing in it is read."""
    path = repo / os.fsdecode(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(QUOTA.format(name="other"), encoding="utf-8")
    loaded = load_repo(repo)
    [found] = loaded.diagnostics
    assert found.path == shown and "not UTF-8" in found.message and "rename it" in found.hint, found
    assert found.render().encode() and json.dumps(found.path, ensure_ascii=False).encode()
    assert not [s for s in loaded.specs if s.spec.name == "other"], "nothing in it was read"
    assert partition.tenant_of_path(found.path) == "nlp", "the tenant's problem, not everyone's"


def test_folders_nested_deeper_than_the_stack_are_walked_without_recursion(repo: Path) -> None:
    """git keeps a path of any length in a tree: a spec a thousand folders down ended the load (mlcp validate,
    plan, the loop's pass, the trusted base's load) in a RecursionError."""
    deep = deepdirs.make(repo / "tenants" / "nlp")
    (deep / "quota.yaml").write_text(QUOTA.format(name="deep"), encoding="utf-8")
    with deepdirs.shallow_stack():
        loaded = load_repo(repo)
    assert loaded.diagnostics == []
    found = [s.source.path for s in loaded.specs if s.spec.name == "deep"]
    assert found == [f"tenants/nlp/{'d/' * deepdirs.DEPTH}quota.yaml"]
