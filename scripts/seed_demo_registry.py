"""Seed the demo's MLflow server with a model the template's promotion can act on.

Registers `vision-detector` with two versions, each from a real run with logged
metrics in vision's experiment `vision/detector` (which mlcp's first apply made:
a promotion's gates judge only runs of the tenant's own experiments): version 1
(val_map 0.55) and version 2 (val_map 0.71, latency 95 ms), and points the
`staging` alias at version 2 — what a training pipeline would have left behind.
Talks MLflow's REST API with the standard library only.

Usage: python scripts/seed_demo_registry.py TRACKING_URI
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


def call(uri: str, endpoint: str, method: str = "POST", **body: Any) -> dict[str, Any]:
    url = f"{uri.rstrip('/')}/api/2.0/mlflow/{endpoint}"
    if method == "GET":
        url += "?" + urllib.parse.urlencode(body)
    data = json.dumps(body).encode() if method != "GET" else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        data: dict[str, Any] = json.loads(response.read() or b"{}")
        return data


def main(uri: str) -> None:
    try:
        found = call(uri, "experiments/get-by-name", "GET", experiment_name="vision/detector")
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
        sys.exit("no experiment vision/detector yet: run `mlcp apply` first, which makes it for vision")
    experiment = found["experiment"]["experiment_id"]
    call(uri, "registered-models/create", name="vision-detector")
    for number, metrics in enumerate(
        ({"val_map": 0.55, "latency_p95_ms": 110.0}, {"val_map": 0.71, "latency_p95_ms": 95.0}), start=1
    ):
        run = call(uri, "runs/create", experiment_id=experiment)["run"]["info"]
        for key, value in metrics.items():
            call(uri, "runs/log-metric", run_id=run["run_id"], key=key, value=value, timestamp=0, step=0)
        version = call(
            uri,
            "model-versions/create",
            name="vision-detector",
            source=f"s3://mlcp-demo-models/vision/detector/{number}/model",  # vision's root; KServe loads s3://
            run_id=run["run_id"],
        )["model_version"]["version"]
        print(f"registered vision-detector version {version} with {metrics}")
    call(uri, "registered-models/alias", name="vision-detector", alias="staging", version="2")
    print("vision-detector@staging -> version 2")


if __name__ == "__main__":
    main(sys.argv[1])
