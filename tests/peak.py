"""A child process's own peak RSS, honestly measured from inside a long test session.

Linux carries a process's peak RSS across exec: a child forked from a pytest process that has grown to
300 MB reports at least 300 MB however little it uses itself (and RUSAGE_CHILDREN is the maximum over every
child ever waited for). So the command runs under a small wrapper process, and the wrapper reports the peak
of its own only child.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[2:]).returncode\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def run(argv: list[str], **popen: Any) -> tuple[int, float]:
    """(exit code, peak RSS in MB) of `argv`, whose output goes where `popen` (subprocess.run's keywords) says."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "peak"
        done = subprocess.run([sys.executable, "-c", _WRAPPER, str(report), *argv], check=False, **popen)
        return done.returncode, int(report.read_text()) / 1024
