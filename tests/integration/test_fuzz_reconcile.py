"""A sample of hostile repos through one real `mlcp reconcile --once` pass each, against the real servers.

The attacks stay inside tenant folders (what a tenant's committer controls):
every pass must finish (no traceback, no whole-pass failure), apply nothing
for a tenant it set aside, audit each one (rule invalid-specs), and converge
the untouched tenant. `python -m tests.fuzz --passes N` runs more of them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubernetes import client

from tests.fuzz.runner import Servers, reconcile_case
from tests.integration import configrepo

pytestmark = pytest.mark.integration
SEEDS = range(int(os.environ.get("MLCP_FUZZ_SEED", "7000")), int(os.environ.get("MLCP_FUZZ_SEED", "7000")) + 40)
SAMPLE = int(os.environ.get("MLCP_FUZZ_PASSES", "4"))


def test_hostile_tenants_never_crash_a_pass_or_get_applied(
    tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str, k8s_admin: client.ApiClient
) -> None:
    servers = Servers(kubeconfig, mlflow_uri, k8s_admin)
    done, failures = 0, []
    for seed in SEEDS:
        if done == SAMPLE:
            break
        work = tmp_path / f"case-{seed}"
        work.mkdir()
        outcome = reconcile_case(configrepo.make(work, f"{prefix[:40]}-{seed}"), seed, servers, work)
        if outcome is None:
            continue  # holds what git cannot commit (a FIFO): the next seed
        done += 1
        if outcome.problem:
            failures.append(f"{outcome.case}\n{outcome.problem}\nreproduce: python -m tests.fuzz --seed {seed} "
                            "--cases 0 --passes 1")  # fmt: skip
    assert done == SAMPLE
    assert not failures, "\n\n".join(failures)
