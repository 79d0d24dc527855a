"""Benchmark: `mlcp validate` against check-jsonschema on the same 5,000 spec files (target: mlcp ≥ 3× faster).

Generates a config repo of valid specs — many tenants, each with a tenant, a
quota, pipelines (some scheduled), experiments (some tuned) and promotions, and
one access policy — then times, in the same run, as subprocesses:

* `mlcp validate DIR`: the full validation, cross-references included;
* `check-jsonschema --schemafile schemas/<kind>.json <that kind's files>`, once
  per kind (it takes one schema per run), the six runs summed. This is the
  natural way to check a mixed repo with it; its process start is paid six
  times, so its startup is also printed for anyone who wants to subtract it.

Each tool runs `--repeat` times and its best time counts. Both must report the
repo valid, or the timing means nothing. Usage:

    .venv/bin/python benchmarks/validate.py [--files 5000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET = 3.0
PIPELINES, EXPERIMENTS, PROMOTIONS = 8, 6, 4
API = "apiVersion: mlcp.dev/v1alpha1"


def _tenant(t: str, i: int) -> str:
    return f"""# yaml-language-server: $schema=../../schemas/tenant.json
{API}
kind: Tenant
metadata:
  name: {t}
  labels: {{cost-center: cc-{i:04d}}}
spec:
  displayName: Team {i}
  owners: [lead{i}@example.com]
  members:
    - name: dev{i}a@example.com
    - name: dev{i}b@example.com
      role: view
    - name: {t}-readers
      kind: Group
      role: view
  namespace: ns-{t}
  networkIsolation:
    allowFromNamespaces: [monitoring]
"""


def _quota(i: int) -> str:
    gpu = f'    requests.nvidia.com/gpu: "{i % 4 + 1}"\n' if i % 3 == 0 else ""
    return f"""# yaml-language-server: $schema=../../schemas/quota.json
{API}
kind: Quota
metadata:
  name: compute
spec:
  hard:
    requests.cpu: "{8 + i % 24}"
    requests.memory: {32 + i % 96}Gi
    limits.memory: 256Gi
{gpu}    count/pods: "200"
  limitRange:
    defaultRequest: {{cpu: 100m, memory: 128Mi}}
    default: {{cpu: "1", memory: 1Gi}}
"""


def _pipeline(i: int, j: int) -> str:
    steps = ["fetch", "prepare", "train", "evaluate", "publish"][: 3 + (i + j) % 3]
    body = []
    for k, step in enumerate(steps):
        deps = f"      dependsOn: [{steps[k - 1]}]\n" if k else ""
        gpu = ', nvidia.com/gpu: "1"' if step == "train" and i % 3 == 0 else ""
        body.append(
            f"    - name: {step}\n"
            f"      image: ghcr.io/example/team{i}-{step}:1.{j}.0\n"
            f"      command: [python, -m, {step}]\n"
            f'      args: ["--lr", "{{{{workflow.parameters.learning-rate}}}}"]\n'
            f"      env: {{STAGE: {step}}}\n"
            f'      resources:\n        requests: {{cpu: "{k + 1}", memory: {2 * (k + 1)}Gi{gpu}}}\n'
            f"{deps}"
        )
    schedule = (
        f'  schedule:\n    cron: "{j * 7 % 60} {j % 24} * * *"\n    timezone: Europe/Berlin\n' if j % 2 == 0 else ""
    )
    return (
        f"# yaml-language-server: $schema=../../../schemas/pipeline.json\n{API}\nkind: Pipeline\n"
        f"metadata:\n  name: pipeline-{j}\nspec:\n  description: Pipeline {j} of team {i}.\n"
        f'  parameters:\n    - name: learning-rate\n      value: "0.001"\n    - name: epochs\n      value: "10"\n'
        f"  steps:\n{''.join(body)}{schedule}"
    )


def _experiment(i: int, j: int) -> str:
    tuning = (
        f"""  tuning:
    objective: {{metric: val_auc, type: maximize, goal: 0.9}}
    algorithm: {{name: tpe}}
    parameters:
      - {{name: learning-rate, type: double, min: 0.0001, max: 0.1}}
      - {{name: epochs, type: int, min: 5, max: 50}}
    parallelTrials: 2
    maxTrials: 20
    trialPipeline: pipeline-{j % PIPELINES}
"""
        if j % 2 == 0
        else ""
    )
    return f"""# yaml-language-server: $schema=../../../schemas/experiment.json
{API}
kind: Experiment
metadata:
  name: experiment-{j}
spec:
  tracking:
    description: Experiment {j} of team {i}.
    tags: {{team: team-{i}}}
{tuning}"""


def _promotion(i: int, j: int) -> str:
    source = "fromAlias: staging" if j % 2 else f"version: {j + 1}"
    serving = "  serving:\n    minReplicas: 1\n    maxReplicas: 3\n    resources: {cpu: '2', memory: 4Gi}\n"
    return f"""# yaml-language-server: $schema=../../../schemas/modelpromotion.json
{API}
kind: ModelPromotion
metadata:
  name: promotion-{j}
