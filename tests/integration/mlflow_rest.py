"""A minimal MLflow REST client for tests.

The project's virtualenv does not have MLflow (the server runs in its own), so
tests speak the REST API directly, which is also what mlcp's backend does.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class MlflowError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class MlflowRest:
    def __init__(self, uri: str, auth: tuple[str, str] | None = None) -> None:
        self.base = uri.rstrip("/") + "/api/2.0/mlflow/"
        self.uri = uri.rstrip("/")
        self.auth = auth
        self._headers = {"Content-Type": "application/json"}
        if auth is not None:
            import base64

            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.base + path
        data = None
        if method == "GET" and body:
            url += "?" + urllib.parse.urlencode(body)
        elif body is not None:
            data = json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as err:
            raise MlflowError(err.code, err.read().decode(errors="replace")) from err
        return json.loads(payload) if payload else {}

    def post(self, path: str, **body: Any) -> dict[str, Any]:
        return self.call("POST", path, body)

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        return self.call("GET", path, query)
