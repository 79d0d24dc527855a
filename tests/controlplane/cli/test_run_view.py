"""How `mlcp run` shows a run: JSON for machines, a line per change when piped, a table on a terminal."""

from __future__ import annotations

from rich.console import Console

from controlplane import runs
from controlplane.cli import run_view

REQUEST = runs.RunRequest("train", "vision", "vision-ns", {"epochs": "3"}, "tenants/vision/pipelines/train.yaml")


def _status(phase: str, *steps: runs.StepStatus, finished: str | None = None) -> runs.RunStatus:
    return runs.RunStatus("train-x1", "vision-ns", phase, "2026-01-01T00:00:00Z", finished, "", tuple(steps))


def test_json_document_shape() -> None:
    step = runs.StepStatus("fit", "Succeeded", "Pod", "2026-01-01T00:00:01Z", "2026-01-01T00:00:04Z")
    doc = run_view.to_dict(REQUEST, _status("Succeeded", step, finished="2026-01-01T00:00:05Z"), "bob", True)
    assert doc == {
        "format": 1,
        "name": "train-x1",
        "namespace": "vision-ns",
        "tenant": "vision",
        "pipeline": "train",
        "parameters": {"epochs": "3"},
        "submittedAs": "bob",
        "watched": True,
        "phase": "Succeeded",
        "startedAt": "2026-01-01T00:00:00Z",
        "finishedAt": "2026-01-01T00:00:05Z",
        "duration": 5.0,
        "message": "",
        "steps": [step.to_dict()],
    }


def test_piped_output_has_a_line_for_each_change_only() -> None:
    running = runs.StepStatus("fit", "Running", "Pod")
    first = _status("Running", running)
    assert run_view.changes(None, first) == ["run train-x1: Running", "  fit: Running"]
    assert run_view.changes(first, first) == []
    failed = runs.StepStatus("fit", "Failed", "Retry", message="exit code 3", attempts=2)
    assert run_view.changes(first, _status("Failed", failed)) == [
        "  fit: Failed (attempt 2): exit code 3",
        "run train-x1: Failed",
    ]


def test_summary_says_how_it_ended() -> None:
    assert run_view.summary(_status("Succeeded", finished="2026-01-01T00:01:00Z")) == (
        "✓ run train-x1 Succeeded in 60s",
        "green",
    )
    failed = runs.RunStatus("train-x1", "n", "Failed", None, None, "child 'fit' failed")
    assert run_view.summary(failed) == ("✗ run train-x1 Failed: child 'fit' failed", "red")


def test_the_table_shows_every_step_with_phase_time_and_attempts() -> None:
    steps = (
        runs.StepStatus("fetch", "Succeeded", "Pod", "2026-01-01T00:00:01Z", "2026-01-01T00:00:03Z"),
        runs.StepStatus("fit[0]", "Failed", "Retry", "2026-01-01T00:00:04Z", message="exit code 3", attempts=3),
    )
    console = Console(width=120, record=True, color_system=None)
    console.print(run_view.table(_status("Failed", *steps)))
    text = console.export_text()
    assert "run vision-ns/train-x1  ✗ Failed" in text
    fetch = next(line for line in text.splitlines() if "fetch" in line)
    assert "✓ Succeeded" in fetch and "2s" in fetch
    fit = next(line for line in text.splitlines() if "fit[0]" in line)
    assert "✗ Failed" in fit and " 3 " in fit and "exit code 3" in fit
