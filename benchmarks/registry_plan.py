"""Benchmark: a no-op `mlcp plan` of the registry over 500 experiments and 200 registered models.

Proves the MLflow backend reads live state with paged searches, not one call
per object: the plan must send at most ⌈N / page size⌉ search calls per object
type (experiments, registered models). It sets up, in a real MLflow server:

* a config repo with 10 tenants, 500 Experiment specs and 200 ModelPromotion specs;
* the 500 experiments, created by `mlcp apply` itself;
* 200 registered models, each with one version from a run that logged auc=0.95 in one of its tenant's
  experiments (a gate judges only the tenant's own runs), alias `production` already on it, confirmed by a
  second apply (so every promotion is a no-op);

then times the no-op plan (render, read, plan, review) and prints the calls per
endpoint. The server is the one named by --tracking-uri / $MLCP_TEST_MLFLOW_URI,
or a fresh local one started through devenv. Usage:

    .venv/bin/python benchmarks/registry_plan.py [--experiments 500] [--models 200] [--tracking-uri URI]
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # devenv is imported from the checkout

from reconciler import engine
from reconciler.applying import apply_plan, unchecked
from reconciler.backends.base import ApplyOptions, Backend
from reconciler.backends.mlflow import MlflowBackend
from reconciler.backends.mlflow_rest import PAGE_SIZE, MlflowRest

TENANTS = 10
API = "apiVersion: mlcp.dev/v1alpha1"
POLICY = f"""{API}
kind: AccessPolicy
metadata: {{name: bench}}
spec:
  roles: [{{name: all, rules: [{{actions: ["*"], kinds: ["*"], tenants: ["*"]}}]}}]
  bindings: [{{role: all, users: ["*"]}}]
"""


def tenant_name(run: str, i: int) -> str:
    """Tenant of the i-th experiment or model; named after the run, as tenants own their registry names."""
    return f"{run}-t{i % TENANTS}"


def model_name(run: str, i: int) -> str:
    return f"{tenant_name(run, i)}-m{i}"


def write_repo(root: Path, run: str, experiments: int, models: int) -> None:
    (root / "policies").mkdir(parents=True)
    (root / "mlcp.yaml").write_text(f"{API}\nkind: Config\n")
    (root / "policies" / "access.yaml").write_text(POLICY)
    for t in range(TENANTS):
        tenant = root / "tenants" / tenant_name(run, t)
        (tenant / "experiments").mkdir(parents=True)
        (tenant / "promotions").mkdir()
        (tenant / "tenant.yaml").write_text(
            f"{API}\nkind: Tenant\nmetadata: {{name: {tenant_name(run, t)}}}\n"
            f"spec: {{owners: [owner{t}@example.com]}}\n"
        )
    for i in range(experiments):
        (root / "tenants" / tenant_name(run, i) / "experiments" / f"e{i}.yaml").write_text(
            f"{API}\nkind: Experiment\nmetadata: {{name: e{i}}}\n"
            f"spec: {{tracking: {{name: {tenant_name(run, i)}/e{i}, description: bench, tags: {{n: '{i}'}}}}}}\n"
        )
    for i in range(models):
        (root / "tenants" / tenant_name(run, i) / "promotions" / f"p{i}.yaml").write_text(
            f"{API}\nkind: ModelPromotion\nmetadata: {{name: p{i}}}\n"
            f"spec: {{model: {model_name(run, i)}, alias: production, version: 1, "
            "gates: [{metric: auc, comparison: '>=', threshold: 0.9}]}\n"
        )
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench"], check=True)


def register_models(rest: MlflowRest, run: str, models: int) -> None:
    """Model i from a run of experiment `e<i mod TENANTS>`, its tenant's (made by the setup's first apply)."""
    experiments = {
        t: rest.get("experiments/get-by-name", experiment_name=f"{tenant_name(run, t)}/e{t}")["experiment"]
        for t in range(TENANTS)
    }

    def one(i: int) -> None:
        experiment = experiments[i % TENANTS]["experiment_id"]
        info = rest.post("runs/create", experiment_id=experiment)["run"]["info"]
        rest.post("runs/log-metric", run_id=info["run_id"], key="auc", value=0.95, timestamp=1, step=0)
        model = model_name(run, i)
        rest.post("registered-models/create", name=model)
        rest.post("model-versions/create", name=model, source=f"{info['artifact_uri']}/model", run_id=info["run_id"])
        rest.post("registered-models/alias", name=model, alias="production", version="1")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(models)))


def bench(uri: str, experiments: int, models: int) -> bool:
    run = f"bench-{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        write_repo(root, run, experiments, models)
        t0 = time.perf_counter()
        desired = engine.load_desired(root)
        for step in ("experiments", "promotions"):  # the models are registered from runs of the experiments made
            setup: dict[str, Backend] = {"mlflow": MlflowBackend.from_uri(uri)}
            first, _ = engine.make_plan(desired, setup)
            report = apply_plan(first, setup, ApplyOptions(actor="bench"), concurrency=8, authorize=unchecked)
            print(
                f"setup ({step}): {len(report.outcomes)} changes applied, {len(report.failed)} failed, "
                f"{time.perf_counter() - t0:.1f}s"
            )
            if step == "experiments":
                register_models(MlflowRest(uri), run, models)

        backend = MlflowBackend.from_uri(uri)
        start = time.perf_counter()
        plan, states = engine.make_plan(engine.load_desired(root), {"mlflow": backend})
        elapsed = time.perf_counter() - start
    live = states["mlflow"].objects.values()
    n_experiments = sum(1 for o in live if o.ref.kind == "Experiment")
    n_models = len(backend.promotions.models)
    pending = [c for c in plan.pending if c.ref.name.startswith(run)]
    print(f"no-op plan: {len(plan.changes)} changes, {len(pending)} pending, {elapsed:.2f}s")
    print(f"page size {PAGE_SIZE}; calls per endpoint: {dict(sorted(backend.rest.calls.items()))}")
    ok = not pending
    for endpoint, n in (("experiments/search", n_experiments), ("registered-models/search", n_models)):
        bound = max(1, math.ceil(n / PAGE_SIZE))
        calls = backend.rest.calls[endpoint]
        ok = ok and calls <= bound
        print(
            f"  {endpoint}: {calls} call(s) for {n} objects (bound ⌈{n}/{PAGE_SIZE}⌉ = {bound})"
            f" {'ok' if calls <= bound else 'OVER'}"
        )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=500)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--tracking-uri", default=os.environ.get("MLCP_TEST_MLFLOW_URI"))
    args = parser.parse_args()
    if args.experiments < TENANTS:
        parser.error(f"--experiments must be at least {TENANTS}: each tenant's models are logged in its experiment")
    if args.tracking_uri:
        return 0 if bench(args.tracking_uri, args.experiments, args.models) else 1
    from devenv.mlflowserver import MlflowServer

    with tempfile.TemporaryDirectory() as tmp:
        server = MlflowServer(Path(tmp) / "mlflow", Path(tmp) / "mlflow.log")
        server.start()
        try:
            server.wait_ready(120)
            return 0 if bench(server.uri, args.experiments, args.models) else 1
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
