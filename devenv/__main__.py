"""`python -m devenv {build,up,down,status,serve}`; used by hack/testenv/testenv.mk.

A developer tool, not part of the `mlcp` CLI: it needs a source checkout (to
build the servers) and starts processes, which `mlcp` itself never does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from devenv import daemon, seed
from devenv.binaries import bin_dir, ensure_built
from devenv.mlflowserver import ensure_installed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devenv", description=__doc__)
    parser.add_argument(
        "command",
        choices=["build", "up", "down", "status", "serve"],
        help="build: binaries, CRD seed and MLflow venv; up/down: background environment",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".mlcp"),
        help="where up/down keep state, logs and dev.env (default .mlcp)",
    )
    parser.add_argument("--mlflow-basic-auth", action="store_true", help="run MLflow with --app-name basic-auth")
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir.resolve()
    if args.command == "build":
        print(f"devenv: CRDs seeded in {seed.ensure(ensure_built())}")
        print(f"devenv: binaries in {bin_dir()}")
        print(f"devenv: mlflow at {ensure_installed()}")
        return 0
    if args.command == "up":
        return daemon.up(state_dir, mlflow_basic_auth=args.mlflow_basic_auth)
    if args.command == "down":
        return daemon.down(state_dir)
    if args.command == "serve":
        return daemon.serve(state_dir, mlflow_basic_auth=args.mlflow_basic_auth)
    state = daemon.read_state(state_dir)
    if state is None:
        print("devenv: not running")
        return 1
    print(json.dumps(state, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
