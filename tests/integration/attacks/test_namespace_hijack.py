"""Namespace hijack: a new Tenant names a namespace that is not its to take.

Live state is found by label, so a namespace without mlcp's labels looks
absent, and server-side apply would silently take it over and bind the new
tenant's owners as admins there. Through the real CLI against a real API
server, one revision adds three tenants (committed by someone who may create
tenants, or by an attacker who got such a commit in) claiming vision's
namespace, mlcp's controller namespace and a team's hand-made namespace. Each
is refused under `namespace-ownership`, nothing of theirs reaches those
namespaces (labels, RoleBindings), vision's own change in the same revision
still converges, and the audit log records the refusals; the reconcile loop
blames the newcomers, not vision. A platform admin can then adopt the hand-made
namespace with `adoptNamespace: true`, and mlcp never prunes it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import git
import pytest
from kubernetes import client
from typer.testing import CliRunner, Result

from controlplane.audit import JsonlStore
from controlplane.cli.app import app
from controlplane.plans import Action, Plan
from reconciler.backends.kubernetes import RESOURCES
from tests.integration import configrepo
from tests.integration.reconcile_support import mlcp

pytestmark = pytest.mark.integration
runner = CliRunner()

ADMIN = configrepo.ACTOR
ALICE = git.Actor("Alice", "alice@example.com")  # owner of vision
MALLORY = "mallory@example.com"
RULE = "namespace-ownership"
PIPELINE = "pipelines/train-detector.yaml"
OLD_IMAGE, NEW_IMAGE = "ghcr.io/example/vision-data:1.3.0", "ghcr.io/example/vision-data:1.4.0"


class Cli:
    """The real CLI for one test repo, with the operator's settings in the environment."""

    def __init__(self, repo: configrepo.ConfigRepo, kubeconfig: Path, tmp: Path) -> None:
        self.repo, self.tmp, self.kubeconfig = repo, tmp, kubeconfig
        self.env: dict[str, str | None] = {
            "KUBECONFIG": str(kubeconfig),
            "MLFLOW_TRACKING_URI": None,  # the cluster only
            "MLCP_TRUSTED_BASE": repo.initial,
            "MLCP_CONTROLLER_NAMESPACE": repo.system_ns,
        }

    def plan(self, *flags: str) -> Plan:
        out = self.tmp / "plan.json"
        result = runner.invoke(app, ["plan", str(self.repo.root), "--out", str(out), *flags], env=self.env)
        assert result.exit_code in (0, 2), result.output
        return Plan.from_dict(json.loads(out.read_text()))

    def apply(self, audit: str, *flags: str) -> Result:
        args = ["apply", str(self.repo.root), "--yes", "--audit-log", str(self.tmp / audit), *flags]
        return runner.invoke(app, args, env=self.env)


@pytest.fixture
def cli(tmp_path: Path, prefix: str, kubeconfig: Path) -> Cli:
    repo = configrepo.make(tmp_path, prefix)
    target = Cli(repo, kubeconfig, tmp_path)
    applied = target.apply("initial.jsonl")
    assert applied.exit_code == 0, applied.output
    del target.env["MLCP_TRUSTED_BASE"]  # from now on the applied revision is the base
    return target


def add_tenant(repo: configrepo.ConfigRepo, name: str, namespace: str, adopt: bool = False) -> None:
    folder = repo.path(f"tenants/{name}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tenant.yaml").write_text(
        textwrap.dedent(f"""\
            apiVersion: mlcp.dev/v1alpha1
            kind: Tenant
            metadata:
              name: {name}
            spec:
              owners: [{MALLORY}]
              namespace: {namespace}
              deletionProtection: false
            """)
        + ("  adoptNamespace: true\n" if adopt else ""),
        encoding="utf-8",
    )


def hand_made(k8s_admin: client.ApiClient, name: str) -> None:
    """A team's namespace made without mlcp, with a RoleBinding of its own."""
    meta = client.V1ObjectMeta(name=name, labels={"team": "data", "mlcp.dev/test": "true"})
    client.CoreV1Api(k8s_admin).create_namespace(client.V1Namespace(metadata=meta))
    binding = client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="data-admins"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="admin"),
        subjects=[
            client.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="User", name="data-lead@example.com")
        ],
    )
    client.RbacAuthorizationV1Api(k8s_admin).create_namespaced_role_binding(name, binding)


def labels(k8s_admin: client.ApiClient, namespace: str) -> dict[str, str]:
    found = client.CoreV1Api(k8s_admin).read_namespace(namespace)
    return dict(found.metadata.labels or {}) if found.metadata else {}


def bound_users(k8s_admin: client.ApiClient, namespace: str) -> set[str]:
    bindings = client.RbacAuthorizationV1Api(k8s_admin).list_namespaced_role_binding(namespace).items
    return {s.name for b in bindings for s in (b.subjects or [])}


def image(k8s_admin: client.ApiClient, namespace: str) -> str:
    template = client.CustomObjectsApi(k8s_admin).get_namespaced_custom_object(
        "argoproj.io", "v1alpha1", namespace, "workflowtemplates", "train-detector"
    )
    return str(template["spec"]["templates"][1]["container"]["image"])  # type: ignore[index]


def namespace_exists(k8s_admin: client.ApiClient, name: str) -> bool:
    try:
        found = client.CoreV1Api(k8s_admin).read_namespace(name)
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return not (found.metadata and found.metadata.deletion_timestamp)


