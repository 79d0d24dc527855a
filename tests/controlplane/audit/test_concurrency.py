"""Two processes appending to one log: each batch lands whole and in order, and the chain stays intact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from controlplane.audit import JsonlStore

_WRITER = """
import sys
from dataclasses import replace
from pathlib import Path
from controlplane.audit import JsonlStore
from tests.controlplane.audit.conftest import make_record

name, path, batches = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
store = JsonlStore(path)
for batch in range(batches):
    size = 1 + batch % 4
    store.append_many([replace(make_record(i), spec=f"{name}/{batch}/{i}") for i in range(size)])
"""


def test_two_processes_never_interleave_or_fork_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    root = Path(__file__).resolve().parents[3]
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, name, str(path), "60"], cwd=root) for name in ("a", "b")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]

    store = JsonlStore(path)
    verification = store.verify()
    assert verification.ok, verification.problem
    specs = [json.loads(line)["spec"] for line in store.raw_lines()]
    assert len(specs) == 2 * sum(1 + b % 4 for b in range(60))
    # Every batch is one contiguous run, in its own order.
    runs: list[list[str]] = []
    for spec in specs:
        writer, batch, _ = spec.split("/")
        if runs and runs[-1][0].rsplit("/", 1)[0] == f"{writer}/{batch}":
            runs[-1].append(spec)
        else:
            runs.append([spec])
    assert len(runs) == 120
    for run in runs:
        assert [int(s.rsplit("/", 1)[1]) for s in run] == list(range(len(run)))
    assert {r[0].split("/")[0] for r in runs} == {"a", "b"}
