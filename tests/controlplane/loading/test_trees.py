"""A repo loaded from memory is the repo loaded from its folder: same specs, positions, refusals and budgets."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from controlplane.loading import budgets
from controlplane.loading.repo import ConfigRepo, load_folder, load_repo, load_tree
from controlplane.loading.trees import Entry, MemoryTree
from tests.controlplane.helpers import QUOTA, write
from tests.controlplane.loading.test_yamldocs import BILLION_LAUGHS


def _files(root: Path) -> dict[str, bytes]:
    """Every regular file under `root` by repo-relative path, as the trusted base's blobs would be."""
    found: dict[str, bytes] = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def _without_root(repo: ConfigRepo) -> dict[str, object]:
    loaded = dataclasses.asdict(repo) | {"root": None, "refused": sorted(map(str, repo.refused))}
    loaded["specs"] = [(s.key, s.source, s.positions, s.spec.model_dump()) for s in repo.specs]
    return loaded


def _assert_same(root: Path, limits: budgets.Limits | None = None) -> ConfigRepo:
    """Loads `root` from its folder and from memory, each with a fresh budget, and compares all but the root."""
    from_folder = load_repo(root, budget=budgets.Budget(limits or budgets.Limits()))
    tree = MemoryTree(Path("/nonexistent"), _files(root))
    from_memory = load_tree(tree, budget=budgets.Budget(limits or budgets.Limits()))
    assert _without_root(from_memory) == _without_root(from_folder)
    return from_memory


def test_the_template_loads_the_same_from_memory(repo: Path) -> None:
    loaded = _assert_same(repo)
    assert loaded.diagnostics == [] and len(loaded.specs) >= 10


def test_every_refusal_is_the_same_from_memory(repo: Path) -> None:
    write(repo, "tenants/nlp/pipelines/bomb.yaml", BILLION_LAUGHS)
    write(repo, "tenants/nlp/broken.yaml", "kind: [\n")
    write(repo, "tenants/nlp/dup.yaml", QUOTA.format(name="compute"))
    write(repo, "tenants/vision/other.yaml", QUOTA.format(name="q").replace("name: q", "name: q\n  tenant: nlp"))
    write(repo, "tenants/vision/.drafts/hidden.yaml", "kind: [\n")
    write(repo, "tenants/vision/notes.txt", "kind: [\n")
    write(repo, "policies/quota.yaml", QUOTA.format(name="misplaced"))
    write(repo, "tenants/vision/deep/er/q.yml", QUOTA.format(name="deep"))
    (repo / "tenants/vision/latin1.yaml").write_bytes("kind: caf\xe9\n".encode("latin-1"))
    (repo / "tenants/vision/crlf.yaml").write_bytes(QUOTA.format(name="crlf").replace("\n", "\r\n").encode())
    (repo / "tenants/vision/cr.yaml").write_bytes(QUOTA.format(name="cr").replace("\n", "\r").encode())
    (repo / "tenants/vision/bom.yaml").write_bytes(b"\xef\xbb\xbf" + QUOTA.format(name="bom").encode())
    (repo / "mlcp.yaml").write_text("apiVersion: mlcp.dev/v1alpha1\nkind: Config\nbogus: 1\n")
    loaded = _assert_same(repo)
    refused = {d.path for d in loaded.diagnostics}
    assert refused >= {"mlcp.yaml", "policies/quota.yaml", "tenants/nlp/broken.yaml", "tenants/nlp/pipelines/bomb.yaml"}
    assert refused >= {"tenants/vision/latin1.yaml", "tenants/vision/other.yaml"}
    assert {"crlf", "cr", "bom", "deep"} <= {s.spec.metadata.name for s in loaded.specs}


def test_budgets_run_out_at_the_same_file_from_memory(repo: Path) -> None:
    for i in range(6):
        write(repo, f"tenants/nlp/q{i}.yaml", QUOTA.format(name=f"q{i}"))
    write(repo, "tenants/vision/big.yaml", "# " + "x" * 5000 + "\n")
    loaded = _assert_same(repo, budgets.Limits(tenant_files=4, file_bytes=4000))
    messages = " ".join(d.message for d in loaded.diagnostics)
    assert "tenants/nlp" in messages and "big.yaml" in messages, messages


def test_a_folder_loads_the_same_from_memory(repo: Path) -> None:
    tree = MemoryTree(Path("/nonexistent"), _files(repo))
    assert _without_root(load_folder(tree, "tenants/nlp")) == _without_root(load_folder(repo, "tenants/nlp"))


def test_a_memory_tree_lists_folders_and_files_by_name() -> None:
    tree = MemoryTree(Path("/x"), {"tenants/b/t.yaml": b"", "tenants/a.yaml": b"", "mlcp.yaml": b"a"})
    assert tree.scan("tenants") == [Entry("a.yaml", False, False), Entry("b", True, False)]
    assert tree.scan("") == [Entry("mlcp.yaml", False, False), Entry("tenants", True, False)]
    assert tree.scan("tenants/c") is None and tree.exists("tenants/b") and not tree.exists("nope")
    assert tree.lstat("mlcp.yaml").size == 1
    with pytest.raises(FileNotFoundError):
        tree.lstat("nope.yaml")
