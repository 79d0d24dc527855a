"""Which files git checks out through a conversion `.gitattributes` asks for, as git itself reads them."""

from __future__ import annotations

from pathlib import Path

from reconciler import conversions
from tests.reconciler import gitrepo


def test_an_encoding_or_a_filter_is_found_and_line_ends_are_not(tmp_path: Path) -> None:
    repo = gitrepo.committed(
        tmp_path / "repo",
        {
            ".gitattributes": "tenants/a/*.yaml working-tree-encoding=UTF-7\ntenants/b/x.yaml filter=lfs\n"
            "tenants/c/*.yaml text eol=crlf ident\n",
            "tenants/c/x.yaml": "a: 1\n",
        },
    )
    paths = ["tenants/a/x.yaml", "tenants/b/x.yaml", "tenants/c/x.yaml", "tenants/d/x.yaml"]
    assert conversions.converted(repo.root, paths) == {
        "tenants/a/x.yaml": "working-tree-encoding=UTF-7",
        "tenants/b/x.yaml": "filter=lfs",
    }
    assert conversions.converted(repo.root, []) == {}


def test_a_revision_without_gitattributes_is_not_asked_about(tmp_path: Path) -> None:
    repo = gitrepo.committed(tmp_path / "repo", {"tenants/a/x.yaml": "a: 1\n"})
    (repo.root / ".git" / "info" / "attributes").write_text("* working-tree-encoding=UTF-7\n")  # the operator's
    assert conversions.converted(repo.root, ["tenants/a/x.yaml"]) == {}
