"""A config repo of N generated tenants: the input of the scale benchmarks and of the tests that count work.

One builder, so that a figure a benchmark prints (benchmarks/plan_apply.py,
reconcile.py, memory.py, pass_cost.py, sharding.py) and a count a test asserts
(tests/reconciler/test_pass_cost.py) are about the same repo. Each tenant has
an owner and one member, and renders to 9 objects (Namespace, two
ServiceAccounts, Role, four RoleBindings, NetworkPolicy). The access policy
binds one admin, and every commit is made as that admin, so each change is
authorized as in real use.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ADMIN = "bench@example.com"
"""The identity the policy binds; `git` commits as it."""
ADMIN_PARTS = {"NAME": "bench", "EMAIL": ADMIN}
TENANT = """apiVersion: mlcp.dev/v1alpha1
kind: Tenant
metadata:
  name: {name}
spec:
  owners: [owner-{i}@example.com]
  members:
    - name: dev-{i}@example.com
      role: edit
"""
POLICY = f"""apiVersion: mlcp.dev/v1alpha1
kind: AccessPolicy
metadata: {{name: platform}}
spec:
  roles: [{{name: admin, rules: [{{actions: ["*"], kinds: ["*"]}}]}}]
  bindings: [{{role: admin, users: [{ADMIN}]}}]
"""


def tenant_name(prefix: str, i: int) -> str:
    """The name of the `i`-th tenant `make_repo` writes."""
    return f"{prefix}{i:05d}"


def git(root: Path, *argv: str) -> str:
    """Run git in `root` as the admin the policy binds; its output, stripped."""
    who = {f"GIT_{role}_{part}": value for role in ("AUTHOR", "COMMITTER") for part, value in ADMIN_PARTS.items()}
    done = subprocess.run(["git", *argv], cwd=root, env={**os.environ, **who}, check=True, capture_output=True)
    return done.stdout.decode().strip()


def make_repo(root: Path, prefix: str, count: int, system_ns: str) -> None:
    """`count` tenants named `tenant_name(prefix, i)`, mlcp's inventory in `system_ns`, committed on `main`."""
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "access.yaml").write_text(POLICY, encoding="utf-8")
    (root / "mlcp.yaml").write_text(
        f"apiVersion: mlcp.dev/v1alpha1\nkind: Config\ncluster:\n  controllerNamespace: {system_ns}\n", encoding="utf-8"
    )
    for i in range(count):
        name = tenant_name(prefix, i)
        folder = root / "tenants" / name
        folder.mkdir(parents=True)
        (folder / "tenant.yaml").write_text(TENANT.format(name=name, i=i), encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "bench")
