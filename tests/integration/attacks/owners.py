"""A policy under which owners may change every kind of their own tenant (`kinds: ["*"]`, `@own`).

The attacks on what such owners still may not do (add people, bind them through a notebook, have a shard's lane
write them) start from it: the policy's catch-all must not reach the tenant's membership.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.attacks import gitattack

OWNERS_DO_EVERYTHING = """\
    - name: tenant-owner
      description: Owners may change every kind in their own tenants.
      rules:
        - actions: ["*"]
          kinds: ["*"]
          tenants: ["@own"]
"""


def with_catch_all_owners(policy: str) -> str:
    """The AccessPolicy text `policy` with the role above, bound to every tenant's owners."""
    text = policy.replace("  roles:\n", "  roles:\n" + OWNERS_DO_EVERYTHING, 1)
    return text.replace("  bindings:\n", '  bindings:\n    - role: tenant-owner\n      users: ["*"]\n', 1)


def catch_all_owners(tmp_path: Path, prefix: str, kubeconfig: Path, mlflow_uri: str) -> gitattack.Operator:
    """A signed test repo whose initial commit holds that policy, applied once."""
    signed = gitattack.signed_repo(tmp_path, prefix)
    policy = signed.root.joinpath("policies/access.yaml").read_text(encoding="utf-8")
    signed.write("policies/access.yaml", with_catch_all_owners(policy))
    signed.git("add", "-A")
    signed.git("commit", "-q", "--amend", "--no-edit", "-S")
    signed.repo.initial = signed.head()
    op = gitattack.Operator(signed, kubeconfig, mlflow_uri, tmp_path)
    op.first_apply()
    return op
