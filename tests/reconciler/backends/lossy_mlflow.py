"""An in-memory MLflow behind a network that loses answers: the endpoints the backend writes, acting on every
request, but dropping the answer to the first attempt of the paths in `lose` after acting on it.

A lost answer is what a read timeout or a connection cut mid-answer looks like to the client (`Transient`): the
client retries, and the retry meets what the lost attempt did ("already exists", "not found"). It works at the
level of one attempt (`MlflowRest._once`), so the client's own retries and their bookkeeping run as they do
against a real server.
"""

from __future__ import annotations

from typing import Any

from reconciler.backends.mlflow_permissions import V3
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest, Transient

DEFAULT_ROOT = "s3://mlflow-default"
"""The server's default artifact root: an experiment created without a location is placed at `<it>/<id>`."""


class LossyMlflow(MlflowRest):
    def __init__(self, *lose: str, attempts: int = 4) -> None:
        super().__init__("http://registry.invalid", attempts=attempts, backoff=0.0)
        self.lose = set(lose)
        """Paths (or `METHOD path`) whose next answer is lost (once each)."""
        self.experiments: dict[str, dict[str, Any]] = {}
        self.grants: dict[tuple[str, str, str], str] = {}
        """(user, resource type, resource id) → level."""
        self.aliases: dict[tuple[str, str], str] = {}
        self.model_tags: dict[str, dict[str, str]] = {}
        self.refuse: dict[str, MlflowApiError] = {}
        """Paths MLflow refuses, whatever the request (a grant to a user it does not take, say)."""

    def auth_enabled(self) -> bool | None:
        return False

    def add(
        self, name: str, tags: dict[str, str], stage: str = "active", location: str | None = None
    ) -> dict[str, Any]:
        """An experiment; without a location, at the one MLflow gives (`<default root>/<id>`)."""
        number = str(len(self.experiments) + 1)
        item = {"experiment_id": number, "name": name, "lifecycle_stage": stage}
        item["artifact_location"] = location or f"{DEFAULT_ROOT}/{number}"
        item["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        self.experiments[name] = item
        return item

    def tags(self, name: str) -> dict[str, str]:
        return {t["key"]: t["value"] for t in self.experiments[name]["tags"]}

    def _once(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        self.calls[path] += 1
        if path in self.refuse:
            raise self.refuse[path]
        result = self._act(method, path, body or {})
        lost = {path, f"{method} {path}"} & self.lose
        if lost:
            self.lose -= lost
            raise Transient(f"{method} {path} timed out: read timeout")  # it was done; its answer is gone
        return result

    def _experiment(self, body: dict[str, Any]) -> dict[str, Any]:
        found = next((e for e in self.experiments.values() if e["experiment_id"] == str(body["experiment_id"])), None)
        if found is None:
            raise MlflowApiError(404, "RESOURCE_DOES_NOT_EXIST", f"no experiment {body['experiment_id']}")
        return found

    def _act(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path == "registered-models/search":
            return {"registered_models": []}
        if path.startswith("experiments/"):
            return self._experiments(path.removeprefix("experiments/"), body)
        if path.startswith(V3):
            return self._grants(path.removeprefix(V3 + "users/permissions/"), body)
        if path.startswith("registered-models/"):
            return self._models(method, path.removeprefix("registered-models/"), body)
        raise AssertionError(f"{method} {path}")

    def _experiments(self, call: str, body: dict[str, Any]) -> dict[str, Any]:
        if call == "search":
            return {"experiments": list(self.experiments.values())}
        if call == "create":
            if body["name"] in self.experiments:
                raise MlflowApiError(400, "RESOURCE_ALREADY_EXISTS", f"Experiment '{body['name']}' already exists.")
            tags = {t["key"]: t["value"] for t in body.get("tags") or []}
            made = self.add(body["name"], tags, location=body.get("artifact_location"))
            return {"experiment_id": made["experiment_id"]}
        if call == "get-by-name":
            if body["experiment_name"] not in self.experiments:
                raise MlflowApiError(404, "RESOURCE_DOES_NOT_EXIST", "no such experiment")
            return {"experiment": self.experiments[body["experiment_name"]]}
        found = self._experiment(body)
        if call == "restore" and found["lifecycle_stage"] != "deleted":
            raise MlflowApiError(400, "INVALID_PARAMETER_VALUE", "Cannot restore an active experiment.")
        if call == "delete" and found["lifecycle_stage"] == "deleted":
            raise MlflowApiError(404, "RESOURCE_DOES_NOT_EXIST", "No Experiment with id")
        if call in ("restore", "delete"):
            found["lifecycle_stage"] = "active" if call == "restore" else "deleted"
        elif call in ("set-experiment-tag", "delete-experiment-tag"):
            if call.startswith("delete") and body["key"] not in {t["key"] for t in found["tags"]}:
                raise MlflowApiError(404, "RESOURCE_DOES_NOT_EXIST", f"No tag with name: {body['key']}")
            found["tags"] = [t for t in found["tags"] if t["key"] != body["key"]]
            if call.startswith("set"):
                found["tags"].append({"key": body["key"], "value": body["value"]})
        return {"experiment": found} if call == "get" else {}

    def _grants(self, call: str, body: dict[str, Any]) -> dict[str, Any]:
        if call == "list":
            rows = [
                {"role_name": "__user_1__", "resource_type": kind, "resource_pattern": rid, "permission": level}
                for (user, kind, rid), level in self.grants.items()
                if user == body["username"]
            ]
            return {"permissions": rows}
        key = (body["username"], body["resource_type"], body["resource_id"])
        if call == "grant":
            if key in self.grants:
                raise MlflowApiError(400, "RESOURCE_ALREADY_EXISTS", "Permission already exists.")
            self.grants[key] = body["permission"]
        elif self.grants.pop(key, None) is None:
            raise MlflowApiError(404, "RESOURCE_DOES_NOT_EXIST", "Permission does not exist.")
        return {}

    def _models(self, method: str, call: str, body: dict[str, Any]) -> dict[str, Any]:
        tags = self.model_tags.setdefault(body["name"], {})
        if call == "set-tag":
            tags[body["key"]] = body["value"]
        elif call == "delete-tag" and tags.pop(body["key"], None) is None:
            raise MlflowApiError(404, "RESOURCE_DOES_NOT_EXIST", "no tag")
        elif call == "get":
            return {
                "registered_model": {"name": body["name"], "tags": [{"key": k, "value": v} for k, v in tags.items()]}
            }
        elif call == "alias":
            return self._alias(method, (body["name"], body["alias"]), body.get("version"))
        return {}

    def _alias(self, method: str, key: tuple[str, str], version: str | None) -> dict[str, Any]:
        if method == "POST":
            self.aliases[key] = str(version)
            return {}
        if key not in self.aliases:
            raise MlflowApiError(404, "RESOURCE_DOES_NOT_EXIST", "alias not found")
        if method == "DELETE":
            del self.aliases[key]
            return {}
        return {"model_version": {"version": self.aliases[key]}}
