"""`mlcp apply` before and after the writes: a failed write's message is outside text (it quotes the servers,
which quote values others chose), shown as such and never stopping the apply; a saved plan file is anyone's to
edit, so one that is no plan is a clear error, and one of another shape than mlcp writes is refused and recorded
(the saved plans that match or differ from a fresh plan are tested against the real servers, in
tests/integration/test_saved_plans.py and tests/integration/attacks/test_saved_plan_tamper.py)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controlplane.audit import JsonlStore
from controlplane.cli import apply as apply_cli
from controlplane.cli.app import app
from controlplane.plans import Change, Decision, Plan
from reconciler.backends.base import ApplyOptions, Outcome, Status
from tests.reconciler import gitrepo
from tests.reconciler.fakes import FakeBackend, change

runner = CliRunner()

CONFLICT = 'HTTP 409: Apply failed with 1 conflict: conflict with "[/x]": .spec.templates'
"""What the API server says when a tenant member took a field with `kubectl apply --field-manager='[/x]'`."""


class Conflicting(FakeBackend):
    """Every write fails with the API server's conflict message."""

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        self.calls.append(f"apply {change.ref.name}")
        return Outcome(change, Status.failed, CONFLICT)


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_a_failed_writes_message_is_shown_and_the_apply_goes_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], terminal: bool
) -> None:
    """On a terminal the progress bar printed the message as rich markup: `[/x]` raised MarkupError from the
    progress callback, mid-apply, before the outcomes (audit log) and the inventory were recorded."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    backend = Conflicting(system="fake")
    allowed = Decision(True, "tenant-developer", "allowed", ("bob@example.com",))
    plan = Plan(tuple(replace(change(n), decision=allowed) for n in "ab"), revision="0" * 40)
    report = apply_cli._run(plan, {"fake": backend}, ApplyOptions(), 1, None)
    assert [o.status for o in report.outcomes] == [Status.failed, Status.failed]
    assert [c for c in backend.calls if c.startswith("apply")] == ["apply a", "apply b"]
    assert backend.calls[-1] == "record", "the inventory is recorded after the failed writes"
    assert 'conflict with "[/x]": .spec.templates' in capsys.readouterr().err


def test_a_plan_file_nested_too_deeply_to_read_is_a_clear_error(tmp_path: Path) -> None:
    """json.loads raised RecursionError: a traceback instead of an error naming the file."""
    plan = tmp_path / "plan.json"
    plan.write_text("[" * 200_000 + "]" * 200_000)
    result = runner.invoke(app, ["apply", str(plan), "--yes"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    assert f"{plan} is not a saved mlcp plan: nested too deeply to read" in " ".join(result.output.split())


@pytest.mark.parametrize(("namespace", "name"), [("vision", ["train"]), (7, "train")], ids=["list-name", "number-ns"])
def test_a_plan_file_of_another_shape_is_refused_and_recorded(tmp_path: Path, namespace: object, name: object) -> None:
    """A list as a name or a number as a namespace reached the comparison with the fresh plan, which crashed
    (unhashable, unsortable) after the revision was planned again: no refusal, no audit record of the tampering.
    Now it is refused as an edited file (rule saved-plan), recorded under the commit the file names, before
    anything connects."""
    repo = gitrepo.committed(tmp_path / "repo", {"mlcp.yaml": "apiVersion: mlcp.dev/v1alpha1\nkind: Config\n"})
    revision = repo.git("rev-parse", "HEAD")
    ref = {"system": "kubernetes", "apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace, "name": name}
    document = json.loads(Plan((), revision=revision, repo=str(repo.root)).to_json())
    document["changes"] = [{"ref": ref, "action": "create", "reason": "", "rank": 1}]
    plan, log = tmp_path / "plan.json", tmp_path / "audit.jsonl"
    plan.write_text(json.dumps(document))
    repo.commit("the operator's clone moves on", gitrepo.MALLORY)
    result = runner.invoke(
        app,
        [
            "apply",
            str(plan),
            "--yes",
            "--audit-log",
            str(log),
            "--kubeconfig",
            "/nonexistent",
            "--repo",
            str(repo.root),
        ],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and f"refused (saved-plan): {plan} is not the plan revision {revision[:12]}" in said
    assert "(not a plan mlcp writes: changes[0].ref." in said, said
    [record] = JsonlStore(log).records()
    assert (record.rule, record.decision.value) == ("saved-plan", "deny")
    assert (record.commit, record.actors) == (revision, ()), "the file's commit, naming no one (not HEAD's author)"


def _repo_with_hooks(root: Path, ran: Path) -> str:
    """Mallory's repository: a commit, and a hook and an fsmonitor command that write `ran` when git runs there.
    Committed to a pull request's checkout or dropped in a shared folder, it is files like any other."""
    repo = gitrepo.committed(root, {"mlcp.yaml": "apiVersion: mlcp.dev/v1alpha1\nkind: Config\n", "x.txt": "x\n"})
    hook = root / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\necho hook >> {ran}\n")
    hook.chmod(0o755)
    repo.git("config", "core.fsmonitor", f"echo fsmonitor >> {ran}; false")
    return repo.git("rev-parse", "HEAD")


@pytest.mark.parametrize("fetched", [True, False], ids=["commit-fetched", "commit-elsewhere"])
@pytest.mark.parametrize("named", [True, False], ids=["--repo", "current-directory"])
def test_a_saved_plan_never_decides_the_repository_git_runs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fetched: bool, named: bool
) -> None:
    """Whoever handles a plan file (a CI artifact, a shared folder) wrote the repo it names: apply checked the
    commit out there, so git ran that repository's hooks and configured commands (`core.fsmonitor`, filters,
    `gpg.ssh.program`) as the operator, with the operator's kubeconfig at hand. The repo is now the operator's
    (`--repo`, default: the current directory); the file's is only shown."""
    ran = tmp_path / "ran"
    revision = _repo_with_hooks(tmp_path / "mallory", ran)
    operators = gitrepo.committed(tmp_path / "clone", {"mlcp.yaml": "apiVersion: mlcp.dev/v1alpha1\nkind: Config\n"})
    if fetched:
        operators.git("fetch", "-q", str(tmp_path / "mallory"), "HEAD")
    plan = tmp_path / "plan.json"
    plan.write_text(Plan((), revision=revision, repo=str(tmp_path / "mallory")).to_json(), encoding="utf-8")
    monkeypatch.chdir(operators.root)
    where = ["--repo", str(operators.root)] if named else []
    result = runner.invoke(app, ["apply", str(plan), "--yes", "--kubeconfig", "/nonexistent", *where])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert not ran.exists(), f"git ran the file's repository's commands: {ran.read_text()}"
    said = " ".join(result.output.split())
    assert result.exit_code == 1, said
    if fetched:
        assert "cannot load kubeconfig /nonexistent" in said, "planned in the operator's clone, then connecting"
    else:
        assert f"cannot resolve '{revision}' in " in said and "no such commit" in said, said
        assert f"it was planned in {tmp_path / 'mallory'}" in said and "--repo" in said, said
