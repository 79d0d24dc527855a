"""What a benchmark's figures depend on besides the code: the machine's load, and whether `nice` means anything.

On Linux with scheduler autogroups on (`kernel.sched_autogroup_enabled=1`, the default of many distributions),
CPU is shared fairly between sessions first and by nice value only within one: a `nice -n 19` process in another
session (another shell, a test's server started with its own session) takes as much CPU as this run. On this
project's shared 2-core machine that made every "niced" neighbour a full competitor until it was found (session 8).
Each benchmark prints this line with its figures so that a reader knows which kind of load they saw.
"""

from __future__ import annotations

import os
from pathlib import Path

AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")


def conditions() -> str:
    """One line: the load averages, and whether niced work elsewhere yields to this run."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        autogroup = AUTOGROUP.read_text().strip()
    except OSError:
        return f"load average (1, 5, 15 min): {load}; no scheduler autogroups here: niced work yields to this run"
    if autogroup == "0":
        return f"load average (1, 5, 15 min): {load}; sched_autogroup_enabled=0: niced work yields to this run"
    return (
        f"load average (1, 5, 15 min): {load}; sched_autogroup_enabled={autogroup}: niced work in other sessions "
        "competes with this run at full weight (sysctl kernel.sched_autogroup_enabled=0 makes nice count)"
    )
