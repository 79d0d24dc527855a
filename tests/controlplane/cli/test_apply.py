"""`mlcp apply`'s own output: a failed write's message is outside text (it quotes the servers, which quote values
others chose), shown as such on a terminal and in a pipe, and it never stops the apply."""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest

from controlplane.cli import apply as apply_cli
from controlplane.plans import Change, Decision, Plan
from reconciler.backends.base import ApplyOptions, Outcome, Status
from tests.reconciler.fakes import FakeBackend, change

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