def test_claims_on_taken_namespaces_are_refused_and_the_owner_still_converges(
    cli: Cli, k8s_admin: client.ApiClient, prefix: str
) -> None:
    repo = cli.repo
    quiet = cli.plan()
    assert not quiet.has_changes
    assert quiet.meta["requests"]["kubernetes"] == len(RESOURCES) + 1, "a no-op plan looks up no namespace"
    data_ns = f"{prefix}-data"[:63]
    hand_made(k8s_admin, data_ns)
    before = {ns: labels(k8s_admin, ns) for ns in (repo.vision, repo.system_ns, data_ns)}
    claims = {f"{prefix}-h1"[:63]: repo.vision, f"{prefix}-h2"[:63]: repo.system_ns, f"{prefix}-h3"[:63]: data_ns}
    for tenant, namespace in claims.items():
        add_tenant(repo, tenant, namespace)
    repo.commit("three new tenants", author=ADMIN)
    repo.edit(f"tenants/{repo.vision}/{PIPELINE}", OLD_IMAGE, NEW_IMAGE)
    repo.commit("vision: new data image", author=ALICE)

    plan = cli.plan()
    for tenant in claims:
        theirs = [c for c in plan.changes if c.tenant == tenant and c.ref.system == "kubernetes"]
        assert theirs and all(c.blocked and c.blocked.startswith(f"{RULE}: tenant {tenant!r}") for c in theirs)
        # the admin may create tenants, but the namespace rule denies the claim, and the authorizer keeps that denial
        assert all(c.decision is not None and not c.decision.allowed and c.decision.rule == RULE for c in theirs)
    assert not [c for c in plan.changes if c.tenant == repo.vision and c.blocked], "vision is not blamed"

    applied = cli.apply("attack.jsonl")
    assert applied.exit_code == 0, applied.output
    assert image(k8s_admin, repo.vision) == NEW_IMAGE, "vision converged in the same revision"
    for namespace in (repo.vision, repo.system_ns, data_ns):
        assert labels(k8s_admin, namespace) == before[namespace], f"{namespace} was not relabelled"
        assert MALLORY not in bound_users(k8s_admin, namespace), f"nobody was bound in {namespace}"
    assert bound_users(k8s_admin, data_ns) == {"data-lead@example.com"}
    store = JsonlStore(cli.tmp / "attack.jsonl")
    records = [r for r in store.records() if r.tenant in claims and r.target["system"] == "kubernetes"]
    assert {r.tenant for r in records} == set(claims), "every refusal is audited"
    assert all(r.result.value == "denied" and r.rule == RULE for r in records), "audited as denials of the rule"
    assert store.verify().ok


def test_the_loop_blames_the_newcomer_and_vision_keeps_converging(
    cli: Cli, k8s_admin: client.ApiClient, prefix: str, tmp_path: Path
) -> None:
    repo = cli.repo
    newcomer = f"{prefix}-h1"[:63]
    add_tenant(repo, newcomer, repo.vision)
    repo.commit("a tenant in vision's namespace", author=ADMIN)
    repo.edit(f"tenants/{repo.vision}/{PIPELINE}", OLD_IMAGE, NEW_IMAGE)
    repo.commit("vision: new data image", author=ALICE)
    audit = tmp_path / "loop.jsonl"
    env = {k: v for k, v in cli.env.items() if v is not None}
    proc = mlcp(
        "reconcile", "--once", "--repo", str(repo.root), "--no-leader-elect", "--audit-log", str(audit),
        "--kubeconfig", str(cli.kubeconfig), "--workdir", str(tmp_path / "reconcile"), env=env,
    )  # fmt: skip
    _, log = proc.communicate(timeout=180)
    assert image(k8s_admin, repo.vision) == NEW_IMAGE, log.decode()[-3000:]
    assert labels(k8s_admin, repo.vision)["mlcp.dev/tenant"] == repo.vision
    assert MALLORY not in bound_users(k8s_admin, repo.vision)
    records = list(JsonlStore(audit).records())
    assert [r for r in records if r.tenant == newcomer and RULE in (r.error or "")]
    assert not [r for r in records if r.tenant == repo.vision and r.error]


def test_an_admin_adopts_a_hand_made_namespace_and_mlcp_never_prunes_it(
    cli: Cli, k8s_admin: client.ApiClient, prefix: str
) -> None:
    repo = cli.repo
    data_ns, tenant = f"{prefix}-data"[:63], f"{prefix}-data"[:63]
    hand_made(k8s_admin, data_ns)
    add_tenant(repo, tenant, data_ns, adopt=True)
    repo.commit("adopt the data team's namespace", author=ADMIN)
    applied = cli.apply("adopt.jsonl")
    assert applied.exit_code == 0, applied.output
    adopted = labels(k8s_admin, data_ns)
    assert adopted["mlcp.dev/tenant"] == tenant and adopted["team"] == "data"
    assert {MALLORY, "data-lead@example.com"} <= bound_users(k8s_admin, data_ns)

    repo.git.git.rm("-r", f"tenants/{tenant}")
    repo.commit("the data team leaves mlcp", author=ADMIN)
    plan = cli.plan("--prune", "--allow-namespace-deletion")
    [namespace] = [c for c in plan.changes if c.ref.kind == "Namespace" and c.action is Action.delete]
    assert namespace.blocked and "adopted" in namespace.blocked and namespace.tenant == tenant
    applied = cli.apply("leave.jsonl", "--prune", "--allow-namespace-deletion")
    assert applied.exit_code == 0, applied.output
    assert namespace_exists(k8s_admin, data_ns), "an adopted namespace is never deleted"
    assert MALLORY not in bound_users(k8s_admin, data_ns), "mlcp's own objects in it were pruned"
    assert bound_users(k8s_admin, data_ns) == {"data-lead@example.com"}, "the team's own binding is untouched"
