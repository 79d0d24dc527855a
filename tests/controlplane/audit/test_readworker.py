"""The reading worker: its frames carry any problem exactly, and what it imports is this process's code."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from controlplane.audit import GENESIS, parallelverify, readworker, verify_lines
from controlplane.audit.chain import seal
from tests.controlplane.audit.conftest import make_record, sealed_line


def test_a_problem_goes_through_a_frame_unchanged() -> None:
    """str(exc) may hold any text a hostile line put in it, a lone surrogate (`"\\ud800"` in JSON) included."""
    for found in [None, (0, ""), (1999, "ValueError: '\ud800\n\x00é' is not a valid Verdict")]:
        stream = io.BytesIO()
        readworker.write_frame(stream, readworker.encode(found))
        stream.seek(0)
        answer = readworker.read_frame(stream)
        assert answer is not None and readworker.decode(answer) == found
        assert readworker.read_frame(stream) is None


def test_a_frame_cut_short_is_the_end() -> None:
    assert readworker.read_frame(io.BytesIO((10).to_bytes(8, "big") + b"short")) is None
    assert readworker.read_frame(io.BytesIO(b"\x00\x00")) is None


def test_the_first_line_no_reader_takes_is_named_by_its_index() -> None:
    _, good = seal(make_record(1), 1, GENESIS)
    twice = sealed_line(actors='["m@x"],"actors":["a@x"]')
    assert readworker.first_problem(good * 3) is None
    found = readworker.first_problem(good + twice + twice)
    assert found is not None and found[0] == 1 and "form mlcp writes" in found[1]


def test_the_worker_process_answers_chunk_after_chunk() -> None:
    path = json.dumps(sys.path)
    worker = subprocess.Popen(
        [sys.executable, "-I", "-c", parallelverify._START, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert worker.stdin is not None and worker.stdout is not None
    _, good = seal(make_record(1), 1, GENESIS)
    twice = sealed_line(actors='["m@x"],"actors":["a@x"]')
    answers = []
    for chunk in (good * 2, good + twice):
        readworker.write_frame(worker.stdin, chunk)
        answers.append(readworker.read_frame(worker.stdout))
    worker.stdin.close()
    assert worker.wait(timeout=30) == 0
    assert [readworker.decode(a) if a is not None else "gone" for a in answers] == [
        None,
        readworker.first_problem(good + twice),
    ]


def test_a_config_repository_in_the_working_directory_decides_nothing_a_worker_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mallory's repository holds `controlplane/audit/readworker.py` and a `sitecustomize.py` (which Python runs at
    start from its path); an operator runs `mlcp audit verify` in its checkout, the checkout on PYTHONPATH. The
    worker is started isolated (`-I`: neither the working directory nor PYTHON* variables), with this process's
    module path."""
    marker = tmp_path / "ran"
    planted = tmp_path / "repo" / "controlplane" / "audit"
    planted.mkdir(parents=True)
    for package in (planted.parent, planted):
        (package / "__init__.py").write_text("")
    (planted / "readworker.py").write_text(f"open({str(marker)!r}, 'w').close()\ndef main(): pass\n")
    (tmp_path / "repo" / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(tmp_path / "repo")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "repo"))
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if entry not in ("", ".")])
    _, good = seal(make_record(1), 1, GENESIS)
    assert parallelverify.verify_lines([good], None, 1) == verify_lines([good])
    assert not marker.exists()
