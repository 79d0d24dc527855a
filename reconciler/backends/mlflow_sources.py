"""Where a model version's files are: its `source` resolved the way MLflow itself resolves it.

KServe's storage initializer downloads concrete locations only (`s3://`, `gs://`, ...), but MLflow 3 records
most versions by reference: `log_model(..., registered_model_name=...)` and `register_model("runs:/<run>/model")`
of a model logged with MLflow 3 register `models:/<model id>` (a LoggedModel, whose files are under its
experiment's `models/` folder, not the run's artifacts); a version copied from another is `models:/<name>/<n>`;
older clients registered `runs:/<run>/<path>`. Served as they are, none of them ever loads. The server records
where such a version's files are (its storage location, answered by `model-versions/get-download-uri`, as
MLflow's own `ModelsArtifactRepository` asks), and a `runs:/` URI is the run's `artifact_uri` plus the path (as
MLflow's `RunsArtifactRepository` resolves it). Anything else is its own location. Each reference is followed once:
what it names is what is served, checked like any location (reconciler/serving.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from reconciler.backends.mlflow_rest import MlflowRest

MODELS = "models:"
RUNS = "runs:"


def location(rest: MlflowRest, model: str, number: str, version: Mapping[str, Any]) -> str | None:
    """Where version `number` of `model` (`version`: its `model-versions/get` answer) keeps its files (None: no
    source at all).

    A reference the server cannot place comes back as it is: KServe cannot load it, and the caller says so.
    """
    source = str(version.get("source") or "")
    if not source:
        return None
    if source.startswith(MODELS):
        answer = rest.get("model-versions/get-download-uri", name=model, version=number)
        source = str(answer.get("artifact_uri") or source)
    if source.startswith(RUNS):
        return _run_location(rest, source)
    return source


def _run_location(rest: MlflowRest, uri: str) -> str:
    """`runs:/<run id>/<path>` as the run's artifact location plus the path; another form comes back as it is."""
    parts = urlsplit(uri)
    if parts.netloc or not parts.path.startswith("/") or len(parts.path) < 2:
        return uri  # `runs://<profile>/...` names another tracking server
    run_id, _, path = parts.path[1:].partition("/")
    run = (rest.get("runs/get", run_id=run_id).get("run") or {}).get("info") or {}
    root = str(run.get("artifact_uri") or "")
    if not root:
        return uri
    root = root.rstrip("/")
    return f"{root}/{path}" if path else root