spec:
  model: team-{i:04d}-model-{j}
  alias: production
  {source}
  gates:
    - {{metric: val_auc, comparison: ">=", threshold: 0.8}}
    - {{metric: latency_p95_ms, comparison: "<", threshold: 150}}
  requiredApprovals: {j % 3}
{serving if j % 2 else ""}"""


def _policy() -> str:
    return (ROOT / "repo_template/policies/access.yaml").read_text(encoding="utf-8")


def _tenant_files(i: int) -> Iterator[tuple[str, str, str]]:
    """(kind, repo-relative path, text) of one tenant's specs, tenant and quota first."""
    t = f"team-{i:04d}"
    yield "Tenant", f"tenants/{t}/tenant.yaml", _tenant(t, i)
    yield "Quota", f"tenants/{t}/quota.yaml", _quota(i)
    for j in range(PIPELINES):
        yield "Pipeline", f"tenants/{t}/pipelines/pipeline-{j}.yaml", _pipeline(i, j)
    for j in range(EXPERIMENTS):
        yield "Experiment", f"tenants/{t}/experiments/experiment-{j}.yaml", _experiment(i, j)
    for j in range(PROMOTIONS):
        yield "ModelPromotion", f"tenants/{t}/promotions/promotion-{j}.yaml", _promotion(i, j)


def generate(root: Path, files: int) -> dict[str, list[Path]]:
    """Write `files` valid spec files under `root`; returns the paths by kind.

    Tenants are complete (a tenant's experiments only tune its own pipelines),
    except that the last one may be cut short after its tenant and quota.
    """
    by_kind: dict[str, list[Path]] = defaultdict(list)
    shutil.copy(ROOT / "repo_template/mlcp.yaml", root / "mlcp.yaml")
    shutil.copytree(ROOT / "schemas", root / "schemas")
    written = 0

    def put(kind: str, rel: str, text: str) -> None:
        nonlocal written
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        by_kind[kind].append(path)
        written += 1

    put("AccessPolicy", "policies/access.yaml", _policy())
    i = 0
    while written < files:
        for kind, rel, text in _tenant_files(i):
            if written == files or (kind == "Experiment" and written + EXPERIMENTS + PROMOTIONS > files):
                break  # never write a tuned experiment whose trial pipeline was cut off
            put(kind, rel, text)
        i += 1
    return by_kind


class Timing(NamedTuple):
    wall: float
    cpu: float
    """User + system time of the process: steadier than wall time on a busy machine."""

    def plus(self, other: Timing) -> Timing:
        return Timing(self.wall + other.wall, self.cpu + other.cpu)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _best(command: list[str], repeat: int) -> Timing:
    """The fastest of `repeat` runs (wall and CPU taken separately)."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, start = _cpu(), time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
        if done.returncode != 0:
            raise SystemExit(f"{command[0]} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return Timing(min(walls), min(cpus))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000, help="spec files to generate")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; the best counts")
    parser.add_argument("--keep", type=Path, help="generate into this (new) directory and keep it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlcp-bench-") as scratch:
        root = args.keep or Path(scratch) / "repo"
        root.mkdir(parents=True)
        by_kind = generate(root, args.files)
        total = sum(len(paths) for paths in by_kind.values())
        mix = ", ".join(f"{len(paths)} {kind}" for kind, paths in sorted(by_kind.items()))
        print(f"{total} spec files in {len(by_kind['Tenant'])} tenants: {mix}")

        mlcp = _best([str(BIN / "mlcp"), "validate", str(root)], args.repeat)
        mlcp_startup = _best([str(BIN / "mlcp"), "--version"], args.repeat)
        checker = str(BIN / "check-jsonschema")
        peer = Timing(0.0, 0.0)
        for kind, paths in sorted(by_kind.items()):
            schema = root / "schemas" / f"{kind.lower()}.json"
            peer = peer.plus(_best([checker, "--schemafile", str(schema), *map(str, paths)], args.repeat))
        peer_startup = _best([checker, "--version"], args.repeat)

    ratio, cpu_ratio = peer.wall / mlcp.wall, peer.cpu / mlcp.cpu
    print(f"{'':44} {'wall':>8} {'cpu':>8}   startup (wall)")
    print(
        f"{'mlcp validate (full, cross-references)':44} {mlcp.wall:7.2f}s {mlcp.cpu:7.2f}s   {mlcp_startup.wall:.2f}s"
    )
    print(
        f"{f'check-jsonschema (schema only, {len(by_kind)} runs)':44} {peer.wall:7.2f}s {peer.cpu:7.2f}s   "
        f"{peer_startup.wall:.2f}s per run"
    )
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print(f"ratio: mlcp is {ratio:.1f}x faster ({cpu_ratio:.1f}x in CPU time); target {TARGET:.0f}x: {verdict}")
    if ratio < TARGET:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
