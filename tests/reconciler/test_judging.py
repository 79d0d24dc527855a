"""Which revision judges a tenant's changes: its own applied revision only while head descends from it, and not
when it precedes an operator-named base (reconciler.judging)."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from reconciler.judging import Base, Judging
from reconciler.state import TenantRevisions
from reconciler.trust import TrustedBase


def _git(root: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True, env=env)
    return done.stdout.strip()


def _commit(root: Path, name: str) -> str:
    (root / name).write_text(name, encoding="utf-8")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", name)
    return _git(root, "rev-parse", "HEAD")


def _base(revision: str, origin: str) -> TrustedBase:
    return cast(TrustedBase, SimpleNamespace(revision=revision, origin=origin))


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """first → second → (dropped, then reset away) ; second → third (head)."""
    _git(tmp_path, "init", "-q", "-b", "main")
    first, second = _commit(tmp_path, "first"), _commit(tmp_path, "second")
    dropped = _commit(tmp_path, "dropped")
    _git(tmp_path, "reset", "-q", "--hard", second)
    third = _commit(tmp_path, "third")
    return tmp_path, {"first": first, "second": second, "dropped": dropped, "third": third}


def test_a_recorded_revision_head_descends_from_judges(history: tuple[Path, dict[str, str]]) -> None:
    root, at = history
    state = TenantRevisions({"vision": at["first"], "nlp": at["second"]})
    bases = Judging().bases(["vision", "nlp", "new"], state, _base(at["second"], "applied"), root, at["third"])
    assert bases == {
        "vision": Base(at["first"], True),
        "nlp": Base(at["second"], True),
        "new": Base(at["second"], False),
    }


def test_a_dropped_revision_is_passed_over_for_the_trusted_base_and_logged(
    history: tuple[Path, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    root, at = history
    state = TenantRevisions({"vision": at["dropped"], "nlp": "f" * 40})  # dropped, and never in the clone
    with caplog.at_level(logging.WARNING):
        bases = Judging().bases(["vision", "nlp"], state, _base(at["first"], "applied"), root, at["third"])
    assert bases == {"vision": Base(at["first"], False), "nlp": Base(at["first"], False)}
    [record] = [r for r in caplog.records if "mlcp-reconciler-state" in r.getMessage()]
    assert at["dropped"][:12] in str(record.__dict__["tenants"]) and "force push" in str(record.__dict__["tenants"])


def test_a_revision_before_an_operator_named_base_is_passed_over(history: tuple[Path, dict[str, str]]) -> None:
    root, at = history
    state = TenantRevisions({"vision": at["first"], "nlp": at["third"]})
    bases = Judging().bases(["vision", "nlp"], state, _base(at["second"], "operator"), root, at["third"])
    assert bases == {"vision": Base(at["second"], False), "nlp": Base(at["third"], True)}
